// The supervisor console's routing rules tab: the rules as an ordered list of readable cards,
// edited with form controls; the hub's validation errors shown on the field; a dry run of the
// draft on the last hours of real tickets; publish (as a new version, refused if another was
// published since); the versions with who/when, a diff of any two, and restore.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { t } from './i18n';
import {
  CHANNELS,
  LANGUAGES,
  TIERS,
  fieldId,
  normalise,
  skillsText,
  stepText,
  toWire,
  type Conditions,
  type RoutingRules,
  type Rule,
  type RulesInForce,
  type Step,
  type Target,
} from './RulesModel';
import { ChoiceField, FieldMessage, ItemButtons, SelectField, TextField, WordsField, moved, showHubError, type FieldError } from './RulesFields';
import { RulesDryRun } from './RulesDryRun';
import { RulesVersions } from './RulesVersions';
import './Rules.css';

type Status = { kind: 'ok' | 'error'; text: string } | null;

function summary(rule: Rule): string {
  const parts: string[] = [];
  const w = rule.when;
  if (w.channels.length) parts.push(t('rules.sum.channels', { v: w.channels.map((c) => t(`rules.value.${c}`)).join(', ') }));
  if (w.languages.length) parts.push(t('rules.sum.languages', { v: w.languages.map((c) => t(`rules.value.${c}`)).join(', ') }));
  if (w.tiers.length) parts.push(t('rules.sum.tiers', { v: w.tiers.map((c) => t(`rules.value.${c}`)).join(', ') }));
  if (w.tags_any.length) parts.push(t('rules.sum.tags', { v: w.tags_any.join(', ') }));
  if (w.text_contains.length) parts.push(t('rules.sum.text', { v: w.text_contains.map((x) => `“${x}”`).join(', ') }));
  if (w.hours) parts.push(t('rules.sum.hours', { from: w.hours.from, to: w.hours.to }));
  if (w.churn_risk_at_least != null) parts.push(t('rules.sum.churn', { n: w.churn_risk_at_least }));
  const when = parts.length ? parts.join(t('rules.sum.and')) : t('rules.sum.always');
  return `${when} → ${targetSummary(rule.then)}`;
}

function targetSummary(target: Target): string {
  const bits = [t('rules.sum.queue', { q: target.queue }), t('rules.sum.priority', { p: target.priority })];
  if (target.skills.length) bits.push(t('rules.sum.skills', { v: skillsText(target.skills) }));
  if (target.escalation.length) bits.push(t('rules.sum.escalation', { v: target.escalation.map(stepText).join(', ') }));
  return bits.join(' · ');
}

