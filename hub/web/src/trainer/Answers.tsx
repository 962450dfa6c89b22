// The bot's recent answers with question, article and confidence: a trainer marks each right or
// wrong (a wrong one's question joins the unanswered queue); filters for low confidence, language
// and answers the customer said did not help.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ago } from '../workspace/i18n';
import { t } from './i18n';
import { KB_LANGS, type BotAnswer, type TrainerApi } from './api';
import { Notice, errorText, percent } from './common';

export function Answers({ api }: { api: TrainerApi }): JSX.Element {
  const [filter, setFilter] = useState({ unjudged: false, below: '', language: '', unhelpful: false });
  const [answers, setAnswers] = useState<BotAnswer[] | null>(null);
  const [titles, setTitles] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const fail = (e: unknown) => setNotice({ text: errorText(e), error: true });
  useEffect(() => { api.answers(filter).then(setAnswers, fail); }, [api, filter]);
  useEffect(() => {
    api.documents('', '').then((docs) => setTitles(Object.fromEntries(docs.map((d) => [d.id, d.title]))), fail);
  }, [api]);
  const judge = (a: BotAnswer, verdict: 'right' | 'wrong') =>
    api.judge(a.message_id, verdict).then((j) => {
      setAnswers((answers ?? []).map((x) => (x.message_id === j.message_id ? j : x)));
      setNotice({ text: t(verdict === 'right' ? 'answers.judged_right' : 'answers.judged_wrong') });
    }, fail);
  return (
    <div>
      <h2>{t('answers.title')}</h2>
      <div class="toolbar">
        <label class="inline"><input type="checkbox" checked={filter.unjudged} onChange={(e) => setFilter({ ...filter, unjudged: e.currentTarget.checked })} /> {t('answers.unjudged')}</label>
        <label class="filter">{t('answers.confidence')}
          <select value={filter.below} onChange={(e) => setFilter({ ...filter, below: e.currentTarget.value })}>
            <option value="">{t('any')}</option>
            {['0.5', '0.7', '0.9'].map((c) => <option key={c} value={c}>{t('answers.below', { percent: percent(Number(c)) })}</option>)}
          </select>
        </label>
        <label class="filter">{t('kb.language')}
          <select value={filter.language} onChange={(e) => setFilter({ ...filter, language: e.currentTarget.value })}>
            <option value="">{t('any')}</option>
            {KB_LANGS.map((l) => <option key={l} value={l}>{t(`lang.${l}`)}</option>)}
          </select>
        </label>
        <label class="inline"><input type="checkbox" checked={filter.unhelpful} onChange={(e) => setFilter({ ...filter, unhelpful: e.currentTarget.checked })} /> {t('answers.unhelpful')}</label>
      </div>
      <Notice notice={notice} />
      {answers === null ? <p>{t('loading')}</p> : answers.length === 0 ? <p>{t('answers.empty')}</p> : (
        <table class="grid">
          <caption class="visually-hidden">{t('answers.title')}</caption>
          <thead><tr><th scope="col">{t('answers.question')}</th><th scope="col">{t('answers.article')}</th><th scope="col">{t('answers.confidence')}</th><th scope="col">{t('kb.language')}</th><th scope="col">{t('answers.when')}</th><th scope="col">{t('answers.verdict')}</th></tr></thead>
          <tbody>
            {answers.map((a) => (
              <tr key={a.message_id}>
                <td>{a.question}{a.unhelpful && <span class="badge badge-archived">{t('answers.didnt_help')}</span>}</td>
                <td>{titles[a.document_id] ?? a.document_id}</td>
                <td>{percent(a.confidence)}</td>
                <td>{t(`lang.${a.language}`)}</td>
                <td>{ago(a.created_at)}</td>
                <td>
                  <span class="inline" role="group" aria-label={t('answers.verdict_for', { question: a.question })}>
                    <button type="button" aria-pressed={a.verdict === 'right'} onClick={() => judge(a, 'right')}>{t('answers.right')}</button>
                    <button type="button" aria-pressed={a.verdict === 'wrong'} onClick={() => judge(a, 'wrong')}>{t('answers.wrong')}</button>
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
