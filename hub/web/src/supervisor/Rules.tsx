// Placeholder for the routing rules editor (built on the console-rules branch, which replaces
// this file wholesale).
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { t } from './i18n';

export function Rules(_props: ConsoleProps): JSX.Element {
  return <h2>{t('tab.rules')}</h2>;
}
