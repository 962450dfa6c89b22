// Charts for the reports tab, drawn as inline SVG (no chart library: three chart kinds over a
// few dozen points do not justify one). Readable without colour: each series has its own dash
// pattern and marker shape (lines) or fill pattern (bars), repeated in the legend. The SVG is
// one image with a title for screen readers; the figures themselves are in the data table the
// reports tab shows under every chart.

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';

let nextChart = 0;

export interface ChartSeries {
  key: string;
  label: string;
  values: (number | null)[];
}

interface ChartProps {
  /** Names the image for screen readers (and is its visible heading's text). */
  title: string;
  /** One label per point (x axis). */
  labels: string[];
  series: ChartSeries[];
  /** Formats a y value for the axis. */
  format: (v: number) => string;
}

// Colour-blind-safe hues (Okabe–Ito), each distinguishable again by its pattern.
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
const DASHES = ['', '6 3', '2 3', '10 3 2 3', '1 2', '12 4'];
const PATTERNS = ['solid', 'hatch', 'dots', 'cross', 'back', 'grid'] as const;

const W = 640;
const H = 240;
const PAD = { left: 56, right: 12, top: 12, bottom: 40 };

function ticks(max: number): number[] {
  if (max <= 0) return [0];
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= max + step / 2; v += step) out.push(v);
  return out;
}

/** Which labels to print under the x axis: at most about eight, evenly spaced. */
function xLabelEvery(n: number): number {
  return Math.max(1, Math.ceil(n / 8));
}

function Marker({ i, x, y, colour }: { i: number; x: number; y: number; colour: string }): JSX.Element {
  const s = 4;
  switch (i % 4) {
    case 0:
      return <circle cx={x} cy={y} r={s} fill={colour} />;
    case 1:
      return <rect x={x - s} y={y - s} width={2 * s} height={2 * s} fill={colour} />;
    case 2:
      return <path d={`M${x} ${y - s - 1}L${x + s + 1} ${y + s}L${x - s - 1} ${y + s}Z`} fill={colour} />;
    default:
      return <path d={`M${x} ${y - s - 1}L${x + s + 1} ${y}L${x} ${y + s + 1}L${x - s - 1} ${y}Z`} fill={colour} />;
  }
}

function Axes({ labels, yMax, format, xOf }: { labels: string[]; yMax: number; format: (v: number) => string; xOf: (i: number) => number }): JSX.Element {
  const every = xLabelEvery(labels.length);
  const yOf = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (yMax === 0 ? 0 : v / yMax));
  return (
    <g class="chart-axes" aria-hidden="true">
      {ticks(yMax).map((v) => (
        <g key={v}>
          <line x1={PAD.left} x2={W - PAD.right} y1={yOf(v)} y2={yOf(v)} stroke="#d0d3d9" />
          <text x={PAD.left - 6} y={yOf(v) + 4} text-anchor="end">{format(v)}</text>
        </g>
      ))}
      {labels.map((l, i) => (i % every === 0 ? (
        <text key={i} x={xOf(i)} y={H - PAD.bottom + 16} text-anchor="middle">{l}</text>
      ) : null))}
      <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} stroke="#5f6368" />
    </g>
  );
}

function Legend({ series, kind, prefix = '' }: { series: ChartSeries[]; kind: 'line' | 'bar'; prefix?: string }): JSX.Element {
  return (
    <ul class="chart-legend" aria-hidden="true">
      {series.map((s, i) => (
        <li key={s.key}>
          <svg width="28" height="14" viewBox="0 0 28 14">
            {kind === 'line' ? (
              <>
                <line x1="0" x2="28" y1="7" y2="7" stroke={COLOURS[i % COLOURS.length]} stroke-width="2" stroke-dasharray={DASHES[i % DASHES.length]} />
                <Marker i={i} x={14} y={7} colour={COLOURS[i % COLOURS.length]} />
              </>
            ) : (
              <rect x="4" y="1" width="20" height="12" fill={fillOf(prefix, i)} stroke={COLOURS[i % COLOURS.length]} />
            )}
          </svg>
          {s.label}
        </li>
      ))}
    </ul>
  );
}

function fillOf(prefix: string, i: number): string {
  return PATTERNS[i % PATTERNS.length] === 'solid' ? COLOURS[i % COLOURS.length] : `url(#${prefix}-${i % PATTERNS.length})`;
}

