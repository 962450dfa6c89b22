// The chat widget's look and the sites allowed to embed it, with a live preview of the colours
// and their contrast. Saved values apply at once, over the config file's `[widget]`.

import { useEffect, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, type Api } from '../workspace/api';
import { HEX, contrast, type WidgetSettings, type WidgetView } from './api';
import { explain } from './Staff';
import { t } from './i18n';
import { day } from '../workspace/i18n';

const MIN_CONTRAST = 4.5;

export function Widget({ api }: { api: Api }): JSX.Element {
  const [view, setView] = useState<WidgetView | null>(null);
  const [form, setForm] = useState<WidgetSettings & { origins: string }>({
    title: '', greeting: '', primary_color: '#0b57d0', on_primary_color: '#ffffff', allowed_origins: [], origins: '',
  });
  const [error, setError] = useState<{ field?: string; text: string } | null>(null);
  const [status, setStatus] = useState('');
  const [busy, setBusy] = useState(false);
  const show = (v: WidgetView) => {
    setView(v);
    setForm({ ...v, origins: v.allowed_origins.join('\n') });
  };
  useEffect(() => {
    api.request<WidgetView>('GET', '/api/v1/settings/widget').then(show, (e) => setError({ text: explain(e) }));
  }, []);
  const set = (key: keyof typeof form) => (e: Event) => setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });
  const ratio = contrast(form.primary_color, form.on_primary_color);
  const readable = ratio !== null && ratio >= MIN_CONTRAST;
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setStatus('');
    if (!readable) {
      setError({ field: 'on_primary_color', text: t('widget.contrast_low', { ratio: ratio?.toFixed(2) ?? '?' }) });
      return;
    }
    setBusy(true);
    try {
      const body: WidgetSettings = {
        title: form.title,
        greeting: form.greeting,
        primary_color: form.primary_color,
        on_primary_color: form.on_primary_color,
        allowed_origins: form.origins.split(/\s+/).map((o) => o.trim()).filter(Boolean),
      };
      show(await api.request<WidgetView>('PUT', '/api/v1/settings/widget', body));
      setStatus(t('widget.saved'));
    } catch (err) {
      setError({ field: err instanceof ApiError ? err.field : undefined, text: explain(err) });
    } finally {
      setBusy(false);
    }
  };
  /** ARIA of the input for `field`: invalid and described by the error when it names the field,
   * and by its hint (`hint`), which the error must not replace. */
  const invalid = (field: string, hint?: string) => {
    const bad = error?.field === field;
    const ids = [hint, bad ? 'widget-error' : undefined].filter(Boolean).join(' ');
    return { ...(bad ? { 'aria-invalid': true } : {}), ...(ids ? { 'aria-describedby': ids } : {}) };
  };
  const colour = (key: 'primary_color' | 'on_primary_color') => (
    <div class="admin-colour">
      <label for={`w-${key}`}>{t(`field.${key}`)}</label>
      <div class="inline">
        <input id={`w-${key}`} type="text" required pattern="#[0-9a-fA-F]{6}" maxLength={7} value={form[key]} onInput={set(key)} {...invalid(key)} />
        <input type="color" aria-label={t('widget.pick', { field: t(`field.${key}`) })} value={HEX.test(form[key]) ? form[key].toLowerCase() : '#000000'} onInput={set(key)} />
      </div>
    </div>
  );
  const previewColours = readable ? { background: form.primary_color, color: form.on_primary_color } : undefined;

  return (
    <section aria-labelledby="widget-title">
      <h2 id="widget-title">{t('tab.widget')}</h2>
      {view && (
        <p class="hint">
          {view.saved ? t('widget.source_console', { when: day(view.saved.at) }) : t('widget.source_config')}
        </p>
      )}
      <div class="admin-widget">
        <form class="admin-form" onSubmit={save} aria-labelledby="widget-title">
          <label for="w-title">{t('field.title')}</label>
          <input id="w-title" maxLength={60} value={form.title} placeholder={t('widget.default_text')} onInput={set('title')} {...invalid('title')} />
          <label for="w-greeting">{t('field.greeting')}</label>
          <input id="w-greeting" maxLength={300} value={form.greeting} placeholder={t('widget.default_text')} onInput={set('greeting')} {...invalid('greeting')} />
          {colour('primary_color')}
          {colour('on_primary_color')}
          <p class={readable ? 'hint' : 'error'} id="widget-contrast">
            {ratio === null ? t('widget.contrast_unknown') : t(readable ? 'widget.contrast_ok' : 'widget.contrast_low', { ratio: ratio.toFixed(2) })}
          </p>
          <label for="w-origins">{t('field.allowed_origins')}</label>
          <textarea id="w-origins" rows={4} value={form.origins} onInput={set('origins')} {...invalid('allowed_origins', 'w-origins-hint')} />
          <p id="w-origins-hint" class="hint">{t('widget.origins_hint')}</p>
          {error && <p id="widget-error" class="error" role="alert">{error.text}</p>}
          <p class="admin-status" role="status">{status}</p>
          <div class="admin-buttons">
            <button type="submit" class="primary" disabled={busy}>{t('save')}</button>
          </div>
        </form>
        <figure class="admin-preview" aria-labelledby="preview-title">
          <figcaption id="preview-title">{t('widget.preview')}</figcaption>
          <div class="preview-panel">
            <div class="preview-header" style={previewColours}>{form.title.trim() || t('widget.default_title')}</div>
            <div class="preview-body">
              <p class="preview-bubble preview-agent">{form.greeting.trim() || t('widget.default_greeting')}</p>
              <p class="preview-bubble preview-customer" style={previewColours}>{t('widget.preview_customer')}</p>
            </div>
          </div>
          <div class="preview-launcher" style={previewColours} aria-hidden="true">
            <svg viewBox="0 0 24 24" width="28" height="28">
              <path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z" />
            </svg>
          </div>
          {!readable && <p class="hint">{t('widget.preview_unreadable')}</p>}
        </figure>
      </div>
    </section>
  );
}
