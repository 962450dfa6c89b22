// The staff pages' language (workspace and consoles): chosen in a header, remembered in this
// browser, else the browser's. The customer widget does not use this (it runs on other sites and
// takes its language from the page that embeds it).

import { pickLanguage, translator, type Catalogue, type Lang, type Translate } from './i18n';

const KEY = 'switchboard.lang';

function stored(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

let current: Lang = pickLanguage([stored(), ...navigator.languages]);
document.documentElement.lang = current;

/** The language the staff pages show now. */
export function currentLang(): Lang {
  return current;
}

/** Switches every surface's strings to `next` (callers re-render) and remembers the choice. */
export function setCurrentLang(next: Lang): void {
  current = next;
  document.documentElement.lang = next;
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // Private mode: the choice lasts this page only.
  }
}

/** A surface's `t()`: looks the key up in the catalogue of the current language. */
export function surfaceTranslator(catalogues: Record<Lang, Catalogue>): Translate {
  const byLang = { en: translator(catalogues.en), es: translator(catalogues.es), pt: translator(catalogues.pt) };
  return (key, vars) => byLang[current](key, vars);
}
