// Form controls of the rules editor that carry the hub's field errors: each control's id comes
// from its field path, and the control the hub's 422 names is marked invalid and described by
// the error's text.

import type { ComponentChildren, JSX } from 'preact';
import { ApiError } from '../workspace/api';
import { fieldId } from './RulesModel';
import { t } from './i18n';

/** The field error the hub gave, if any. */
export interface FieldError {
  field: string;
  message: string;
}

/** Shows what the hub refused: a 422 on its field (given the focus; or the list holding it,
 * `channels[0]`: the channels' fieldset) with `invalid(field)` as the status, a 409 as `conflict`
 * (another version was saved since), anything else as its own text. */
export function showHubError(
  e: unknown,
  setError: (error: FieldError | null) => void,
  setStatus: (text: string) => void,
  invalid: (field: string) => string,
  conflict: string,
): void {
  if (e instanceof ApiError && e.status === 422 && e.field) {
    const field = e.field;
    setError({ field, message: e.message.split('; ')[0].replace(`${field}: `, '') });
    setStatus(invalid(field));
    requestAnimationFrame(() => (document.getElementById(fieldId(field)) ?? document.getElementById(fieldId(field.replace(/\[\d+\]$/, ''))))?.focus());
  } else {
    setError(null);
    setStatus(e instanceof ApiError && e.status === 409 ? conflict : e instanceof Error ? e.message : String(e));
  }
}

/** aria props for the control at `path`: invalid and described by the error when it is the one. */
export function invalidProps(path: string, error: FieldError | null): { 'aria-invalid'?: true; 'aria-describedby'?: string } {
  if (!error || error.field !== path) return {};
  return { 'aria-invalid': true, 'aria-describedby': `${fieldId(path)}-error` };
}

/** The error's text under the control at `path`, when it is the one at fault. */
export function FieldMessage({ path, error }: { path: string; error: FieldError | null }): JSX.Element | null {
  if (!error || error.field !== path) return null;
  return (
    <p class="rules-field-error" id={`${fieldId(path)}-error`}>
      {error.message}
    </p>
  );
}

interface TextProps {
  path: string;
  label: string;
  value: string;
  error: FieldError | null;
  onInput: (value: string) => void;
  type?: string;
  min?: number;
  max?: number;
  hideLabel?: boolean;
  list?: string;
}

/** A labelled input for one field. */
export function TextField({ path, label, value, error, onInput, type = 'text', min, max, hideLabel, list }: TextProps): JSX.Element {
  const id = fieldId(path);
  return (
    <div class="rules-field">
      <label for={id} class={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      <input
        id={id}
        type={type}
        value={value}
        min={min}
        max={max}
        list={list}
        onInput={(e) => onInput((e.currentTarget as HTMLInputElement).value)}
        {...invalidProps(path, error)}
      />
      <FieldMessage path={path} error={error} />
    </div>
  );
}

interface SelectProps {
  path: string;
  label: string;
  value: string;
  options: readonly { value: string; label: string }[];
  error: FieldError | null;
  onChange: (value: string) => void;
  hideLabel?: boolean;
}

/** A labelled select for one field. */
export function SelectField({ path, label, value, options, error, onChange, hideLabel }: SelectProps): JSX.Element {
  const id = fieldId(path);
  const known = options.some((o) => o.value === value);
  return (
    <div class="rules-field">
      <label for={id} class={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)} {...invalidProps(path, error)}>
        {!known && <option value={value}>{value || t('rules.choose')}</option>}
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldMessage path={path} error={error} />
    </div>
  );
}

/** A group of checkboxes choosing some of `options` (an empty choice: any). */
export function ChoiceField({
  path,
  legend,
  options,
  chosen,
  error,
  onChange,
}: {
  path: string;
  legend: string;
  options: readonly string[];
  chosen: string[];
  error: FieldError | null;
  onChange: (next: string[]) => void;
}): JSX.Element {
  const id = fieldId(path);
  const mine = error && (error.field === path || error.field.startsWith(`${path}[`)) ? { ...error, field: path } : null;
  return (
    <fieldset class="rules-choices" id={id} tabIndex={-1} aria-describedby={mine ? `${id}-error` : undefined}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o}>
          <input
            type="checkbox"
            checked={chosen.includes(o)}
            onChange={(e) => {
              const on = (e.currentTarget as HTMLInputElement).checked;
              onChange(on ? options.filter((x) => x === o || chosen.includes(x)) : chosen.filter((x) => x !== o));
            }}
          />{' '}
          {t(`rules.value.${o}`)}
        </label>
      ))}
      <FieldMessage path={path} error={mine} />
    </fieldset>
  );
}

/** A list of short texts, each its own input, with add and remove buttons. */
export function WordsField({
  path,
  legend,
  words,
  error,
  onChange,
  addLabel,
}: {
  path: string;
  legend: string;
  words: string[];
  error: FieldError | null;
  onChange: (next: string[]) => void;
  addLabel: string;
}): JSX.Element {
  return (
    <fieldset class="rules-words">
      <legend>{legend}</legend>
      {words.length === 0 && <p class="rules-hint">{t('rules.any')}</p>}
      {words.map((w, i) => (
        <div class="rules-row" key={i}>
          <TextField
            path={`${path}[${i}]`}
            label={t('rules.item', { what: legend, n: i + 1 })}
            hideLabel
            value={w}
            error={error}
            onInput={(v) => onChange(words.map((x, j) => (j === i ? v : x)))}
          />
          <button type="button" class="rules-icon" onClick={() => onChange(words.filter((_, j) => j !== i))}>
            {t('rules.remove')}
            <span class="visually-hidden"> {t('rules.item', { what: legend, n: i + 1 })}</span>
          </button>
        </div>
      ))}
      <button type="button" class="rules-add" onClick={() => onChange([...words, ''])}>
        {addLabel}
      </button>
    </fieldset>
  );
}

/** Up / down / remove buttons for item `i` of `n`, named for screen readers. */
export function ItemButtons({
  i,
  n,
  name,
  onMove,
  onRemove,
}: {
  i: number;
  n: number;
  name: string;
  onMove: (from: number, to: number) => void;
  onRemove: (i: number) => void;
}): JSX.Element {
  return (
    <span class="rules-item-buttons">
      <button type="button" class="rules-icon" disabled={i === 0} onClick={() => onMove(i, i - 1)} aria-label={t('rules.move_up', { name })}>
        ↑
      </button>
      <button type="button" class="rules-icon" disabled={i === n - 1} onClick={() => onMove(i, i + 1)} aria-label={t('rules.move_down', { name })}>
        ↓
      </button>
      <button type="button" class="rules-icon" onClick={() => onRemove(i)} aria-label={t('rules.remove_named', { name })}>
        ✕
      </button>
    </span>
  );
}

/** `xs` with item `from` moved to `to`. */
export function moved<T>(xs: T[], from: number, to: number): T[] {
  if (to < 0 || to >= xs.length) return xs;
  const out = [...xs];
  const [x] = out.splice(from, 1);
  out.splice(to, 0, x);
  return out;
}

export function Section({ title, children, id }: { title: string; children: ComponentChildren; id: string }): JSX.Element {
  return (
    <section class="rules-section" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {children}
    </section>
  );
}