function TargetEditor({
  path,
  target,
  rules,
  error,
  onChange,
}: {
  path: string;
  target: Target;
  rules: RoutingRules;
  error: FieldError | null;
  onChange: (next: Target) => void;
}): JSX.Element {
  const queues = rules.queues.map((q) => ({ value: q.name, label: q.name }));
  const skills = rules.skills.map((s) => ({ value: s, label: s }));
  const setSkill = (i: number, patch: Partial<Target['skills'][number]>) =>
    onChange({ ...target, skills: target.skills.map((s, j) => (j === i ? { ...s, ...patch } : s)) });
  const setStep = (i: number, next: Step) => onChange({ ...target, escalation: target.escalation.map((s, j) => (j === i ? next : s)) });
  const num = (v: string) => (v.trim() === '' ? 0 : Number(v));
  return (
    <div class="rules-target">
      <div class="rules-row">
        <SelectField path={`${path}.queue`} label={t('rules.queue')} value={target.queue} options={queues} error={error} onChange={(q) => onChange({ ...target, queue: q })} />
        <SelectField
          path={`${path}.priority`}
          label={t('rules.priority')}
          value={String(target.priority)}
          options={[1, 2, 3, 4, 5].map((p) => ({ value: String(p), label: t(`rules.priority.${p}`) }))}
          error={error}
          onChange={(p) => onChange({ ...target, priority: Number(p) })}
        />
      </div>
      <fieldset class="rules-list">
        <legend>{t('rules.skills_needed')}</legend>
        {target.skills.length === 0 && <p class="rules-hint">{t('rules.no_skills')}</p>}
        {target.skills.map((s, i) => (
          <div class="rules-row" key={i}>
            <SelectField path={`${path}.skills[${i}].skill`} label={t('rules.skill_n', { n: i + 1 })} value={s.skill} options={skills} error={error} onChange={(v) => setSkill(i, { skill: v })} />
            <TextField
              path={`${path}.skills[${i}].level`}
              label={t('rules.level_n', { n: i + 1 })}
              type="number"
              min={1}
              max={10}
              value={String(s.level)}
              error={error}
              onInput={(v) => setSkill(i, { level: num(v) })}
            />
            <ItemButtons
              i={i}
              n={target.skills.length}
              name={t('rules.skill_n', { n: i + 1 })}
              onMove={(a, b) => onChange({ ...target, skills: moved(target.skills, a, b) })}
              onRemove={(a) => onChange({ ...target, skills: target.skills.filter((_, j) => j !== a) })}
            />
          </div>
        ))}
        <button type="button" class="rules-add" disabled={rules.skills.length === 0} onClick={() => onChange({ ...target, skills: [...target.skills, { skill: rules.skills[0] ?? '', level: 5 }] })}>
          {t('rules.add_skill')}
        </button>
      </fieldset>
      <fieldset class="rules-list">
        <legend>{t('rules.escalation')}</legend>
        {target.escalation.length === 0 && <p class="rules-hint">{t('rules.no_escalation')}</p>}
        {target.escalation.map((s, i) => (
          <div class="rules-row" key={i}>
            <SelectField
              path={`${path}.escalation[${i}].action`}
              label={t('rules.step_n', { n: i + 1 })}
              value={s.action}
              options={[
                { value: 'widen_skills', label: t('rules.widen_skills') },
                { value: 'overflow', label: t('rules.overflow') },
              ]}
              error={error}
              onChange={(a) =>
                setStep(i, a === 'overflow' ? { action: 'overflow', after_secs: s.after_secs, queue: rules.queues[0]?.name ?? '' } : { action: 'widen_skills', after_secs: s.after_secs, by: 1 })
              }
            />
            <TextField path={`${path}.escalation[${i}].after_secs`} label={t('rules.after_secs')} type="number" min={1} value={String(s.after_secs)} error={error} onInput={(v) => setStep(i, { ...s, after_secs: num(v) })} />
            {s.action === 'widen_skills' ? (
              <TextField path={`${path}.escalation[${i}].by`} label={t('rules.widen_by')} type="number" min={1} max={9} value={String(s.by)} error={error} onInput={(v) => setStep(i, { ...s, by: num(v) })} />
            ) : (
              <SelectField path={`${path}.escalation[${i}].queue`} label={t('rules.overflow_to')} value={s.queue} options={queues} error={error} onChange={(q) => setStep(i, { ...s, queue: q })} />
            )}
            <ItemButtons
              i={i}
              n={target.escalation.length}
              name={t('rules.step_n', { n: i + 1 })}
              onMove={(a, b) => onChange({ ...target, escalation: moved(target.escalation, a, b) })}
              onRemove={(a) => onChange({ ...target, escalation: target.escalation.filter((_, j) => j !== a) })}
            />
          </div>
        ))}
        <button
          type="button"
          class="rules-add"
          onClick={() => {
            const last = target.escalation[target.escalation.length - 1];
            onChange({ ...target, escalation: [...target.escalation, { action: 'widen_skills', after_secs: (last?.after_secs ?? 0) + 60, by: 1 }] });
          }}
        >
          {t('rules.add_step')}
        </button>
      </fieldset>
    </div>
  );
}

