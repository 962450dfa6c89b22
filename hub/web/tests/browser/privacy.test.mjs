// The administration console's Privacy tab (issue 15), in Chromium against the real hub on
// SQLite and PostgreSQL: an admin finds a customer by e-mail address, sees what is held,
// downloads the export (a gzip archive), sets a legal hold (erasure is then offered no more),
// clears it, and erases the customer after typing their address to confirm; the API then
// finds nothing by their address. axe-core on the tab and the dialog, screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { BACKENDS, startHub, launch, axe, shoot, openConsole, apiLogin } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const ADMIN = 'admin@demo.switchboard.local';
const EMAIL = 'paula.privacy@example.com';

for (const backend of BACKENDS) {
  describe(`the Privacy tab on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('find, export, legal hold, erase with confirmation', async () => {
      // A customer who opened a chat with her name and address.
      const r = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Paula Privacy', email: EMAIL, language: 'en' }),
      });
      assert.equal(r.status, 201);
      const { customer_id: customer } = await r.json();

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', acceptDownloads: true });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/admin#privacy', ADMIN);
      await page.getByRole('heading', { level: 2, name: 'Privacy' }).waitFor();
      await page.getByLabel('Name, e-mail address, phone number or platform id').fill('PAULA.privacy');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.getByRole('status').filter({ hasText: '1 customer(s) found.' }).waitFor();
      const results = page.getByRole('table', { name: 'Customers found' });
      await results.getByRole('rowheader', { name: 'Paula Privacy' }).waitFor();
      await results.getByRole('button', { name: 'Open Paula Privacy' }).click();
      const heading = page.getByRole('heading', { level: 3, name: 'Paula Privacy' });
      await heading.waitFor();
      await page.waitForFunction(() => document.activeElement?.id === 'privacy-customer'); // focus moves to the customer
      await page.getByText(customer).waitFor();
      await axe(page, `admin privacy (${backend})`);
      await shoot(page, `${backend}-admin-privacy-1280`);

      // The export downloads as a gzip archive.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download everything (.tar.gz)' }).click(),
      ]);
      assert.equal(download.suggestedFilename(), `customer-${customer}.tar.gz`);
      const bytes = await readFile(await download.path());
      assert.deepEqual([...bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip');
      await page.getByRole('status').filter({ hasText: 'The archive was downloaded.' }).waitFor();

      // Under legal hold, erasure is not offered; cleared, it is.
      const hold = page.getByRole('button', { name: 'Legal hold' });
      await hold.click();
      await page.getByRole('status').filter({ hasText: 'Legal hold set' }).waitFor();
      assert.equal(await hold.getAttribute('aria-pressed'), 'true');
      assert.ok(await page.getByRole('button', { name: 'Erase…' }).isDisabled());
      await page.getByText('Under legal hold: clear it before erasing.').waitFor();
      await hold.click();
      await page.getByRole('status').filter({ hasText: 'Legal hold cleared.' }).waitFor();

      // Erase: the dialog asks for the address before it allows it.
      await page.getByRole('button', { name: 'Erase…' }).click();
      const dialog = page.getByRole('dialog', { name: 'Erase Paula Privacy?' });
      await dialog.waitFor();
      const confirm = dialog.getByRole('button', { name: 'Erase for good' });
      assert.ok(await confirm.isDisabled());
      const typed = dialog.getByLabel(`Type ${EMAIL} to confirm`);
      await typed.fill('paula@wrong.example');
      assert.ok(await confirm.isDisabled());
      await typed.fill(EMAIL);
      await axe(page, `admin erase dialog (${backend})`);
      await shoot(page, `${backend}-admin-erase-dialog-1280`);
      await confirm.click();
      await page.getByRole('status').filter({ hasText: 'The customer was erased.' }).waitFor();
      await page.getByRole('heading', { level: 3, name: '(no name)' }).waitFor();
      await results.getByRole('cell', { name: 'Erased' }).waitFor();
      await axe(page, `admin privacy after erasure (${backend})`);
      await shoot(page, `${backend}-admin-privacy-erased-1280`);

      const token = await apiLogin(hub.url, ADMIN);
      const found = await fetch(`${hub.url}/api/v1/customers?q=${encodeURIComponent(EMAIL)}`, { headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual(await found.json(), []);
      const state = await fetch(`${hub.url}/api/v1/customers/${customer}/privacy`, { headers: { authorization: `Bearer ${token}` } });
      const view = await state.json();
      assert.ok(view.erased_at, JSON.stringify(view));
      assert.equal(view.holdings.conversations, 1, 'the conversation is still counted');
      await context.close();
    });
  });
}
