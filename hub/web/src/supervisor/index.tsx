// The supervisor console: the live wall, agents and skills, routing rules, canned responses, as
// tabs (the URL's hash names the tab: #wall, #agents, #rules, #canned, #approvals: bill adjustments
// waiting for a decision and the adjustments report, #incidents: the incident feed,
// #reports: volume, times and agents over a date range, with charts and tables, #sla: the SLA
// policies and the teams' business calendars).

import { useRef } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { t } from './i18n';
import { Wall } from './Wall';
import { Agents } from './Agents';
import { Rules } from './Rules';
import { Canned } from './Canned';
import { Approvals } from './Approvals';
import { Incidents } from './Incidents';
import { Reports } from './Reports';
import { Sla } from './Sla';
import './supervisor.css';

const TABS = ['wall', 'agents', 'rules', 'canned', 'approvals', 'incidents', 'reports', 'sla'] as const;
type Tab = (typeof TABS)[number];

const PANELS: Record<Tab, (props: ConsoleProps) => JSX.Element> = {
  wall: Wall,
  agents: Agents,
  rules: Rules,
  canned: Canned,
  approvals: Approvals,
  incidents: Incidents,
  reports: Reports,
  sla: Sla,
};

export default function SupervisorConsole(props: ConsoleProps): JSX.Element {
  const current: Tab = (TABS as readonly string[]).includes(props.section) ? (props.section as Tab) : 'wall';
  const refs = useRef<Record<string, HTMLButtonElement | null>>({});
  const Panel = PANELS[current];
  // Arrow keys move between tabs (and select them), Home and End go to the ends.
  const onKey = (e: KeyboardEvent) => {
    const i = TABS.indexOf(current);
    const next = e.key === 'ArrowRight' ? TABS[(i + 1) % TABS.length]
      : e.key === 'ArrowLeft' ? TABS[(i + TABS.length - 1) % TABS.length]
        : e.key === 'Home' ? TABS[0] : e.key === 'End' ? TABS[TABS.length - 1] : null;
    if (!next) return;
    e.preventDefault();
    props.navigate(next);
    refs.current[next]?.focus();
  };
  return (
    <div class="supervisor">
      <h1>{t('title')}</h1>
      <div role="tablist" aria-label={t('tabs.label')} class="console-tabs" onKeyDown={onKey}>
        {TABS.map((tab) => (
          <button key={tab} type="button" role="tab" id={`tab-${tab}`} aria-controls="supervisor-panel"
            aria-selected={tab === current} tabIndex={tab === current ? 0 : -1}
            ref={(el) => { refs.current[tab] = el; }} onClick={() => props.navigate(tab)}>
            {t(`tab.${tab}`)}
          </button>
        ))}
      </div>
      <div role="tabpanel" id="supervisor-panel" aria-labelledby={`tab-${current}`} class="supervisor-panel">
        <Panel key={current} {...props} />
      </div>
    </div>
  );
}