function ConditionsEditor({ path, when, error, onChange }: { path: string; when: Conditions; error: FieldError | null; onChange: (next: Conditions) => void }): JSX.Element {
  return (
    <div class="rules-conditions">
      <ChoiceField path={`${path}.channels`} legend={t('rules.channels')} options={CHANNELS} chosen={when.channels} error={error} onChange={(v) => onChange({ ...when, channels: v })} />
      <ChoiceField path={`${path}.languages`} legend={t('rules.languages')} options={LANGUAGES} chosen={when.languages} error={error} onChange={(v) => onChange({ ...when, languages: v })} />
      <ChoiceField path={`${path}.tiers`} legend={t('rules.tiers')} options={TIERS} chosen={when.tiers} error={error} onChange={(v) => onChange({ ...when, tiers: v })} />
      <WordsField path={`${path}.text_contains`} legend={t('rules.text_contains')} words={when.text_contains} error={error} addLabel={t('rules.add_word')} onChange={(v) => onChange({ ...when, text_contains: v })} />
      <WordsField path={`${path}.tags_any`} legend={t('rules.tags_any')} words={when.tags_any} error={error} addLabel={t('rules.add_tag')} onChange={(v) => onChange({ ...when, tags_any: v })} />
      <TextField
        path={`${path}.churn_risk_at_least`}
        label={t('rules.churn_risk_at_least')}
        type="number"
        min={0}
        max={100}
        value={when.churn_risk_at_least == null ? '' : String(when.churn_risk_at_least)}
        error={error}
        onInput={(v) => onChange({ ...when, churn_risk_at_least: v.trim() === '' ? null : Number(v) })}
      />
      <p class="rules-hint">{t('rules.churn_hint')}</p>
      <fieldset class="rules-hours">
        <legend>{t('rules.hours')}</legend>
        <label>
          <input type="checkbox" checked={!!when.hours} onChange={(e) => onChange({ ...when, hours: (e.currentTarget as HTMLInputElement).checked ? { from: '09:00', to: '17:00' } : null })} />{' '}
          {t('rules.hours_only')}
        </label>
        {when.hours && (
          <div class="rules-row">
            <TextField path={`${path}.hours.from`} label={t('rules.hours_from')} type="time" value={when.hours.from} error={error} onInput={(v) => onChange({ ...when, hours: { from: v, to: when.hours?.to ?? '' } })} />
            <TextField path={`${path}.hours.to`} label={t('rules.hours_to')} type="time" value={when.hours.to} error={error} onInput={(v) => onChange({ ...when, hours: { from: when.hours?.from ?? '', to: v } })} />
          </div>
        )}
      </fieldset>
    </div>
  );
}

