// The administration console's strings.

import { surfaceTranslator } from '../shared/lang';
import en from '../i18n/admin/en.json';
import es from '../i18n/admin/es.json';
import pt from '../i18n/admin/pt.json';

export const t = surfaceTranslator({ en, es, pt });
