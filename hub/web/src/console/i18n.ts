// The console shell's strings.

import { surfaceTranslator } from '../shared/lang';
import en from '../i18n/console/en.json';
import es from '../i18n/console/es.json';
import pt from '../i18n/console/pt.json';

export const t = surfaceTranslator({ en, es, pt });
