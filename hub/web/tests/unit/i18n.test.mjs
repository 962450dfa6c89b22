// Every catalogue has the same keys in every language, no value is empty, and every key the
// code looks up (t('…'), and the t(`prefix.${…}`) families) exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const src = new URL('../../src/', import.meta.url).pathname;
const LANGS = ['en', 'es', 'pt'];

function files(dir) {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

// Every surface with catalogues (src/i18n/<surface>/) and its code (src/<surface>/).
const SURFACES = readdirSync(join(src, 'i18n')).filter((d) => statSync(join(src, 'i18n', d)).isDirectory() && readdirSync(join(src, 'i18n', d)).length);

test('the surfaces are found', () => {
  for (const s of ['widget', 'workspace', 'console', 'trainer']) assert.ok(SURFACES.includes(s), s);
});

for (const surface of SURFACES) {
  const catalogues = Object.fromEntries(
    LANGS.map((l) => [l, JSON.parse(readFileSync(join(src, 'i18n', surface, `${l}.json`), 'utf8'))]),
  );

  test(`${surface}: every language has every key, none empty`, () => {
    const all = new Set(LANGS.flatMap((l) => Object.keys(catalogues[l])));
    for (const l of LANGS) {
      const missing = [...all].filter((k) => !(k in catalogues[l]));
      assert.deepEqual(missing, [], `${surface}/${l}.json lacks ${missing.join(', ')}`);
      for (const [k, v] of Object.entries(catalogues[l])) assert.ok(v.trim(), `${surface}/${l}.json: ${k} is empty`);
    }
  });

  test(`${surface}: placeholders match across languages`, () => {
    for (const k of Object.keys(catalogues.en)) {
      const want = (catalogues.en[k].match(/\{\w+\}/g) ?? []).sort();
      for (const l of LANGS) assert.deepEqual((catalogues[l][k].match(/\{\w+\}/g) ?? []).sort(), want, `${l}: ${k}`);
    }
  });

  test(`${surface}: every key the code uses exists`, () => {
    const code = files(join(src, surface)).filter((f) => /\.tsx?$/.test(f)).map((f) => readFileSync(f, 'utf8')).join('\n');
    const used = new Set([...code.matchAll(/\bt\('([a-z0-9_.]+)'/g)].map((m) => m[1]));
    for (const m of code.matchAll(/\['[^']+', '([a-z]+\.[a-z_.]+)'\]/g)) used.add(m[1]);
    const families = new Set([...code.matchAll(/\bt\(`([a-z_.]+)\.\$\{/g)].map((m) => m[1]));
    for (const k of used) assert.ok(k in catalogues.en, `${surface}: t('${k}') has no entry`);
    for (const f of families) {
      assert.ok(Object.keys(catalogues.en).some((k) => k.startsWith(`${f}.`)), `${surface}: no keys for t(\`${f}.…\`)`);
    }
  });
}
