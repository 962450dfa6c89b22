// The bot trainers' console: the questions the bot could not answer, the knowledge base, a review
// of the bot's answers, a box to try the bot, and its intents. Each section is a tab.

import { useMemo } from 'preact/hooks';
import type { JSX } from 'preact';
import type { ConsoleProps } from '../console/types';
import { t } from './i18n';
import { trainerApi } from './api';
import { Unanswered } from './Unanswered';
import { Knowledge } from './Knowledge';
import { Answers } from './Answers';
import { TryIt } from './TryIt';
import { Intents } from './Intents';
import './trainer.css';

const SECTIONS = ['unanswered', 'kb', 'answers', 'try', 'intents'] as const;
type Section = (typeof SECTIONS)[number];

export default function TrainerConsole({ api, section, navigate }: ConsoleProps): JSX.Element {
  const trainer = useMemo(() => trainerApi(api), [api]);
  const current: Section = (SECTIONS as readonly string[]).includes(section) ? (section as Section) : 'unanswered';
  const onKey = (e: KeyboardEvent) => {
    const at = SECTIONS.indexOf(current);
    const next = e.key === 'ArrowRight' ? at + 1 : e.key === 'ArrowLeft' ? at - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? SECTIONS.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    const target = SECTIONS[(next + SECTIONS.length) % SECTIONS.length];
    navigate(target);
    requestAnimationFrame(() => document.getElementById(`tab-${target}`)?.focus());
  };
  return (
    <div class="trainer">
      <h1>{t('title')}</h1>
      <div role="tablist" aria-label={t('tabs.label')} class="trainer-tabs" onKeyDown={onKey}>
        {SECTIONS.map((s) => (
          <button
            key={s}
            type="button"
            role="tab"
            id={`tab-${s}`}
            aria-selected={s === current}
            aria-controls={`panel-${s}`}
            tabIndex={s === current ? 0 : -1}
            onClick={() => navigate(s)}
          >
            {t(`tab.${s}`)}
          </button>
        ))}
      </div>
      <section role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`} class="trainer-panel">
        {current === 'unanswered' && <Unanswered api={trainer} />}
        {current === 'kb' && <Knowledge api={trainer} />}
        {current === 'answers' && <Answers api={trainer} />}
        {current === 'try' && <TryIt api={trainer} />}
        {current === 'intents' && <Intents api={trainer} />}
      </section>
    </div>
  );
}
