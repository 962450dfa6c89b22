// The supervisor console's reports tab: volume, response and resolution times, agents, the bot
// (and CSAT when the hub serves it) over a date range, bucketed by hour, day or week in a time
// zone, filtered by channel, queue, agent, team, language and tier (the bot: channel and language). Each report is a chart (readable without
// colour) and a data table with every figure (what a screen reader reads); a CSV export of the
// same query. The figures come from `GET /api/v1/reports/{kind}` (docs/reports.md).

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { currentLang } from '../shared/lang';
import { BarChart, LineChart, type ChartSeries } from './Chart';
import { t } from './i18n';

export const REPORT_KINDS = ['volume', 'times', 'agents', 'bot'] as const;
type Kind = (typeof REPORT_KINDS)[number];

type Point = { start: string } & Record<string, number | null | string>;
interface AgentRow {
  agent_id: string;
  name: string | null;
  [measure: string]: number | null | string;
}
interface Report {
  from: string;
  to: string;
  tz: string;
  bucket: string;
  series: Point[];
  totals: Record<string, number | null>;
  agents?: AgentRow[];
  top_unanswered?: { topics: { topic: string; count: number; example: string }[]; truncated: boolean };
}

/** The filters that do not apply to the bot report (bot traffic has no queue or agent). */
const NOT_FOR_BOT = ['queue', 'agent', 'team', 'tier'];
/** The bot's hand-over reasons, the stacked chart's parts. */
const HANDOVER_REASONS = ['asked_for_human', 'low_confidence', 'repeated_failure', 'always_human', 'other'];

/** The measures each report shows in its table, in order, and how each is formatted. */
const COLUMNS: Record<Kind, string[]> = {
  volume: ['conversations', 'new', 'resolved', 'reopened', 'abandoned', 'transfers', 'reopen_rate'],
  times: ['first_responses', 'first_response_median_s', 'first_response_p90_s', 'within_sla', 'resolved', 'resolution_median_s', 'resolution_p90_s', 'handled', 'handle_time_mean_s', 'transfers'],
  agents: ['handled', 'handle_time_mean_s', 'resolved', 'first_responses', 'first_response_mean_s', 'transfers', 'available_ms', 'busy_ms', 'away_ms', 'occupancy'],
  bot: ['conversations', 'answers', 'contained', 'pending', 'handed_over', 'returned', 'containment_rate', 'handovers', 'verdict_right', 'verdict_wrong', 'right_rate', 'unanswered'],
};

const CHANNELS = ['webchat', 'email', 'voice', 'whatsapp', 'messenger', 'telegram'];
const LANGUAGES = ['en', 'es', 'pt'];
const TIERS = ['standard', 'premium', 'vip'];

function isDuration(measure: string): boolean {
  return measure.endsWith('_s');
}
function isDurationMs(measure: string): boolean {
  return measure.endsWith('_ms');
}
function isShare(measure: string): boolean {
  return measure === 'within_sla' || measure === 'reopen_rate' || measure === 'containment_rate' || measure === 'right_rate' || measure === 'occupancy';
}

/** A duration in seconds as the figure a person reads: "45 s", "3 min 20 s", "2 h 5 min". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return t('reports.dur.s', { s });
  if (s < 3600) return t('reports.dur.m', { m: Math.floor(s / 60), s: s % 60 });
  return t('reports.dur.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

function formatValue(measure: string, v: number | null | string | undefined, lang: string): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'string') return v;
  if (isDuration(measure)) return formatDuration(v);
  if (isDurationMs(measure)) return formatDuration(v / 1000);
  if (isShare(measure)) return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(v);
  return new Intl.NumberFormat(lang).format(v);
}

/** A bucket's start as its label: the hour, the day, or the week's Monday, in the report's zone. */
function bucketLabel(start: string, bucket: string, tz: string, lang: string): string {
  const d = new Date(start);
  const opts: Intl.DateTimeFormatOptions = bucket === 'hour'
    ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: tz }
    : { month: 'short', day: 'numeric', timeZone: tz };
  try {
    return new Intl.DateTimeFormat(lang, opts).format(d);
  } catch {
    return start;
  }
}

function today(offsetDays: number): string {
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return d.toISOString().slice(0, 10);
}

function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

