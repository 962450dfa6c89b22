// The conversation list, virtualised: rows have one height, and only those in view (plus a
// margin) are in the DOM, so a thousand conversations cost what twenty do.

import { memo } from 'preact/compat';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { JSX, RefObject } from 'preact';
import type { Conversation, Ticket } from './api';
import type { Preview, Store } from './store';
import { ago, lang, t } from './i18n';

const ROW = 64;
const MARGIN = 8;

export function ConversationList(props: {
  store: Store;
  items: Conversation[];
  listRef: RefObject<HTMLDivElement>;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { store, items, listRef, onSelect } = props;
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, [listRef]);
  // Keep the selected row in view when it changes by keyboard.
  useEffect(() => {
    const el = listRef.current;
    const i = items.findIndex((c) => c.id === store.selected);
    if (!el || i < 0) return;
    if (i * ROW < el.scrollTop) el.scrollTop = i * ROW;
    else if ((i + 1) * ROW > el.scrollTop + el.clientHeight) el.scrollTop = (i + 1) * ROW - el.clientHeight;
  }, [store.selected]);
  const first = Math.max(0, Math.floor(scroll / ROW) - MARGIN);
  const last = Math.min(items.length, Math.ceil((scroll + height) / ROW) + MARGIN);
  const rows = items.slice(first, last);
  // Rows are memoised: a new message re-renders the rows whose conversation, ticket or preview
  // changed, not the whole window. Relative times move on once a minute.
  const minute = Math.floor(Date.now() / 60000);
  const latest = useRef(onSelect);
  latest.current = onSelect;
  const select = useCallback((id: string) => latest.current(id), []);
  return (
    <div class="list-scroll" ref={listRef} onScroll={(e) => setScroll((e.currentTarget as HTMLDivElement).scrollTop)}>
      {items.length === 0 && <p class="empty">{t('list.empty')}</p>}
      <ul class="list" aria-label={t('list.label')} style={{ height: `${items.length * ROW}px` }}>
        {rows.map((c, i) => (
          <Row key={c.id} c={c} ticket={store.tickets.get(c.id)} preview={store.previews.get(c.id)} selected={c.id === store.selected}
            index={first + i} size={items.length} minute={minute} lang={lang} onSelect={select} />
        ))}
      </ul>
    </div>
  );
}

const Row = memo(function Row(props: {
  c: Conversation;
  ticket: Ticket | undefined;
  preview: Preview | undefined;
  selected: boolean;
  index: number;
  size: number;
  minute: number;
  /** The interface language: its change re-renders the row. */
  lang: string;
  onSelect: (id: string) => void;
}): JSX.Element {
  const { c, ticket, preview, selected, index, size, onSelect } = props;
  return (
    <li class="row" style={{ top: `${index * ROW}px` }} aria-setsize={size} aria-posinset={index + 1}>
      <button type="button" aria-current={selected ? 'true' : undefined} onClick={() => onSelect(c.id)} data-conversation={c.id}>
        <span class="row-top">
          <span class={`chip ch-${c.channel}`}>{t(`channel.${c.channel}`)}</span>
          <span class="row-lang">{c.language.toUpperCase()}</span>
          {ticket && <span class="row-queue">{ticket.queue}</span>}
          <span class="row-time">{ago(c.updated_at)}</span>
        </span>
        <span class="row-preview">{preview ? preview.text : t(`status.${c.status}`)}</span>
      </button>
    </li>
  );
});
