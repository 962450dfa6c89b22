// The customer's account under the customer card (issue 16), in Chromium against the real hub on
// SQLite and PostgreSQL: a chat customer linked to the demo billing customer in arrears shows the
// account with its arrears flagged in words, the products, the last bill with its items behind
// "details", and usage meters as progress bars with text; a billing system that fails shows
// "billing system unavailable" with a retry, within 2 s. Checked with axe, screenshots saved.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };

for (const backend of BACKENDS) {
  describe(`the account panel on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('accounts, arrears, last bill details, usage, and the billing system down', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const get = async (path) => {
        const r = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${bruno}` } });
        assert.ok(r.ok, `${path}: ${r.status}`);
        return r.json();
      };
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill('ana@demo.switchboard.local');
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();

      // A chat customer, linked to the demo billing customer in arrears (CUST-1002).
      const chat = async (name) => {
        const session = await (await fetch(`${hub.url}/api/v1/webchat/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, language: 'en' }),
        })).json();
        const conversation = await get(`/api/v1/conversations/${session.conversation_id}`);
        return { id: session.conversation_id, customer: conversation.customer_id ?? conversation.conversation?.customer_id };
      };
      const javier = await chat('Javier');
      hub.sql(`UPDATE customers SET bss_customer_id = NULL WHERE bss_customer_id = 'CUST-1002'; UPDATE customers SET bss_customer_id = 'CUST-1002' WHERE id = '${javier.customer}'`);
      await fetch(`${hub.url}/api/v1/conversations/${javier.id}/handover`, { method: 'POST', headers: { authorization: `Bearer ${bruno}`, 'content-type': 'application/json' }, body: '{}' });
      await page.getByRole('region', { name: 'Offers' }).getByRole('button', { name: 'Accept' }).click({ timeout: 30_000 });

      const panel = page.getByTestId('account');
      await panel.getByText('In arrears', { exact: false }).first().waitFor({ timeout: 10_000 });
      await panel.getByText('Mobile 10 GB').waitFor();
      await panel.getByText('Last bill').first().waitFor();
      await panel.getByText('Details').first().click();
      const items = panel.getByRole('table');
      await items.waitFor();
      assert.ok((await items.getByRole('row').count()) >= 4, 'the bill lists its items');
      await items.getByText('Late payment fee').waitFor();
      await panel.getByText('Usage this month').first().click();
      const meter = panel.getByRole('progressbar').first();
      await meter.waitFor();
      assert.match(await panel.locator('.meter').first().innerText(), /of/);
      await axe(page, 'the account panel');
      await shoot(page, `account-panel-${backend}`);

      // The billing system fails (its records vanish): a new linked customer's panel says so, in time.
      const carmen = await chat('Carmen');
      hub.sql(`UPDATE customers SET bss_customer_id = NULL WHERE bss_customer_id = 'CUST-1005'; UPDATE customers SET bss_customer_id = 'CUST-1005' WHERE id = '${carmen.customer}'`);
      hub.sql('DROP TABLE bss_records');
      await fetch(`${hub.url}/api/v1/conversations/${carmen.id}/handover`, { method: 'POST', headers: { authorization: `Bearer ${bruno}`, 'content-type': 'application/json' }, body: '{}' });
      await page.getByRole('region', { name: 'Offers' }).getByRole('button', { name: 'Accept' }).click({ timeout: 30_000 });
      const started = Date.now();
      await panel.getByRole('alert').getByText('Billing system unavailable.').waitFor({ timeout: 5_000 });
      assert.ok(Date.now() - started < 2_500, `shown after ${Date.now() - started} ms`);
      await panel.getByRole('button', { name: 'Retry' }).waitFor();
      await axe(page, 'the account panel, billing system down');
      await shoot(page, `account-panel-down-${backend}`);
      await context.close();
    });
  });
}
