// The supervisor console's strings.

import { surfaceTranslator } from '../shared/lang';
import en from '../i18n/supervisor/en.json';
import es from '../i18n/supervisor/es.json';
import pt from '../i18n/supervisor/pt.json';

export const t = surfaceTranslator({ en, es, pt });
