// A line diff (longest common subsequence) between two versions of a document.

export interface DiffLine { kind: 'same' | 'added' | 'removed'; text: string }

/** Lines of `before` and `after`, each marked kept, removed or added. Bounded: beyond 2000
 * lines a side, the texts are compared as wholes. */
export function diffLines(before: string, after: string): DiffLine[] {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > 2000 || b.length > 2000) {
    return before === after ? a.map((text) => ({ kind: 'same', text })) : [
      ...a.map((text): DiffLine => ({ kind: 'removed', text })),
      ...b.map((text): DiffLine => ({ kind: 'added', text })),
    ];
  }
  const n = a.length;
  const m = b.length;
  const lcs: Uint16Array[] = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ kind: 'removed', text: a[i++] });
    } else {
      out.push({ kind: 'added', text: b[j++] });
    }
  }
  while (i < n) out.push({ kind: 'removed', text: a[i++] });
  while (j < m) out.push({ kind: 'added', text: b[j++] });
  return out;
}

/** A document version as lines to compare: title, status, tags, questions, then the body. */
export function versionText(v: { title: string; status: string; tags: string[]; questions: string[]; body: string }): string {
  return [`# ${v.title}`, `status: ${v.status}`, `tags: ${v.tags.join(', ')}`, ...v.questions.map((q) => `? ${q}`), '', v.body].join('\n');
}
