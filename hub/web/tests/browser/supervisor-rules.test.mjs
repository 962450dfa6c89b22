// The supervisor console's routing rules and canned responses, in Chromium against the real hub
// on SQLite and PostgreSQL: a supervisor builds a rule with form controls, sees the hub's error
// on the field at fault, dry-runs the draft on the day's real tickets, publishes it, and the next
// hand-over lands in the queue the rule names; publishes a change, compares two versions,
// restores the first, and sees a stale publish refused; then writes a canned response for the
// rule's queue (a field error first) that the agent who takes the next ticket finds with "/".
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };
const BRUNO = 'bruno@demo.switchboard.local';
const ANA = 'ana@demo.switchboard.local';

for (const backend of BACKENDS) {
  describe(`supervisor rules and canned responses on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('edit, dry-run, publish, route, compare, restore; a canned response reaches the agent', async () => {
      const api = async (method, path, token, body, expect = 200) => {
        const r = await fetch(`${hub.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await r.text();
        assert.equal(r.status, expect, `${method} ${path}: ${r.status} ${text}`);
        return text ? JSON.parse(text) : null;
      };
      const bruno = await apiLogin(hub.url, BRUNO);
      /** A web chat in `language` handed over as an agent would: its ticket. */
      const handOver = async (language, name = 'Carla') => {
        const session = await (await fetch(`${hub.url}/api/v1/webchat/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, language }),
        })).json();
        return api('POST', `/api/v1/conversations/${session.conversation_id}/handover`, bruno, {}, 201);
      };
      // The day's real tickets under the built-in rules: everything in `general`.
      const earlier = [await handOver('pt'), await handOver('pt'), await handOver('en')];
      assert.deepEqual(earlier.map((t) => t.queue), ['general', 'general', 'general']);

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      // Confirmations are answered yes, unless `dismiss` says no; their texts are kept.
      const dialogs = [];
      let dismiss = false;
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void (dismiss ? d.dismiss() : d.accept());
      });
      const requested = [];
      page.on('request', (r) => requested.push(new URL(r.url()).pathname));
      await openConsole(page, hub.url, '/supervisor#rules', BRUNO);
      const main = page.getByRole('main');
      await main.getByRole('heading', { level: 2, name: 'Routing rules' }).waitFor();
      await main.getByText('The built-in default rules are in force').waitFor();

      // A queue and a rule, with form controls: Portuguese speakers go to "billing".
      await main.getByRole('button', { name: 'Add a queue' }).click();
      await main.getByLabel('Queue 2 name').fill('billing');
      await main.getByRole('button', { name: 'Add a rule' }).click();
      const card = main.locator('.rules-card').first();
      await card.getByLabel('Name', { exact: true }).fill('Portuguese speakers');
      await card.getByText('Conditions', { exact: true }).click();
      await card.getByRole('group', { name: 'Language is one of' }).getByLabel('Portuguese').check();
      await card.locator('#rf-rules-0-then-queue').selectOption('billing');
      await card.getByRole('button', { name: 'Add a skill' }).click();
      await card.getByLabel('Skill 1', { exact: true }).selectOption('billing');
      await card.getByLabel('Level of skill 1 (1–10)').fill('5');
      await card.getByRole('button', { name: 'Add an escalation step' }).click();
      const after = card.locator('#rf-rules-0-then-escalation-0-after_secs');
      await after.fill('0');
      await card.getByText(/language Portuguese → queue billing · priority 3 · skills billing ≥ 5/).waitFor();
      await main.getByText('You have unpublished changes.').waitFor();

      // An invalid value: the hub's 422 lands on the field, described by its message, focused.
      await main.getByRole('button', { name: 'Dry run' }).click();
      await page.locator('#rf-rules-0-then-escalation-0-after_secs[aria-invalid="true"]').waitFor();
      const describedBy = await after.getAttribute('aria-describedby');
      assert.match(await page.locator(`#${describedBy}`).textContent(), /at least 1/);
      await page.waitForFunction(() => document.activeElement?.id === 'rf-rules-0-then-escalation-0-after_secs');
      await main.getByRole('alert').filter({ hasText: 'The rules were not accepted' }).waitFor();
      await axe(page, 'rules editor with a field error');
      await shoot(page, `${backend}-supervisor-rules-field-error-1280`);

      // Fixed, dry-run on the last 24 h: the two Portuguese tickets would move to billing.
      await after.fill('90');
      const hours = main.getByLabel('Hours of history (1–168)');
      await hours.fill('500');
      await main.getByRole('button', { name: 'Dry run' }).click();
      await page.locator('#rules-dry-hours[aria-invalid="true"]').waitFor();
      await hours.fill('24');
      await main.getByRole('button', { name: 'Dry run' }).click();
      await main.getByText('2 of 3 tickets from the last 24 h would change queue.').waitFor();
      await main.getByText('2 from general to billing').waitFor();
      assert.equal(await after.getAttribute('aria-invalid'), null, 'the error is gone once the rules are accepted');
      const billingRow = main.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'billing' }) });
      // No ticket was in billing; the draft sends it the two Portuguese ones.
      assert.match(await billingRow.textContent(), /^billing02/);
      await page.locator('.rules-dry-result').scrollIntoViewIfNeeded();
      await axe(page, 'rules editor with a dry run');
      await shoot(page, `${backend}-supervisor-rules-dry-run-1280`);

      // Publish: version 1; the next hand-over of a Portuguese speaker lands in billing.
      await main.getByRole('button', { name: 'Publish' }).click();
      await main.getByText('Published as version 1.').waitFor();
      await main.getByText('Version 1 is in force.').waitFor();
      const routed = await handOver('pt');
      assert.equal(routed.queue, 'billing');
      assert.equal(routed.rule, 'Portuguese speakers');
      assert.equal((await handOver('en')).queue, 'general');

      // A second version sends them to general; the versions compare field by field.
      await card.locator('#rf-rules-0-then-queue').selectOption('general');
      await card.locator('#rf-rules-0-then-priority').selectOption('5');
      await main.getByRole('button', { name: 'Publish' }).click();
      await main.getByText('Published as version 2.').waitFor();
      const versions = main.getByRole('table', { name: /Published versions/ });
      await versions.getByRole('rowheader', { name: /Version 1/ }).waitFor();
      assert.match(await versions.getByRole('row').nth(1).textContent(), /Version 2.*in force.*Bruno Agent/);
      const diff = main.locator('.rules-diff');
      await diff.getByRole('heading', { name: 'Changes from version 1 to version 2' }).waitFor();
      const lines = await diff.getByRole('listitem').allTextContents();
      assert.deepEqual(lines, ['Portuguese speakers: queue: billing → general', 'Portuguese speakers: priority: 3 → 5'], lines.join(' | '));
      assert.equal((await handOver('pt')).queue, 'general');
      await diff.scrollIntoViewIfNeeded();
      await axe(page, 'rules versions with a diff');
      await shoot(page, `${backend}-supervisor-rules-versions-1280`);

      // The list carries no rules (a count per version); the two compared are fetched in full.
      assert.equal(await versions.getByRole('row').nth(1).getByRole('cell').nth(2).textContent(), '1');
      assert.ok(requested.includes('/api/v1/routing/rules/versions/1') && requested.includes('/api/v1/routing/rules/versions/2'), requested.join(' '));

      // With unpublished changes in the draft, a restore asks first; "no" keeps the draft.
      await card.locator('#rf-rules-0-then-priority').selectOption('1');
      dismiss = true;
      await versions.getByRole('button', { name: 'Restore version 1' }).click();
      assert.match(dialogs.at(-1), /not published: restoring version 1 discards them/);
      assert.equal(await card.locator('#rf-rules-0-then-priority').inputValue(), '1', 'the draft is kept');
      assert.equal((await api('GET', '/api/v1/routing/rules', bruno)).version, 2, 'nothing restored');
      dismiss = false;

      // Restore version 1: version 3, marked as its restore; hand-overs follow it again.
      await versions.getByRole('button', { name: 'Restore version 1' }).click();
      assert.match(dialogs.at(-1), /not published/);
      await main.getByText('Restored: now in force as version 3.').waitFor();
      await versions.getByText('(restores version 1)').waitFor();
      const inForce = await api('GET', '/api/v1/routing/rules', bruno);
      assert.equal(inForce.version, 3);
      assert.equal(inForce.rules.rules[0].then.queue, 'billing');
      assert.equal(await card.locator('#rf-rules-0-then-queue').inputValue(), 'billing', 'the editor shows what is in force');

      // Someone else publishes meanwhile: this editor's publish is refused, and says so.
      await api('PUT', '/api/v1/routing/rules', bruno, { rules: inForce.rules, expected_version: 3 });
      await card.locator('#rf-rules-0-then-priority').selectOption('2');
      await main.getByRole('button', { name: 'Publish' }).click();
      await main.getByRole('alert').filter({ hasText: 'Someone published another version' }).waitFor();
      assert.equal((await api('GET', '/api/v1/routing/rules', bruno)).version, 4);

      // Only the next Portuguese chat is left open, so it is the one offered to Ana below.
      const open = [...earlier, routed];
      for (const t of open) await api('POST', `/api/v1/tickets/${t.id}/resolve`, bruno, {});
      const tickets = await api('GET', '/api/v1/tickets?status=queued&limit=200', bruno);
      for (const t of tickets.items ?? tickets) await api('POST', `/api/v1/tickets/${t.id}/resolve`, bruno, {});
      const last = await handOver('pt', 'Paula');
      assert.equal(last.queue, 'billing');

      // The canned responses library: a field error, then a response for billing in Portuguese.
      await page.evaluate(() => { location.hash = 'canned'; });
      await main.getByRole('heading', { level: 2, name: 'Canned responses' }).waitFor();
      await main.getByRole('button', { name: 'New response' }).click();
      await main.locator('#canned-queue').selectOption('billing');
      await main.locator('#canned-language').selectOption('pt');
      await main.getByLabel('Shortcut').fill('Segunda Via!');
      await main.getByLabel('Title').fill('Segunda via da fatura');
      await main.getByLabel('Text', { exact: true }).fill('Olá, sou {agent_name}: envio já a segunda via da sua fatura.');
      await main.getByRole('button', { name: 'Save' }).click();
      await page.locator('#canned-shortcut[aria-invalid="true"]').waitFor();
      await page.waitForFunction(() => document.activeElement?.id === 'canned-shortcut');
      assert.ok(await page.locator('#canned-shortcut-error').textContent());
      await axe(page, 'canned response with a field error');
      await shoot(page, `${backend}-supervisor-canned-field-error-1280`);
      await main.getByLabel('Shortcut').fill('segunda-via');
      await main.getByRole('button', { name: 'Save' }).click();
      await main.getByText('/segunda-via created.').waitFor();
      await main.locator('#canned-filter-queue').selectOption('billing');
      await main.locator('#canned-filter-language').selectOption('pt');
      const row = main.getByRole('row').filter({ has: page.getByRole('rowheader', { name: '/segunda-via' }) });
      await row.waitFor();
      assert.match(await row.textContent(), /Segunda via da fatura.*billing.*Portuguese/);
      await main.getByLabel('Search words').fill('fatura');
      await main.getByRole('button', { name: 'Search', exact: true }).click();
      await row.waitFor();
      await main.locator('#canned-filter-language').selectOption('en');
      await row.waitFor({ state: 'detached' });
      await main.locator('#canned-filter-language').selectOption('pt');
      await row.getByRole('button', { name: 'Edit /segunda-via' }).click();
      await main.getByLabel('Title').fill('Segunda via da fatura (PDF)');
      await main.getByRole('button', { name: 'Save' }).click();
      await main.getByText('/segunda-via saved.').waitFor();
      await row.getByText('Segunda via da fatura (PDF)').waitFor();
      await axe(page, 'canned responses library');
      await shoot(page, `${backend}-supervisor-canned-1280`);

      // Ana serves billing: she takes Paula's chat and finds the response with "/".
      const agentContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const agent = await agentContext.newPage();
      await openConsole(agent, hub.url, '/', ANA);
      await agent.getByText('Live', { exact: true }).waitFor();
      const offers = agent.getByRole('region', { name: 'Offers' });
      await offers.getByRole('button', { name: 'Accept' }).click({ timeout: 30_000 });
      const reply = agent.getByRole('textbox', { name: 'Reply' });
      await reply.waitFor();
      await reply.focus();
      await reply.pressSequentially('/segunda');
      const list = agent.getByRole('listbox', { name: 'Canned responses' });
      await list.getByRole('option', { name: /segunda-via/ }).waitFor();
      await shoot(agent, `${backend}-supervisor-canned-in-workspace-1280`);
      const mine = await api('GET', `/api/v1/tickets/${last.id}`, await apiLogin(hub.url, ANA));
      assert.equal((mine.ticket ?? mine).assignee_id !== null, true);
      await agentContext.close();

      // Deleted from the library, it is gone.
      await row.getByRole('button', { name: 'Delete /segunda-via' }).click();
      await main.getByText('/segunda-via deleted.').waitFor();
      await row.waitFor({ state: 'detached' });

      // In European Portuguese, the rules tab reads in Portuguese and stays clean for axe.
      await page.locator('.console-header select').selectOption('pt');
      await page.evaluate(() => { location.hash = 'rules'; });
      await main.getByRole('heading', { level: 2, name: 'Regras de encaminhamento' }).waitFor();
      await main.getByRole('button', { name: 'Publicar' }).waitFor();
      await main.getByRole('heading', { name: 'Regra 1: Portuguese speakers' }).waitFor();
      await axe(page, 'rules editor in Portuguese');
      await shoot(page, `${backend}-supervisor-rules-pt-1280`);
      await context.close();
    });
  });
}
