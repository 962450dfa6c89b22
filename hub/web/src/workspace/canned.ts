// Canned responses in the reply box: typing "/" at the start of a reply searches the library
// (the global responses and those of the agent's queues, in the conversation's language), and
// the chosen one replaces the slash command with its text.

import type { Api } from './api';

export interface CannedResponse {
  id: string;
  queue: string | null;
  shortcut: string;
  title: string;
  body: string;
  language: string;
}

/** The search a reply-box text asks for: the words after a leading "/" on the first line, else null. */
export function slashQuery(text: string): string | null {
  const m = /^\/([^\n]{0,60})$/.exec(text);
  return m ? m[1].trim() : null;
}

/** The text a canned response inserts, with `{agent_name}` filled in. */
export function fill(body: string, agentName: string): string {
  return body.split('{agent_name}').join(agentName);
}

/** Up to 20 canned responses matching `q` (every word, in shortcut, title or body). */
export async function searchCanned(api: Api, q: string, language: string): Promise<CannedResponse[]> {
  const params = new URLSearchParams({ limit: '20' });
  if (q) params.set('q', q.replace(/[-/]/g, ' ').trim());
  if (language) params.set('language', language);
  const page = await api.request<{ items: CannedResponse[] }>('GET', `/api/v1/canned-responses?${params}`);
  return page.items;
}
