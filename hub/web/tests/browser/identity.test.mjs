// Staff identity (issue 15), in Chromium against the real hub on SQLite and PostgreSQL: a
// supervisor whose role requires two-step sign-in is led through setting it up at sign-in (QR
// code with a text alternative, the key as text, a first code computed here from that key,
// recovery codes shown once), then signs in with a code; an admin's sensitive change made after
// the step-up window opens the step-up dialog, and the change completes once the password is
// confirmed. axe-core on each step, screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { BACKENDS, startHub, launch, axe, shoot, openConsole, apiLogin } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const STEP_UP_SECS = 2;
const BRUNO = 'bruno@demo.switchboard.local';
const ADMIN = 'admin@demo.switchboard.local';

function base32(secret) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of secret.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of `secret` for the step `ahead` steps from now. */
function totp(secret, ahead = 0) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + ahead));
  const h = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = h[19] & 15;
  return String((h.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

for (const backend of BACKENDS) {
  describe(`staff identity on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false, stepUpSecs: STEP_UP_SECS });
      // The demo data turns the requirement off; the admin asks supervisors for it (over the API).
      const admin = await apiLogin(hub.url, ADMIN);
      const r = await fetch(`${hub.url}/api/v1/settings/mfa`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ required_roles: ['supervisor'] }),
      });
      assert.equal(r.status, 200);
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('a supervisor sets up two-step sign-in at sign-in, then signs in with a code', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor', BRUNO);

      // The forced set-up: a QR code with a text alternative and the key as text.
      await page.getByRole('heading', { name: 'Set up two-step sign-in' }).waitFor();
      await page.getByText('Your role requires two-step sign-in. Set it up to continue.').waitFor();
      const qr = page.getByRole('img', { name: /QR code for your authenticator app/ });
      await qr.waitFor();
      assert.ok((await qr.getAttribute('src')).startsWith('data:image/svg+xml;base64,'));
      const secret = (await page.locator('.mfa-secret').textContent()).trim();
      assert.match(secret, /^[A-Z2-7]{32}$/);
      await axe(page, `forced set-up (${backend})`);
      await shoot(page, `${backend}-identity-enrol-1280`);
      await page.getByLabel('Code from your authenticator app').fill('000000' === totp(secret) ? '111111' : '000000');
      await page.getByRole('button', { name: 'Turn on' }).click();
      await page.getByRole('alert').filter({ hasText: 'That code is wrong, expired or already used.' }).waitFor();
      await page.getByLabel('Code from your authenticator app').fill(totp(secret));
      await page.getByRole('button', { name: 'Turn on' }).click();

      // Recovery codes, shown once, with copy and download.
      await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
      const codes = await page.locator('.mfa-code-list li').allTextContents();
      assert.equal(codes.length, 10);
      await page.getByRole('button', { name: 'Download' }).waitFor();
      await page.getByRole('button', { name: 'Copy' }).waitFor();
      await axe(page, `recovery codes (${backend})`);
      await shoot(page, `${backend}-identity-recovery-codes-1280`);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('main').getByRole('heading', { level: 1, name: 'Supervisor', exact: true }).waitFor();

      // Signed out, the password alone no longer signs in: the code step follows.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('E-mail').fill(BRUNO);
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Two-step sign-in' }).waitFor();
      await axe(page, `code step (${backend})`);
      await shoot(page, `${backend}-identity-code-step-1280`);
      // The set-up's code was used; the next step's code signs in.
      await page.getByLabel('Code from your authenticator app').fill(totp(secret, 1));
      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByRole('main').getByRole('heading', { level: 1, name: 'Supervisor', exact: true }).waitFor();

      // The Security dialog says it is on, with 10 recovery codes left.
      await page.getByRole('button', { name: 'Security' }).click();
      const security = page.getByRole('dialog', { name: 'Security' });
      await security.getByText('On. Recovery codes left: 10.').waitFor();
      await axe(page, `security dialog (${backend})`);
      await shoot(page, `${backend}-identity-security-1280`);
      await security.getByRole('button', { name: 'Close' }).click();
      await context.close();
    });

    test('a sensitive admin change after the step-up window asks for the password, then completes', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/admin#security', ADMIN);
      await page.getByRole('heading', { name: 'Sign-in security' }).waitFor();
      const auditor = page.getByRole('checkbox', { name: 'Auditor' });
      await auditor.waitFor();
      await axe(page, `admin sign-in security (${backend})`);
      await page.waitForTimeout((STEP_UP_SECS + 1) * 1000);
      await auditor.check();
      await page.getByRole('button', { name: 'Save' }).click();

      const dialog = page.getByRole('dialog', { name: "Confirm it's you" });
      await dialog.waitFor();
      await page.waitForFunction(() => document.activeElement?.id === 'stepup-password');
      await axe(page, `step-up dialog (${backend})`);
      await shoot(page, `${backend}-identity-step-up-1280`);
      await dialog.getByLabel('Password').fill('not the password');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.getByRole('alert').filter({ hasText: 'Wrong password or code.' }).waitFor();
      await dialog.getByLabel('Password').fill('switchboard-demo');
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await page.getByRole('status').filter({ hasText: 'Two-step sign-in policy saved.' }).waitFor();
      await dialog.waitFor({ state: 'detached' });

      const admin = await apiLogin(hub.url, ADMIN);
      const policy = await (await fetch(`${hub.url}/api/v1/settings/mfa`, { headers: { authorization: `Bearer ${admin}` } })).json();
      assert.deepEqual(policy.required_roles, ['supervisor', 'auditor']);

      // Cancelled, the change is not made and the page says why.
      await page.waitForTimeout((STEP_UP_SECS + 1) * 1000);
      await auditor.uncheck();
      await page.getByRole('button', { name: 'Save' }).click();
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'detached' });
      await page.getByRole('alert').first().waitFor();
      await context.close();
    });
  });
}
