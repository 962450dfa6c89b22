// The supervisor console's live wall and agents tab, in Chromium against the real hub on SQLite
// and PostgreSQL: a supervisor watches a chat handed over appear on the wall (offered, then
// assigned to Ana), sets Ana away (her workspace follows), whispers to her (the note appears in
// her open ticket at once), takes the chat over and moves another; edits Ana's skills and bulk
// sets a capacity for two agents. axe-core clean; screenshots at 1280 and 768 px.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole, apiCall } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const TABLET = { width: 768, height: 1024 };

for (const backend of BACKENDS) {
  describe(`supervisor wall on ${backend}`, { timeout: 420_000 }, () => {
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
    const chat = async (name) => (await (await fetch(`${hub.url}/api/v1/webchat/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, language: 'en' }),
    })).json()).conversation_id;

    test('the wall updates live; presence, whisper, take over and move from it', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const anaToken = await apiLogin(hub.url, 'ana@demo.switchboard.local');
      const anaId = (await api('GET', '/api/v1/me', anaToken)).id;
      const brunoId = (await api('GET', '/api/v1/me', bruno)).id;

      // Ana works in her workspace (so she is available); Bruno opens the wall.
      const anaPage = await (await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' })).newPage();
      await openConsole(anaPage, hub.url, '/', 'ana@demo.switchboard.local');
      await anaPage.getByText('Live', { exact: true }).waitFor();
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor', 'bruno@demo.switchboard.local');
      const main = page.getByRole('main');
      await main.getByRole('heading', { level: 1, name: 'Supervisor' }).waitFor();
      assert.equal(await page.getByRole('tab', { name: 'Live wall' }).getAttribute('aria-selected'), 'true');
      await main.getByText('Live', { exact: true }).waitFor();
      const queues = main.getByRole('table').first();
      const general = queues.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'general' }) });
      await general.waitFor();
      const anaRow = main.locator(`[data-agent="${anaId}"]`);
      await anaRow.getByText('None').waitFor();
      await axe(page, 'the wall');
      await shoot(page, `${backend}-supervisor-wall-empty-1280`);

      // A chat is handed over: it shows offered, then assigned to Ana, live.
      const conversation = await chat('Carla');
      const ticket = await api('POST', `/api/v1/conversations/${conversation}/handover`, bruno, {});
      const short = `#${ticket.id.slice(-8)}`;
      const anaTicket = anaRow.locator(`li[data-ticket="${ticket.id}"]`);
      await anaTicket.getByText('offered').waitFor({ timeout: 15_000 });
      await anaPage.getByRole('region', { name: 'Offers' }).getByRole('button', { name: 'Accept' }).click({ timeout: 30_000 });
      await anaPage.getByRole('textbox', { name: 'Reply' }).waitFor();
      await anaTicket.getByText('assigned').waitFor();
      await anaRow.getByText('Web chat 1/3').waitFor();
      await shoot(page, `${backend}-supervisor-wall-1280`);

      // Presence: Bruno sets Ana away; her workspace's status follows; back to available.
      const status = anaRow.getByRole('combobox', { name: 'Status of Ana Agent' });
      await status.selectOption('away');
      await main.getByText('Ana Agent is now Away.').waitFor();
      await anaPage.waitForFunction(() => [...document.querySelectorAll('select')].some((s) => s.value === 'away'));
      await general.getByText(/0 available · 0 busy · 1 away/).waitFor();
      await status.selectOption('available');
      await main.getByText('Ana Agent is now Available.').waitFor();
      // Offline agents cannot be made available: the refusal is shown and the control goes back.
      const adminRow = main.locator('[data-agent]').filter({ has: page.getByRole('rowheader', { name: 'Demo Admin' }) });
      await adminRow.getByRole('combobox').selectOption('available');
      await main.getByText(/has no workspace open/).waitFor();
      assert.equal(await adminRow.getByRole('combobox').inputValue(), 'offline');

      // Whisper: Ana sees the note in her open ticket, live.
      await anaRow.getByRole('button', { name: `Whisper to Ana Agent on ticket ${short}` }).click();
      const form = main.getByRole('form', { name: `Whisper to Ana Agent on ticket ${short}` });
      const text = form.getByRole('textbox', { name: 'Whisper' });
      await text.waitFor();
      await page.waitForFunction(() => document.activeElement?.id === 'whisper-text'); // focus goes to the whisper
      await text.fill('Offer the 10% refund');
      await axe(page, 'the whisper form');
      await form.getByRole('button', { name: 'Send whisper' }).click();
      await main.getByText(`Whisper sent to Ana Agent on ticket ${short}.`).waitFor();
      await form.waitFor({ state: 'detached' });
      await anaPage.locator('.notes').getByText('Offer the 10% refund').waitFor({ timeout: 10_000 });
      await shoot(anaPage, `${backend}-supervisor-whisper-seen-by-agent-1280`);

      // A second chat for Ana, moved to another queue by Bruno; then Bruno takes over the first.
      const rules = await api('GET', '/api/v1/routing/rules', bruno);
      rules.rules.queues.push({ name: 'vip', first_response_secs: 60 });
      await api('PUT', '/api/v1/routing/rules', bruno, { rules: rules.rules, expected_version: rules.version });
      const second = await api('POST', `/api/v1/conversations/${await chat('Dora')}/handover`, bruno, {});
      const secondShort = `#${second.id.slice(-8)}`;
      await anaRow.locator(`li[data-ticket="${second.id}"]`).waitFor({ timeout: 15_000 });
      await anaRow.getByRole('button', { name: `Move ticket ${secondShort} of Ana Agent to another queue` }).click();
      const move = main.getByRole('form', { name: /^Move ticket/ });
      await move.getByRole('combobox', { name: 'Queue' }).selectOption('vip');
      await move.getByRole('button', { name: 'Move' }).click();
      await main.getByText(`Ticket ${secondShort} moved to vip.`).waitFor();
      const vip = queues.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'vip' }) });
      await vip.waitFor();
      const moved = await api('GET', `/api/v1/tickets/${second.id}`, bruno);
      assert.equal(moved.ticket.queue, 'vip');
      assert.ok(moved.events.some((e) => e.kind === 'transferred' && e.detail.to_queue === 'vip' && e.actor.id === brunoId), JSON.stringify(moved.events));

      await anaRow.getByRole('button', { name: `Take over ticket ${short} from Ana Agent` }).click();
      await main.getByText(`You took over ticket ${short} from Ana Agent.`).waitFor();
      await main.locator(`[data-agent="${brunoId}"] li[data-ticket="${ticket.id}"]`).waitFor();
      const taken = await api('GET', `/api/v1/tickets/${ticket.id}`, bruno);
      assert.equal(taken.ticket.assignee_id, brunoId);
      assert.ok(taken.events.some((e) => e.kind === 'transferred' && e.detail.to_agent === brunoId && e.actor.id === brunoId));
      assert.ok(taken.events.some((e) => e.kind === 'note_added' && e.actor.id === brunoId));
      await axe(page, 'the wall with tickets');

      // Keyboard: the tabs answer the arrow keys.
      await page.getByRole('tab', { name: 'Live wall' }).focus();
      await page.keyboard.press('ArrowRight');
      await page.waitForURL(/#agents$/);
      assert.equal(await page.getByRole('tab', { name: 'Agents and skills' }).getAttribute('aria-selected'), 'true');
      await page.keyboard.press('ArrowLeft');
      await page.waitForURL(/#wall$/);

      await page.setViewportSize(TABLET);
      await anaRow.waitFor();
      await axe(page, 'the wall at 768');
      await shoot(page, `${backend}-supervisor-wall-768`);
      await context.close();
      await anaPage.context().close();
    });

    test('agents and skills: edit one agent, bulk set a capacity for two', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const anaId = (await api('GET', '/api/v1/me', await apiLogin(hub.url, 'ana@demo.switchboard.local'))).id;
      const adminId = (await api('GET', '/api/v1/me', await apiLogin(hub.url, 'admin@demo.switchboard.local'))).id;
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor#agents', 'bruno@demo.switchboard.local');
      const main = page.getByRole('main');
      await main.getByRole('button', { name: 'Edit Ana Agent' }).click();
      const form = main.getByRole('form', { name: 'Edit Ana Agent' });
      await form.getByRole('group', { name: /^Languages/ }).getByRole('spinbutton', { name: 'spanish' }).fill('7');
      await form.getByRole('group', { name: /^Skills/ }).getByRole('spinbutton', { name: 'billing' }).fill('9');
      await form.getByRole('spinbutton', { name: 'E-mail' }).fill('4');
      await axe(page, 'the agent editor');
      await form.getByRole('button', { name: 'Save' }).click();
      await main.getByText("Ana Agent's profile saved.").waitFor();
      let profile = await api('GET', `/api/v1/agents/${anaId}/routing`, bruno);
      assert.equal(profile.skills.spanish, 7);
      assert.equal(profile.skills.billing, 9);
      assert.equal(profile.capacity.limits.email, 4);
      // A level out of range is refused by the form's own checks; nothing is sent.
      const billing = form.getByRole('spinbutton', { name: 'billing' });
      await billing.fill('11');
      await form.getByRole('button', { name: 'Save' }).click();
      assert.equal(await billing.evaluate((el) => el.validity.rangeOverflow), true);
      assert.equal((await api('GET', `/api/v1/agents/${anaId}/routing`, bruno)).skills.billing, 9);
      await shoot(page, `${backend}-supervisor-agents-1280`);
      await form.getByRole('button', { name: 'Close' }).click();

      // Bulk: Ana and the admin get 5 web chats at once.
      await main.getByRole('checkbox', { name: 'Select Ana Agent' }).check();
      await main.getByRole('checkbox', { name: 'Select Demo Admin' }).check();
      const bulk = main.getByRole('form', { name: 'Bulk edit' });
      await bulk.getByRole('combobox', { name: 'Change' }).selectOption('capacity');
      await bulk.getByRole('combobox', { name: 'Channel' }).selectOption('webchat');
      await bulk.getByRole('spinbutton', { name: /At once/ }).fill('5');
      await bulk.getByRole('button', { name: 'Apply to 2 agents' }).click();
      await main.getByText('2 agents updated.').waitFor();
      for (const id of [anaId, adminId]) {
        profile = await api('GET', `/api/v1/agents/${id}/routing`, bruno);
        assert.equal(profile.capacity.limits.webchat, 5, id);
      }
      // Ana's other settings were kept.
      profile = await api('GET', `/api/v1/agents/${anaId}/routing`, bruno);
      assert.equal(profile.skills.spanish, 7);
      assert.equal(profile.capacity.limits.email, 4);
      await axe(page, 'the agents tab');
      await page.setViewportSize(TABLET);
      await shoot(page, `${backend}-supervisor-agents-768`);
      // A supervisor is told softphones are an admin's; an admin sets Ana's here.
      await main.getByRole('button', { name: 'Edit Ana Agent' }).click();
      await main.getByText('Softphone identities are set by an administrator.').waitFor();
      await context.close();

      const adminContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const admin = await adminContext.newPage();
      await openConsole(admin, hub.url, '/supervisor#agents', 'admin@demo.switchboard.local');
      await admin.getByRole('button', { name: 'Edit Ana Agent' }).click();
      const softphone = admin.getByRole('group', { name: 'Softphone identity' });
      await softphone.getByRole('textbox', { name: 'SIP user name' }).fill('ana-desk');
      await softphone.getByLabel(/^SIP password/).fill('a-long-sip-secret');
      await softphone.getByRole('button', { name: 'Save softphone identity' }).click();
      await softphone.getByText('Softphone identity saved.').waitFor();
      await softphone.getByText('SIP user: ana-desk').waitFor();
      const adminToken = await apiLogin(hub.url, 'admin@demo.switchboard.local');
      assert.equal((await api('GET', `/api/v1/agents/${anaId}/sip`, adminToken)).username, 'ana-desk');
      await axe(admin, 'the softphone form');
      await adminContext.close();
    });
  });
}
