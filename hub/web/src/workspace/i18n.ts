// The workspace's strings: the staff member's language (browser, or chosen), from the catalogues.

import { translator, type Lang, type Translate } from '../shared/i18n';
import { currentLang, setCurrentLang } from '../shared/lang';
import en from '../i18n/workspace/en.json';
import es from '../i18n/workspace/es.json';
import pt from '../i18n/workspace/pt.json';

const CATALOGUES = { en, es, pt };

export let lang: Lang = currentLang();
export let t: Translate = translator(CATALOGUES[lang]);

let relative = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
let time = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
let date = new Intl.DateTimeFormat(lang, { dateStyle: 'medium' });

export function setLanguage(next: Lang): void {
  lang = next;
  t = translator(CATALOGUES[next]);
  relative = new Intl.RelativeTimeFormat(next, { numeric: 'auto' });
  time = new Intl.DateTimeFormat(next, { hour: '2-digit', minute: '2-digit' });
  date = new Intl.DateTimeFormat(next, { dateStyle: 'medium' });
  setCurrentLang(next);
}

/** "3 min ago"-style relative times, in the current language. */
export function ago(iso: string): string {
  const secs = Math.round((Date.now() - Date.parse(iso)) / 1000);
  const rtf = relative;
  if (Math.abs(secs) < 60) return rtf.format(-secs, 'second');
  if (Math.abs(secs) < 3600) return rtf.format(-Math.round(secs / 60), 'minute');
  if (Math.abs(secs) < 86400) return rtf.format(-Math.round(secs / 3600), 'hour');
  return rtf.format(-Math.round(secs / 86400), 'day');
}

export function clock(iso: string): string {
  return time.format(new Date(iso));
}

/** mm:ss until (positive) or since (negative) a moment. */
export function countdown(ms: number): string {
  const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const text = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  return ms < 0 ? `-${text}` : text;
}

/** A date ("29 Nov 2026"), in the current language. */
export function day(iso: string): string {
  return date.format(new Date(iso));
}
