// The reports tab's customer-satisfaction view (`GET /api/v1/reports/csat`, docs/api.md): the
// totals (surveys sent, answered, response rate, average score, share satisfied), the answers
// per period stacked by score and the rates per period (charts readable without colour), every
// figure in a table per period and per agent, and the customers' comments, newest first, a page
// at a time ("More comments" moves the focus to the first comment it adds).

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api } from '../workspace/api';
import { BarChart, LineChart } from './Chart';
import { t } from './i18n';
import { SeriesTable, bucketLabel, formatShare, formatValue, type Point } from './ReportParts';

/** Counts of a group of surveys, as the hub gives them. */
export interface CsatCounts {
  sent: number;
  answered: number;
  /** Answers per score, scores 1 to 5. */
  distribution: number[];
  response_rate: number | null;
  average: number | null;
  satisfied: number | null;
}

export interface CsatComment {
  survey_id: string;
  score: number | null;
  comment: string;
  channel: string;
  agent_id: string | null;
  queue: string;
  language: string;
  answered_at: string | null;
}

export interface CsatReport {
  tz: string;
  bucket: string;
  total: CsatCounts;
  buckets: ({ start: string } & CsatCounts)[];
  agents: ({ agent_id: string | null } & CsatCounts)[];
  comments: CsatComment[];
  next: string | null;
}

const SCORES = [1, 2, 3, 4, 5];
const SCORE_COLUMNS = SCORES.map((s) => `score_${s}`);
/** The totals shown above the charts. */
const TOTALS = ['sent', 'answered', 'response_rate', 'average', 'satisfied'] as const;
/** The table's columns, per period and per agent. */
const COLUMNS = ['sent', 'answered', ...SCORE_COLUMNS, 'response_rate', 'average', 'satisfied'];

/** A group's counts as one row of figures (the scores as `score_1` … `score_5`). */
function figures(c: CsatCounts): Record<string, number | null> {
  const out: Record<string, number | null> = {
    sent: c.sent,
    answered: c.answered,
    response_rate: c.response_rate,
    average: c.average,
    satisfied: c.satisfied,
  };
  SCORES.forEach((s, i) => { out[`score_${s}`] = c.distribution[i] ?? 0; });
  return out;
}

export function CsatView({ api, report, query, lang, agentName }: {
  api: Api;
  report: CsatReport;
  /** The query the report answered (its comments' next pages use it). */
  query: string;
  lang: string;
  agentName: (id: string) => string | null;
}): JSX.Element {
  const [comments, setComments] = useState(report.comments);
  const [next, setNext] = useState(report.next);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');
  const [focusAt, setFocusAt] = useState<number | null>(null);
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    if (focusAt === null) return;
    (list.current?.children[focusAt] as HTMLElement | undefined)?.focus();
    setFocusAt(null);
  }, [focusAt, comments]);

  const more = async () => {
    if (!next) return;
    setLoading(true);
    setError('');
    try {
      const page = await api.request<CsatReport>('GET', `/api/v1/reports/csat?${query}&after=${encodeURIComponent(next)}`);
      setFocusAt(comments.length);
      setComments([...comments, ...page.comments]);
      setNext(page.next);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoading(false);
    }
  };

  const labels = report.buckets.map((b) => bucketLabel(b.start, report.bucket, report.tz, lang));
  const series: Point[] = report.buckets.map((b) => ({ start: b.start, ...figures(b) }));
  const total = figures(report.total);
  const count = (v: number) => new Intl.NumberFormat(lang).format(v);
  const nameOf = (id: string | null) => (id === null ? t('reports.csat.unassigned') : agentName(id) ?? id.slice(-8));
  const when = (at: string | null) => {
    if (!at) return '—';
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: report.tz }).format(new Date(at));
    } catch {
      return at;
    }
  };
  return (
    <section aria-labelledby="report-result-title" data-testid="report-csat">
      <h3 id="report-result-title">{t('reports.kind.csat')}</h3>
      <dl class="report-totals" data-testid="report-totals">
        {TOTALS.map((m) => (
          <div key={m}>
            <dt>{t(`reports.m.${m}`)}</dt>
            <dd>{formatValue(m, total[m], lang)}</dd>
          </div>
        ))}
      </dl>
      <BarChart title={t('reports.chart.csat')} labels={labels} stacked format={count}
        series={SCORES.map((s, i) => ({ key: `score_${s}`, label: t(`reports.m.score_${s}`), values: report.buckets.map((b) => b.distribution[i] ?? 0) }))} />
      <LineChart title={t('reports.chart.csat_rates')} labels={labels} format={(v) => formatShare(v, lang)}
        series={(['response_rate', 'satisfied'] as const).map((m) => ({ key: m, label: t(`reports.m.${m}`), values: report.buckets.map((b) => b[m]) }))} />
      <SeriesTable bucket={report.bucket} series={series} labels={labels} lang={lang} columns={COLUMNS} testId="report-table"
        caption={t('reports.table', { kind: t('reports.kind.csat') })} hideCaption />

      <h4 id="csat-agents-title">{t('reports.csat.agents')}</h4>
      {report.agents.length === 0 ? <p class="muted">{t('reports.csat.no_surveys')}</p> : (
        <div class="table-wrap">
          <table class="grid" data-testid="csat-agents" aria-labelledby="csat-agents-title">
            <thead>
              <tr>
                <th scope="col">{t('reports.filter.agent')}</th>
                {COLUMNS.map((m) => <th key={m} scope="col" class="num">{t(`reports.m.${m}`)}</th>)}
              </tr>
            </thead>
            <tbody>
              {report.agents.map((a) => {
                const row = figures(a);
                return (
                  <tr key={a.agent_id ?? ''}>
                    <th scope="row">{nameOf(a.agent_id)}</th>
                    {COLUMNS.map((m) => <td key={m} class="num">{formatValue(m, row[m], lang)}</td>)}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}

      <h4 id="csat-comments-title">{t('reports.csat.comments')}</h4>
      {comments.length === 0 ? <p class="muted">{t('reports.csat.no_comments')}</p> : (
        <ol class="csat-comments" ref={list} aria-labelledby="csat-comments-title" data-testid="csat-comments">
          {comments.map((c) => (
            <li key={c.survey_id} tabIndex={-1}>
              <p class="csat-comment-meta">
                <span class="csat-score">{c.score === null ? '—' : t('reports.csat.score', { score: c.score })}</span>
                {' · '}
                <span>{t(`reports.channel.${c.channel}`)}</span>
                {c.agent_id !== null && <>{' · '}<span>{nameOf(c.agent_id)}</span></>}
                {' · '}
                <time dateTime={c.answered_at ?? undefined}>{when(c.answered_at)}</time>
              </p>
              <p class="csat-comment-text" lang={c.language}>{c.comment}</p>
            </li>
          ))}
        </ol>
      )}
      {error && <p class="error" role="alert">{error}</p>}
      {next && (
        <p>
          <button type="button" onClick={() => void more()} disabled={loading}>{t('reports.csat.more')}</button>
        </p>
      )}
    </section>
  );
}
