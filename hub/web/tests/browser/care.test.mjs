// The care workflows in the pages (issue 16): Ana opens a conversation whose customer is linked
// to a demo billing customer (Lucía, CUST-1001), adjusts a bill item from the "Adjust bill" form
// (a wrong amount first: the error is on the field, which takes the focus; then a right one: the
// result is announced), orders a plan change from "Modify", and asks for a credit over her limit;
// Bruno approves it in the supervisor console's Approvals tab and the report shows it. On SQLite
// and PostgreSQL, with axe-core and screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1440, height: 900 };
const LUCIA = 'CUST-1001';

for (const backend of BACKENDS) {
  describe(`the care workflows on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('adjust a bill, change a plan, approve an adjustment over the limit', async () => {
      // A chat whose customer is the demo billing customer Lucía, held by Ana.
      const r = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Lucía Fernández', language: 'en' }),
      });
      assert.equal(r.status, 201);
      const { customer_id: customer, conversation_id: conversation } = await r.json();
      hub.sql(`UPDATE customers SET bss_customer_id = NULL WHERE bss_customer_id = '${LUCIA}';
        UPDATE customers SET bss_customer_id = '${LUCIA}' WHERE id = '${customer}';`);
      const ana = await apiLogin(hub.url, 'ana@demo.switchboard.local');
      const api = async (method, path, body) => {
        const res = await fetch(`${hub.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${ana}`, 'content-type': 'application/json' },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, body: await res.json().catch(() => null) };
      };
      const claimed = await api('POST', `/api/v1/conversations/${conversation}/messages`, { text: 'Hola Lucía, le ayudo con su factura.' });
      assert.equal(claimed.status, 201);

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/', 'ana@demo.switchboard.local');
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByRole('button', { name: /^Mine/ }).click();
      await page.locator(`[data-conversation="${conversation}"]`).click();

      const care = page.getByTestId('care');
      await care.getByRole('heading', { name: 'Care' }).waitFor();
      await care.getByRole('tab', { name: 'Adjust bill' }).click();
      const form = care.getByTestId('care-adjust');
      const bill = form.getByLabel('Bill');
      await bill.locator('option').nth(1).waitFor({ state: 'attached' });
      await bill.selectOption({ index: 1 });
      const item = form.getByLabel('Item');
      await item.locator('option').nth(1).waitFor({ state: 'attached' });
      await item.selectOption({ index: 1 });
      await form.getByLabel('Reason').selectOption('billing_error');

      // A wrong amount: the hub's error on the field, which takes the focus.
      const amount = form.getByLabel(/^Credit/);
      await amount.fill('twelve');
      await form.getByRole('button', { name: 'Adjust' }).click();
      await page.waitForFunction(() => document.activeElement?.id === 'care-adjust-amount');
      assert.equal(await amount.getAttribute('aria-invalid'), 'true');
      assert.match(await amount.getAttribute('aria-describedby'), /care-adjust-amount-error/);
      await page.locator('#care-adjust-amount-error').waitFor();
      await axe(page, `care adjustment with an error (${backend})`);
      await shoot(page, `${backend}-care-adjust-error-1440`);

      // A right one: applied, announced.
      await amount.fill('2.50');
      await form.getByRole('button', { name: 'Adjust' }).click();
      await care.getByTestId('care-result').filter({ hasText: /Adjustment .* applied to the bill/ }).waitFor();
      assert.equal(await amount.getAttribute('aria-invalid'), null);

      // A plan change, with its price difference.
      await care.getByRole('tab', { name: 'Modify' }).click();
      const modify = care.getByTestId('care-modify');
      const product = modify.getByLabel('Product');
      await product.locator('option').nth(1).waitFor({ state: 'attached' });
      const mobile = await product.locator('option', { hasText: 'Mobile' }).first().getAttribute('value');
      await product.selectOption(mobile);
      const change = modify.getByRole('radio', { name: /Upgrade: Mobile Unlimited/ });
      await change.waitFor();
      assert.match((await modify.textContent()) ?? '', /\+€10\.00\/month/);
      await change.check();
      await axe(page, `care modify (${backend})`);
      await shoot(page, `${backend}-care-modify-1440`);
      await modify.getByRole('button', { name: 'Order the change' }).click();
      await care.getByTestId('care-result').filter({ hasText: /Order ORD.* placed/ }).waitFor();

      // Over Ana's limit, asked over the API: it waits for a supervisor.
      const bills = await api('GET', `/api/v1/conversations/${conversation}/care/bills`);
      const over = await api('POST', `/api/v1/conversations/${conversation}/care/adjustments`,
        { bill: bills.body[0].id, amount: '60.00', reason: 'service_outage', note: 'A week without fibre' });
      assert.equal(over.status, 201);
      assert.equal(over.body.state, 'pending');
      await context.close();

      // Bruno approves it in the console.
      const supervisor = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const console = await supervisor.newPage();
      await openConsole(console, hub.url, '/supervisor#approvals', 'bruno@demo.switchboard.local');
      const queue = console.getByTestId('care-pending');
      await queue.getByRole('cell', { name: 'A week without fibre' }).waitFor();
      await axe(console, `supervisor approvals (${backend})`);
      await shoot(console, `${backend}-care-approvals-1440`);
      await queue.getByRole('button', { name: 'Approve' }).click();
      await console.getByTestId('care-approvals-status').filter({ hasText: /Approved: €60\.00 credited/ }).waitFor();
      await console.getByText('Nothing is waiting for approval.').waitFor();
      await console.getByRole('button', { name: 'Show' }).click();
      await console.getByTestId('care-totals').filter({ hasText: /Applied €62\.50 \(2\)/ }).waitFor();
      await axe(console, `supervisor adjustments report (${backend})`);
      await shoot(console, `${backend}-care-report-1440`);
      await supervisor.close();
    });
  });
}
