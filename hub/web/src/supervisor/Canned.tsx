// Placeholder for the canned responses library (built on the console-rules branch, which
// replaces this file wholesale).
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { t } from './i18n';

export function Canned(_props: ConsoleProps): JSX.Element {
  return <h2>{t('tab.canned')}</h2>;
}
