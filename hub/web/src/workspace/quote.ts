// The quoted history in an e-mail's text: runs of "> " lines with the "On … wrote:" line that
// introduces them (in one line or wrapped over two), and everything under an Outlook-style
// "-----Original Message-----". The thread folds each run behind a button; the text between
// runs (an answer written between the quoted questions) stays in view.

export interface Part {
  quoted: boolean;
  text: string;
}

const QUOTED = /^\s*>/;
const ATTRIBUTION_START = /^(On|El|Em|Le|Am|Il) \S/;
const ATTRIBUTION_END = /(wrote|escribió|escreveu|a écrit|schrieb|ha scritto):\s*$/;
const ORIGINAL = /^-{2,}\s*(Original Message|Mensaje original|Mensagem original|Message d'origine)\s*-{2,}\s*$/i;

/** How many lines from `i` form an "On … wrote:" line (1 or 2, wrapped), followed by a quote; 0 if none. */
function attribution(lines: string[], i: number): number {
  if (!ATTRIBUTION_START.test(lines[i])) return 0;
  for (const n of [1, 2]) {
    if (i + n > lines.length || !ATTRIBUTION_END.test(lines[i + n - 1])) continue;
    let next = i + n;
    while (next < lines.length && lines[next].trim() === '') next += 1;
    if (next < lines.length && QUOTED.test(lines[next])) return n;
  }
  return 0;
}

/** Splits `text` into its own parts and its quoted parts, in order. */
export function splitQuotes(text: string): Part[] {
  const lines = text.split('\n');
  const parts: Part[] = [];
  let own: string[] = [];
  const flushOwn = () => {
    // trimEnd, not a `\s+$` regex: that backtracks over every whitespace run (quadratic).
    const body = own.join('\n').replace(/^\n+/, '').trimEnd();
    if (body) parts.push({ quoted: false, text: body });
    own = [];
  };
  let i = 0;
  while (i < lines.length) {
    if (ORIGINAL.test(lines[i])) {
      flushOwn();
      parts.push({ quoted: true, text: lines.slice(i).join('\n').trimEnd() });
      return parts;
    }
    const intro = attribution(lines, i);
    if (intro || QUOTED.test(lines[i])) {
      flushOwn();
      let end = i + intro;
      // The run: quoted lines and the blank lines between them.
      for (;;) {
        while (end < lines.length && QUOTED.test(lines[end])) end += 1;
        let gap = end;
        while (gap < lines.length && lines[gap].trim() === '') gap += 1;
        if (gap > end && gap < lines.length && QUOTED.test(lines[gap])) end = gap;
        else break;
      }
      parts.push({ quoted: true, text: lines.slice(i, end).join('\n') });
      i = end;
      continue;
    }
    own.push(lines[i]);
    i += 1;
  }
  flushOwn();
  return parts;
}
