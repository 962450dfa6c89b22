// The bot's intents: example phrasings per language, the always-human flag, the skills a
// hand-over asks for. A save rebuilds the bot's intent classifier at once.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { t } from './i18n';
import { KB_LANGS, type Intent, type IntentSkill, type Lang, type TrainerApi } from './api';
import { FieldMessage, Notice, errorText, fieldError, invalidProps, lines, type FieldError } from './common';

export function Intents({ api }: { api: TrainerApi }): JSX.Element {
  const [intents, setIntents] = useState<Intent[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [newName, setNewName] = useState('');
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const load = () => api.intents().then(setIntents, (e) => setNotice({ text: errorText(e), error: true }));
  useEffect(() => { void load(); }, [api]);
  const current = intents?.find((i) => i.name === selected) ?? (selected ? { name: selected, examples: {}, always_human: false, skills: [], updated_by: null, updated_at: '' } : null);
  return (
    <div>
      <h2>{t('intents.title')}</h2>
      <p class="muted">{t('intents.intro')}</p>
      <Notice notice={notice} />
      <div class="intents">
        <nav aria-label={t('intents.list')}>
          {intents === null ? <p>{t('loading')}</p> : (
            <ul class="intent-list">
              {intents.map((i) => (
                <li key={i.name}>
                  <button type="button" aria-pressed={i.name === selected} onClick={() => setSelected(i.name)}>
                    {i.name}{i.always_human && <span class="badge badge-draft">{t('intents.human_badge')}</span>}
                  </button>
                </li>
              ))}
            </ul>
          )}
          <form class="stack" onSubmit={(e) => { e.preventDefault(); if (newName.trim()) setSelected(newName.trim()); }}>
            <label for="intent-new">{t('intents.new')}</label>
            <input id="intent-new" value={newName} maxLength={50} onInput={(e) => setNewName(e.currentTarget.value)} aria-describedby="intent-new-hint" />
            <p id="intent-new-hint" class="muted">{t('intents.name_hint')}</p>
            <div><button type="submit">{t('intents.add')}</button></div>
          </form>
        </nav>
        {current && <IntentEditor key={`${current.name}:${current.updated_at}`} api={api} intent={current} onSaved={(i) => { setNotice({ text: t('intents.saved', { name: i.name }) }); setSelected(i.name); void load(); }} onError={(e) => setNotice({ text: errorText(e), error: true })} />}
      </div>
    </div>
  );
}

function IntentEditor({ api, intent, onSaved, onError }: { api: TrainerApi; intent: Intent; onSaved: (i: Intent) => void; onError: (e: unknown) => void }): JSX.Element {
  const [examples, setExamples] = useState<Record<Lang, string>>({
    en: (intent.examples.en ?? []).join('\n'),
    es: (intent.examples.es ?? []).join('\n'),
    pt: (intent.examples.pt ?? []).join('\n'),
  });
  const [human, setHuman] = useState(intent.always_human);
  const [skills, setSkills] = useState<IntentSkill[]>(intent.skills);
  // A 422's field, put on the control it is about: `control` is that control's id.
  const [invalid, setInvalid] = useState<(FieldError & { control: string }) | null>(null);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => { if (invalid) form.current?.querySelector<HTMLElement>(`#${invalid.control}`)?.focus(); }, [invalid]);
  const save = (e: Event) => {
    e.preventDefault();
    const byLang: Partial<Record<Lang, string[]>> = {};
    for (const l of KB_LANGS) if (lines(examples[l]).length) byLang[l] = lines(examples[l]);
    const sent = skills.filter((s) => s.skill.trim());
    setInvalid(null);
    api.putIntent(intent.name, { examples: byLang, always_human: human, skills: sent }).then(onSaved, (err) => {
      onError(err);
      const found = fieldError(err, ['examples', 'skill', 'level', 'skills']);
      if (found) setInvalid({ ...found, control: controlOf(found.field, examples, skills) });
    });
  };
  const mark = (control: string, hint?: string) => invalidProps(invalid && invalid.control === control ? { ...invalid, field: control } : null, control, control, hint);
  const message = (control: string) => <FieldMessage error={invalid && invalid.control === control ? { ...invalid, field: control } : null} field={control} id={control} />;
  const setSkill = (i: number, s: IntentSkill) => setSkills(skills.map((x, j) => (j === i ? s : x)));
  return (
    <form ref={form} class="card stack intent-editor" onSubmit={save} aria-labelledby="intent-title">
      <h3 id="intent-title">{intent.name}</h3>
      {KB_LANGS.map((l) => (
        <div key={l} class="stack">
          <label for={`ex-${l}`}>{t('intents.examples', { language: t(`lang.${l}`) })}</label>
          <textarea id={`ex-${l}`} lang={l} rows={5} value={examples[l]} onInput={(e) => setExamples({ ...examples, [l]: e.currentTarget.value })} {...mark(`ex-${l}`)} />
          {message(`ex-${l}`)}
        </div>
      ))}
      <label class="inline"><input type="checkbox" checked={human} onChange={(e) => setHuman(e.currentTarget.checked)} /> {t('intents.always_human')}</label>
      <fieldset>
        <legend>{t('intents.skills')}</legend>
        {skills.map((s, i) => (
          <div key={i} class="inline skill-row">
            <label for={`skill-${i}`}>{t('intents.skill')}</label>
            <input id={`skill-${i}`} value={s.skill} maxLength={50} onInput={(e) => setSkill(i, { ...s, skill: e.currentTarget.value })} {...mark(`skill-${i}`)} />
            <label for={`level-${i}`}>{t('intents.level')}</label>
            <input id={`level-${i}`} type="number" min={1} max={10} value={s.level} onInput={(e) => setSkill(i, { ...s, level: Number(e.currentTarget.value) })} {...mark(`level-${i}`)} />
            {message(`skill-${i}`)}
            {message(`level-${i}`)}
            <button type="button" onClick={() => setSkills(skills.filter((_, j) => j !== i))} aria-label={t('intents.remove_skill', { skill: s.skill || String(i + 1) })}>{t('intents.remove')}</button>
          </div>
        ))}
        <button type="button" onClick={() => setSkills([...skills, { skill: '', level: 3 }])}>{t('intents.add_skill')}</button>
      </fieldset>
      <div><button type="submit" class="primary">{t('intents.save')}</button></div>
    </form>
  );
}

/** The control a 422 field of an intent is about: the hub names the field, not the language or row. */
function controlOf(field: string, examples: Record<Lang, string>, skills: IntentSkill[]): string {
  if (field === 'examples') {
    const long = KB_LANGS.find((l) => lines(examples[l]).some((x) => x.length > 300));
    return `ex-${long ?? KB_LANGS.find((l) => lines(examples[l]).length > 0) ?? 'en'}`;
  }
  const rows = skills.map((s, i) => ({ ...s, i })).filter((s) => s.skill.trim());
  if (field === 'level') return `level-${(rows.find((s) => !(s.level >= 1 && s.level <= 10)) ?? rows[0])?.i ?? 0}`;
  if (field === 'skills') {
    const dup = rows.find((s, k) => rows.findIndex((x) => x.skill.trim() === s.skill.trim()) !== k);
    return `skill-${(dup ?? rows[0])?.i ?? 0}`;
  }
  return `skill-${(rows.find((s) => !/^[a-z0-9_]{1,50}$/.test(s.skill.trim())) ?? rows[0])?.i ?? 0}`;
}
