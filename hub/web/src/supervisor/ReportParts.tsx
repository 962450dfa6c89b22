// What the reports tab's views share (Reports.tsx, CsatReport.tsx): how a figure is written
// (durations, shares, averages), a bucket's label, and the table of figures per period.

import type { JSX } from 'preact';
import { t } from './i18n';

/** One bucket of a report: its start (RFC 3339) and its figures. */
export type Point = { start: string } & Record<string, number | null | string>;

function isDuration(measure: string): boolean {
  return measure.endsWith('_s');
}
function isDurationMs(measure: string): boolean {
  return measure.endsWith('_ms');
}
const SHARES = ['within_sla', 'reopen_rate', 'containment_rate', 'right_rate', 'occupancy', 'response_rate', 'satisfied', 'csat_satisfied'];
function isShare(measure: string): boolean {
  return SHARES.includes(measure);
}
/** Mean scores (1 to 5): two decimals at most. */
function isAverage(measure: string): boolean {
  return measure === 'average' || measure === 'csat_average';
}

/** A duration in seconds as the figure a person reads: "45 s", "3 min 20 s", "2 h 5 min". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return t('reports.dur.s', { s });
  if (s < 3600) return t('reports.dur.m', { m: Math.floor(s / 60), s: s % 60 });
  return t('reports.dur.h', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

/** A share (0 to 1) as a percentage. */
export function formatShare(v: number, lang: string): string {
  return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 }).format(v);
}

export function formatValue(measure: string, v: number | null | string | undefined, lang: string): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'string') return v;
  if (isDuration(measure)) return formatDuration(v);
  if (isDurationMs(measure)) return formatDuration(v / 1000);
  if (isShare(measure)) return formatShare(v, lang);
  if (isAverage(measure)) return new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(v);
  return new Intl.NumberFormat(lang).format(v);
}

/** A bucket's start as its label: the hour, the day, or the week's Monday, in the report's zone. */
export function bucketLabel(start: string, bucket: string, tz: string, lang: string): string {
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

/** A report's figures per period: one row per bucket, one column per measure. */
export function SeriesTable({ bucket, series, labels, lang, columns, testId, caption, hideCaption = false }: {
  bucket: string;
  series: Point[];
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
            <th scope="col">{t(`reports.bucket.${bucket}`)}</th>
            {columns.map((m) => <th key={m} scope="col" class="num">{t(`reports.m.${m}`)}</th>)}
          </tr>
        </thead>
        <tbody>
          {series.map((p, i) => (
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
