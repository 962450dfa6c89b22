// The customer in the side panel: who they are (name, e-mail, language, tier), how they reach
// us on each channel, and their conversations, newest first, each a link that opens it in the
// thread. One section per subject, so the customer 360 (accounts, products, bills) adds its own;
// the churn risk (ChurnRisk.tsx) is one.

import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Conversation, CustomerConversation, CustomerProfile } from './api';
import { ChurnRisk } from './ChurnRisk';
import { Consents, ContactEdit, HandlesEdit, MergeDialog } from './CustomerEdit';
import type { Store } from './store';
import { day, t } from './i18n';
import { LANG_NAMES, type Lang } from '../shared/i18n';

export function CustomerCard(props: { store: Store; conversation: Conversation; act: (p: Promise<unknown>) => void }): JSX.Element {
  const { store, conversation, act } = props;
  const profile = store.customers.get(conversation.customer_id);
  const failed = store.customerErrors.has(conversation.customer_id);
  const language = profile?.language ?? conversation.language;
  const [merging, setMerging] = useState(false);
  return (
    <section aria-labelledby="side-customer" class="customer" data-testid="customer">
      <h2 id="side-customer">{t('side.customer')}</h2>
      <dl>
        <dt>{t('customer.name')}</dt><dd>{profile?.name ?? <span class="muted-inline">{t('customer.no_name')}</span>}</dd>
        {profile?.email && <><dt>{t('customer.email')}</dt><dd class="handle">{profile.email}</dd></>}
        {profile?.phone && <><dt>{t('customer.phone')}</dt><dd class="handle">{profile.phone}</dd></>}
        <dt>{t('side.language')}</dt><dd>{LANG_NAMES[language as Lang] ?? language}</dd>
        {profile && <><dt>{t('customer.tier')}</dt><dd><span class={`chip tier-${profile.tier}`}>{t(`tier.${profile.tier}`)}</span></dd></>}
        <dt>{t('side.customer_id')}</dt><dd><code>{conversation.customer_id.slice(-12)}</code></dd>
      </dl>
      {!profile && (failed
        ? <p class="muted" role="status">{t('customer.unavailable')}</p>
        : <p class="muted" role="status">{t('customer.loading')}</p>)}
      {profile?.merged_into && <p class="notice" role="status">{t('customer.merged_into')}</p>}
      {profile && !profile.erased && !profile.merged_into && (
        <ChurnRisk store={store} customerId={profile.id} refresh={conversation.status} />
      )}
      {profile && !profile.erased && !profile.merged_into && (
        <>
          <ContactEdit store={store} profile={profile} />
          <Consents store={store} profile={profile} />
          <HandlesEdit store={store} profile={profile} />
          <button type="button" onClick={() => setMerging(true)}>{t('customer.merge')}</button>
          {merging && <MergeDialog store={store} profile={profile} onClose={() => setMerging(false)} />}
        </>
      )}
      {profile && (profile.erased || profile.merged_into) && <Handles profile={profile} />}
      {profile && <History store={store} profile={profile} current={conversation.id} act={act} />}
      {profile && <Orders profile={profile} />}
    </section>
  );
}

function Handles({ profile }: { profile: CustomerProfile }): JSX.Element {
  return (
    <>
      <h3 id="side-handles">{t('customer.handles')}</h3>
      {profile.handles.length === 0 ? <p class="muted">{t('customer.no_handles')}</p> : (
        <ul class="handles" aria-labelledby="side-handles">
          {profile.handles.map((h) => (
            <li key={`${h.kind}:${h.value}`}>
              <span class={`chip ch-${h.channel}`}>{t(`customer.kind_${h.kind}`)}</span>{' '}
              <span class="handle">{h.value}</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function History(props: { store: Store; profile: CustomerProfile; current: string; act: (p: Promise<unknown>) => void }): JSX.Element {
  const { store, profile, current, act } = props;
  const items = profile.conversations.items;
  return (
    <>
      <h3 id="side-history">{t('customer.conversations')}</h3>
      <ul class="history" aria-labelledby="side-history">
        {items.map((c) => <HistoryItem key={c.id} c={c} current={c.id === current} open={() => act(store.select(c.id))} />)}
      </ul>
      {profile.conversations.next_cursor && (
        <button type="button" class="link" onClick={() => act(store.moreCustomerConversations(profile.id))}>{t('customer.more')}</button>
      )}
    </>
  );
}

function HistoryItem({ c, current, open }: { c: CustomerConversation; current: boolean; open: () => void }): JSX.Element {
  const title = c.subject ?? c.last_message?.text ?? t('customer.no_messages');
  const body = (
    <>
      <span class="history-top">
        <span class={`chip ch-${c.channel}`}>{t(`channel.${c.channel}`)}</span>
        <span>{t(`status.${c.status}`)}</span>
        {c.outcome && <span class="chip outcome" title={t('customer.outcome')}>{c.outcome.resolution ? c.outcome.resolution.replace(/_/g, ' ') : t('customer.outcome_open')}</span>}
        <time dateTime={c.created_at}>{day(c.created_at)}</time>
      </span>
      <span class="history-title">{title}</span>
      {c.subject && c.last_message && <span class="history-preview">{withoutSubject(c.last_message.text, c.subject)}</span>}
    </>
  );
  return (
    <li data-history={c.id}>
      {current ? (
        <div class="history-item" aria-current="page">
          {body}
          <span class="history-here">{t('customer.this_conversation')}</span>
        </div>
      ) : (
        <a class="history-item" href={`#conversation=${c.id}`} onClick={(e) => { e.preventDefault(); open(); }}>
          {body}
        </a>
      )}
    </li>
  );
}

/** The customer's orders in the billing system, when linked; the section fails soft. */
function Orders({ profile }: { profile: CustomerProfile }): JSX.Element | null {
  const orders = profile.orders;
  if (!orders || orders.status === 'not_linked') return null;
  return (
    <>
      <h3 id="side-orders">{t('customer.orders')}</h3>
      {orders.status === 'unavailable' ? <p class="muted" role="status">{t('customer.orders_unavailable')}</p>
        : orders.items.length === 0 ? <p class="muted">{t('customer.no_orders')}</p> : (
          <ul aria-labelledby="side-orders">
            {orders.items.map((o) => <li key={o.id}><code>{o.id}</code> {o.state} <time dateTime={o.created_at}>{day(o.created_at)}</time></li>)}
          </ul>
        )}
    </>
  );
}

/** A mail that opened a thread starts with its subject: the preview under the subject skips it. */
function withoutSubject(text: string, subject: string): string {
  return text.startsWith(subject) ? text.slice(subject.length).trimStart() || text : text;
}
