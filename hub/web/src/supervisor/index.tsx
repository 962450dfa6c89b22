// The supervisor console (minimal, for the rules and canned responses tabs only: the console's
// full tab list, wall and agents come from the console-wall branch).

import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { Canned } from './Canned';
import { Rules } from './Rules';
import { t } from './i18n';

const SECTIONS = ['rules', 'canned'] as const;

export default function SupervisorConsole(props: ConsoleProps): JSX.Element {
  const section = (SECTIONS as readonly string[]).includes(props.section) ? props.section : 'rules';
  return (
    <>
      <h1>{t('rules.console_title')}</h1>
      <nav aria-label={t('rules.console_title')}>
        <ul class="rules-plain rules-row">
          {SECTIONS.map((s) => (
            <li key={s}>
              <a href={`#${s}`} aria-current={section === s ? 'page' : undefined}>
                {t(`${s}.tab`)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {section === 'rules' ? <Rules {...props} /> : <Canned {...props} />}
    </>
  );
}
