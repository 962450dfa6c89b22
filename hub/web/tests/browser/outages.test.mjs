// Outages in the pages (issue 16), in Chromium against the real hub on SQLite and PostgreSQL:
// a supervisor enters an incident in the console's Incidents tab, edits it and resolves its
// tickets; a customer in its area sees the banner in the chat (and the notice in the log); the
// agent sees the banner beside the conversation and runs a line test from the side panel. With
// axe-core and screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole, apiCall } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 740 };

for (const backend of BACKENDS) {
  describe(`outages on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    const api = (method, path, token, body) => apiCall(hub.url, token, method, path, body);

    test('a supervisor enters, edits and resolves an incident in the Incidents tab', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor', 'bruno@demo.switchboard.local');
      await page.getByRole('tab', { name: 'Incidents' }).click();
      await page.getByRole('heading', { level: 2, name: 'Incidents' }).waitFor();
      await page.getByText('No incidents.').waitFor();

      // The hub's field errors land on the field: no area.
      await page.getByRole('button', { name: 'New incident' }).click();
      await page.getByLabel('Public title').fill('TV outage in Chamberí');
      await page.getByRole('checkbox', { name: 'TV' }).check();
      await page.getByRole('button', { name: 'Save' }).click();
      const postcodes = page.getByLabel('Postcodes');
      await page.locator('#incident-postcodes[aria-invalid="true"]').waitFor();
      await postcodes.fill('28010, 28015');
      await page.getByLabel('Public description').fill('A street cabinet lost power.');
      await page.getByRole('button', { name: 'Save' }).click();
      const row = page.getByRole('row', { name: /TV outage in Chamberí/ });
      await row.waitFor();
      assert.match(await row.textContent(), /28010, 28015/);
      assert.match(await row.textContent(), /Investigating/);
      await axe(page, 'incidents tab');
      await shoot(page, `${backend}-supervisor-incidents-1280`);

      // Edit: identified, with an ETA.
      await row.getByRole('button', { name: 'Edit TV outage in Chamberí' }).click();
      await page.getByLabel('Status').selectOption('identified');
      await page.getByLabel('Expected fix').fill('2030-01-01T12:30');
      await axe(page, 'incident form');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Incident "TV outage in Chamberí" saved.').waitFor();
      await row.getByText('Identified').waitFor();

      // Its tickets in bulk (none yet), then the incident itself.
      page.once('dialog', (d) => void d.accept());
      await row.getByRole('button', { name: 'Resolve its tickets TV outage in Chamberí' }).click();
      await page.getByText('0 tickets resolved.').waitFor();
      await row.getByRole('button', { name: 'Resolve TV outage in Chamberí' }).click();
      await page.getByText('"TV outage in Chamberí" resolved.').waitFor();
      await page.getByText('No incidents.').waitFor();
      await page.getByLabel('Show resolved incidents too').check();
      await page.getByRole('row', { name: /TV outage in Chamberí/ }).getByText('Resolved').waitFor();
      await context.close();
    });

    test('the customer in the area sees the banner; the agent sees it and runs a line test', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      // Carla writes from the hub's chat page, in Spanish.
      const customerContext = await browser.newContext({ viewport: PHONE, locale: 'es-ES' });
      const customer = await customerContext.newPage();
      await customer.goto(`${hub.url}/chat?lang=es`);
      const input = customer.getByLabel('Su mensaje');
      await input.fill('Hola, no tengo internet');
      await input.press('Enter');
      await customer.locator('.sb-customer .sb-state', { hasText: 'Entregado' }).waitFor();
      const conversation = (await api('GET', '/api/v1/conversations', bruno)).items.find((c) => c.channel === 'webchat');
      // She proved who she is: her customer is the demo BSS customer at Calle de Postas, 28013.
      hub.sql(`UPDATE customers SET bss_customer_id = NULL WHERE bss_customer_id = 'CUST-1001';
        UPDATE customers SET bss_customer_id = 'CUST-1001' WHERE id = '${conversation.customer_id}';`);

      await api('POST', '/api/v1/incidents', bruno, {
        title: 'Fibre outage in Sol',
        texts: { es: { title: 'Avería de fibra en Sol', description: 'Un cable está cortado.' } },
        services: ['fibre'],
        postcodes: ['28013'],
        eta: '2030-01-01T12:00:00Z',
      });
      // The notice arrives in her chat, and the banner with it.
      await customer.locator('.sb-bot', { hasText: 'Aviso de servicio: Avería de fibra en Sol' }).waitFor({ timeout: 30_000 });
      const banner = customer.getByRole('region', { name: 'Aviso de servicio en tu zona' });
      await banner.getByText('Avería de fibra en Sol').waitFor();
      await axe(customer, 'widget with the outage banner');
      await shoot(customer, `${backend}-widget-outage-360`);

      // Bruno (agent and supervisor) opens her conversation in the workspace.
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill('bruno@demo.switchboard.local');
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByRole('button', { name: /^Queued/ }).click();
      await page.locator(`[data-conversation="${conversation.id}"]`).click();
      const outage = page.getByRole('region', { name: "Outage in this customer's area" });
      await outage.getByText('Fibre outage in Sol').waitFor();
      const tests = page.getByRole('region', { name: 'Line tests' });
      await tests.getByLabel('Product id').fill('CUST-1001-P1');
      await tests.getByRole('button', { name: 'Run line test' }).click();
      await tests.getByTestId('diagnostics').locator('li').first().waitFor();
      assert.match(await tests.getByTestId('diagnostics').textContent(), /CUST-1001-P1/);
      await axe(page, 'workspace with the outage banner and a line test');
      await shoot(page, `${backend}-workspace-outage-1280`);
      await context.close();
      await customerContext.close();
    });
  });
}
