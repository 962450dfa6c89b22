// The audit console (issue 15), in Chromium against the real hub on SQLite and PostgreSQL: an
// auditor opens /auditor, sees the trail newest first, filters it by action, verifies the hash
// chain and exports the entries; an administrator (who holds every role but auditor) is not
// allowed in. axe-core on each state, screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, openConsole, apiLogin } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const OTTO = 'otto@demo.switchboard.local';
const ADMIN = 'admin@demo.switchboard.local';
const ANA = 'ana@demo.switchboard.local';

for (const backend of BACKENDS) {
  describe(`the audit console on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
      // Something to audit: sign-ins, and a refused one.
      await apiLogin(hub.url, ANA);
      await apiLogin(hub.url, ADMIN);
      const refused = await fetch(`${hub.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: ANA, password: 'not the password' }),
      });
      assert.equal(refused.status, 401);
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('an auditor filters the trail, verifies the chain and exports it', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', acceptDownloads: true });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/auditor', OTTO);
      await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
      const places = page.getByRole('navigation', { name: 'Places' });
      assert.deepEqual(await places.getByRole('link').allTextContents(), ['Audit trail']);
      const table = page.getByRole('table', { name: 'Entries, newest first' });
      await table.getByRole('cell', { name: 'auth.sign_in_failed' }).waitFor();
      assert.ok((await table.getByRole('cell', { name: 'auth.sign_in', exact: true }).count()) >= 3, 'ana, admin and otto signed in');
      await axe(page, `auditor trail (${backend})`);
      await shoot(page, `${backend}-auditor-trail-1280`);

      // Filter by action: only the refused sign-in, by someone not signed in, from 127.0.0.1.
      await page.getByLabel('Action').selectOption('auth.sign_in_failed');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByRole('status').filter({ hasText: 'Entries shown: 1.' }).waitFor();
      const rows = table.getByRole('row');
      assert.equal(await rows.count(), 2, 'the header and one entry');
      const row = rows.nth(1);
      await row.getByRole('cell', { name: 'Not signed in' }).waitFor();
      await row.getByRole('cell', { name: '127.0.0.1' }).waitFor();
      await row.getByText('Show').click();
      await row.getByText(`"email": "${ANA}"`).waitFor();
      await axe(page, `auditor filtered (${backend})`);

      // Verify the chain: the result is announced.
      await page.getByRole('button', { name: 'Verify the chain' }).click();
      const verified = page.getByRole('status').filter({ hasText: /^Chain intact: \d+ entries checked\.$/ });
      await verified.waitFor();
      await axe(page, `auditor verified (${backend})`);
      await shoot(page, `${backend}-auditor-verified-1280`);

      // Export the filtered entries: one NDJSON line.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Export (NDJSON)' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), 'audit.ndjson');
      const lines = (await streamText(await download.createReadStream())).trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.action), ['auth.sign_in_failed']);
      await page.getByRole('status').filter({ hasText: 'Export downloaded.' }).waitFor();

      // The reads, the check and the export are in the trail too.
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await table.getByRole('cell', { name: 'audit.exported' }).waitFor();
      await table.getByRole('cell', { name: 'audit.verified' }).first().waitFor();
      await context.close();
    });

    test('an administrator is not allowed in', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/auditor', ADMIN);
      await page.getByRole('main').getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
      await page.getByRole('main').getByText('The Audit trail console needs the auditor role').waitFor();
      await axe(page, `auditor not allowed (${backend})`);
      await context.close();
    });
  });
}

async function streamText(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
