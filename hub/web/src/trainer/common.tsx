// Small pieces the trainer console's sections share.

import type { JSX } from 'preact';
import { ApiError } from '../workspace/api';
import { t } from './i18n';

/** An error as trainers read it: the hub's message, with the field it is about. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return t('error.api', { message: e.message, status: e.status });
  return t('error.network');
}

/** A live line saying what just happened (or went wrong). */
export function Notice({ notice }: { notice: { text: string; error?: boolean } | null }): JSX.Element {
  return (
    <p role={notice?.error ? 'alert' : 'status'} class={notice?.error ? 'error notice' : 'notice'}>
      {notice?.text ?? ''}
    </p>
  );
}

export function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/** Text split into trimmed, non-empty lines. */
export function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** The field a hub 422 named, with its message, for the control that shows it. */
export type FieldError = { field: string; message: string } | null;

/** The field error an API error carries, when it names one of `fields`. */
export function fieldError(e: unknown, fields: readonly string[]): FieldError {
  return e instanceof ApiError && e.field && fields.includes(e.field) ? { field: e.field, message: e.message } : null;
}

/** A control's invalid state and descriptions: its hint (if any) and the hub's error when it names this field. */
export function invalidProps(error: FieldError, field: string, id: string, hint?: string): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  const described = [hint, error?.field === field ? `${id}-error` : undefined].filter(Boolean).join(' ');
  return { ...(error?.field === field ? { 'aria-invalid': true as const } : {}), ...(described ? { 'aria-describedby': described } : {}) };
}

/** The hub's message for a field, under its control. */
export function FieldMessage({ error, field, id }: { error: FieldError; field: string; id: string }): JSX.Element | null {
  return error?.field === field ? <p class="error field-error" id={`${id}-error`}>{error.message}</p> : null;
}
