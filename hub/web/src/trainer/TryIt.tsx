// A box that runs the bot's real decision on a question, with nothing stored, and shows why:
// answer or hand-over, confidence, intent, and the search hits with their BM25 and vector ranks.

import { useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { t } from './i18n';
import { KB_LANGS, type Tried, type TrainerApi } from './api';
import { Notice, errorText, percent } from './common';

export function TryIt({ api }: { api: TrainerApi }): JSX.Element {
  const [text, setText] = useState('');
  const [language, setLanguage] = useState('en');
  const [result, setResult] = useState<Tried | null>(null);
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const run = (e: Event) => {
    e.preventDefault();
    setNotice(null);
    api.tryIt(text, language).then(setResult, (err) => setNotice({ text: errorText(err), error: true }));
  };
  return (
    <div>
      <h2>{t('try.title')}</h2>
      <p class="muted">{t('try.intro')}</p>
      <form class="stack" onSubmit={run}>
        <label for="try-text">{t('try.question')}</label>
        <textarea id="try-text" rows={3} value={text} maxLength={1000} required onInput={(e) => setText(e.currentTarget.value)} />
        <label class="filter">{t('try.language')}
          <select value={language} onChange={(e) => setLanguage(e.currentTarget.value)}>
            {KB_LANGS.map((l) => <option key={l} value={l}>{t(`lang.${l}`)}</option>)}
          </select>
        </label>
        <div><button type="submit" class="primary">{t('try.run')}</button></div>
      </form>
      <Notice notice={notice} />
      {result && (
        <section aria-labelledby="try-result" class="card" data-testid="try-result">
          <h3 id="try-result">{t(`decision.${result.decision}`)}{result.reason ? ` (${t(`reason.${result.reason}`)})` : ''}</h3>
          <dl class="facts">
            <dt>{t('try.confidence')}</dt><dd>{percent(result.confidence)}</dd>
            <dt>{t('try.intent')}</dt><dd>{result.intent ? t('try.intent_value', { name: result.intent.name, score: result.intent.score.toFixed(2), example: result.intent.example }) : t('try.no_intent')}</dd>
            <dt>{t('kb.language')}</dt><dd>{t(`lang.${result.language}`)}</dd>
            <dt>{t('try.search')}</dt><dd>{t(`search.${result.search}`)}</dd>
            {result.skills.length > 0 && <><dt>{t('try.skills')}</dt><dd>{result.skills.map(([s, l]) => `${s} ${l}`).join(', ')}</dd></>}
          </dl>
          <h4>{t('try.reply')}</h4>
          <blockquote class="reply" lang={result.language}>{result.text}</blockquote>
          <h4>{t('try.hits')}</h4>
          {result.hits.length === 0 ? <p>{t('try.no_hits')}</p> : (
            <table class="grid">
              <thead><tr><th scope="col">#</th><th scope="col">{t('kb.doc_title')}</th><th scope="col">{t('try.score')}</th><th scope="col">{t('try.bm25')}</th><th scope="col">{t('try.vector')}</th></tr></thead>
              <tbody>
                {result.hits.map((h, i) => (
                  <tr key={h.document_id} class={h.document_id === result.document_id ? 'chosen' : undefined}>
                    <td>{i + 1}</td>
                    <td>{h.title}</td>
                    <td>{h.score.toFixed(3)}</td>
                    <td>{h.bm25_rank ?? t('try.not_ranked')}</td>
                    <td>{h.vector_rank ?? t('try.not_ranked')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </div>
  );
}
