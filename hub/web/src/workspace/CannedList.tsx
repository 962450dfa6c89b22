// The listbox of canned responses under the reply box, and the state behind it. The reply box
// keeps the focus (its `aria-activedescendant` names the active option), as in the ARIA
// combobox pattern with list autocompletion: ↑/↓ choose, Enter inserts, Escape closes.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Store } from './store';
import { type CannedResponse, searchCanned, slashQuery } from './canned';
import { t } from './i18n';

export const CANNED_LIST_ID = 'canned-list';
const DEBOUNCE_MS = 200;

export interface Canned {
  open: boolean;
  items: CannedResponse[];
  active: number;
  state: 'loading' | 'ready' | 'error';
  /** Follows the reply box's text: opens on "/…", closes otherwise. */
  follow(text: string): void;
  close(): void;
  /** Handles a key in the reply box; returns the response to insert on Enter. */
  key(e: KeyboardEvent): CannedResponse | null | undefined;
  /** Props for the reply box. */
  inputProps: Record<string, string | undefined>;
}

export function useCanned(store: Store, language: string, enabled: boolean): Canned {
  const [query, setQuery] = useState<string | null>(null);
  const [items, setItems] = useState<CannedResponse[]>([]);
  const [active, setActive] = useState(0);
  const [state, setState] = useState<'loading' | 'ready' | 'error'>('loading');
  const dismissed = useRef<string | null>(null);
  const open = enabled && query !== null;

  useEffect(() => {
    if (!open || query === null) return;
    setState('loading');
    // A newer search (or closing) makes this one's answer stale.
    let stale = false;
    const timer = window.setTimeout(() => {
      searchCanned(store.api, query, language).then(
        (found) => {
          if (stale) return;
          setItems(found);
          setActive(0);
          setState('ready');
        },
        () => {
          if (!stale) setState('error');
        },
      );
    }, DEBOUNCE_MS);
    return () => {
      stale = true;
      window.clearTimeout(timer);
    };
  }, [open, query, language]);

  const close = () => {
    setQuery(null);
    setItems([]);
  };
  return {
    open,
    items,
    active,
    state,
    follow(text: string) {
      const q = slashQuery(text);
      // Escape closes the list until the text changes.
      if (q === null || text === dismissed.current) {
        if (q === null) dismissed.current = null;
        close();
      } else {
        dismissed.current = null;
        setQuery(q);
      }
    },
    close,
    key(e: KeyboardEvent) {
      if (!open) return undefined;
      const n = items.length;
      switch (e.key) {
        case 'ArrowDown':
          if (n) setActive((active + 1) % n);
          break;
        case 'ArrowUp':
          if (n) setActive((active - 1 + n) % n);
          break;
        case 'Enter':
          if (e.ctrlKey || e.metaKey || e.shiftKey || !n) return undefined;
          e.preventDefault();
          close();
          return items[active] ?? null;
        case 'Escape':
          dismissed.current = (e.currentTarget as HTMLTextAreaElement).value;
          close();
          break;
        default:
          return undefined;
      }
      e.preventDefault();
      // The workspace's own Escape (leave the text box) waits for the next press.
      e.stopPropagation();
      return null;
    },
    inputProps: !enabled ? {} : {
      'aria-autocomplete': 'list',
      'aria-controls': open ? CANNED_LIST_ID : undefined,
      'aria-activedescendant': open && items.length ? `canned-${items[active]?.id}` : undefined,
      'aria-describedby': 'canned-hint',
    },
  };
}

export function CannedList({ canned, choose }: { canned: Canned; choose: (c: CannedResponse) => void }): JSX.Element {
  const listRef = useRef<HTMLUListElement>(null);
  const activeId = canned.items[canned.active]?.id;
  useEffect(() => {
    listRef.current?.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: 'nearest' });
  }, [activeId]);
  const status = !canned.open
    ? ''
    : canned.state === 'loading'
      ? t('canned.loading')
      : canned.state === 'error'
        ? t('canned.error')
        : canned.items.length
          ? t('canned.count', { count: canned.items.length })
          : t('canned.none');
  return (
    <>
      <p id="canned-hint" class="visually-hidden">{t('canned.hint')}</p>
      <p class="visually-hidden" role="status">{status}</p>
      {canned.open && (
        <div class="canned">
          {canned.state !== 'ready' || canned.items.length === 0 ? <p class="canned-empty">{status}</p> : null}
          <ul id={CANNED_LIST_ID} role="listbox" aria-label={t('canned.label')} ref={listRef} hidden={canned.items.length === 0}>
            {canned.items.map((c, i) => (
              <li key={c.id} id={`canned-${c.id}`} role="option" aria-selected={i === canned.active}
                onMouseDown={(e) => e.preventDefault()} onClick={() => choose(c)}>
                <span class="canned-shortcut">/{c.shortcut}</span> <span class="canned-title">{c.title}</span>
                <span class="canned-body">{c.body}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}
