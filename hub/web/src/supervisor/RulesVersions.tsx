// The rules' versions with who published each, when, and how many rules; two picked to see what
// changed, rule by rule and field by field (only those two are fetched in full); restore a
// version (published again as a new version), asking first when the draft has unpublished
// changes it would discard.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import type { Api } from '../workspace/api';
import { t } from './i18n';
import { diffRules, type RulesInForce, type RulesVersion, type RulesVersionSummary } from './RulesModel';

const when = (iso: string) => new Date(iso).toLocaleString(document.documentElement.lang || undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function RulesVersions({
  api,
  inForce,
  dirty,
  onRestored,
  onError,
}: {
  api: Api;
  inForce: RulesInForce;
  /** The draft has changes not published: a restore would discard them. */
  dirty: boolean;
  onRestored: (r: RulesInForce) => void;
  onError: (e: unknown) => void;
}): JSX.Element {
  const [versions, setVersions] = useState<RulesVersionSummary[] | null>(null);
  // The versions fetched in full, for the diff.
  const [full, setFull] = useState<Record<number, RulesVersion>>({});
  const [older, setOlder] = useState<number | null>(null);
  const [newer, setNewer] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api
      .request<RulesVersionSummary[]>('GET', '/api/v1/routing/rules/versions')
      .then((vs) => {
        setVersions(vs);
        if (vs.length >= 2) {
          setNewer(vs[0].version);
          setOlder(vs[1].version);
        }
      })
      .catch(onError);
  }, []);

  useEffect(() => {
    const missing = [older, newer].filter((v): v is number => v !== null && !(v in full));
    if (missing.length === 0) return;
    let live = true;
    Promise.all(missing.map((v) => api.request<RulesVersion>('GET', `/api/v1/routing/rules/versions/${v}`)))
      .then((got) => {
        if (live) setFull((f) => Object.fromEntries([...Object.entries(f), ...got.map((g) => [g.version, g] as const)]));
      })
      .catch(onError);
    return () => {
      live = false;
    };
  }, [older, newer]);

  const restore = async (v: number) => {
    if (!window.confirm(t(dirty ? 'rules.versions.confirm_discard' : 'rules.versions.confirm', { v }))) return;
    setBusy(true);
    try {
      onRestored(await api.request<RulesInForce>('POST', `/api/v1/routing/rules/versions/${v}/restore`, { expected_version: inForce.version }));
    } catch (e) {
      onError(e);
    } finally {
      setBusy(false);
    }
  };

  const a = older === null ? undefined : full[older];
  const b = newer === null ? undefined : full[newer];
  const diff = a && b ? diffRules(a.rules, b.rules) : null;
  return (
    <section class="rules-section" aria-labelledby="rules-versions-title">
      <h3 id="rules-versions-title">{t('rules.versions.title')}</h3>
      {versions === null ? (
        <p role="status">{t('rules.loading')}</p>
      ) : versions.length === 0 ? (
        <p>{t('rules.versions.none')}</p>
      ) : (
        <>
          <table class="rules-table rules-versions">
            <caption>{t('rules.versions.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('rules.versions.version')}</th>
                <th scope="col">{t('rules.versions.who')}</th>
                <th scope="col">{t('rules.versions.when')}</th>
                <th scope="col">{t('rules.versions.rule_count')}</th>
                <th scope="col">{t('rules.versions.compare_from')}</th>
                <th scope="col">{t('rules.versions.compare_to')}</th>
                <th scope="col">
                  <span class="visually-hidden">{t('rules.versions.actions')}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <th scope="row">
                    {t('rules.versions.v', { v: v.version })}
                    {v.version === inForce.version && <span class="rules-badge"> {t('rules.versions.in_force')}</span>}
                    {v.restored_from !== null && <span class="rules-hint"> {t('rules.versions.restored_from', { v: v.restored_from })}</span>}
                  </th>
                  <td>{v.created_by_name ?? v.created_by}</td>
                  <td>
                    <time dateTime={v.created_at}>{when(v.created_at)}</time>
                  </td>
                  <td>{v.rule_count}</td>
                  <td>
                    <input type="radio" name="rules-from" checked={older === v.version} onChange={() => setOlder(v.version)} aria-label={t('rules.versions.pick_from', { v: v.version })} />
                  </td>
                  <td>
                    <input type="radio" name="rules-to" checked={newer === v.version} onChange={() => setNewer(v.version)} aria-label={t('rules.versions.pick_to', { v: v.version })} />
                  </td>
                  <td>
                    {v.version !== inForce.version && (
                      <button type="button" disabled={busy} onClick={() => void restore(v.version)}>
                        {t('rules.versions.restore', { v: v.version })}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {a && b && diff && (
            <div class="rules-diff" aria-live="polite">
              <h4>{t('rules.versions.diff_title', { a: a.version, b: b.version })}</h4>
              {diff.length === 0 ? (
                <p>{t('rules.versions.same')}</p>
              ) : (
                <ul>
                  {diff.map((d, i) => (
                    <li key={i} class={`rules-diff-${d.kind}`}>
                      <strong>{d.scope === 'fallback' ? t('rules.fallback') : d.scope === 'skills' || d.scope === 'queues' ? t(`rules.diff.scope.${d.scope}`) : d.scope}</strong>
                      {': '}
                      {t(`rules.diff.${d.kind}`, { what: t(`rules.diff.what.${d.what}`), before: d.before ?? '', after: d.after ?? '' })}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
        </>
      )}
    </section>
  );
}
