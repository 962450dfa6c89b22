// The routing rules as the editor holds them (the hub's `RoutingRules` JSON), the field ids the
// hub's 422 `field` paths map to, and a readable per-rule, per-field diff of two rule sets.

export const CHANNELS = ['webchat', 'email', 'voice', 'messenger', 'whatsapp', 'telegram'] as const;
export const LANGUAGES = ['en', 'es', 'pt'] as const;
export const TIERS = ['standard', 'premium', 'vip'] as const;

export interface SkillReq {
  skill: string;
  level: number;
}

export type Step =
  | { action: 'widen_skills'; after_secs: number; by: number }
  | { action: 'overflow'; after_secs: number; queue: string };

export interface Target {
  queue: string;
  skills: SkillReq[];
  priority: number;
  escalation: Step[];
}

export interface Conditions {
  channels: string[];
  languages: string[];
  tiers: string[];
  tags_any: string[];
  text_contains: string[];
  hours?: { from: string; to: string } | null;
  /** The customer's churn-risk score (0–100) is at least this; `null`: any. */
  churn_risk_at_least?: number | null;
}

export interface Rule {
  name: string;
  when: Conditions;
  then: Target;
}

export interface QueueDef {
  name: string;
  first_response_secs?: number | null;
}

export interface RoutingRules {
  skills: string[];
  queues: QueueDef[];
  rules: Rule[];
  fallback: Target;
}

export interface RulesInForce {
  version: number;
  rules: RoutingRules;
}

export interface RulesVersion {
  version: number;
  rules: RoutingRules;
  created_by: string;
  created_by_name: string | null;
  created_at: string;
  restored_from: number | null;
}

/** A row of the versions list: a version without its rules. */
export interface RulesVersionSummary {
  version: number;
  created_by: string;
  created_by_name: string | null;
  created_at: string;
  restored_from: number | null;
  rule_count: number;
}

export interface QueueForecast {
  queue: string;
  tickets_now: number;
  tickets_draft: number;
  agents_now: number;
  agents_draft: number;
  observed_wait_ms: number | null;
  expected_wait_ms: number | null;
}

export interface HistoryRun {
  hours: number;
  since: string;
  rules_version: number;
  tickets: number;
  truncated: boolean;
  max_tickets: number;
  moved: number;
  moves: { from: string; to: string; tickets: number }[];
  moved_sample: string[];
  sample_cap: number;
  queues: QueueForecast[];
}

/** The rules as the hub sent them, with every optional part present, so the forms can edit it. */
export function normalise(r: RoutingRules): RoutingRules {
  const target = (t: Partial<Target> & { queue: string }): Target => ({
    queue: t.queue,
    skills: (t.skills ?? []).map((s) => ({ ...s })),
    priority: t.priority ?? 3,
    escalation: (t.escalation ?? []).map((s) => ({ ...s })),
  });
  return {
    skills: [...(r.skills ?? [])],
    queues: (r.queues ?? []).map((q) => ({ name: q.name, first_response_secs: q.first_response_secs ?? null })),
    rules: (r.rules ?? []).map((rule) => ({
      name: rule.name,
      when: {
        channels: [...(rule.when?.channels ?? [])],
        languages: [...(rule.when?.languages ?? [])],
        tiers: [...(rule.when?.tiers ?? [])],
        tags_any: [...(rule.when?.tags_any ?? [])],
        text_contains: [...(rule.when?.text_contains ?? [])],
        hours: rule.when?.hours ? { ...rule.when.hours } : null,
        churn_risk_at_least: rule.when?.churn_risk_at_least ?? null,
      },
      then: target(rule.then),
    })),
    fallback: target(r.fallback),
  };
}

/** The JSON the hub expects: empty optional parts left out. */
export function toWire(r: RoutingRules): unknown {
  return {
    skills: r.skills,
    queues: r.queues.map((q) =>
      q.first_response_secs == null ? { name: q.name } : { name: q.name, first_response_secs: q.first_response_secs },
    ),
    rules: r.rules.map((rule) => {
      const when: Record<string, unknown> = {};
      for (const k of ['channels', 'languages', 'tiers', 'tags_any', 'text_contains'] as const) {
        if (rule.when[k].length) when[k] = rule.when[k];
      }
      if (rule.when.hours) when.hours = rule.when.hours;
      if (rule.when.churn_risk_at_least != null) when.churn_risk_at_least = rule.when.churn_risk_at_least;
      return { name: rule.name, when, then: rule.then };
    }),
    fallback: r.fallback,
  };
}

