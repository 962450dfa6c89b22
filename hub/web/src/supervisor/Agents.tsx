// Agents and skills: each agent's skills with levels (languages are skills too, as the router
// models them: 'english', 'spanish', …), capacity per channel, softphone identity (admins), edited
// with form controls; bulk edit sets one skill level or one channel's capacity for every
// selected agent.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { hasRole } from '../console/types';
import { ApiError, type Api } from '../workspace/api';
import { t } from './i18n';

export const CHANNELS = ['webchat', 'email', 'voice', 'messenger', 'whatsapp', 'telegram'] as const;
/** Skills that name a language (the router has no separate language field for agents). */
const LANGUAGE_SKILLS = new Set(['english', 'spanish', 'portuguese', 'french', 'german', 'italian', 'catalan', 'galician', 'basque']);

interface StaffRow { id: string; name: string; presence: string }
interface Capacity { limits: Record<string, number>; exclusive: string[] }
interface Profile { agent_id: string; skills: Record<string, number>; capacity: Capacity; presence: string }
interface Row { agent: StaffRow; profile: Profile | null; error?: string }

function problem(e: unknown): { field?: string; text: string } {
  if (e instanceof ApiError) return { field: e.field, text: e.message };
  return { text: t('error.network') };
}

async function pool<T>(items: T[], n: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await job(items[next++]);
  }));
}

function save(api: Api, id: string, skills: Record<string, number>, capacity: Capacity): Promise<Profile> {
  return api.request<Profile>('PUT', `/api/v1/agents/${id}/routing`, { skills, capacity: capacity.limits, exclusive: capacity.exclusive });
}

export function Agents({ api, session }: ConsoleProps): JSX.Element {
  const [rows, setRows] = useState<Row[] | null>(null);
  const [catalogue, setCatalogue] = useState<string[]>([]);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);

  const load = async () => {
    try {
      const [rules, staff] = await Promise.all([
        api.request<{ rules: { skills: string[] } }>('GET', '/api/v1/routing/rules'),
        api.request<StaffRow[]>('GET', '/api/v1/agents'),
      ]);
      setCatalogue([...rules.rules.skills].sort());
      const loaded: Row[] = staff.map((agent) => ({ agent, profile: null }));
      await pool(loaded, 6, async (row) => {
        try {
          row.profile = await api.request<Profile>('GET', `/api/v1/agents/${row.agent.id}/routing`);
        } catch (e) {
          row.error = problem(e).text;
        }
      });
      setRows(loaded);
    } catch (e) {
      setLoadError(problem(e).text);
    }
  };
  useEffect(() => { void load(); }, [api]);

  const replace = (profile: Profile) => setRows((rs) => rs && rs.map((r) => (r.agent.id === profile.agent_id ? { ...r, profile } : r)));

  if (loadError) return <p class="error" role="alert">{loadError}</p>;
  if (!rows) return <p role="status">{t('agents.loading')}</p>;
  const skills = catalogue.filter((s) => !LANGUAGE_SKILLS.has(s));
  const languages = catalogue.filter((s) => LANGUAGE_SKILLS.has(s));
  const editingRow = rows.find((r) => r.agent.id === editing);
  const chosen = rows.filter((r) => selected.has(r.agent.id) && r.profile);
  const toggle = (id: string, on: boolean) => setSelected((s) => { const n = new Set(s); if (on) n.add(id); else n.delete(id); return n; });

  return (
    <div class="agents-tab">
      <div class="notice" role="status" aria-live="polite">
        {notice && <p class={notice.kind === 'error' ? 'error' : 'ok'}>{notice.text}</p>}
      </div>
      <BulkForm
        count={chosen.length}
        catalogue={catalogue}
        onApply={async (change) => {
          const failures: string[] = [];
          let done = 0;
          await pool(chosen, 4, async (r) => {
            const p = r.profile!;
            const skillsNext = { ...p.skills };
            const limits = { ...p.capacity.limits };
            if (change.kind === 'skill') {
              if (change.value === 0) delete skillsNext[change.key];
              else skillsNext[change.key] = change.value;
            } else {
              limits[change.key] = change.value;
            }
            try {
              replace(await save(api, r.agent.id, skillsNext, { ...p.capacity, limits }));
              done += 1;
            } catch (e) {
              failures.push(`${r.agent.name}: ${problem(e).text}`);
            }
          });
          setNotice(failures.length
            ? { kind: 'error', text: t('agents.bulk_failed', { done, failed: failures.length, reasons: failures.join('; ') }) }
            : { kind: 'ok', text: t('agents.bulk_done', { n: done }) });
        }}
      />
      <table class="grid agent-profiles">
        <caption class="visually-hidden">{t('agents.caption')}</caption>
        <thead>
          <tr>
            <th scope="col">
              <input type="checkbox" aria-label={t('agents.select_all')} checked={chosen.length > 0 && chosen.length === rows.filter((r) => r.profile).length}
                onChange={(e) => setSelected((e.currentTarget as HTMLInputElement).checked ? new Set(rows.filter((r) => r.profile).map((r) => r.agent.id)) : new Set())} />
            </th>
            <th scope="col">{t('agents.col.agent')}</th>
            <th scope="col">{t('agents.col.skills')}</th>
            <th scope="col">{t('agents.col.languages')}</th>
            <th scope="col">{t('agents.col.capacity')}</th>
            <th scope="col"><span class="visually-hidden">{t('agents.col.actions')}</span></th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const p = r.profile;
            const list = (names: string[]) => names.filter((s) => p?.skills[s]).map((s) => t('agents.skill_level', { skill: s, level: p!.skills[s] })).join(', ') || t('agents.none');
            return (
              <tr key={r.agent.id} data-agent={r.agent.id}>
                <td><input type="checkbox" aria-label={t('agents.select', { agent: r.agent.name })} disabled={!p} checked={selected.has(r.agent.id)} onChange={(e) => toggle(r.agent.id, (e.currentTarget as HTMLInputElement).checked)} /></td>
                <th scope="row">{r.agent.name}</th>
                {p ? (
                  <>
                    <td>{list(Object.keys(p.skills).filter((s) => !LANGUAGE_SKILLS.has(s)))}</td>
                    <td>{list(Object.keys(p.skills).filter((s) => LANGUAGE_SKILLS.has(s)))}</td>
                    <td>{CHANNELS.filter((c) => p.capacity.limits[c]).map((c) => `${t(`channel.${c}`)} ${p.capacity.limits[c]}`).join(', ') || t('agents.none')}</td>
                  </>
                ) : <td colSpan={3} class="error">{r.error}</td>}
                <td><button type="button" disabled={!p} aria-label={t('agents.edit_label', { agent: r.agent.name })} onClick={() => setEditing(r.agent.id)}>{t('agents.edit')}</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {editingRow?.profile && (
        <ProfileForm
          key={editingRow.agent.id}
          api={api}
          agent={editingRow.agent}
          profile={editingRow.profile}
          skills={skills}
          languages={languages}
          admin={hasRole(session.agent.roles, 'admin')}
          onSaved={(p) => { replace(p); setNotice({ kind: 'ok', text: t('agents.saved', { agent: editingRow.agent.name }) }); }}
          onClose={() => setEditing(null)}
        />
      )}
    </div>
  );
}

