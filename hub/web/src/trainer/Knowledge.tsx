// The knowledge base: documents filtered by status, language and tag; an editor with a Markdown
// preview, status, tags and question phrasings; every version with a diff and restore; and a
// folder import, file by file, with each file's progress.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ago } from '../workspace/i18n';
import { t } from './i18n';
import { KB_LANGS, STATUSES, type DocumentContent, type DocumentVersion, type KbDocument, type TrainerApi } from './api';
import { FieldMessage, Notice, errorText, fieldError, invalidProps, lines, type FieldError } from './common';
import { Markdown } from './markdown';
import { diffLines, versionText } from './diff';

type Notice_ = { text: string; error?: boolean } | null;

export function Knowledge({ api }: { api: TrainerApi }): JSX.Element {
  const [status, setStatus] = useState('');
  const [language, setLanguage] = useState('');
  const [tag, setTag] = useState('');
  const [docs, setDocs] = useState<KbDocument[] | null>(null);
  const [editing, setEditing] = useState<KbDocument | 'new' | null>(null);
  const [notice, setNotice] = useState<Notice_>(null);
  // Closing the editor takes focus back to the list's heading.
  const [backToList, setBackToList] = useState(false);
  const listHeading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!editing && backToList) {
      listHeading.current?.focus();
      setBackToList(false);
    }
  }, [editing, backToList]);
  const load = () => api.documents(status, language).then(setDocs, (e) => setNotice({ text: errorText(e), error: true }));
  useEffect(() => { void load(); }, [api, status, language]);
  const tags = useMemo(() => [...new Set((docs ?? []).flatMap((d) => d.tags))].sort(), [docs]);
  const shown = (docs ?? []).filter((d) => !tag || d.tags.includes(tag));
  const saved = (doc: KbDocument) => {
    setNotice({ text: t('kb.saved', { title: doc.title, version: doc.version }) });
    setEditing(doc);
    void load();
  };

  if (editing) {
    return (
      <>
        <Notice notice={notice} />
        <Editor api={api} doc={editing === 'new' ? null : editing} onSaved={saved} onClose={() => { setNotice(null); setEditing(null); setBackToList(true); void load(); }} />
      </>
    );
  }
  return (
    <div>
      <h2 ref={listHeading} tabIndex={-1}>{t('kb.title')}</h2>
      <Notice notice={notice} />
      <div class="toolbar">
        <label class="filter">{t('kb.status')}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">{t('any')}</option>
            {STATUSES.map((s) => <option key={s} value={s}>{t(`status.${s}`)}</option>)}
          </select>
        </label>
        <label class="filter">{t('kb.language')}
          <select value={language} onChange={(e) => setLanguage(e.currentTarget.value)}>
            <option value="">{t('any')}</option>
            {KB_LANGS.map((l) => <option key={l} value={l}>{t(`lang.${l}`)}</option>)}
          </select>
        </label>
        <label class="filter">{t('kb.tag')}
          <select value={tag} onChange={(e) => setTag(e.currentTarget.value)}>
            <option value="">{t('any')}</option>
            {tags.map((g) => <option key={g} value={g}>{g}</option>)}
          </select>
        </label>
        <button type="button" class="primary" onClick={() => setEditing('new')}>{t('kb.new')}</button>
      </div>
      {docs === null ? <p>{t('loading')}</p> : (
        <table class="grid">
          <caption class="visually-hidden">{t('kb.title')}</caption>
          <thead><tr><th scope="col">{t('kb.doc_title')}</th><th scope="col">{t('kb.kind')}</th><th scope="col">{t('kb.language')}</th><th scope="col">{t('kb.status')}</th><th scope="col">{t('kb.tags')}</th><th scope="col">{t('kb.updated')}</th></tr></thead>
          <tbody>
            {shown.map((d) => (
              <tr key={d.id}>
                <td><button type="button" class="link" onClick={() => setEditing(d)}>{d.title}</button></td>
                <td>{t(`kind.${d.kind}`)}</td>
                <td>{t(`lang.${d.language}`)}</td>
                <td><span class={`badge badge-${d.status}`}>{t(`status.${d.status}`)}</span></td>
                <td>{d.tags.join(', ')}</td>
                <td>{t('kb.version_ago', { version: d.version, ago: ago(d.updated_at) })}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {docs !== null && shown.length === 0 && <p>{t('kb.empty')}</p>}
      <Import api={api} onDone={() => void load()} />
    </div>
  );
}

function blank(): DocumentContent {
  return { kind: 'article', language: 'en', title: '', body: '', questions: [], tags: [], status: 'draft' };
}

/** The editor's control for each field the hub may name in a 422. */
const FIELD_IDS: Record<string, string> = { title: 'doc-title', body: 'doc-body', questions: 'doc-questions', tags: 'doc-tags' };

function Editor({ api, doc, onSaved, onClose }: { api: TrainerApi; doc: KbDocument | null; onSaved: (d: KbDocument) => void; onClose: () => void }): JSX.Element {
  const [content, setContent] = useState<DocumentContent>(doc ? { ...doc } : blank());
  const [questions, setQuestions] = useState((doc?.questions ?? []).join('\n'));
  const [tags, setTags] = useState((doc?.tags ?? []).join(', '));
  const [notice, setNotice] = useState<Notice_>(null);
  const [versions, setVersions] = useState<DocumentVersion[] | null>(null);
  const [compare, setCompare] = useState<DocumentVersion | null>(null);
  const [invalid, setInvalid] = useState<FieldError>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // Opening the editor (or another document in it) takes focus to its heading.
  useEffect(() => { heading.current?.focus(); }, [doc?.id]);
  // The control a 422 names gets focus.
  useEffect(() => { if (invalid) document.getElementById(FIELD_IDS[invalid.field])?.focus(); }, [invalid]);
  const failed = (err: unknown) => {
    setNotice({ text: errorText(err), error: true });
    setInvalid(fieldError(err, Object.keys(FIELD_IDS)));
  };
  useEffect(() => {
    setContent(doc ? { ...doc } : blank());
    setQuestions((doc?.questions ?? []).join('\n'));
    setTags((doc?.tags ?? []).join(', '));
    setCompare(null);
    if (doc) api.versions(doc.id).then(setVersions, (e) => setNotice({ text: errorText(e), error: true }));
  }, [doc?.id, doc?.version]);
  const set = <K extends keyof DocumentContent>(k: K, v: DocumentContent[K]) => setContent({ ...content, [k]: v });
  const save = (e: Event) => {
    e.preventDefault();
    const { kind, language, title, body: text, status } = content;
    const body: DocumentContent = { kind, language, title, body: text, status, questions: lines(questions), tags: tags.split(',').map((s) => s.trim()).filter(Boolean) };
    setInvalid(null);
    (doc ? api.updateDocument(doc.id, body, doc.version) : api.createDocument(body)).then(onSaved, failed);
  };
  const restore = (v: DocumentVersion) => {
    if (doc) api.restore(doc.id, v.version).then(onSaved, (err) => setNotice({ text: errorText(err), error: true }));
  };
  return (
    <div>
      <h2 ref={heading} tabIndex={-1}>{doc ? t('kb.edit', { title: doc.title }) : t('kb.new')}</h2>
      <p><button type="button" class="link" onClick={onClose}>{t('kb.back')}</button></p>
      <Notice notice={notice} />
      <form class="editor" onSubmit={save}>
        <div class="toolbar">
          <label class="filter">{t('kb.kind')}
            <select value={content.kind} onChange={(e) => set('kind', e.currentTarget.value as DocumentContent['kind'])}>
              <option value="article">{t('kind.article')}</option>
              <option value="qa">{t('kind.qa')}</option>
            </select>
          </label>
          <label class="filter">{t('kb.language')}
            <select value={content.language} onChange={(e) => set('language', e.currentTarget.value as DocumentContent['language'])}>
              {KB_LANGS.map((l) => <option key={l} value={l}>{t(`lang.${l}`)}</option>)}
            </select>
          </label>
          <label class="filter">{t('kb.status')}
            <select value={content.status} onChange={(e) => set('status', e.currentTarget.value as DocumentContent['status'])}>
              {STATUSES.map((s) => <option key={s} value={s}>{t(`status.${s}`)}</option>)}
            </select>
          </label>
        </div>
        <label for="doc-title">{t('kb.doc_title')}</label>
        <input id="doc-title" value={content.title} maxLength={200} required onInput={(e) => set('title', e.currentTarget.value)} {...invalidProps(invalid, 'title', 'doc-title')} />
        <FieldMessage error={invalid} field="title" id="doc-title" />
        <div class="split">
          <div class="stack">
            <label for="doc-body">{content.kind === 'qa' ? t('kb.answer') : t('kb.body')}</label>
            <textarea id="doc-body" rows={14} value={content.body} maxLength={20000} required onInput={(e) => set('body', e.currentTarget.value)} {...invalidProps(invalid, 'body', 'doc-body')} />
            <FieldMessage error={invalid} field="body" id="doc-body" />
          </div>
          <section class="preview" aria-labelledby="preview-title">
            <h3 id="preview-title">{t('kb.preview')}</h3>
            <Markdown source={content.body} />
          </section>
        </div>
        <label for="doc-questions">{content.kind === 'qa' ? t('kb.questions') : t('kb.questions_article')}</label>
        <textarea id="doc-questions" rows={4} value={questions} onInput={(e) => setQuestions(e.currentTarget.value)} {...invalidProps(invalid, 'questions', 'doc-questions', 'doc-questions-hint')} />
        <FieldMessage error={invalid} field="questions" id="doc-questions" />
        <p id="doc-questions-hint" class="muted">{t('kb.questions_hint')}</p>
        <label for="doc-tags">{t('kb.tags')}</label>
        <input id="doc-tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} {...invalidProps(invalid, 'tags', 'doc-tags', 'doc-tags-hint')} />
        <FieldMessage error={invalid} field="tags" id="doc-tags" />
        <p id="doc-tags-hint" class="muted">{t('kb.tags_hint')}</p>
        <div><button type="submit" class="primary">{doc ? t('kb.save_version') : t('kb.create')}</button></div>
      </form>
      {doc && versions && (
        <section aria-labelledby="versions-title">
          <h3 id="versions-title">{t('kb.versions')}</h3>
          <table class="grid">
            <thead><tr><th scope="col">{t('kb.version')}</th><th scope="col">{t('kb.status')}</th><th scope="col">{t('kb.updated')}</th><th scope="col"><span class="visually-hidden">{t('kb.actions')}</span></th></tr></thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <td>{v.version === doc.version ? t('kb.current', { version: v.version }) : v.version}</td>
                  <td>{t(`status.${v.status}`)}</td>
                  <td>{ago(v.edited_at)}</td>
                  <td>{v.version !== doc.version && (
                    <span class="inline">
                      <button type="button" aria-pressed={compare?.version === v.version} onClick={() => setCompare(compare?.version === v.version ? null : v)}>{t('kb.compare', { version: v.version })}</button>
                      <button type="button" onClick={() => restore(v)}>{t('kb.restore', { version: v.version })}</button>
                    </span>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {compare && (
            <section aria-labelledby="diff-title">
              <h4 id="diff-title">{t('kb.diff', { from: compare.version, to: doc.version })}</h4>
              <pre class="diff">{diffLines(versionText(compare), versionText(doc)).map((l, i) => (
                <div key={i} class={`diff-${l.kind}`}>
                  <span class="visually-hidden">{t(`diff.${l.kind}`)}</span>
                  <span aria-hidden="true">{l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}</span>{l.text}
                </div>
              ))}</pre>
            </section>
          )}
        </section>
      )}
    </div>
  );
}

/** Most files one import takes, and the largest file, as the hub bounds them. */
const MAX_FILES = 50;
const MAX_BYTES = 200 * 1024;

type FileState = { name: string; state: 'waiting' | 'importing' | 'done' | 'failed'; detail: string };

function Import({ api, onDone }: { api: TrainerApi; onDone: () => void }): JSX.Element {
  const [files, setFiles] = useState<File[]>([]);
  const [folder, setFolder] = useState('');
  const [draft, setDraft] = useState(true);
  const [progress, setProgress] = useState<FileState[]>([]);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice_>(null);
  const pick = (list: FileList | null) => {
    // A folder brings every file in it, its subfolders' too: keep the files at its top that the
    // importer reads, as the CLI does (a file in a subfolder could share a name with another).
    const all = [...(list ?? [])];
    const top = all.filter((f) => !f.webkitRelativePath || f.webkitRelativePath.split('/').length === 2);
    const chosen = top.filter((f) => /\.(md|markdown|json)$/i.test(f.name));
    const nested = all.length - top.length;
    setProgress([]);
    if (chosen.length > MAX_FILES) {
      setNotice({ text: t('import.too_many', { max: MAX_FILES }), error: true });
      setFiles([]);
      return;
    }
    setNotice(nested > 0 ? { text: t('import.subfolders_left_out', { count: nested }) } : null);
    setFiles(chosen);
    const rel = chosen[0]?.webkitRelativePath?.split('/')[0];
    if (rel && !folder) setFolder(rel);
  };
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const states: FileState[] = files.map((f) => ({ name: f.name, state: 'waiting', detail: '' }));
    setProgress([...states]);
    let created = 0;
    for (let i = 0; i < files.length; i++) {
      states[i] = { ...states[i], state: 'importing' };
      setProgress([...states]);
      const f = files[i];
      try {
        if (f.size > MAX_BYTES) throw new Error(t('import.too_big', { max: MAX_BYTES / 1024 }));
        const r = await api.importFile(folder, f.name, await f.text(), draft);
        created += r.created.length;
        states[i] = { ...states[i], state: 'done', detail: t('import.file_done', { created: r.created.length, kept: r.kept }) };
      } catch (err) {
        states[i] = { ...states[i], state: 'failed', detail: err instanceof Error && !('status' in err) ? err.message : errorText(err) };
      }
      setProgress([...states]);
    }
    setBusy(false);
    setNotice({ text: t('import.finished', { files: files.length, created }) });
    onDone();
  };
  const finished = progress.filter((p) => p.state === 'done' || p.state === 'failed').length;
  return (
    <section class="card" aria-labelledby="import-title">
      <h3 id="import-title">{t('import.title')}</h3>
      <p class="muted">{t('import.intro', { max: MAX_FILES, kb: MAX_BYTES / 1024 })}</p>
      <form class="stack" onSubmit={run}>
        <label for="import-files">{t('import.files')}</label>
        <input id="import-files" type="file" multiple accept=".md,.markdown,.json" onChange={(e) => pick(e.currentTarget.files)} />
        <label for="import-folder-pick">{t('import.pick_folder')}</label>
        <input id="import-folder-pick" type="file" multiple {...{ webkitdirectory: true }} onChange={(e) => pick(e.currentTarget.files)} aria-describedby="import-folder-pick-hint" />
        <p id="import-folder-pick-hint" class="muted">{t('import.pick_folder_hint')}</p>
        <label for="import-folder">{t('import.folder')}</label>
        <input id="import-folder" value={folder} required maxLength={200} onInput={(e) => setFolder(e.currentTarget.value)} aria-describedby="import-folder-hint" />
        <p id="import-folder-hint" class="muted">{t('import.folder_hint')}</p>
        <label class="inline"><input type="checkbox" checked={draft} onChange={(e) => setDraft(e.currentTarget.checked)} /> {t('import.draft')}</label>
        <div><button type="submit" class="primary" disabled={busy || files.length === 0}>{t('import.start', { count: files.length })}</button></div>
      </form>
      <Notice notice={notice} />
      {progress.length > 0 && (
        <div>
          <label for="import-progress">{t('import.progress', { done: finished, total: progress.length })}</label>
          <progress id="import-progress" max={progress.length} value={finished} />
          <ul class="files" aria-live="polite">
            {progress.map((p, i) => (
              <li key={i} class={`file-${p.state}`}><span>{p.name}</span>: {t(`import.state.${p.state}`)}{p.detail ? ` (${p.detail})` : ''}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
