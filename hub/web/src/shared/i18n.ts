// Languages and message catalogues: every visible string comes from a catalogue per language
// (src/i18n/<surface>/<lang>.json); tests/unit/i18n.test.mjs fails when a key is missing in one.

export type Lang = 'en' | 'es' | 'pt';
export const LANGS: readonly Lang[] = ['en', 'es', 'pt'];
export const LANG_NAMES: Record<Lang, string> = { en: 'English', es: 'Español', pt: 'Português' };

export type Catalogue = Record<string, string>;
export type Translate = (key: string, vars?: Record<string, string | number>) => string;

/** The first supported language among the candidates (`es-AR` counts as `es`), else English. */
export function pickLanguage(candidates: readonly (string | null | undefined)[]): Lang {
  for (const c of candidates) {
    const base = (c ?? '').trim().toLowerCase().split(/[-_]/)[0];
    if ((LANGS as readonly string[]).includes(base)) return base as Lang;
  }
  return 'en';
}

/** A lookup in one catalogue, with `{name}` placeholders; a missing key shows as itself. */
export function translator(catalogue: Catalogue): Translate {
  return (key, vars) => {
    let text = catalogue[key] ?? key;
    if (vars) for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
    return text;
  };
}