function Patterns({ prefix }: { prefix: string }): JSX.Element {
  return (
    <defs>
      {PATTERNS.map((p, i) => {
        const c = COLOURS[i];
        return (
          <pattern key={p} id={`${prefix}-${i}`} width="6" height="6" patternUnits="userSpaceOnUse">
            <rect width="6" height="6" fill="#fff" />
            {p === 'hatch' && <path d="M0 6L6 0" stroke={c} stroke-width="2" />}
            {p === 'back' && <path d="M0 0L6 6" stroke={c} stroke-width="2" />}
            {p === 'dots' && <circle cx="3" cy="3" r="1.6" fill={c} />}
            {p === 'cross' && <path d="M0 6L6 0M0 0L6 6" stroke={c} stroke-width="1.2" />}
            {p === 'grid' && <path d="M3 0V6M0 3H6" stroke={c} stroke-width="1.4" />}
            {p === 'solid' && <rect width="6" height="6" fill={c} />}
          </pattern>
        );
      })}
    </defs>
  );
}

/** Lines over time, one per series; a missing value (`null`) breaks the line. */
export function LineChart({ title, labels, series, format }: ChartProps): JSX.Element {
  const yMax = Math.max(0, ...series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const top = ticks(yMax).at(-1) ?? 0;
  const n = labels.length;
  const xOf = (i: number) => PAD.left + (n <= 1 ? 0.5 : i / (n - 1)) * (W - PAD.left - PAD.right);
  const yOf = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (top === 0 ? 0 : v / top));
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} class="chart-svg">
        <Axes labels={labels} yMax={top} format={format} xOf={xOf} />
        {series.map((s, si) => {
          const colour = COLOURS[si % COLOURS.length];
          const runs: string[] = [];
          let d = '';
          s.values.forEach((v, i) => {
            if (v === null) {
              if (d) runs.push(d);
              d = '';
            } else {
              d += `${d ? 'L' : 'M'}${xOf(i).toFixed(1)} ${yOf(v).toFixed(1)}`;
            }
          });
          if (d) runs.push(d);
          return (
            <g key={s.key} aria-hidden="true">
              {runs.map((r, k) => <path key={k} d={r} fill="none" stroke={colour} stroke-width="2" stroke-dasharray={DASHES[si % DASHES.length]} />)}
              {n <= 48 && s.values.map((v, i) => (v === null ? null : <Marker key={i} i={si} x={xOf(i)} y={yOf(v)} colour={colour} />))}
            </g>
          );
        })}
      </svg>
      <Legend series={series} kind="line" />
    </figure>
  );
}

/** Bars per point: side by side, or stacked (`stacked`) when the series are parts of a whole. */
export function BarChart({ title, labels, series, format, stacked = false }: ChartProps & { stacked?: boolean }): JSX.Element {
  const [prefix] = useState(() => `chart-pattern-${nextChart++}`);
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const yMax = stacked ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const top = ticks(yMax).at(-1) ?? 0;
  const slot = (W - PAD.left - PAD.right) / Math.max(1, n);
  const xOf = (i: number) => PAD.left + slot * (i + 0.5);
  const yOf = (v: number) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - (top === 0 ? 0 : v / top));
  const barW = stacked ? slot * 0.7 : (slot * 0.8) / Math.max(1, series.length);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title} class="chart-svg">
        <Patterns prefix={prefix} />
        <Axes labels={labels} yMax={top} format={format} xOf={xOf} />
        <g aria-hidden="true">
          {labels.map((_, i) => {
            let base = 0;
            return series.map((s, si) => {
              const v = s.values[i] ?? 0;
              if (v <= 0) return null;
              const x = stacked ? xOf(i) - barW / 2 : xOf(i) - (slot * 0.8) / 2 + si * barW;
              const y0 = stacked ? base : 0;
              if (stacked) base += v;
              return (
                <rect key={`${i}-${s.key}`} x={x} width={Math.max(1, barW - 1)} y={yOf(y0 + v)} height={Math.max(0, yOf(y0) - yOf(y0 + v))}
                  fill={fillOf(prefix, si)} stroke={COLOURS[si % COLOURS.length]} />
              );
            });
          })}
        </g>
      </svg>
      <Legend series={series} kind="bar" prefix={prefix} />
    </figure>
  );
}
