// The channels: social accounts (stored; registered here with their secrets), and the e-mail addresses,
// IMAP mailboxes and SIP support numbers the config file sets up, shown read-only with where
// they are configured. Secrets are never shown: only whether they are set.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { ApiError, type Api } from '../workspace/api';
import type { ConfiguredChannels, SocialAccount } from './api';
import { explain } from './Staff';
import { t } from './i18n';
import { day } from '../workspace/i18n';

function SecretState({ set }: { set: boolean }): JSX.Element {
  return <span class={set ? 'chip chip-ok' : 'chip'}>{set ? t('channels.set') : t('channels.not_set')}</span>;
}

function Where({ section }: { section: string }): JSX.Element {
  return <p class="hint">{t('channels.configured_in', { section })}</p>;
}

export function Channels({ api }: { api: Api }): JSX.Element {
  const [social, setSocial] = useState<SocialAccount[] | null>(null);
  const [configured, setConfigured] = useState<ConfiguredChannels | null>(null);
  const [error, setError] = useState('');
  const loadSocial = () => api.request<SocialAccount[]>('GET', '/api/v1/channels/social').then(setSocial, (e) => setError(explain(e)));
  useEffect(() => {
    void loadSocial();
    api.request<ConfiguredChannels>('GET', '/api/v1/channels/configured').then(setConfigured, (e) => setError(explain(e)));
  }, []);
  const email = configured?.email;
  const sip = configured?.sip;
  return (
    <section aria-labelledby="channels-title">
      <h2 id="channels-title">{t('tab.channels')}</h2>
      {error && <p class="error" role="alert">{error}</p>}

      <section class="admin-card" aria-labelledby="social-title">
        <h3 id="social-title">{t('channels.social')}</h3>
        <p class="hint">{t('channels.social_where')}</p>
        {social && (social.length === 0 ? <p>{t('channels.none')}</p> : (
          <div class="admin-table-wrap">
            <table class="admin-table">
              <thead>
                <tr>
                  <th scope="col">{t('channels.name')}</th>
                  <th scope="col">{t('channels.platform')}</th>
                  <th scope="col">{t('channels.account')}</th>
                  <th scope="col">{t('channels.secrets')}</th>
                  <th scope="col">{t('channels.webhook')}</th>
                  <th scope="col">{t('channels.added')}</th>
                </tr>
              </thead>
              <tbody>
                {social.map((a) => (
                  <tr key={a.id}>
                    <th scope="row">{a.name}</th>
                    <td>{a.channel}</td>
                    <td>{a.account_id}</td>
                    <td>{a.secrets_set.length ? a.secrets_set.join(', ') : t('channels.not_set')}</td>
                    <td><code>{a.webhook_path}</code></td>
                    <td>{day(a.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
        <AddSocial api={api} onAdded={() => void loadSocial()} />
      </section>

      {email && (
        <section class="admin-card" aria-labelledby="email-title">
          <h3 id="email-title">{t('channels.email')} <span class="chip">{email.enabled ? t('channels.on') : t('channels.off')}</span></h3>
          <Where section={email.configured_in} />
          <dl class="admin-dl">
            <dt>{t('channels.addresses')}</dt>
            <dd>{[...email.addresses, ...email.local_domains.map((d) => `*@${d}`)].join(', ') || t('channels.none')}</dd>
            <dt>{t('channels.from')}</dt>
            <dd>{email.from_address || t('channels.none')}</dd>
            <dt>{t('channels.smtp')}</dt>
            <dd>{email.smtp_listener ?? t('channels.off')}</dd>
            <dt>{t('channels.relay')}</dt>
            <dd>
              {email.relay ? (
                <>
                  {email.relay.host}:{email.relay.port} ({email.relay.tls}){email.relay.username ? `, ${email.relay.username}` : ''}{' '}
                  {t('channels.password')}: <SecretState set={email.relay.password_set} />
                </>
              ) : t('channels.none')}
            </dd>
          </dl>
          <h4 id="imap-title">{t('channels.imap')}</h4>
          <Where section="[[email.imap]]" />
          {email.imap.length === 0 ? <p>{t('channels.none')}</p> : (
            <div class="admin-table-wrap">
              <table class="admin-table" aria-labelledby="imap-title">
                <thead>
                  <tr>
                    <th scope="col">{t('channels.name')}</th>
                    <th scope="col">{t('channels.address')}</th>
                    <th scope="col">{t('channels.server')}</th>
                    <th scope="col">{t('channels.user')}</th>
                    <th scope="col">{t('channels.folder')}</th>
                    <th scope="col">{t('channels.password')}</th>
                  </tr>
                </thead>
                <tbody>
                  {email.imap.map((m) => (
                    <tr key={`${m.host}/${m.username}/${m.folder}`}>
                      <th scope="row">{m.name}</th>
                      <td>{m.address}</td>
                      <td>{m.host}:{m.port} ({m.tls})</td>
                      <td>{m.username}</td>
                      <td>{m.folder}</td>
                      <td><SecretState set={m.password_set} /></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      )}

      {sip && (
        <section class="admin-card" aria-labelledby="sip-title">
          <h3 id="sip-title">{t('channels.sip')} <span class="chip">{sip.enabled ? t('channels.on') : t('channels.off')}</span></h3>
          <Where section={sip.configured_in} />
          <dl class="admin-dl">
            <dt>{t('channels.realm')}</dt>
            <dd>{sip.realm}</dd>
            <dt>{t('channels.listening')}</dt>
            <dd>UDP {sip.udp || t('channels.off')}, TCP {sip.tcp || t('channels.off')}</dd>
          </dl>
          <h4 id="numbers-title">{t('channels.numbers')}</h4>
          <ul aria-labelledby="numbers-title">
            {sip.support_numbers.map((n) => (
              <li key={n.number}><code>{n.number}</code>{n.skills.length ? ` → ${n.skills.join(', ')}` : ''}</li>
            ))}
          </ul>
        </section>
      )}
    </section>
  );
}

const PLATFORMS = ['whatsapp', 'messenger', 'telegram'] as const;
type Platform = (typeof PLATFORMS)[number];
/** The secrets each platform needs (all required), as the API takes them. */
const SECRETS: Record<Platform, readonly string[]> = {
  whatsapp: ['app_secret', 'access_token', 'verify_token'],
  messenger: ['app_secret', 'access_token', 'verify_token'],
  telegram: ['bot_token', 'webhook_secret'],
};

/** Registers a platform account: its id, a name, and its secrets (write-only: never shown again). */
function AddSocial({ api, onAdded }: { api: Api; onAdded: () => void }): JSX.Element {
  const [channel, setChannel] = useState<Platform>('whatsapp');
  const [accountId, setAccountId] = useState('');
  const [name, setName] = useState('');
  const [secrets, setSecrets] = useState<Record<string, string>>({});
  const [error, setError] = useState<{ field?: string; text: string } | null>(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (error?.field) form.current?.querySelector<HTMLElement>(`[name="${error.field}"]`)?.focus();
  }, [error]);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone('');
    const body: Record<string, string> = { channel, account_id: accountId.trim(), name: name.trim() };
    for (const k of SECRETS[channel]) body[k] = secrets[k] ?? '';
    try {
      const added = await api.request<SocialAccount>('POST', '/api/v1/channels/social', body);
      setAccountId('');
      setName('');
      setSecrets({});
      setDone(t('channels.add.done', { name: added.name, webhook: added.webhook_path }));
      onAdded();
    } catch (err) {
      const field = err instanceof ApiError ? err.field : undefined;
      setError({ field, text: err instanceof ApiError && err.status === 409 ? t('channels.add.exists') : explain(err) });
    } finally {
      setBusy(false);
    }
  };
  const invalid = (field: string) =>
    error?.field === field ? { 'aria-invalid': true as const, 'aria-describedby': 'social-add-error' } : {};
  return (
    <form ref={form} class="admin-form" onSubmit={submit} aria-labelledby="social-add-title">
      <h4 id="social-add-title">{t('channels.add.title')}</h4>
      <p class="hint">{t('channels.add.hint')}</p>
      <label for="social-channel">{t('channels.platform')}</label>
      <select id="social-channel" name="channel" value={channel} {...invalid('channel')}
        onChange={(e) => setChannel((e.currentTarget as HTMLSelectElement).value as Platform)}>
        {PLATFORMS.map((p) => <option key={p} value={p}>{t(`channels.platform.${p}`)}</option>)}
      </select>
      <label for="social-account">{t(`channels.add.account_id.${channel}`)}</label>
      <input id="social-account" name="account_id" required maxLength={200} value={accountId} {...invalid('account_id')}
        onInput={(e) => setAccountId((e.currentTarget as HTMLInputElement).value)} />
      <label for="social-name">{t('channels.name')}</label>
      <input id="social-name" name="name" required maxLength={200} value={name} {...invalid('name')}
        onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} />
      {SECRETS[channel].map((k) => (
        <div key={`${channel}-${k}`} class="admin-form">
          <label for={`social-${k}`}>{t(`channels.secret.${k}`)}</label>
          <input id={`social-${k}`} name={k} type="password" autocomplete="off" required maxLength={1000}
            value={secrets[k] ?? ''} {...invalid(k)}
            onInput={(e) => setSecrets({ ...secrets, [k]: (e.currentTarget as HTMLInputElement).value })} />
        </div>
      ))}
      {error && <p id="social-add-error" class="error" role="alert">{error.text}</p>}
      {done && <p role="status">{done}</p>}
      <div><button type="submit" class="primary" disabled={busy}>{t('channels.add.submit')}</button></div>
    </form>
  );
}
