// A small, safe Markdown renderer for the editor's preview: it builds elements (never HTML
// strings), so raw HTML in an article shows as text, as on the public help pages; links keep only
// http, https and mailto addresses. Headings, paragraphs, lists, bold, italics, code and links.

import type { JSX, ComponentChildren } from 'preact';

const SAFE_LINK = /^(https?:|mailto:)/i;

/** Inline Markdown: `code`, **bold**, *italics* and [text](address). */
export function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const re = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*]+\*)|(\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const token = m[0];
    if (m[1]) out.push(<code>{token.slice(1, -1)}</code>);
    else if (m[2]) out.push(<strong>{inline(token.slice(2, -2))}</strong>);
    else if (m[3]) out.push(<em>{inline(token.slice(1, -1))}</em>);
    else {
      const close = token.indexOf('](');
      const label = token.slice(1, close);
      const href = token.slice(close + 2, -1);
      out.push(SAFE_LINK.test(href) ? <a href={href} rel="noopener noreferrer nofollow" target="_blank">{inline(label)}</a> : label);
    }
    last = at + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** Block Markdown: `#` to `###` headings (shown one level below the page's), lists, paragraphs. */
export function Markdown({ source }: { source: string }): JSX.Element {
  const blocks: JSX.Element[] = [];
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  let para: string[] = [];
  let list: { ordered: boolean; items: string[] } | null = null;
  const flush = () => {
    if (para.length) blocks.push(<p key={blocks.length}>{inline(para.join(' '))}</p>);
    para = [];
    if (list) {
      const items = list.items.map((item, i) => <li key={i}>{inline(item)}</li>);
      blocks.push(list.ordered ? <ol key={blocks.length}>{items}</ol> : <ul key={blocks.length}>{items}</ul>);
    }
    list = null;
  };
  for (const raw of lines) {
    const line = raw.trimEnd();
    const heading = /^(#{1,3})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (!line.trim()) {
      flush();
    } else if (heading) {
      flush();
      const level = heading[1].length;
      const content = inline(heading[2]);
      blocks.push(level === 1 ? <h3 key={blocks.length}>{content}</h3> : level === 2 ? <h4 key={blocks.length}>{content}</h4> : <h5 key={blocks.length}>{content}</h5>);
    } else if (bullet || numbered) {
      const ordered = !bullet;
      if (para.length || (list && list.ordered !== ordered)) flush();
      list = list ?? { ordered, items: [] };
      list.items.push((bullet ?? numbered)![1]);
    } else {
      if (list) flush();
      para.push(line.trim());
    }
  }
  flush();
  return <div class="markdown">{blocks}</div>;
}
