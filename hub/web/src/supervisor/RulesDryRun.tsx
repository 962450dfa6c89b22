// The draft rules tried on the last hours of real tickets: how many would change queue, from
// where to where, and the expected wait per queue (the hub's estimate, explained in docs/api.md).

import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api } from '../workspace/api';
import { t } from './i18n';
import { toWire, type HistoryRun, type RoutingRules } from './RulesModel';

function wait(ms: number | null): string {
  if (ms === null) return t('rules.dry.no_estimate');
  const secs = Math.round(ms / 1000);
  if (secs < 60) return t('rules.dry.secs', { n: secs });
  if (secs < 3600) return t('rules.dry.mins', { n: Math.round(secs / 60) });
  return t('rules.dry.hours_n', { n: (secs / 3600).toFixed(1) });
}

export function RulesDryRun({
  api,
  draft,
  onError,
  onAccepted,
}: {
  api: Api;
  draft: RoutingRules;
  onError: (e: unknown) => void;
  /** The hub accepted the draft (no field is at fault any more). */
  onAccepted: () => void;
}): JSX.Element {
  const [hours, setHours] = useState('24');
  const [run, setRun] = useState<HistoryRun | null>(null);
  const [busy, setBusy] = useState(false);
  const [hoursError, setHoursError] = useState<string | null>(null);

  const dryRun = async (e: Event) => {
    e.preventDefault();
    const n = Number(hours);
    if (!Number.isInteger(n) || n < 1 || n > 168) {
      setHoursError(t('rules.dry.hours_range'));
      return;
    }
    setHoursError(null);
    setBusy(true);
    try {
      setRun(await api.request<HistoryRun>('POST', '/api/v1/routing/dry-run/history', { rules: toWire(draft), hours: n }));
      onAccepted();
    } catch (err) {
      setRun(null);
      onError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="rules-section" aria-labelledby="rules-dry-title">
      <h3 id="rules-dry-title">{t('rules.dry.title')}</h3>
      <p class="rules-hint">{t('rules.dry.hint')}</p>
      <form class="rules-row" noValidate onSubmit={(e) => void dryRun(e)}>
        <div class="rules-field">
          <label for="rules-dry-hours">{t('rules.dry.hours')}</label>
          <input
            id="rules-dry-hours"
            type="number"
            min={1}
            max={168}
            value={hours}
            onInput={(e) => setHours((e.currentTarget as HTMLInputElement).value)}
            aria-invalid={hoursError ? 'true' : undefined}
            aria-describedby={hoursError ? 'rules-dry-hours-error' : undefined}
          />
          {hoursError && (
            <p class="rules-field-error" id="rules-dry-hours-error">
              {hoursError}
            </p>
          )}
        </div>
        <button type="submit" disabled={busy}>
          {t('rules.dry.run')}
        </button>
      </form>
      <div aria-live="polite">
        {run && (
          <div class="rules-dry-result">
            <p class="rules-dry-moved">
              {t('rules.dry.moved', { moved: run.moved, tickets: run.tickets, hours: run.hours })}
            </p>
            {run.truncated && <p class="rules-hint">{t('rules.dry.truncated', { n: run.max_tickets })}</p>}
            {run.moves.length > 0 && (
              <ul class="rules-moves">
                {run.moves.map((m) => (
                  <li key={`${m.from}-${m.to}`}>{t('rules.dry.move', { from: m.from, to: m.to, n: m.tickets })}</li>
                ))}
              </ul>
            )}
            <table class="rules-table">
              <caption>{t('rules.dry.per_queue')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('rules.queue')}</th>
                  <th scope="col">{t('rules.dry.tickets_now')}</th>
                  <th scope="col">{t('rules.dry.tickets_draft')}</th>
                  <th scope="col">{t('rules.dry.agents')}</th>
                  <th scope="col">{t('rules.dry.observed')}</th>
                  <th scope="col">{t('rules.dry.expected')}</th>
                </tr>
              </thead>
              <tbody>
                {run.queues.map((q) => (
                  <tr key={q.queue}>
                    <th scope="row">{q.queue}</th>
                    <td>{q.tickets_now}</td>
                    <td>{q.tickets_draft}</td>
                    <td>
                      {q.agents_now} → {q.agents_draft}
                    </td>
                    <td>{q.observed_wait_ms === null ? '—' : wait(q.observed_wait_ms)}</td>
                    <td>{q.tickets_draft > 0 && q.agents_draft === 0 ? t('rules.dry.nobody') : wait(q.expected_wait_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {run.moved_sample.length > 0 && (
              <details>
                <summary>{t('rules.dry.sample', { n: run.moved_sample.length })}</summary>
                <ul class="rules-plain rules-ids">
                  {run.moved_sample.map((id) => (
                    <li key={id}>{id}</li>
                  ))}
                </ul>
              </details>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