/** The DOM id of the control that edits the field at `path` (`rules[0].then.skills[1].level`). */
export function fieldId(path: string): string {
  return 'rf-' + path.replace(/[[\].]+/g, '-').replace(/-+$/, '');
}

// ---- diff -----------------------------------------------------------------------------------

export type DiffKind = 'added' | 'removed' | 'changed' | 'moved';

/** One readable difference; `what` names a translation key, `args` fill it. */
export interface DiffLine {
  kind: DiffKind;
  scope: string;
  what: string;
  before?: string;
  after?: string;
}

const list = (xs: readonly string[]): string => (xs.length ? xs.join(', ') : '—');

export function skillsText(s: SkillReq[]): string {
  return list(s.map((r) => `${r.skill} ≥ ${r.level}`));
}

export function stepText(s: Step): string {
  return s.action === 'overflow' ? `${s.after_secs}s → ${s.queue}` : `${s.after_secs}s −${s.by}`;
}

function targetDiff(scope: string, a: Target, b: Target, out: DiffLine[]): void {
  if (a.queue !== b.queue) out.push({ kind: 'changed', scope, what: 'queue', before: a.queue, after: b.queue });
  if (skillsText(a.skills) !== skillsText(b.skills))
    out.push({ kind: 'changed', scope, what: 'skills', before: skillsText(a.skills), after: skillsText(b.skills) });
  if (a.priority !== b.priority)
    out.push({ kind: 'changed', scope, what: 'priority', before: String(a.priority), after: String(b.priority) });
  const ea = list(a.escalation.map(stepText));
  const eb = list(b.escalation.map(stepText));
  if (ea !== eb) out.push({ kind: 'changed', scope, what: 'escalation', before: ea, after: eb });
}

function hoursText(h: Conditions['hours']): string {
  return h ? `${h.from}–${h.to}` : '—';
}

/** What changed from `older` to `newer`, rule by rule (matched by name) and field by field. */
export function diffRules(olderRaw: RoutingRules, newerRaw: RoutingRules): DiffLine[] {
  const a = normalise(olderRaw);
  const b = normalise(newerRaw);
  const out: DiffLine[] = [];
  for (const s of b.skills) if (!a.skills.includes(s)) out.push({ kind: 'added', scope: 'skills', what: 'skill', after: s });
  for (const s of a.skills) if (!b.skills.includes(s)) out.push({ kind: 'removed', scope: 'skills', what: 'skill', before: s });
  for (const q of b.queues) {
    const old = a.queues.find((x) => x.name === q.name);
    if (!old) out.push({ kind: 'added', scope: 'queues', what: 'queue', after: q.name });
    else if ((old.first_response_secs ?? null) !== (q.first_response_secs ?? null))
      out.push({
        kind: 'changed',
        scope: q.name,
        what: 'first_response',
        before: String(old.first_response_secs ?? '—'),
        after: String(q.first_response_secs ?? '—'),
      });
  }
  for (const q of a.queues) if (!b.queues.some((x) => x.name === q.name)) out.push({ kind: 'removed', scope: 'queues', what: 'queue', before: q.name });
  b.rules.forEach((rule, i) => {
    const j = a.rules.findIndex((x) => x.name === rule.name);
    if (j < 0) {
      out.push({ kind: 'added', scope: rule.name, what: 'rule', after: `#${i + 1}` });
      return;
    }
    const old = a.rules[j];
    if (i !== j) out.push({ kind: 'moved', scope: rule.name, what: 'position', before: `#${j + 1}`, after: `#${i + 1}` });
    for (const k of ['channels', 'languages', 'tiers', 'tags_any', 'text_contains'] as const) {
      if (list(old.when[k]) !== list(rule.when[k]))
        out.push({ kind: 'changed', scope: rule.name, what: k, before: list(old.when[k]), after: list(rule.when[k]) });
    }
    const churnA = String(old.when.churn_risk_at_least ?? '—');
    const churnB = String(rule.when.churn_risk_at_least ?? '—');
    if (churnA !== churnB) out.push({ kind: 'changed', scope: rule.name, what: 'churn_risk_at_least', before: churnA, after: churnB });
    if (hoursText(old.when.hours) !== hoursText(rule.when.hours))
      out.push({ kind: 'changed', scope: rule.name, what: 'hours', before: hoursText(old.when.hours), after: hoursText(rule.when.hours) });
    targetDiff(rule.name, old.then, rule.then, out);
  });
  for (const rule of a.rules) if (!b.rules.some((x) => x.name === rule.name)) out.push({ kind: 'removed', scope: rule.name, what: 'rule' });
  targetDiff('fallback', a.fallback, b.fallback, out);
  return out;
}
