// Single sign-on in Chromium, against the real hub on SQLite and PostgreSQL and a real OpenID
// Connect provider (the certified `oidc-provider`, tests/oidc/provider.mjs): a supervisor signs
// in through the provider's own pages and lands in the workspace with the roles the provider's
// groups give; later, a sensitive action (saving SLA policies) asks for a recent sign-in, which
// the step-up dialog gets through the provider in a pop-up while the page waits, and the action
// goes through; someone the provider knows but with no Switchboard group is refused with a
// reason. axe-core checks the sign-in page, the refusal and the step-up dialog.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { BACKENDS, startHub, launch, axe, shoot, freePort, repo } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };
const CLIENT_ID = 'switchboard';
const CLIENT_SECRET = 'switchboard-browser-test-secret';
const USERS = {
  'sam.sso': { email: 'sam.sso@idp.example', email_verified: true, name: 'Sam Single', groups: ['sb-agents', 'sb-supervisors'] },
  nobody: { email: 'nobody@idp.example', email_verified: true, name: 'No Body', groups: ['unrelated'] },
};

/** The provider, knowing the hub's callback; resolves once it answers, with its issuer. */
async function startProvider(redirectUri) {
  const child = spawn(process.execPath, ['provider.mjs'], {
    cwd: join(repo, 'tests/oidc'),
    env: { ...process.env, OIDC_REDIRECT_URI: redirectUri, OIDC_CLIENT_ID: CLIENT_ID, OIDC_CLIENT_SECRET: CLIENT_SECRET, OIDC_USERS: JSON.stringify(USERS) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const issuer = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the provider did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`the provider exited (${code})`)));
    lines.on('line', (line) => {
      if (line.startsWith('ready ')) {
        clearTimeout(timer);
        resolve(line.slice('ready '.length).trim());
      }
    });
  });
  return {
    issuer,
    stop() {
      child.stdin.end();
      child.kill();
    },
  };
}

/** The provider's own pages: its sign-in form, then its consent form when it asks. */
async function signInAtProvider(page, login) {
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  const consent = page.getByRole('button', { name: 'Continue' });
  // Consent is asked once per person and client; after it the provider redirects on its own.
  try {
    await consent.click({ timeout: 5_000 });
  } catch {
    // no consent page (already given), or the window already went back to the hub and closed
  }
}

for (const backend of BACKENDS) {
  describe(`single sign-on on ${backend}`, { timeout: 300_000 }, () => {
    let hub, browser, provider;
    before(async () => {
      browser = await launch();
      const port = await freePort();
      const publicUrl = `http://127.0.0.1:${port}`;
      provider = await startProvider(`${publicUrl}/api/v1/auth/sso/callback`);
      hub = await startHub(backend, {
        bot: false,
        port,
        // A short step-up window, so that the sensitive action below needs one.
        stepUpSecs: 4,
        extra: `
[sso]
enabled = true
issuer = ${JSON.stringify(provider.issuer)}
provider_name = "Test IdP"
client_id = ${JSON.stringify(CLIENT_ID)}
client_secret = ${JSON.stringify(CLIENT_SECRET)}
public_url = ${JSON.stringify(publicUrl)}
scopes = ["email", "profile", "groups"]
[sso.roles]
"sb-agents" = ["agent"]
"sb-supervisors" = ["supervisor"]
`,
      });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
      provider?.stop();
    });

    test('a supervisor signs in through the provider, then confirms a sensitive action there in a pop-up', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(`${hub.url}/supervisor`);
      const ssoLink = page.getByRole('link', { name: 'Sign in with Test IdP' });
      await ssoLink.waitFor();
      await axe(page, 'sso: sign-in page');
      await ssoLink.click();
      await page.waitForURL((u) => u.href.startsWith(provider.issuer));
      await signInAtProvider(page, 'sam.sso');
      // Back at the hub, signed in as the provider's person, with the roles of their groups.
      await page.waitForURL((u) => u.href.startsWith(`${hub.url}/supervisor`));
      await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor({ state: 'detached' });
      await page.getByText('Sam Single').first().waitFor();
      const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.staff')).token);
      const me = await (await fetch(`${hub.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).json();
      assert.equal(me.email, 'sam.sso@idp.example');
      assert.deepEqual([...me.roles].sort(), ['agent', 'supervisor']);

      // Past the step-up window, saving SLA policies asks who it is: through the provider.
      await page.goto(`${hub.url}/supervisor#sla`);
      const panel = page.getByRole('tabpanel');
      await panel.getByRole('heading', { name: 'SLA policies', level: 2 }).waitFor();
      await panel.getByLabel(/^Warn supervisors/).fill('70');
      await new Promise((r) => setTimeout(r, 4_500));
      await panel.getByRole('button', { name: 'Save and put in force' }).click();
      const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
      await dialog.waitFor();
      await axe(page, 'sso: step-up dialog');
      await shoot(page, `${backend}-sso-step-up-1280`);
      const [popup] = await Promise.all([context.waitForEvent('page'), dialog.getByRole('button', { name: 'Confirm with Test IdP' }).click()]);
      const closed = popup.waitForEvent('close', { timeout: 60_000 });
      await popup.waitForURL((u) => u.href.startsWith(provider.issuer));
      await signInAtProvider(popup, 'sam.sso');
      // The pop-up reports and closes; the dialog goes away and the save is retried.
      await closed;
      await dialog.waitFor({ state: 'detached' });
      await panel.getByText(/^Saved: version 1 is in force/).waitFor();
      const sla = await (await fetch(`${hub.url}/api/v1/sla/policies`, { headers: { authorization: `Bearer ${token}` } })).json();
      assert.equal(sla.version, 1);
      assert.equal(sla.config.warning_percent, 70);
      await context.close();
    });

    test('someone with no Switchboard group is refused with the reason', async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(`${hub.url}/`);
      await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
      await page.waitForURL((u) => u.href.startsWith(provider.issuer));
      await signInAtProvider(page, 'nobody');
      await page.waitForURL((u) => u.href.startsWith(hub.url));
      await page.getByRole('alert').filter({ hasText: 'Your account has no Switchboard role' }).waitFor();
      // The refusal leaves no session behind, and the outcome is gone from the address bar.
      assert.equal(await page.evaluate(() => sessionStorage.getItem('switchboard.staff')), null);
      assert.equal(new URL(page.url()).hash, '');
      await axe(page, 'sso: refused');
      await shoot(page, `${backend}-sso-refused-390`);
      await context.close();
    });
  });
}
