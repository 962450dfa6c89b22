// The supervisor console's SLA tab: the policies in force (per queue and priority: first-response
// and resolution targets in business time, the team calendar they follow, whether waiting for
// the customer counts, what a reopen does), the teams' calendars (opening hours in an IANA time
// zone, holidays) and the warning threshold, edited with form controls and saved as a new
// version (refused if another was saved since; the hub's validation errors are shown on the
// field); the saved versions with who/when, any of which can be loaded back into the editor.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { ApiError } from '../workspace/api';
import { t } from './i18n';
import { fieldId } from './RulesModel';
import { FieldMessage, ItemButtons, SelectField, TextField, invalidProps, moved, showHubError, type FieldError } from './RulesFields';
import './Rules.css';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

interface Hours {
  days: string[];
  from: string;
  to: string;
}
interface CalendarDef {
  time_zone: string;
  hours: Hours[];
  holidays: string[];
}
interface Policy {
  queue: string;
  priority: number | null;
  first_response_secs: number | null;
  resolution_secs: number | null;
  calendar: string | null;
  pending_excluded: boolean;
  on_reopen: 'restart' | 'resume';
}
interface SlaConfig {
  warning_percent: number;
  calendars: Record<string, CalendarDef>;
  policies: Policy[];
}
interface SlaView {
  version: number;
  config: SlaConfig;
}
interface SlaVersion {
  version: number;
  config: SlaConfig;
  created_by: string;
  created_at: string;
}

/** The editor's form of the policies: calendars as a list, so that one can be renamed. */
interface Draft {
  warning_percent: string;
  calendars: { name: string; def: CalendarDef }[];
  policies: Policy[];
}

type Status = { kind: 'ok' | 'error'; text: string } | null;

function toDraft(c: SlaConfig): Draft {
  return {
    warning_percent: String(c.warning_percent ?? 80),
    calendars: Object.entries(c.calendars ?? {}).map(([name, def]) => ({
      name,
      def: { time_zone: def.time_zone, hours: def.hours.map((h) => ({ ...h, days: [...h.days] })), holidays: [...(def.holidays ?? [])] },
    })),
    policies: (c.policies ?? []).map((p) => ({
      queue: p.queue,
      priority: p.priority ?? null,
      first_response_secs: p.first_response_secs ?? null,
      resolution_secs: p.resolution_secs ?? null,
      calendar: p.calendar ?? null,
      pending_excluded: !!p.pending_excluded,
      on_reopen: p.on_reopen ?? 'restart',
    })),
  };
}

/** What the hub takes: empty optional fields left out, numbers as numbers. */
function toWire(d: Draft): unknown {
  const calendars: Record<string, CalendarDef> = {};
  for (const c of d.calendars) calendars[c.name] = { ...c.def, holidays: c.def.holidays.filter((h) => h.trim() !== '') };
  return {
    warning_percent: d.warning_percent.trim() === '' ? 80 : Number(d.warning_percent),
    calendars,
    policies: d.policies.map((p) => {
      const out: Record<string, unknown> = { queue: p.queue, pending_excluded: p.pending_excluded, on_reopen: p.on_reopen };
      if (p.priority != null) out.priority = p.priority;
      if (p.first_response_secs != null) out.first_response_secs = p.first_response_secs;
      if (p.resolution_secs != null) out.resolution_secs = p.resolution_secs;
      if (p.calendar) out.calendar = p.calendar;
      return out;
    }),
  };
}

/** Minutes as typed (decimals allowed) to whole seconds; empty: no target. */
function secsOf(minutes: string): number | null {
  const v = minutes.trim();
  if (v === '') return null;
  const n = Number(v.replace(',', '.'));
  return Number.isFinite(n) ? Math.round(n * 60) : NaN;
}
const minutesOf = (secs: number | null) => (secs == null ? '' : String(Math.round((secs / 60) * 100) / 100));

const when = (iso: string) => new Date(iso).toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** The IANA zones the browser knows, for the zone field's suggestions. */
function zones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}

