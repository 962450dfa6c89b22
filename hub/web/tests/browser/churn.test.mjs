// Churn risk in the pages (issue 18), in Chromium against the real hub on SQLite and PostgreSQL:
// a customer who asked to cancel and has an open complaint shows "60 out of 100, High risk" with
// its factors in words on the workspace's customer panel; a supervisor adds a rule on the churn
// score in the routing console, publishes it, and the customer's next hand-over lands in the
// retention queue. axe-core on each page.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };
const BRUNO = 'bruno@demo.switchboard.local';
const ANA = 'ana@demo.switchboard.local';

for (const backend of BACKENDS) {
  describe(`churn risk on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('the panel explains the score; a rule on it routes to retention', async () => {
      const bruno = await apiLogin(hub.url, BRUNO);
      const api = async (method, path, body, expect = 200) => {
        const r = await fetch(`${hub.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${bruno}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await r.text();
        assert.equal(r.status, expect, `${method} ${path}: ${r.status} ${text}`);
        return text ? JSON.parse(text) : null;
      };
      const session = async () => (await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Rita Risk', language: 'en' }),
      })).json();

      // Rita asks to cancel and complains, in one hand-over: 40 + 20.
      const first = await session();
      const ticket = await api('POST', `/api/v1/conversations/${first.conversation_id}/handover`, { tags: ['cancel_service', 'complaint'] }, 201);
      assert.equal(ticket.queue, 'general');
      let risk;
      for (let i = 0; i < 150 && risk?.score !== 60; i += 1) {
        risk = await api('GET', `/api/v1/customers/${first.customer_id}/churn-risk`);
        if (risk.score !== 60) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(risk.score, 60, JSON.stringify(risk));

      // The agent's customer panel: the score and band in words, the factors, when.
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill(ANA);
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
      // Opened by its link (`#conversation=<id>`), as from the customer's history.
      await page.evaluate((id) => { location.hash = `conversation=${id}`; }, first.conversation_id);
      const churn = page.getByRole('complementary', { name: 'Details' }).getByTestId('churn-risk');
      await churn.getByRole('heading', { name: 'Churn risk' }).waitFor();
      await churn.getByText('60 out of 100').waitFor();
      assert.equal(await churn.locator('[data-band="high"]').getByText('High risk').count(), 1, 'the band in words');
      const factors = await churn.getByRole('list', { name: 'Churn risk' }).getByRole('listitem').allTextContents();
      assert.deepEqual(factors, [
        'Asked to cancel or was moved to retention (1× in 90 days) (+40)',
        'Open complaints or disputes: 1 (+20)',
      ], factors.join(' | '));
      await churn.getByText(/^Computed /).waitFor();
      await axe(page, `workspace customer churn risk (${backend})`);
      await shoot(page, `${backend}-workspace-churn-risk-1280`);
      await context.close();

      // The supervisor adds a retention queue and a rule on the score, and publishes.
      const console = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const sup = await console.newPage();
      await openConsole(sup, hub.url, '/supervisor#rules', BRUNO);
      const main = sup.getByRole('main');
      await main.getByRole('heading', { level: 2, name: 'Routing rules' }).waitFor();
      await main.getByRole('button', { name: 'Add a queue' }).click();
      await main.getByLabel('Queue 2 name').fill('retention');
      await main.getByRole('button', { name: 'Add a rule' }).click();
      const card = main.locator('.rules-card').first();
      await card.getByLabel('Name', { exact: true }).fill('Keep them');
      await card.getByText('Conditions', { exact: true }).click();
      const threshold = card.getByLabel('Churn risk at least (0–100)');
      // Over 100: the hub's 422 lands on the field.
      await threshold.fill('101');
      await card.locator('#rf-rules-0-then-queue').selectOption('retention');
      await main.getByRole('button', { name: 'Publish' }).click();
      await sup.locator('#rf-rules-0-when-churn_risk_at_least[aria-invalid="true"]').waitFor();
      await threshold.fill('60');
      await card.getByText(/churn risk ≥ 60 → queue retention/).waitFor();
      await axe(sup, `rules editor with a churn condition (${backend})`);
      await shoot(sup, `${backend}-supervisor-rules-churn-1280`);
      await main.getByRole('button', { name: 'Publish' }).click();
      await main.getByText('Published as version 1.').waitFor();
      await console.close();

      // Rita writes again (staff merge the new chat into her): the rule sends her to retention.
      const second = await session();
      await api('POST', `/api/v1/customers/${first.customer_id}/merge`, { from: second.customer_id });
      const routed = await api('POST', `/api/v1/conversations/${second.conversation_id}/handover`, {}, 201);
      assert.equal(routed.queue, 'retention');
      assert.equal(routed.rule, 'Keep them');
    });
  });
}
