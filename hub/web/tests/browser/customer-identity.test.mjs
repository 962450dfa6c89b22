// One customer, many handles in the workspace (issue 16): Bruno (a supervisor) edits the
// customer's contact details inline (a bad e-mail is refused with an error tied to its field),
// sets a consent, links and unlinks a handle, and merges another customer found by search after
// seeing both. On SQLite and PostgreSQL, with axe-core and screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };

for (const backend of BACKENDS) {
  describe(`customer identity in the workspace on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('edit, consent, link, unlink and merge', async () => {
      const session = async (name, email) => {
        const r = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, email, language: 'en' }),
        });
        assert.equal(r.status, 201);
        return r.json();
      };
      const vera = await session('Vera Vidal', 'vera@example.com');
      const other = await session('Vera (second chat)', 'v.vidal@example.com');
      const token = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const get = async (path) => (await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill('bruno@demo.switchboard.local');
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByRole('button', { name: /^Queued/ }).click();
      await page.locator(`[data-conversation="${vera.conversation_id}"]`).click();
      const customer = page.getByRole('complementary', { name: 'Details' }).getByTestId('customer');
      await customer.locator('dd', { hasText: 'Vera Vidal' }).waitFor();

      // Edit inline: a bad e-mail is refused, the error tied to its field; nothing is written.
      await customer.getByRole('button', { name: 'Edit contact details' }).click();
      const form = customer.getByRole('form', { name: 'Contact details' });
      await form.getByLabel('E-mail').fill('not-an-address');
      await form.getByLabel('Phone').fill('+34 600 111 222');
      await form.getByRole('button', { name: 'Save' }).click();
      const email = form.getByLabel('E-mail');
      await form.locator('#customer-email-error').waitFor();
      assert.equal(await email.getAttribute('aria-invalid'), 'true');
      assert.equal(await email.getAttribute('aria-describedby'), 'customer-email-error');
      assert.equal((await get(`/api/v1/customers/${vera.customer_id}`)).phone, null, 'nothing written');
      await axe(page, `customer edit with a field error (${backend})`);
      await shoot(page, `${backend}-workspace-customer-edit-error-1280`);
      await email.fill('vera@example.com');
      await form.getByRole('button', { name: 'Save' }).click();
      await customer.locator('dd', { hasText: '+34600111222' }).waitFor();

      // A consent, kept with who set it.
      await customer.getByRole('checkbox', { name: 'By SMS' }).check();
      await customer.getByText('Saved.').waitFor();
      const profile = await get(`/api/v1/customers/${vera.customer_id}`);
      assert.equal(profile.consents.find((c) => c.kind === 'marketing_sms')?.granted, true);

      // Link a Telegram id, then unlink it.
      const handles = customer.getByRole('list', { name: 'Reaches us on' });
      await customer.getByLabel('Kind').selectOption('telegram');
      await customer.getByLabel('Handle', { exact: true }).fill('424242');
      await customer.getByRole('button', { name: 'Link', exact: true }).click();
      await handles.getByText('424242').waitFor();
      await customer.getByRole('button', { name: 'Unlink 424242' }).click();
      await handles.getByText('424242').waitFor({ state: 'detached' });

      // Merge with the other chat, found by search, both shown before confirming.
      await customer.getByRole('button', { name: 'Merge with…' }).click();
      const dialog = page.getByRole('dialog', { name: 'Merge with another customer' });
      await dialog.getByLabel('Name, phone, e-mail or account number').fill('second chat');
      await dialog.getByRole('button', { name: 'Search' }).click();
      await dialog.getByRole('button', { name: /Vera \(second chat\)/ }).click();
      await dialog.getByRole('heading', { name: 'Kept' }).waitFor();
      await dialog.getByRole('heading', { name: 'Merged into it' }).waitFor();
      await axe(page, `merge dialog (${backend})`);
      await shoot(page, `${backend}-workspace-customer-merge-1280`);
      await dialog.getByRole('button', { name: 'Merge', exact: true }).click();
      await dialog.waitFor({ state: 'detached' });
      const history = customer.getByRole('list', { name: 'Conversations' });
      await history.locator(`[data-history="${other.conversation_id}"]`).waitFor();
      assert.equal((await get(`/api/v1/customers/${other.customer_id}`)).merged_into, vera.customer_id);
      await axe(page, `customer after the merge (${backend})`);
      await shoot(page, `${backend}-workspace-customer-merged-1280`);
      await context.close();
    });
  });
}