function CalendarEditor({
  path,
  def,
  error,
  onChange,
}: {
  path: string;
  def: CalendarDef;
  error: FieldError | null;
  onChange: (next: CalendarDef) => void;
}): JSX.Element {
  const setHours = (i: number, patch: Partial<Hours>) => onChange({ ...def, hours: def.hours.map((h, j) => (j === i ? { ...h, ...patch } : h)) });
  return (
    <div class="rules-target">
      <TextField path={`${path}.time_zone`} label={t('sla.time_zone')} value={def.time_zone} error={error} list="sla-zones" onInput={(v) => onChange({ ...def, time_zone: v })} />
      <fieldset class="rules-list">
        <legend>{t('sla.hours')}</legend>
        {def.hours.length === 0 && <p class="rules-hint">{t('sla.no_hours')}</p>}
        {def.hours.map((h, i) => (
          <div class="rules-row" key={i}>
            <fieldset class="rules-choices">
              <legend>{t('sla.days_n', { n: i + 1 })}</legend>
              {DAYS.map((d) => (
                <label key={d}>
                  <input
                    type="checkbox"
                    checked={h.days.includes(d)}
                    onChange={(e) => {
                      const on = (e.currentTarget as HTMLInputElement).checked;
                      setHours(i, { days: on ? DAYS.filter((x) => x === d || h.days.includes(x)) : h.days.filter((x) => x !== d) });
                    }}
                  />{' '}
                  {t(`sla.day.${d}`)}
                </label>
              ))}
            </fieldset>
            <TextField path={`${path}.hours[${i}].from`} label={t('sla.from_n', { n: i + 1 })} value={h.from} error={error} onInput={(v) => setHours(i, { from: v })} />
            <TextField path={`${path}.hours[${i}].to`} label={t('sla.to_n', { n: i + 1 })} value={h.to} error={error} onInput={(v) => setHours(i, { to: v })} />
            <ItemButtons
              i={i}
              n={def.hours.length}
              name={t('sla.hours_n', { n: i + 1 })}
              onMove={(a, b) => onChange({ ...def, hours: moved(def.hours, a, b) })}
              onRemove={(a) => onChange({ ...def, hours: def.hours.filter((_, j) => j !== a) })}
            />
          </div>
        ))}
        <p class="rules-hint">{t('sla.hours_hint')}</p>
        <button type="button" class="rules-add" onClick={() => onChange({ ...def, hours: [...def.hours, { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '18:00' }] })}>
          {t('sla.add_hours')}
        </button>
      </fieldset>
      <fieldset class="rules-list">
        <legend>{t('sla.holidays')}</legend>
        {def.holidays.length === 0 && <p class="rules-hint">{t('sla.no_holidays')}</p>}
        {def.holidays.map((d, i) => (
          <div class="rules-row" key={i}>
            <TextField
              path={`${path}.holidays[${i}]`}
              label={t('sla.holiday_n', { n: i + 1 })}
              type="date"
              value={d}
              error={error}
              onInput={(v) => onChange({ ...def, holidays: def.holidays.map((x, j) => (j === i ? v : x)) })}
            />
            <button type="button" class="rules-icon" aria-label={t('sla.remove_holiday', { n: i + 1 })} onClick={() => onChange({ ...def, holidays: def.holidays.filter((_, j) => j !== i) })}>
              ✕
            </button>
          </div>
        ))}
        <button type="button" class="rules-add" onClick={() => onChange({ ...def, holidays: [...def.holidays, ''] })}>
          {t('sla.add_holiday')}
        </button>
      </fieldset>
    </div>
  );
}