type BulkChange = { kind: 'skill' | 'capacity'; key: string; value: number };

function BulkForm({ count, catalogue, onApply }: { count: number; catalogue: string[]; onApply: (c: BulkChange) => Promise<void> }): JSX.Element {
  const [kind, setKind] = useState<'skill' | 'capacity'>('skill');
  const [key, setKey] = useState('');
  const [value, setValue] = useState('5');
  const [busy, setBusy] = useState(false);
  const keys: readonly string[] = kind === 'skill' ? catalogue : CHANNELS;
  const k = keys.includes(key) ? key : (keys[0] ?? '');
  const max = kind === 'skill' ? 10 : 20;
  return (
    <form class="bulk" aria-labelledby="bulk-title" onSubmit={(e) => {
      e.preventDefault();
      const n = Number(value);
      if (!count || !k || !Number.isInteger(n) || n < 0 || n > max || busy) return;
      setBusy(true);
      void onApply({ kind, key: k, value: n }).finally(() => setBusy(false));
    }}>
      <h2 id="bulk-title">{t('agents.bulk_title')}</h2>
      <p class="hint">{t('agents.bulk_hint', { n: count })}</p>
      <label>{t('agents.bulk_what')}{' '}
        <select value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as 'skill' | 'capacity')}>
          <option value="skill">{t('agents.bulk_skill')}</option>
          <option value="capacity">{t('agents.bulk_capacity')}</option>
        </select>
      </label>
      <label>{kind === 'skill' ? t('agents.bulk_skill') : t('agents.bulk_channel')}{' '}
        <select value={k} onChange={(e) => setKey((e.currentTarget as HTMLSelectElement).value)}>
          {keys.map((x) => <option key={x} value={x}>{kind === 'skill' ? x : t(`channel.${x}`)}</option>)}
        </select>
      </label>
      <label>{kind === 'skill' ? t('agents.level') : t('agents.capacity')}{' '}
        <input type="number" min={0} max={max} step={1} required value={value} onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="primary" disabled={!count || busy}>{t('agents.bulk_apply', { n: count })}</button>
    </form>
  );
}