export function Reports({ api }: ConsoleProps): JSX.Element {
  const lang = currentLang();
  const [kind, setKind] = useState<Kind>('volume');
  const [from, setFrom] = useState(today(-6));
  const [to, setTo] = useState(today(0));
  const [tz, setTz] = useState(browserZone());
  const [bucket, setBucket] = useState('day');
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [agents, setAgents] = useState<{ id: string; name: string; team?: string | null }[]>([]);
  const teams = [...new Set(agents.map((a) => a.team).filter((x): x is string => !!x))].sort();
  const [report, setReport] = useState<Report | null>(null);
  const [shown, setShown] = useState<Kind>('volume');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const query = (format?: string) => {
    const q = new URLSearchParams({ from, to, tz, bucket });
    for (const [k, v] of Object.entries(filters)) if (v && !(kind === 'bot' && NOT_FOR_BOT.includes(k))) q.set(k, v);
    if (format) q.set('format', format);
    return q.toString();
  };
  const run = async (e?: Event) => {
    e?.preventDefault();
    setBusy(true);
    setError('');
    try {
      setReport(await api.request<Report>('GET', `/api/v1/reports/${kind}?${query()}`));
      setShown(kind);
    } catch (err) {
      setReport(null);
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const exportCsv = async () => {
    setError('');
    try {
      await api.downloadGet(`/api/v1/reports/${kind}?${query('csv')}`, `switchboard-${kind}-${from}-${to}.csv`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  useEffect(() => {
    void run();
    api.request<{ id: string; name: string; team?: string | null }[]>('GET', '/api/v1/agents').then(setAgents, () => undefined);
  }, []);
  const setFilter = (key: string) => (e: Event) => setFilters({ ...filters, [key]: (e.currentTarget as HTMLSelectElement).value });
  const select = (key: string, options: [string, string][]) => (
    <p class="report-field">
      <label for={`report-f-${key}`}>{t(`reports.filter.${key}`)}</label>
      <select id={`report-f-${key}`} value={filters[key] ?? ''} onChange={setFilter(key)}>
        <option value="">{t('reports.all')}</option>
        {options.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
      </select>
    </p>
  );

  return (
    <div class="reports">
      <form onSubmit={run} class="report-form" aria-labelledby="reports-title">
        <h2 id="reports-title">{t('reports.title')}</h2>
        <fieldset>
          <legend>{t('reports.what')}</legend>
          <p class="report-field">
            <label for="report-kind">{t('reports.kind')}</label>
            <select id="report-kind" value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as Kind)}>
              {REPORT_KINDS.map((k) => <option key={k} value={k}>{t(`reports.kind.${k}`)}</option>)}
            </select>
          </p>
          <p class="report-field">
            <label for="report-from">{t('reports.from')}</label>
            <input id="report-from" type="date" required value={from} onInput={(e) => setFrom((e.currentTarget as HTMLInputElement).value)} />
          </p>
          <p class="report-field">
            <label for="report-to">{t('reports.to')}</label>
            <input id="report-to" type="date" required value={to} onInput={(e) => setTo((e.currentTarget as HTMLInputElement).value)} />
          </p>
          <p class="report-field">
            <label for="report-bucket">{t('reports.bucket')}</label>
            <select id="report-bucket" value={bucket} onChange={(e) => setBucket((e.currentTarget as HTMLSelectElement).value)}>
              {['hour', 'day', 'week'].map((b) => <option key={b} value={b}>{t(`reports.bucket.${b}`)}</option>)}
            </select>
          </p>
          <p class="report-field">
            <label for="report-tz">{t('reports.tz')}</label>
            <input id="report-tz" type="text" value={tz} spellcheck={false} autocomplete="off" onInput={(e) => setTz((e.currentTarget as HTMLInputElement).value)} />
          </p>
        </fieldset>
        <fieldset>
          <legend>{t('reports.filters')}</legend>
          {select('channel', CHANNELS.map((c) => [c, t(`reports.channel.${c}`)]))}
          {kind !== 'bot' && (
            <p class="report-field">
              <label for="report-f-queue">{t('reports.filter.queue')}</label>
              <input id="report-f-queue" type="text" value={filters.queue ?? ''} onInput={setFilter('queue')} />
            </p>
          )}
          {kind !== 'bot' && select('agent', agents.map((a) => [a.id, a.name]))}
          {kind !== 'bot' && select('team', teams.map((x) => [x, x]))}
          {select('language', LANGUAGES.map((l) => [l, t(`reports.language.${l}`)]))}
          {kind !== 'bot' && select('tier', TIERS.map((x) => [x, t(`reports.tier.${x}`)]))}
          {kind === 'bot' && <p class="muted" id="report-bot-filters">{t('reports.bot.filters')}</p>}
        </fieldset>
        <div class="buttons">
          <button type="submit" class="primary" disabled={busy}>{t('reports.show')}</button>
          <button type="button" onClick={() => void exportCsv()}>{t('reports.csv')}</button>
        </div>
      </form>
      <p role="status" aria-live="polite" class="visually-hidden">{busy ? t('reports.loading') : report ? t('reports.loaded', { kind: t(`reports.kind.${shown}`) }) : ''}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {report && <ReportView report={report} kind={shown} lang={lang} />}
    </div>
  );
}

function ReportView({ report, kind, lang }: { report: Report; kind: Kind; lang: string }): JSX.Element {
  const labels = report.series.map((p) => bucketLabel(p.start, report.bucket, report.tz, lang));
  const seriesOf = (measures: string[]): ChartSeries[] =>
    measures.map((m) => ({ key: m, label: t(`reports.m.${m}`), values: report.series.map((p) => (typeof p[m] === 'number' ? (p[m] as number) : null)) }));
  const count = (v: number) => new Intl.NumberFormat(lang).format(v);
  const columns = COLUMNS[kind];
  return (
    <section aria-labelledby="report-result-title" data-testid={`report-${kind}`}>
      <h3 id="report-result-title">{t(`reports.kind.${kind}`)}</h3>
      <dl class="report-totals" data-testid="report-totals">
        {columns.map((m) => (
          <div key={m}>
            <dt>{t(`reports.m.${m}`)}</dt>
            <dd>{formatValue(m, report.totals[m], lang)}</dd>
          </div>
        ))}
      </dl>
      {kind === 'volume' && (
        <BarChart title={t('reports.chart.volume')} labels={labels} series={seriesOf(['new', 'resolved', 'reopened', 'abandoned'])} format={count} />
      )}
      {kind === 'times' && (
        <LineChart title={t('reports.chart.times')} labels={labels} series={seriesOf(['first_response_median_s', 'first_response_p90_s', 'resolution_median_s'])} format={formatDuration} />
      )}
      {kind === 'agents' && report.agents && report.agents.length > 0 && (
        <BarChart title={t('reports.chart.agents')} labels={report.agents.map((a) => a.name ?? a.agent_id.slice(-8))}
          series={[{ key: 'handled', label: t('reports.m.handled'), values: report.agents.map((a) => (typeof a.handled === 'number' ? a.handled : null)) }]} format={count} />
      )}
      {kind === 'bot' && (
        <BarChart title={t('reports.chart.bot')} labels={labels} stacked
          series={seriesOf(HANDOVER_REASONS.map((r) => `handovers_${r}`))} format={count} />
      )}
      {kind === 'bot' && <BotTables report={report} labels={labels} lang={lang} />}
      {kind === 'agents' ? <AgentTable rows={report.agents ?? []} lang={lang} /> : (
        <SeriesTable report={report} labels={labels} lang={lang} columns={columns} testId="report-table"
          caption={t('reports.table', { kind: t(`reports.kind.${kind}`) })} hideCaption />
      )}
    </section>
  );
}

/** A report's figures per period: one row per bucket, one column per measure. */
function SeriesTable({ report, labels, lang, columns, testId, caption, hideCaption = false }: {
  report: Report;
  labels: string[];
  lang: string;
  columns: readonly string[];
  testId: string;
  caption: string;
  hideCaption?: boolean;
}): JSX.Element {
  return (
    <div class="table-wrap">
      <table class="grid" data-testid={testId}>
        <caption class={hideCaption ? 'visually-hidden' : undefined}>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{t(`reports.bucket.${report.bucket}`)}</th>
            {columns.map((m) => <th key={m} scope="col" class="num">{t(`reports.m.${m}`)}</th>)}
          </tr>
        </thead>
        <tbody>
          {report.series.map((p, i) => (
            <tr key={p.start}>
              <th scope="row"><time dateTime={p.start}>{labels[i]}</time></th>
              {columns.map((m) => <td key={m} class="num">{formatValue(m, p[m], lang)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function AgentTable({ rows, lang }: { rows: AgentRow[]; lang: string }): JSX.Element {
  if (rows.length === 0) return <p class="muted">{t('reports.no_agents')}</p>;
  const columns = COLUMNS.agents;
  return (
    <div class="table-wrap">
      <table class="grid" data-testid="report-table">
        <caption class="visually-hidden">{t('reports.table', { kind: t('reports.kind.agents') })}</caption>
        <thead>
          <tr>
            <th scope="col">{t('reports.filter.agent')}</th>
            <th scope="col">{t('reports.filter.team')}</th>
            {columns.map((m) => <th key={m} scope="col" class="num">{t(`reports.m.${m}`)}</th>)}
          </tr>
        </thead>
        <tbody>
          {rows.map((a) => (
            <tr key={a.agent_id}>
              <th scope="row">{a.name ?? a.agent_id.slice(-8)}</th>
              <td>{a.team ?? '—'}</td>
              {columns.map((m) => <td key={m} class="num">{formatValue(m, a[m], lang)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The bot report's hand-over reasons per period (the stacked chart's figures) and its top
 * unanswered questions. */
function BotTables({ report, labels, lang }: { report: Report; labels: string[]; lang: string }): JSX.Element {
  const reasons = HANDOVER_REASONS.map((r) => `handovers_${r}`);
  const topics = report.top_unanswered?.topics ?? [];
  return (
    <>
      <SeriesTable report={report} labels={labels} lang={lang} columns={reasons} testId="report-handovers" caption={t('reports.bot.handovers_table')} />
      <h4 id="report-topics-title">{t('reports.bot.topics')}</h4>
      {topics.length === 0 ? <p class="muted">{t('reports.bot.no_topics')}</p> : (
        <div class="table-wrap">
          <table class="grid" data-testid="report-topics" aria-labelledby="report-topics-title">
            <thead>
              <tr>
                <th scope="col">{t('reports.bot.topic')}</th>
                <th scope="col" class="num">{t('reports.bot.asked')}</th>
              </tr>
            </thead>
            <tbody>
              {topics.map((x) => (
                <tr key={x.topic}>
                  <th scope="row">{x.example}</th>
                  <td class="num">{new Intl.NumberFormat(lang).format(x.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {report.top_unanswered?.truncated && <p class="muted">{t('reports.bot.truncated')}</p>}
    </>
  );
}
