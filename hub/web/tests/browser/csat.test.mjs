// The satisfaction survey in the chat widget (issue 18), in Chromium against the real hub on
// SQLite and PostgreSQL: the agent resolves, the widget asks for a rating (a radio group of the
// five scores, a comment, a send button), a missing score is announced, the rating is sent with
// the keyboard and thanked, and the report counts it. With axe-core and screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin } from './harness.mjs';

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

    const api = async (method, path, token, body) => {
      const r = await fetch(`${hub.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
      return r.json();
    };

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
  });
}
