// The satisfaction survey in the chat widget (issue 18), in Chromium against the real hub on
// SQLite and PostgreSQL: the agent resolves, the widget asks for a rating (a radio group of the
// five scores, a comment, a send button), a missing score is announced, the rating is sent with
// the keyboard and thanked, and the report counts it. And the customer who ends a chat nobody
// answered (issue 18's abandoned chats): "End chat", a confirmation (Escape keeps chatting),
// the ticket closed as abandoned, and the next message starting a new chat. With axe-core and
// screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, apiCall } from './harness.mjs';

const PHONE = { width: 360, height: 740 };

for (const backend of BACKENDS) {
  describe(`the satisfaction survey on ${backend}`, { timeout: 600_000 }, () => {
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

    test('the customer rates the resolved conversation in the widget', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const context = await browser.newContext({ viewport: PHONE, locale: 'es-ES' });
      const customer = await context.newPage();
      await customer.goto(`${hub.url}/chat?lang=es`);
      const input = customer.getByLabel('Su mensaje');
      await input.fill('Mi router parpadea en rojo');
      await input.press('Enter');
      await customer.locator('.sb-customer .sb-state', { hasText: 'Entregado' }).waitFor();
      const conversation = (await api('GET', '/api/v1/conversations', bruno)).items.find((c) => c.channel === 'webchat');
      const ticket = await api('POST', `/api/v1/conversations/${conversation.id}/handover`, bruno, {});
      await api('POST', `/api/v1/tickets/${ticket.id}/resolve`, bruno, {});

      // The survey appears under the log once the conversation is resolved.
      const survey = customer.getByRole('group', { name: '¿Cómo de satisfecho está con la ayuda que ha recibido?' });
      await survey.waitFor();
      await axe(customer, 'widget asking for a rating');
      await shoot(customer, `${backend}-widget-survey-360`);

      // Sent without a score: the problem is announced, nothing is sent.
      await customer.getByRole('button', { name: 'Enviar valoración' }).click();
      await customer.getByRole('alert').filter({ hasText: 'Elija una puntuación del 1 al 5.' }).waitFor();

      // With the keyboard: into the group, arrows move between the scores, then the comment.
      await survey.getByRole('radio', { name: '1, muy insatisfecho' }).focus();
      await customer.keyboard.press('ArrowRight');
      await customer.keyboard.press('ArrowRight');
      await customer.keyboard.press('ArrowRight');
      assert.ok(await survey.getByRole('radio', { name: '4, satisfecho' }).isChecked());
      await customer.getByLabel('Comentario (opcional)').fill('Rápido y claro');
      await customer.getByRole('button', { name: 'Enviar valoración' }).press('Enter');
      await customer.getByRole('status').filter({ hasText: 'Gracias por su valoración.' }).waitFor();
      await axe(customer, 'widget after the rating');
      await shoot(customer, `${backend}-widget-survey-thanks-360`);

      const now = Date.now();
      const from = new Date(now - 3600_000).toISOString();
      const to = new Date(now + 3600_000).toISOString();
      const report = await api('GET', `/api/v1/reports/csat?from=${from}&to=${to}`, bruno);
      assert.deepEqual(report.total.distribution, [0, 0, 0, 1, 0]);
      assert.equal(report.comments[0].comment, 'Rápido y claro');
      await context.close();
    });

    test('the customer ends a chat nobody answered, by keyboard: the ticket is abandoned', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const context = await browser.newContext({ viewport: PHONE, locale: 'en-GB' });
      const customer = await context.newPage();
      await customer.goto(`${hub.url}/chat?lang=en`);
      const input = customer.getByLabel('Your message');
      await input.fill('My line has no dial tone');
      await input.press('Enter');
      await customer.locator('.sb-customer', { hasText: 'My line has no dial tone' }).locator('.sb-state', { hasText: 'Delivered' }).waitFor();
      const chatId = () =>
        customer.evaluate(() => {
          const key = Object.keys(sessionStorage).find((k) => k.startsWith('switchboard.chat:'));
          return key ? JSON.parse(sessionStorage.getItem(key)).conversationId : null;
        });
      const conversationId = await chatId();
      assert.ok(conversationId, 'the chat is kept for the tab');
      const ticket = await api('POST', `/api/v1/conversations/${conversationId}/handover`, bruno, {});

      // "End chat" asks first; the question takes the focus; Escape keeps chatting and gives the
      // focus back to the button.
      const end = customer.getByRole('button', { name: 'End chat' });
      await end.focus();
      await customer.keyboard.press('Enter');
      const question = customer.getByRole('group', { name: /^End this chat\?/ });
      await question.waitFor();
      const focused = (locator) => locator.evaluate((el) => el === el.getRootNode().activeElement);
      assert.ok(await focused(question.getByRole('button', { name: 'End chat' })), 'the confirmation has the focus');
      await axe(customer, 'widget asking whether to end the chat');
      await shoot(customer, `${backend}-widget-end-chat-360`);
      await customer.keyboard.press('Escape');
      await question.waitFor({ state: 'detached' });
      assert.ok(await focused(end), 'the focus is back on End chat');

      // Asked again and confirmed (once the confirmation has the focus, as a person would see it):
      // the chat ends, the ticket is closed as abandoned.
      await customer.keyboard.press('Enter');
      await question.waitFor();
      const confirm = question.getByRole('button', { name: 'End chat' });
      for (let i = 0; i < 100 && !(await focused(confirm)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(await focused(confirm), 'the confirmation has the focus again');
      await customer.keyboard.press('Enter');
      await customer.locator('.sb-notice').filter({ hasText: 'This conversation has ended.' }).waitFor();
      await end.waitFor({ state: 'detached' });
      await axe(customer, 'widget after ending the chat');
      await shoot(customer, `${backend}-widget-ended-by-customer-360`);
      const detail = await api('GET', `/api/v1/tickets/${ticket.id}`, bruno);
      assert.equal(detail.ticket.status, 'closed');
      assert.ok(detail.events.some((e) => e.kind === 'abandoned' && e.actor.kind === 'customer'), JSON.stringify(detail.events));

      // Writing again starts a new chat.
      await input.fill('One more thing');
      await input.press('Enter');
      await customer.locator('.sb-customer', { hasText: 'One more thing' }).locator('.sb-state', { hasText: 'Delivered' }).waitFor();
      const next = await chatId();
      assert.ok(next && next !== conversationId, 'a new conversation');
      await context.close();
    });
  });
}
