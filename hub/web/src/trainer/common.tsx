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