function PolicyEditor({
  path,
  policy,
  queues,
  calendars,
  error,
  onChange,
}: {
  path: string;
  policy: Policy;
  queues: string[];
  calendars: string[];
  error: FieldError | null;
  onChange: (next: Policy) => void;
}): JSX.Element {
  const [first, setFirst] = useState(minutesOf(policy.first_response_secs));
  const [resolution, setResolution] = useState(minutesOf(policy.resolution_secs));
  const pendingId = fieldId(`${path}.pending_excluded`);
  return (
    <div class="rules-target">
      <div class="rules-row">
        <SelectField path={`${path}.queue`} label={t('sla.queue')} value={policy.queue} options={queues.map((q) => ({ value: q, label: q }))} error={error} onChange={(q) => onChange({ ...policy, queue: q })} />
        <SelectField
          path={`${path}.priority`}
          label={t('sla.priority')}
          value={policy.priority == null ? '' : String(policy.priority)}
          options={[{ value: '', label: t('sla.priority.any') }, ...[1, 2, 3, 4, 5].map((p) => ({ value: String(p), label: t(`sla.priority.${p}`) }))]}
          error={error}
          onChange={(p) => onChange({ ...policy, priority: p === '' ? null : Number(p) })}
        />
      </div>
      <div class="rules-row">
        <TextField
          path={`${path}.first_response_secs`}
          label={t('sla.first_response_min')}
          type="number"
          min={0}
          value={first}
          error={error}
          onInput={(v) => {
            setFirst(v);
            onChange({ ...policy, first_response_secs: secsOf(v) });
          }}
        />
        <TextField
          path={`${path}.resolution_secs`}
          label={t('sla.resolution_min')}
          type="number"
          min={0}
          value={resolution}
          error={error}
          onInput={(v) => {
            setResolution(v);
            onChange({ ...policy, resolution_secs: secsOf(v) });
          }}
        />
      </div>
      <div class="rules-row">
        <SelectField
          path={`${path}.calendar`}
          label={t('sla.calendar')}
          value={policy.calendar ?? ''}
          options={[{ value: '', label: t('sla.around_the_clock') }, ...calendars.map((c) => ({ value: c, label: c }))]}
          error={error}
          onChange={(c) => onChange({ ...policy, calendar: c === '' ? null : c })}
        />
        <SelectField
          path={`${path}.on_reopen`}
          label={t('sla.on_reopen')}
          value={policy.on_reopen}
          options={[
            { value: 'restart', label: t('sla.on_reopen.restart') },
            { value: 'resume', label: t('sla.on_reopen.resume') },
          ]}
          error={error}
          onChange={(v) => onChange({ ...policy, on_reopen: v === 'resume' ? 'resume' : 'restart' })}
        />
      </div>
      <div class="rules-field">
        <label for={pendingId}>
          <input
            id={pendingId}
            type="checkbox"
            checked={policy.pending_excluded}
            onChange={(e) => onChange({ ...policy, pending_excluded: (e.currentTarget as HTMLInputElement).checked })}
            {...invalidProps(`${path}.pending_excluded`, error)}
          />{' '}
          {t('sla.pending_excluded')}
        </label>
        <FieldMessage path={`${path}.pending_excluded`} error={error} />
      </div>
    </div>
  );
}

function policySummary(p: Policy): string {
  const bits = [t('sla.sum.queue', { q: p.queue || '…' }), p.priority == null ? t('sla.priority.any') : t(`sla.priority.${p.priority}`)];
  if (p.first_response_secs != null) bits.push(t('sla.sum.first', { m: minutesOf(p.first_response_secs) }));
  if (p.resolution_secs != null) bits.push(t('sla.sum.resolution', { m: minutesOf(p.resolution_secs) }));
  bits.push(p.calendar ? t('sla.sum.calendar', { c: p.calendar }) : t('sla.around_the_clock'));
  return bits.join(' · ');
}