export function Rules({ api }: ConsoleProps): JSX.Element {
  const [inForce, setInForce] = useState<RulesInForce | null>(null);
  const [draft, setDraft] = useState<RoutingRules | null>(null);
  const [error, setError] = useState<FieldError | null>(null);
  const [status, setStatus] = useState<Status>(null);
  const [busy, setBusy] = useState(false);
  const [newSkill, setNewSkill] = useState('');
  const [versionsKey, setVersionsKey] = useState(0);

  const load = async () => {
    try {
      const r = await api.request<RulesInForce>('GET', '/api/v1/routing/rules');
      setInForce(r);
      setDraft(normalise(r.rules));
      setError(null);
    } catch (e) {
      setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const dirty = useMemo(
    () => !!draft && !!inForce && JSON.stringify(toWire(draft)) !== JSON.stringify(toWire(normalise(inForce.rules))),
    [draft, inForce],
  );

  if (!draft || !inForce) {
    return (
      <div>
        <h2>{t('rules.title')}</h2>
        {status ? <p role="alert">{status.text}</p> : <p role="status">{t('rules.loading')}</p>}
      </div>
    );
  }

  const update = (next: RoutingRules) => {
    setDraft(next);
    setStatus(null);
  };
  const setRule = (i: number, rule: Rule) => update({ ...draft, rules: draft.rules.map((r, j) => (j === i ? rule : r)) });

  /** A 422 from the hub: shown on its field, and focused. */
  const showError = (e: unknown): void =>
    showHubError(e, setError, (text) => setStatus({ kind: 'error', text }), (field) => t('rules.invalid', { field }), t('rules.conflict'));

  const publish = async () => {
    setBusy(true);
    try {
      const saved = await api.request<RulesInForce>('PUT', '/api/v1/routing/rules', { rules: toWire(draft), expected_version: inForce.version });
      setInForce(saved);
      setDraft(normalise(saved.rules));
      setError(null);
      setStatus({ kind: 'ok', text: t('rules.published', { v: saved.version }) });
      setVersionsKey((k) => k + 1);
    } catch (e) {
      showError(e);
    } finally {
      setBusy(false);
    }
  };

  const restored = (r: RulesInForce) => {
    setInForce(r);
    setDraft(normalise(r.rules));
    setError(null);
    setStatus({ kind: 'ok', text: t('rules.restored', { v: r.version }) });
    setVersionsKey((k) => k + 1);
  };

  const queueOptions = draft.queues.map((q) => q.name);
  return (
    <div class="rules">
      <div class="rules-head">
        <h2>{t('rules.title')}</h2>
        <p>{inForce.version === 0 ? t('rules.defaults_in_force') : t('rules.version_in_force', { v: inForce.version })}</p>
        <p class="rules-dirty" role="status">
          {dirty ? t('rules.unpublished') : t('rules.no_changes')}
        </p>
        <div class="rules-actions">
          <button type="button" class="primary" disabled={busy} onClick={() => void publish()}>
            {t('rules.publish')}
          </button>
          <button type="button" disabled={!dirty || busy} onClick={() => { setDraft(normalise(inForce.rules)); setError(null); setStatus(null); }}>
            {t('rules.discard')}
          </button>
        </div>
        <div aria-live="polite">{status && <p class={`rules-status ${status.kind}`} role={status.kind === 'error' ? 'alert' : undefined}>{status.text}</p>}</div>
        {error && !document.getElementById(fieldId(error.field)) && <p class="rules-field-error">{error.field}: {error.message}</p>}
      </div>

      <section class="rules-section" aria-labelledby="rules-list-title">
        <h3 id="rules-list-title">{t('rules.rules_heading')}</h3>
        <p class="rules-hint">{t('rules.order_hint')}</p>
        <ol class="rules-cards">
          {draft.rules.map((rule, i) => (
            <li class="rules-card" key={i}>
              <div class="rules-card-head">
                <h4>{t('rules.rule_n', { n: i + 1, name: rule.name || '…' })}</h4>
                <ItemButtons
                  i={i}
                  n={draft.rules.length}
                  name={t('rules.rule_n', { n: i + 1, name: rule.name })}
                  onMove={(a, b) => update({ ...draft, rules: moved(draft.rules, a, b) })}
                  onRemove={(a) => update({ ...draft, rules: draft.rules.filter((_, j) => j !== a) })}
                />
              </div>
              <p class="rules-summary">{summary(rule)}</p>
              <TextField path={`rules[${i}].name`} label={t('rules.name')} value={rule.name} error={error} onInput={(v) => setRule(i, { ...rule, name: v })} />
              <details open={error?.field.startsWith(`rules[${i}]`) || undefined}>
                <summary>{t('rules.edit_conditions')}</summary>
                <ConditionsEditor path={`rules[${i}].when`} when={rule.when} error={error} onChange={(when) => setRule(i, { ...rule, when })} />
              </details>
              <h5>{t('rules.then')}</h5>
              <TargetEditor path={`rules[${i}].then`} target={rule.then} rules={draft} error={error} onChange={(then) => setRule(i, { ...rule, then })} />
              <FieldMessage path={`rules[${i}].then`} error={error} />
            </li>
          ))}
        </ol>
        <button
          type="button"
          class="rules-add"
          onClick={() =>
            update({
              ...draft,
              rules: [
                ...draft.rules,
                {
                  name: t('rules.new_rule_name', { n: draft.rules.length + 1 }),
                  when: { channels: [], languages: [], tiers: [], tags_any: [], text_contains: [], hours: null, churn_risk_at_least: null },
                  then: { queue: draft.fallback.queue, skills: [], priority: 3, escalation: [] },
                },
              ],
            })
          }
        >
          {t('rules.add_rule')}
        </button>
      </section>

      <section class="rules-section rules-card" aria-labelledby="rules-fallback-title">
        <h3 id="rules-fallback-title">{t('rules.fallback')}</h3>
        <p class="rules-summary">{targetSummary(draft.fallback)}</p>
        <TargetEditor path="fallback" target={draft.fallback} rules={draft} error={error} onChange={(fallback) => update({ ...draft, fallback })} />
      </section>

      <section class="rules-section" aria-labelledby="rules-queues-title">
        <h3 id="rules-queues-title">{t('rules.queues')}</h3>
        <ul class="rules-plain">
          {draft.queues.map((q, i) => (
            <li class="rules-row" key={i}>
              <TextField path={`queues[${i}].name`} label={t('rules.queue_name_n', { n: i + 1 })} value={q.name} error={error} onInput={(v) => update({ ...draft, queues: draft.queues.map((x, j) => (j === i ? { ...x, name: v } : x)) })} />
              <TextField
                path={`queues[${i}].first_response_secs`}
                label={t('rules.first_response')}
                type="number"
                min={1}
                value={q.first_response_secs == null ? '' : String(q.first_response_secs)}
                error={error}
                onInput={(v) => update({ ...draft, queues: draft.queues.map((x, j) => (j === i ? { ...x, first_response_secs: v.trim() === '' ? null : Number(v) } : x)) })}
              />
              <ItemButtons
                i={i}
                n={draft.queues.length}
                name={q.name}
                onMove={(a, b) => update({ ...draft, queues: moved(draft.queues, a, b) })}
                onRemove={(a) => update({ ...draft, queues: draft.queues.filter((_, j) => j !== a) })}
              />
            </li>
          ))}
        </ul>
        <button type="button" class="rules-add" onClick={() => update({ ...draft, queues: [...draft.queues, { name: `queue-${draft.queues.length + 1}`, first_response_secs: null }] })}>
          {t('rules.add_queue')}
        </button>
        <p class="rules-hint">{t('rules.queues_used', { v: queueOptions.join(', ') })}</p>
      </section>

      <section class="rules-section" aria-labelledby="rules-skills-title">
        <h3 id="rules-skills-title">{t('rules.skill_catalogue')}</h3>
        <ul class="rules-chips">
          {draft.skills.map((s, i) => (
            <li key={s}>
              <span id={fieldId(`skills[${i}]`)} tabIndex={-1} aria-describedby={error?.field === `skills[${i}]` ? `${fieldId(`skills[${i}]`)}-error` : undefined}>{s}</span>
              <FieldMessage path={`skills[${i}]`} error={error} />
              <button type="button" class="rules-icon" aria-label={t('rules.remove_named', { name: s })} onClick={() => update({ ...draft, skills: draft.skills.filter((x) => x !== s) })}>
                ✕
              </button>
            </li>
          ))}
        </ul>
        <form
          class="rules-row"
          onSubmit={(e) => {
            e.preventDefault();
            const s = newSkill.trim().toLowerCase();
            if (s && !draft.skills.includes(s)) update({ ...draft, skills: [...draft.skills, s] });
            setNewSkill('');
          }}
        >
          <TextField path="new-skill" label={t('rules.new_skill')} value={newSkill} error={null} onInput={setNewSkill} />
          <button type="submit" class="rules-add">
            {t('rules.add_skill_catalogue')}
          </button>
        </form>
        <FieldMessage path="skills" error={error} />
      </section>

      <RulesDryRun
        api={api}
        draft={draft}
        onError={showError}
        onAccepted={() => {
          setError(null);
          setStatus(null);
        }}
      />
      <RulesVersions key={versionsKey} api={api} inForce={inForce} dirty={dirty} onRestored={restored} onError={showError} />
    </div>
  );
}
