// The agent's tools in the workspace (issue 13), in Chromium against the real hub on SQLite and
// PostgreSQL: "/" in the reply box searches the canned responses (a listbox driven from the
// keyboard), the chosen one is inserted and sent; then the ticket is transferred to another
// agent, chosen with their presence.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, apiCall } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };

for (const backend of BACKENDS) {
  describe(`canned responses and transfer on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    async function signIn(page, email) {
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
    }

    test('the agent inserts a canned response with "/", sends it, and transfers to another agent', async () => {
      const api = (method, path, token, body) => apiCall(hub.url, token, method, path, body);
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const ana = await apiLogin(hub.url, 'ana@demo.switchboard.local');

      // Ana opens her workspace (so she is available), a customer writes, Bruno hands it over.
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await signIn(page, 'ana@demo.switchboard.local');
      const session = await (await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Carla', language: 'en' }),
      })).json();
      const conversation = session.conversation_id;
      // SLA targets for the queue: the workspace shows the ticket's clocks.
      await api('PUT', '/api/v1/sla/policies', bruno, {
        config: { policies: [{ queue: 'general', first_response_secs: 600, resolution_secs: 7200 }] },
      });
      const ticket = await api('POST', `/api/v1/conversations/${conversation}/handover`, bruno, {});
      const offers = page.getByRole('region', { name: 'Offers' });
      await offers.getByRole('button', { name: 'Accept' }).click({ timeout: 30_000 });
      const reply = page.getByRole('textbox', { name: 'Reply' });
      await reply.waitFor();
      const sla = page.getByRole('list', { name: 'Service level' });
      const firstResponse = sla.getByRole('listitem').filter({ hasText: 'First response:' });
      await firstResponse.filter({ hasText: /due in \d+:\d\d/ }).waitFor();
      await sla.getByRole('listitem').filter({ hasText: /Resolution: due in 1:5\d:\d\d/ }).waitFor();
      await axe(page, 'the SLA clock in the thread head');

      // "/" opens the list; Escape closes it and leaves the focus in the reply box.
      await reply.focus();
      await reply.pressSequentially('/gree');
      const list = page.getByRole('listbox', { name: 'Canned responses' });
      await list.getByRole('option', { name: /greeting/ }).waitFor();
      await reply.press('Escape');
      await list.waitFor({ state: 'detached' });
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'composer-text');
      assert.equal(await reply.inputValue(), '/gree', 'Escape only closes the list');
      await reply.fill('');

      // "/roam": the English responses about roaming, the first active; arrows move.
      await reply.pressSequentially('/roam');
      const roaming = list.getByRole('option', { name: /roaming-on/ });
      await roaming.waitFor();
      const options = await list.getByRole('option').allTextContents();
      assert.ok(options.length >= 2 && options.every((o) => !/itinerancia|Ativar/.test(o)), `only English: ${options}`);
      const activeId = () => reply.getAttribute('aria-activedescendant');
      assert.equal(await activeId(), await list.getByRole('option').first().getAttribute('id'));
      while ((await roaming.getAttribute('aria-selected')) !== 'true') await reply.press('ArrowDown');
      assert.equal(await activeId(), await roaming.getAttribute('id'));
      assert.equal(await reply.getAttribute('aria-controls'), await list.getAttribute('id'));
      await page.getByRole('status').filter({ hasText: /canned responses: up and down/ }).waitFor();
      await axe(page, 'reply box with the canned responses open');
      await shoot(page, `${backend}-workspace-canned-1280`);

      // Enter inserts it; Send sends it.
      await reply.press('Enter');
      await list.waitFor({ state: 'detached' });
      const inserted = await reply.inputValue();
      assert.match(inserted, /^To use your phone abroad, turn on roaming/);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('.msg-agent').filter({ hasText: 'To use your phone abroad' }).waitFor();
      // The first reply stopped the first-response clock in time.
      await firstResponse.filter({ hasText: 'met' }).waitFor();
      assert.equal(await reply.inputValue(), '');
      const stored = await api('GET', `/api/v1/conversations/${conversation}/messages?limit=200`, ana);
      assert.deepEqual(stored.items.filter((m) => m.author === 'agent').map((m) => m.text), [inserted]);

      // Bruno comes online: Ana sees his presence in the agent picker, and transfers to him
      // with the keyboard.
      const brunoContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const brunoPage = await brunoContext.newPage();
      await signIn(brunoPage, 'bruno@demo.switchboard.local');
      const picker = page.getByLabel('Transfer to agent', { exact: true });
      await picker.locator('option', { hasText: 'Bruno Agent (Available)' }).waitFor({ state: 'attached' });
      assert.equal(await picker.locator('option', { hasText: 'Ana Agent' }).count(), 0, 'not to herself');
      assert.equal(await picker.locator('option', { hasText: 'Tina' }).count(), 0, 'trainers are no agents');
      await picker.focus();
      await picker.selectOption({ label: 'Bruno Agent (Available)' });
      await axe(page, 'transfer to an agent');
      await page.keyboard.press('Tab');
      const button = page.getByRole('button', { name: 'Transfer to agent' });
      assert.equal(await button.evaluate((b) => b === document.activeElement), true, 'the button is next in the tab order');
      await page.keyboard.press('Enter');
      await picker.waitFor({ state: 'detached' });
      const brunoId = (await api('GET', '/api/v1/me', bruno)).id;
      const detail = await api('GET', `/api/v1/tickets/${ticket.id}`, ana);
      assert.equal(detail.ticket.assignee_id, brunoId);
      assert.equal(detail.ticket.status, 'assigned');
      // The conversation is Bruno's now.
      await brunoPage.locator(`[data-conversation="${conversation}"]`).waitFor();
      await shoot(page, `${backend}-workspace-transferred-1280`);
      await brunoContext.close();
      await context.close();
    });
  });
}
