// The supervisor console's reports tab: volume, response and resolution times, agents (with
// their CSAT figures), the bot and customer satisfaction (CsatReport.tsx) over a date range,
// bucketed by hour, day or week in a time zone, filtered by channel, queue, agent, team,
// language and tier (the bot: channel and language). Each report is a chart (readable without
// colour) and a data table with every figure (what a screen reader reads); a CSV export of the
// same query. The figures come from `GET /api/v1/reports/{kind}` and `GET /api/v1/reports/csat`
// (docs/reports.md, docs/api.md).

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { currentLang } from '../shared/lang';
import { BarChart, LineChart, type ChartSeries } from './Chart';
import { CsatView, type CsatReport } from './CsatReport';
import { t } from './i18n';
import { SeriesTable, bucketLabel, formatDuration, formatValue, type Point } from './ReportParts';

export const REPORT_KINDS = ['volume', 'times', 'agents', 'bot', 'csat'] as const;
type Kind = (typeof REPORT_KINDS)[number];
/** The kinds `GET /api/v1/reports/{kind}` answers in the shape of `Report` (CSAT has its own). */
type SeriesKind = Exclude<Kind, 'csat'>;
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
const COLUMNS: Record<SeriesKind, string[]> = {
  volume: ['conversations', 'new', 'resolved', 'reopened', 'abandoned', 'transfers', 'reopen_rate'],
  times: ['first_responses', 'first_response_median_s', 'first_response_p90_s', 'within_sla', 'resolved', 'resolution_median_s', 'resolution_p90_s', 'handled', 'handle_time_mean_s', 'transfers'],
  agents: ['handled', 'handle_time_mean_s', 'resolved', 'first_responses', 'first_response_mean_s', 'transfers', 'available_ms', 'busy_ms', 'away_ms', 'occupancy'],
  bot: ['conversations', 'answers', 'contained', 'pending', 'handed_over', 'returned', 'containment_rate', 'handovers', 'verdict_right', 'verdict_wrong', 'right_rate', 'unanswered'],
};

/** The agents table's CSAT columns (per agent only: the totals and series do not carry them). */
const AGENT_CSAT_COLUMNS = ['csat_sent', 'csat_answered', 'csat_average', 'csat_satisfied'];

const CHANNELS = ['webchat', 'email', 'voice', 'whatsapp', 'messenger', 'telegram'];
const LANGUAGES = ['en', 'es', 'pt'];
const TIERS = ['standard', 'premium', 'vip'];

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
  const [csat, setCsat] = useState<{ report: CsatReport; query: string; seq: number } | null>(null);
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
      const q = query();
      if (kind === 'csat') {
        const found = await api.request<CsatReport>('GET', `/api/v1/reports/csat?${q}`);
        setCsat((was) => ({ report: found, query: q, seq: (was?.seq ?? 0) + 1 }));
        setReport(null);
      } else {
        setReport(await api.request<Report>('GET', `/api/v1/reports/${kind}?${q}`));
        setCsat(null);
      }
      setShown(kind);
    } catch (err) {
      setReport(null);
      setCsat(null);
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
      <p role="status" aria-live="polite" class="visually-hidden">{busy ? t('reports.loading') : report || csat ? t('reports.loaded', { kind: t(`reports.kind.${shown}`) }) : ''}</p>
      {error && <p class="error" role="alert">{error}</p>}
      {report && shown !== 'csat' && <ReportView report={report} kind={shown} lang={lang} />}
      {csat && shown === 'csat' && (
        <CsatView key={csat.seq} api={api} report={csat.report} query={csat.query} lang={lang}
          agentName={(id) => agents.find((a) => a.id === id)?.name ?? null} />
      )}
    </div>
  );
}

function ReportView({ report, kind, lang }: { report: Report; kind: SeriesKind; lang: string }): JSX.Element {
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
        <SeriesTable bucket={report.bucket} series={report.series} labels={labels} lang={lang} columns={columns} testId="report-table"
          caption={t('reports.table', { kind: t(`reports.kind.${kind}`) })} hideCaption />
      )}
    </section>
  );
}

function AgentTable({ rows, lang }: { rows: AgentRow[]; lang: string }): JSX.Element {
  if (rows.length === 0) return <p class="muted">{t('reports.no_agents')}</p>;
  const columns = [...COLUMNS.agents, ...AGENT_CSAT_COLUMNS];
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
      <SeriesTable bucket={report.bucket} series={report.series} labels={labels} lang={lang} columns={reasons} testId="report-handovers" caption={t('reports.bot.handovers_table')} />
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
