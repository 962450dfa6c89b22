// widget.js: `<script src="https://HUB/widget.js" data-language="es" async></script>` on any
// page opens a launcher and a chat panel (in a shadow root, so the page's styles and ours do not
// mix). `data-mode="page"` fills the page instead (the hub's own /chat).

import { render } from 'preact';
import { pickLanguage } from '../shared/i18n';
import { Widget, type WidgetConfig } from './Widget';
import css from './widget.css?inline';

async function boot(script: HTMLScriptElement | null): Promise<void> {
  const hub = new URL(script?.src ?? location.href).origin;
  const mode = script?.dataset.mode === 'page' ? 'page' : 'embed';
  // The hub's own /chat page has no language of its own: ?lang=, then the browser's.
  const pageLanguage = mode === 'page' ? new URLSearchParams(location.search).get('lang') : document.documentElement.lang;
  const language = pickLanguage([script?.dataset.language, pageLanguage, ...navigator.languages]);
  let config: WidgetConfig | null = null;
  let forbidden = false;
  try {
    const response = await fetch(`${hub}/api/v1/webchat/config`, { credentials: 'omit' });
    if (response.status === 403) forbidden = true;
    else if (response.ok) config = (await response.json()) as WidgetConfig;
  } catch {
    // A page of an origin the hub does not allow cannot even read this (no CORS header).
    forbidden = true;
  }
  const host = document.createElement('div');
  host.id = 'switchboard-chat';
  (mode === 'page' ? (document.getElementById('app') ?? document.body) : document.body).appendChild(host);
  host.style.setProperty('--sb-primary', config?.primary_color ?? '#0b57d0');
  host.style.setProperty('--sb-on-primary', config?.on_primary_color ?? '#ffffff');
  const root = host.attachShadow({ mode: 'open' });
  if ('adoptedStyleSheets' in root) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.textContent = css;
    (root as ShadowRoot).appendChild(style);
  }
  if (mode === 'page') document.documentElement.lang = language;
  render(<Widget hub={hub} mode={mode} initialLanguage={language} config={config} forbidden={forbidden} />, root);
}

void boot(document.currentScript as HTMLScriptElement | null);
