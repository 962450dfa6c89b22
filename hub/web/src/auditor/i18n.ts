// The audit console's strings.

import { surfaceTranslator } from '../shared/lang';
import en from '../i18n/auditor/en.json';
import es from '../i18n/auditor/es.json';
import pt from '../i18n/auditor/pt.json';

export const t = surfaceTranslator({ en, es, pt });
