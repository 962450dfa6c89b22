// The hub's trainer API (role bot_trainer) as the console uses it.

import type { Api, Message } from '../workspace/api';

export type Lang = 'en' | 'es' | 'pt';
export const KB_LANGS: readonly Lang[] = ['en', 'es', 'pt'];
export type Status = 'draft' | 'published' | 'archived';
export const STATUSES: readonly Status[] = ['draft', 'published', 'archived'];
export type Kind = 'article' | 'qa';

export interface UnansweredItem { id: string; conversation_id: string; question: string; reason: string; created_at: string }
export interface UnansweredGroup { question: string; language: Lang; count: number; items: UnansweredItem[] }

export interface DocumentContent {
  kind: Kind;
  language: Lang;
  title: string;
  body: string;
  questions: string[];
  tags: string[];
  status: Status;
}
export interface KbDocument extends DocumentContent { id: string; version: number; source: string | null; updated_at: string }
export interface DocumentVersion extends DocumentContent { version: number; edited_by: string | null; edited_at: string }

export interface SearchHit { document_id: string; kind: Kind; language: Lang; title: string; passage: string; score: number; bm25_rank: number | null; vector_rank: number | null }

export interface BotAnswer {
  message_id: string;
  conversation_id: string;
  question: string;
  language: Lang;
  intent: string | null;
  document_id: string;
  confidence: number;
  verdict: 'right' | 'wrong' | null;
  created_at: string;
  unhelpful: boolean;
}

export interface Tried {
  decision: 'answer' | 'hand_over' | 'ask';
  reason: string | null;
  text: string;
  document_id: string | null;
  language: Lang;
  confidence: number;
  intent: { name: string; score: number; example: string } | null;
  skills: [string, number][];
  hits: { document_id: string; title: string; language: Lang; score: number; bm25_rank: number | null; vector_rank: number | null; passage: string }[];
  search: string;
}

export interface IntentSkill { skill: string; level: number }
export interface Intent {
  name: string;
  examples: Partial<Record<Lang, string[]>>;
  always_human: boolean;
  skills: IntentSkill[];
  updated_by: string | null;
  updated_at: string;
}

interface Items<T> { items: T[] }

export const trainerApi = (api: Api) => ({
  unanswered: () => api.request<{ groups: UnansweredGroup[] }>('GET', '/api/v1/bot/unanswered').then((r) => r.groups),
  answerGroup: (ids: string[], answer: string, title: string) =>
    api.request<{ document: KbDocument; resolved: number }>('POST', '/api/v1/bot/unanswered/answer', { ids, answer, title }),
  mergeGroup: (ids: string[], documentId: string) =>
    api.request<{ document: KbDocument; resolved: number }>('POST', '/api/v1/bot/unanswered/merge', { ids, document_id: documentId }),
  dismissGroup: (ids: string[]) => api.request<{ dismissed: number }>('POST', '/api/v1/bot/unanswered/dismiss', { ids }),
  conversation: (id: string) =>
    api.request<Items<Message>>('GET', `/api/v1/bot/conversations/${encodeURIComponent(id)}/messages`).then((r) => r.items),
  documents: (status: string, language: string) => {
    const q = new URLSearchParams();
    if (status) q.set('status', status);
    if (language) q.set('language', language);
    return api.request<Items<KbDocument>>('GET', `/api/v1/kb/documents?${q}`).then((r) => r.items);
  },
  createDocument: (content: DocumentContent) => api.request<KbDocument>('POST', '/api/v1/kb/documents', content),
  updateDocument: (id: string, content: DocumentContent, version: number) =>
    api.request<KbDocument>('PUT', `/api/v1/kb/documents/${encodeURIComponent(id)}`, { ...content, version }),
  versions: (id: string) => api.request<Items<DocumentVersion>>('GET', `/api/v1/kb/documents/${encodeURIComponent(id)}/versions`).then((r) => r.items),
  restore: (id: string, version: number) =>
    api.request<KbDocument>('POST', `/api/v1/kb/documents/${encodeURIComponent(id)}/versions/${version}/restore`, {}),
  search: (q: string, language: string) => {
    const p = new URLSearchParams({ q, limit: '10' });
    if (language) p.set('language', language);
    return api.request<Items<SearchHit>>('GET', `/api/v1/kb/search?${p}`).then((r) => r.items);
  },
  importFile: (folder: string, fileName: string, content: string, draft: boolean) =>
    api.request<{ created: KbDocument[]; kept: number }>('POST', '/api/v1/kb/import', { folder, file_name: fileName, content, draft }),
  answers: (filter: { unjudged: boolean; below: string; language: string; unhelpful: boolean }) => {
    const q = new URLSearchParams({ limit: '100' });
    if (filter.unjudged) q.set('unjudged', 'true');
    if (filter.below) q.set('below_confidence', filter.below);
    if (filter.language) q.set('language', filter.language);
    if (filter.unhelpful) q.set('unhelpful', 'true');
    return api.request<Items<BotAnswer>>('GET', `/api/v1/bot/answers?${q}`).then((r) => r.items);
  },
  judge: (messageId: string, verdict: 'right' | 'wrong') =>
    api.request<BotAnswer>('PUT', `/api/v1/bot/answers/${encodeURIComponent(messageId)}/verdict`, { verdict }),
  tryIt: (text: string, language: string) => api.request<Tried>('POST', '/api/v1/bot/try', { text, language }),
  intents: () => api.request<Items<Intent>>('GET', '/api/v1/bot/intents').then((r) => r.items),
  putIntent: (name: string, body: { examples: Partial<Record<Lang, string[]>>; always_human: boolean; skills: IntentSkill[] }) =>
    api.request<Intent>('PUT', `/api/v1/bot/intents/${encodeURIComponent(name)}`, body),
});

export type TrainerApi = ReturnType<typeof trainerApi>;
