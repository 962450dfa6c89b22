// The administration console: staff accounts, channels, the chat widget, retention, the
// two-step sign-in policy, customers' privacy. Each is a section of the page, chosen in a tab
// list of links (`#staff`, `#channels`, `#widget`, `#retention`, `#security`, `#privacy`), so the
// back button and bookmarks work.

import { useEffect } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { Channels } from './Channels';
import { MfaPolicy } from './MfaPolicy';
import { Privacy } from './Privacy';
import { Retention } from './Retention';
import { Staff } from './Staff';
import { Widget } from './Widget';
import { t } from './i18n';
import './admin.css';

const SECTIONS = ['staff', 'channels', 'widget', 'retention', 'security', 'privacy'] as const;
type Section = (typeof SECTIONS)[number];

export default function AdminConsole({ session, api, section }: ConsoleProps): JSX.Element {
  const current: Section = (SECTIONS as readonly string[]).includes(section) ? (section as Section) : 'staff';
  useEffect(() => {
    document.title = `${t(`tab.${current}`)} · ${t('title')} · Switchboard`;
  }, [current, section]);
  return (
    <div class="admin">
      <h1>{t('title')}</h1>
      <nav class="admin-tabs" aria-label={t('sections')}>
        <ul>
          {SECTIONS.map((s) => (
            <li key={s}>
              <a href={`#${s}`} aria-current={s === current ? 'page' : undefined}>{t(`tab.${s}`)}</a>
            </li>
          ))}
        </ul>
      </nav>
      {current === 'staff' && <Staff api={api} me={session.agent.id} />}
      {current === 'channels' && <Channels api={api} />}
      {current === 'widget' && <Widget api={api} />}
      {current === 'retention' && <Retention api={api} />}
      {current === 'security' && <MfaPolicy api={api} />}
      {current === 'privacy' && <Privacy api={api} />}
    </div>
  );
}
