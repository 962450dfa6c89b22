// Outages in the side panel: a banner when the conversation's customer is in the area of a live
// incident (their address with the operator), and line tests: the assignee or a supervisor runs
// one on a product of the customer's and sees the result, newest first.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Conversation, Ticket } from './api';
import type { Store } from './store';
import { clock, t } from './i18n';

interface LiveIncident {
  id: string;
  title: string;
  description: string;
  status: string;
  eta: string | null;
}

interface LineTest {
  id: string;
  product: string;
  verdict: 'pass' | 'fail' | 'inconclusive';
  summary: string;
  measures: { name: string; value: string; ok: boolean }[];
  created_at: string;
}

export function OutagePanel(props: { store: Store; conversation: Conversation; ticket: Ticket | undefined }): JSX.Element {
  const { store, conversation, ticket } = props;
  const [live, setLive] = useState<LiveIncident[]>([]);
  const [tests, setTests] = useState<LineTest[]>([]);
  const [product, setProduct] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const base = `/api/v1/conversations/${conversation.id}`;
  useEffect(() => {
    setLive([]);
    setTests([]);
    setError(null);
    store.api.request<LiveIncident[]>('GET', `${base}/incidents`).then(setLive, () => setLive([]));
    store.api.request<LineTest[]>('GET', `${base}/diagnostics`).then(setTests, () => setTests([]));
  }, [conversation.id]);
  const roles = store.session.agent.roles;
  const supervisor = roles.includes('supervisor') || roles.includes('admin');
  const mayTest = supervisor || (ticket?.assignee_id ?? conversation.assignee_id) === store.me;
  const run = async (e: Event) => {
    e.preventDefault();
    if (!product.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const result = await store.api.request<LineTest>('POST', `${base}/diagnostics`, { product: product.trim() });
      setTests((prev) => [result, ...prev]);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      {live.length > 0 && (
        <section class="outage-banner" aria-labelledby="side-outage" data-testid="outage-banner">
          <h2 id="side-outage">{t('outage.banner_title')}</h2>
          <ul>
            {live.map((i) => (
              <li key={i.id}>
                <strong>{i.title}</strong> <span class="chip">{t(`outage.status.${i.status}`)}</span>
                {i.description && <div>{i.description}</div>}
                {i.eta && <div>{t('outage.eta', { time: new Date(i.eta).toLocaleString() })}</div>}
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="side-diagnostics" class="diagnostics">
        <h2 id="side-diagnostics">{t('outage.diagnostics')}</h2>
        {mayTest && (
          <form class="diagnostics-form" onSubmit={(e) => void run(e)}>
            <label for="diagnostics-product">{t('outage.product')}</label>
            <input id="diagnostics-product" value={product} maxLength={64} aria-describedby="diagnostics-hint" onInput={(e) => setProduct((e.currentTarget as HTMLInputElement).value)} />
            <button type="submit" disabled={busy}>{busy ? t('outage.running') : t('outage.run_test')}</button>
            <p class="muted" id="diagnostics-hint">{t('outage.product_hint')}</p>
          </form>
        )}
        <div aria-live="polite">{error && <p class="error" role="alert">{error}</p>}</div>
        {tests.length === 0 ? <p class="muted">{t('outage.no_tests')}</p> : (
          <ul class="diagnostics-list" data-testid="diagnostics">
            {tests.map((d) => (
              <li key={d.id}>
                <span class={`chip verdict-${d.verdict}`}>{t(`outage.verdict.${d.verdict}`)}</span>{' '}
                <time dateTime={d.created_at}>{clock(d.created_at)}</time> <code>{d.product}</code>
                <div>{d.summary}</div>
                <ul class="measures">
                  {d.measures.map((m) => (
                    <li key={m.name} class={m.ok ? '' : 'bad'}>
                      {m.name}: {m.value}{m.ok ? '' : ` (${t('outage.measure_bad')})`}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