export function Sla({ api }: ConsoleProps): JSX.Element {
  const [inForce, setInForce] = useState<SlaView | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  // Remounts the policy editors (their minute fields keep what was typed) when a draft is loaded.
  const [generation, setGeneration] = useState(0);
  const [queues, setQueues] = useState<string[]>([]);
  const [versions, setVersions] = useState<SlaVersion[] | null>(null);
  const [error, setError] = useState<FieldError | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const [busy, setBusy] = useState(false);
  const zoneList = useMemo(zones, []);

  const loadVersions = () =>
    api
      .request<SlaVersion[]>('GET', '/api/v1/sla/policies/versions')
      .then(setVersions)
      .catch(() => setVersions([]));

  useEffect(() => {
    Promise.all([
      api.request<SlaView>('GET', '/api/v1/sla/policies'),
      api.request<{ rules: { queues: { name: string }[] } }>('GET', '/api/v1/routing/rules'),
    ])
      .then(([sla, rules]) => {
        setInForce(sla);
        setDraft(toDraft(sla.config));
        setQueues(rules.rules.queues.map((q) => q.name));
      })
      .catch((e) => setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) }));
    void loadVersions();
  }, []);

  const dirty = useMemo(() => !!draft && !!inForce && JSON.stringify(toWire(draft)) !== JSON.stringify(toWire(toDraft(inForce.config))), [draft, inForce]);

  if (!draft || !inForce) {
    return (
      <div>
        <h2>{t('sla.title')}</h2>
        {status ? <p role="alert">{status.text}</p> : <p role="status">{t('sla.loading')}</p>}
      </div>
    );
  }

  const update = (next: Draft) => {
    setDraft(next);
    setStatus(null);
  };
  const load = (config: SlaConfig) => {
    setDraft(toDraft(config));
    setGeneration((g) => g + 1);
    setError(null);
  };

  /** A 422 from the hub: shown on its field, and focused. */
  const showError = (e: unknown): void =>
    showHubError(e, setError, (text) => setStatus({ kind: 'error', text }), (field) => t('sla.invalid', { field }), t('sla.conflict'));

  const save = async () => {
    const bad = draft.policies.findIndex((p) => Number.isNaN(p.first_response_secs) || Number.isNaN(p.resolution_secs));
    if (bad >= 0) {
      const field = Number.isNaN(draft.policies[bad].first_response_secs) ? 'first_response_secs' : 'resolution_secs';
      showError(new ApiError(422, 'invalid', t('sla.not_a_number'), `policies[${bad}].${field}`));
      return;
    }
    setBusy(true);
    try {
      const saved = await api.request<SlaView>('PUT', '/api/v1/sla/policies', { config: toWire(draft), expected_version: inForce.version });
      setInForce(saved);
      load(saved.config);
      setStatus({ kind: 'ok', text: t('sla.saved', { v: saved.version }) });
      void loadVersions();
    } catch (e) {
      showError(e);
    } finally {
      setBusy(false);
    }
  };

  const calendarNames = draft.calendars.map((c) => c.name).filter((n) => n.trim() !== '');
  const setCalendar = (i: number, patch: Partial<Draft['calendars'][number]>) =>
    update({ ...draft, calendars: draft.calendars.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  const setPolicy = (i: number, p: Policy) => update({ ...draft, policies: draft.policies.map((x, j) => (j === i ? p : x)) });

  return (
    <div class="rules">
      <datalist id="sla-zones">
        {zoneList.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      <div class="rules-head">
        <h2>{t('sla.title')}</h2>
        <p>{inForce.version === 0 ? t('sla.none_in_force') : t('sla.version_in_force', { v: inForce.version })}</p>
        <p class="rules-dirty" role="status">
          {dirty ? t('sla.unsaved') : t('sla.no_changes')}
        </p>
        <div class="rules-actions">
          <button type="button" class="primary" disabled={busy} onClick={() => void save()}>
            {t('sla.save')}
          </button>
          <button type="button" disabled={!dirty || busy} onClick={() => { load(inForce.config); setStatus(null); }}>
            {t('sla.discard')}
          </button>
        </div>
        <div aria-live="polite">{status && <p class={`rules-status ${status.kind}`} role={status.kind === 'error' ? 'alert' : undefined}>{status.text}</p>}</div>
        {error && !document.getElementById(fieldId(error.field)) && <p class="rules-field-error">{error.field}: {error.message}</p>}
      </div>

      <section class="rules-section" aria-labelledby="sla-policies-title">
        <h3 id="sla-policies-title">{t('sla.policies')}</h3>
        <p class="rules-hint">{t('sla.policies_hint')}</p>
        <ol class="rules-cards">
          {draft.policies.map((p, i) => (
            <li class="rules-card" key={`${generation}-${i}`}>
              <div class="rules-card-head">
                <h4>{t('sla.policy_n', { n: i + 1 })}</h4>
                <ItemButtons
                  i={i}
                  n={draft.policies.length}
                  name={t('sla.policy_n', { n: i + 1 })}
                  onMove={(a, b) => update({ ...draft, policies: moved(draft.policies, a, b) })}
                  onRemove={(a) => {
                    update({ ...draft, policies: draft.policies.filter((_, j) => j !== a) });
                    setGeneration((g) => g + 1);
                  }}
                />
              </div>
              <p class="rules-summary">{policySummary(p)}</p>
              <PolicyEditor path={`policies[${i}]`} policy={p} queues={queues} calendars={calendarNames} error={error} onChange={(next) => setPolicy(i, next)} />
            </li>
          ))}
        </ol>
        {draft.policies.length === 0 && <p class="rules-hint">{t('sla.no_policies')}</p>}
        <button
          type="button"
          class="rules-add"
          onClick={() =>
            update({
              ...draft,
              policies: [
                ...draft.policies,
                { queue: queues[0] ?? '', priority: null, first_response_secs: 3600, resolution_secs: null, calendar: null, pending_excluded: false, on_reopen: 'restart' },
              ],
            })
          }
        >
          {t('sla.add_policy')}
        </button>
      </section>

      <section class="rules-section" aria-labelledby="sla-calendars-title">
        <h3 id="sla-calendars-title">{t('sla.calendars')}</h3>
        <p class="rules-hint">{t('sla.calendars_hint')}</p>
        <ol class="rules-cards">
          {draft.calendars.map((c, i) => (
            <li class="rules-card" key={i}>
              <div class="rules-card-head">
                <h4>{t('sla.calendar_n', { n: i + 1, name: c.name || '…' })}</h4>
                <button type="button" class="rules-icon" aria-label={t('sla.remove_calendar', { name: c.name || String(i + 1) })} onClick={() => update({ ...draft, calendars: draft.calendars.filter((_, j) => j !== i) })}>
                  ✕
                </button>
              </div>
              <TextField path={`calendars.${c.name}`} label={t('sla.calendar_name')} value={c.name} error={error} onInput={(v) => setCalendar(i, { name: v })} />
              <CalendarEditor path={`calendars.${c.name}`} def={c.def} error={error} onChange={(def) => setCalendar(i, { def })} />
            </li>
          ))}
        </ol>
        <button
          type="button"
          class="rules-add"
          onClick={() =>
            update({
              ...draft,
              calendars: [
                ...draft.calendars,
                {
                  name: `team-${draft.calendars.length + 1}`,
                  def: { time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', hours: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '18:00' }], holidays: [] },
                },
              ],
            })
          }
        >
          {t('sla.add_calendar')}
        </button>
      </section>

      <section class="rules-section" aria-labelledby="sla-warning-title">
        <h3 id="sla-warning-title">{t('sla.warning')}</h3>
        <TextField path="warning_percent" label={t('sla.warning_percent')} type="number" min={1} max={99} value={draft.warning_percent} error={error} onInput={(v) => update({ ...draft, warning_percent: v })} />
      </section>

      <section class="rules-section" aria-labelledby="sla-versions-title">
        <h3 id="sla-versions-title">{t('sla.versions')}</h3>
        {versions === null ? (
          <p role="status">{t('sla.loading')}</p>
        ) : versions.length === 0 ? (
          <p class="rules-hint">{t('sla.no_versions')}</p>
        ) : (
          <table class="rules-versions">
            <caption>{t('sla.versions_caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('sla.col.version')}</th>
                <th scope="col">{t('sla.col.when')}</th>
                <th scope="col">{t('sla.col.by')}</th>
                <th scope="col">{t('sla.col.policies')}</th>
                <th scope="col">{t('sla.col.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <th scope="row">{v.version}</th>
                  <td>{when(v.created_at)}</td>
                  <td>{v.created_by}</td>
                  <td>{v.config.policies?.length ?? 0}</td>
                  <td>
                    <button
                      type="button"
                      onClick={() => {
                        load(v.config);
                        setStatus({ kind: 'ok', text: t('sla.loaded', { v: v.version }) });
                      }}
                    >
                      {t('sla.load')}
                      <span class="visually-hidden"> {t('sla.version_n', { v: v.version })}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
