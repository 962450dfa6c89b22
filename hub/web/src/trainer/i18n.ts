// The trainer console's strings.

import { surfaceTranslator } from '../shared/lang';
import en from '../i18n/trainer/en.json';
import es from '../i18n/trainer/es.json';
import pt from '../i18n/trainer/pt.json';

export const t = surfaceTranslator({ en, es, pt });