function ProfileForm({ api, agent, profile, skills, languages, admin, onSaved, onClose }: {
  api: Api;
  agent: StaffRow;
  profile: Profile;
  skills: string[];
  languages: string[];
  admin: boolean;
  onSaved: (p: Profile) => void;
  onClose: () => void;
}): JSX.Element {
  const [levels, setLevels] = useState<Record<string, string>>(() => Object.fromEntries([...skills, ...languages].map((s) => [s, String(profile.skills[s] ?? 0)])));
  const [limits, setLimits] = useState<Record<string, string>>(() => Object.fromEntries(CHANNELS.map((c) => [c, String(profile.capacity.limits[c] ?? 0)])));
  const [error, setError] = useState<{ field?: string; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const title = t('agents.edit_title', { agent: agent.name });
  const number = (label: string, id: string, value: string, max: number, set: (v: string) => void) => (
    <label key={id} for={id} class="num-field">{label}
      <input id={id} type="number" min={0} max={max} step={1} required value={value} onInput={(e) => set((e.currentTarget as HTMLInputElement).value)} />
    </label>
  );
  const fieldError = (field: string) => error?.field === field && <p class="error" id={`err-${field}`}>{error.text}</p>;
  return (
    <form class="profile-form" aria-label={title} onKeyDown={(e) => { if (e.key === 'Escape') onClose(); }} onSubmit={(e) => {
      e.preventDefault();
      const skillsOut: Record<string, number> = {};
      for (const [s, v] of Object.entries(levels)) if (Number(v) > 0) skillsOut[s] = Number(v);
      for (const s of Object.keys(profile.skills)) if (!(s in levels)) skillsOut[s] = profile.skills[s];
      const limitsOut: Record<string, number> = {};
      for (const [c, v] of Object.entries(limits)) limitsOut[c] = Number(v);
      setBusy(true);
      setError(null);
      save(api, agent.id, skillsOut, { limits: limitsOut, exclusive: profile.capacity.exclusive })
        .then(onSaved, (err) => setError(problem(err)))
        .finally(() => setBusy(false));
    }}>
      <h2>{title}</h2>
      <fieldset aria-describedby={error?.field === 'skills' ? 'err-skills' : undefined}>
        <legend>{t('agents.skills_legend')}</legend>
        {skills.map((s) => number(s, `skill-${s}`, levels[s], 10, (v) => setLevels((l) => ({ ...l, [s]: v }))))}
        {fieldError('skills')}
      </fieldset>
      <fieldset>
        <legend>{t('agents.languages_legend')}</legend>
        {languages.length === 0 ? <p class="hint">{t('agents.no_languages')}</p> : languages.map((s) => number(s, `skill-${s}`, levels[s], 10, (v) => setLevels((l) => ({ ...l, [s]: v }))))}
      </fieldset>
      <p class="hint">{t('agents.level_hint')}</p>
      <fieldset aria-describedby={error?.field === 'capacity' ? 'err-capacity' : undefined}>
        <legend>{t('agents.capacity_legend')}</legend>
        {CHANNELS.map((c) => number(t(`channel.${c}`), `cap-${c}`, limits[c], 20, (v) => setLimits((l) => ({ ...l, [c]: v }))))}
        {fieldError('capacity')}
      </fieldset>
      {error && error.field !== 'skills' && error.field !== 'capacity' && <p class="error" role="alert">{error.text}</p>}
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy}>{t('agents.save')}</button>
        <button type="button" onClick={onClose}>{t('agents.close')}</button>
      </div>
      <Softphone api={api} agent={agent} admin={admin} />
    </form>
  );
}

/** The softphone identity: admins set it (the API keeps it to them); others are told so. */
function Softphone({ api, agent, admin }: { api: Api; agent: StaffRow; admin: boolean }): JSX.Element {
  const [current, setCurrent] = useState<string | null>(null);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [msg, setMsg] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  // The fields wait for the current identity, so it never overwrites what was typed.
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    if (!admin) return;
    api.request<{ username: string }>('GET', `/api/v1/agents/${agent.id}/sip`).then(
      (s) => { setCurrent(s.username); setUsername(s.username); setLoaded(true); },
      () => { setCurrent(null); setLoaded(true); },
    );
  }, [agent.id, admin]);
  return (
    <fieldset class="softphone">
      <legend>{t('agents.softphone_legend')}</legend>
      {!admin ? <p class="hint">{t('agents.softphone_admin_only')}</p> : (
        <>
          <p class="hint">{current ? t('agents.softphone_current', { username: current }) : t('agents.softphone_none')}</p>
          <label for="sip-user">{t('agents.softphone_username')}</label>
          <input id="sip-user" autocomplete="off" disabled={!loaded} value={username} onInput={(e) => setUsername((e.currentTarget as HTMLInputElement).value)} />
          <label for="sip-password">{t('agents.softphone_password')}</label>
          <input id="sip-password" type="password" autocomplete="new-password" disabled={!loaded} value={password} onInput={(e) => setPassword((e.currentTarget as HTMLInputElement).value)} />
          <button type="button" disabled={!loaded} onClick={() => {
            api.request<{ username: string }>('PUT', `/api/v1/agents/${agent.id}/sip`, { username, password }).then(
              (s) => { setCurrent(s.username); setPassword(''); setMsg({ kind: 'ok', text: t('agents.softphone_saved') }); },
              (e) => setMsg({ kind: 'error', text: problem(e).text }),
            );
          }}>{t('agents.softphone_save')}</button>
          <p role="status" class={msg?.kind === 'error' ? 'error' : 'ok'}>{msg?.text ?? ''}</p>
        </>
      )}
    </fieldset>
  );
}
