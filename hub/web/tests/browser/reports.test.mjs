// The supervisor's reports tab, in Chromium against the real hub on SQLite and PostgreSQL: traffic
// made through the API (customers writing, an agent answering and resolving; customers asking
// the bot) shows up in the volume, times, agents and bot reports; the figures on the page are the
// API's (occupancy and presence times included); the team filter keeps a team's members; the
// charts carry a name and every figure is in a table; the CSV export downloads; axe-core finds
// nothing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };

for (const backend of BACKENDS) {
  describe(`the reports tab on ${backend}`, { timeout: 300_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('a day of traffic in the volume, times and agents reports', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const call = async (token, method, path, body) => {
        const res = await fetch(`${hub.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, body: await res.json().catch(() => null) };
      };
      // Bruno is in team "north" (an admin puts him there); Ana in "south".
      const admin = await apiLogin(hub.url, 'admin@demo.switchboard.local');
      const staff = (await call(admin, 'GET', '/api/v1/agents')).body;
      const idOf = (name) => staff.find((m) => m.name.startsWith(name)).id;
      for (const [name, team] of [['Bruno', 'north'], ['Ana', 'south']]) {
        const set = await call(admin, 'PUT', `/api/v1/agents/${idOf(name)}/team`, { team });
        assert.equal(set.status, 200, JSON.stringify(set));
      }
      // Three customers write and are handed over; Bruno answers all three and resolves two.
      const tickets = [];
      for (const name of ['Marta', 'João', 'Kim']) {
        const r = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, language: 'en' }),
        });
        assert.equal(r.status, 201);
        const { conversation_id: conversation } = await r.json();
        const handover = await call(bruno, 'POST', `/api/v1/conversations/${conversation}/handover`, {});
        assert.ok(handover.status < 300, JSON.stringify(handover));
        const answered = await call(bruno, 'POST', `/api/v1/conversations/${conversation}/messages`, { text: 'Hello, how can I help?' });
        assert.equal(answered.status, 201, JSON.stringify(answered));
        tickets.push(handover.body.id);
      }
      for (const id of tickets.slice(0, 2)) {
        const resolved = await call(bruno, 'POST', `/api/v1/tickets/${id}/resolve`, {});
        assert.equal(resolved.status, 200, JSON.stringify(resolved));
      }

      const tz = 'Europe/Madrid';
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: tz, acceptDownloads: true });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor#reports', 'bruno@demo.switchboard.local');
      const panel = page.getByRole('tabpanel');
      await panel.getByRole('heading', { name: 'Reports' }).waitFor();
      assert.equal(await panel.getByLabel(/^Time zone/).inputValue(), tz);

      // The page shows what the API answers for the same query.
      const from = await panel.getByLabel('From').inputValue();
      const to = await panel.getByLabel('To (included)').inputValue();
      const api = (kind) => call(bruno, 'GET', `/api/v1/reports/${kind}?from=${from}&to=${to}&tz=${encodeURIComponent(tz)}&bucket=day`);
      const volume = (await api('volume')).body;
      assert.ok(volume.totals.resolved >= 2, JSON.stringify(volume.totals));
      const volumeView = panel.getByTestId('report-volume');
      await volumeView.waitFor();
      const totals = volumeView.getByTestId('report-totals');
      const totalOf = async (label) => (await totals.locator('div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) }).locator('dd').textContent()).trim();
      assert.equal(await totalOf('Resolved'), String(volume.totals.resolved));
      assert.equal(await totalOf('New tickets'), String(volume.totals.new));
      // The chart is one named image; its figures are in the table, one row per day.
      await volumeView.getByRole('img', { name: /^Tickets per period/ }).waitFor();
      const rows = volumeView.getByTestId('report-table').locator('tbody tr');
      assert.equal(await rows.count(), volume.series.length);
      await axe(page, 'reports: volume');
      await shoot(page, `${backend}-reports-volume-1280`);

      // Times: the first responses Bruno gave.
      await panel.getByLabel('Report', { exact: true }).selectOption('times');
      await panel.getByRole('button', { name: 'Show report' }).click();
      const timesView = panel.getByTestId('report-times');
      await timesView.waitFor();
      const times = (await api('times')).body;
      assert.ok(times.totals.first_responses >= 3, JSON.stringify(times.totals));
      await timesView.getByRole('img', { name: /^Median and 90th percentile/ }).waitFor();
      await axe(page, 'reports: times');

      // Agents: Bruno's row.
      await panel.getByLabel('Report', { exact: true }).selectOption('agents');
      await panel.getByRole('button', { name: 'Show report' }).click();
      const agentsView = panel.getByTestId('report-agents');
      await agentsView.waitFor();
      const brunoRow = agentsView.getByTestId('report-table').locator('tbody tr').filter({ hasText: /Bruno/ });
      await brunoRow.waitFor();
      // The occupancy and presence columns show the API's figures.
      const agentsApi = (await api('agents')).body;
      const brunoApi = agentsApi.agents.find((a) => /Bruno/.test(a.name));
      const headers = (await agentsView.getByTestId('report-table').locator('thead th').allTextContents()).map((h) => h.trim());
      for (const h of ['Team', 'Available time', 'Busy time', 'Away time', 'Occupancy']) assert.ok(headers.includes(h), headers.join('|'));
      const cell = async (header) => (await brunoRow.locator('th, td').nth(headers.indexOf(header)).textContent()).trim();
      const percent = (v) => (v === null ? '—' : new Intl.NumberFormat('en-GB', { style: 'percent', maximumFractionDigits: 1 }).format(v));
      assert.equal(await cell('Occupancy'), percent(brunoApi.occupancy));
      assert.equal(await cell('Team'), 'north');
      assert.ok('available_ms' in agentsApi.totals && 'occupancy' in agentsApi.totals, JSON.stringify(agentsApi.totals));
      await axe(page, 'reports: agents');

      // The team filter: north is Bruno's team, so his row stays and Ana's (south) does not show.
      await panel.getByLabel('Team').selectOption('north');
      await panel.getByRole('button', { name: 'Show report' }).click();
      await agentsView.getByTestId('report-table').locator('tbody tr').filter({ hasText: /Bruno/ }).waitFor();
      await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="report-table"] tbody tr')].every((r) => !/Ana/.test(r.textContent ?? '')));
      const north = (await call(bruno, 'GET', `/api/v1/reports/agents?from=${from}&to=${to}&tz=${encodeURIComponent(tz)}&team=north`)).body;
      assert.deepEqual(north.agents.map((a) => a.team), north.agents.map(() => 'north'));
      await axe(page, 'reports: agents of a team');
      await panel.getByLabel('Team').selectOption('');
      await shoot(page, `${backend}-reports-agents-1280`);

      // The CSV export of the same query downloads a header and the rows.
      const [download] = await Promise.all([page.waitForEvent('download'), panel.getByRole('button', { name: 'Export CSV' }).click()]);
      const csv = await readFile(await download.path(), 'utf8');
      assert.match(csv.split('\n')[0], /agent/);
      assert.match(csv, /Bruno/);

      // A bad time zone is refused with the hub's message, and the page says so.
      await panel.getByLabel(/^Time zone/).fill('Mars/Olympus');
      await panel.getByRole('button', { name: 'Show report' }).click();
      await panel.getByRole('alert').waitFor();
      await context.close();
    });

    test('the bot report: stacked hand-over reasons, containment, verdicts, top unanswered', async () => {
      const botHub = await startHub(backend, { bot: true });
      try {
        const bruno = await apiLogin(botHub.url, 'bruno@demo.switchboard.local');
        // One customer gets an answer, one asks for a person, one asks what nobody wrote about
        // (written from a page on the hub's own origin, as the widget would).
        const customerContext = await browser.newContext();
        const customer = await customerContext.newPage();
        await customer.goto(`${botHub.url}/supervisor`);
        const chat = (text) => customer.evaluate(async (text) => {
          const r = await fetch('/api/v1/webchat/sessions', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ name: 'Kim', language: 'en' }),
          });
          const { token } = await r.json();
          const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws/webchat?token=${encodeURIComponent(token)}`);
          const said = await new Promise((resolve, reject) => {
            ws.onerror = () => reject(new Error('socket refused'));
            ws.onmessage = (m) => {
              const frame = JSON.parse(m.data);
              if (frame.type === 'message' && frame.message?.author === 'bot') resolve(frame.message);
            };
            ws.onopen = () => ws.send(JSON.stringify({ type: 'message', client_id: 'k1', text }));
          });
          ws.close();
          return said;
        }, text);
        const answer = await chat('how do I turn on roaming?');
        assert.match(answer.text.toLowerCase(), /roaming/);
        await chat('agent please');
        await chat('Do you sell refurbished Nokia 3310 phones?');
        await customerContext.close();

        const tz = 'Europe/Madrid';
        const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: tz });
        const page = await context.newPage();
        await openConsole(page, botHub.url, '/supervisor#reports', 'bruno@demo.switchboard.local');
        const panel = page.getByRole('tabpanel');
        await panel.getByRole('heading', { name: 'Reports' }).waitFor();
        await panel.getByLabel('Report', { exact: true }).selectOption('bot');
        // Queue, agent and tier do not apply to the bot: the form leaves them out and says why.
        assert.equal(await panel.getByLabel('Queue').count(), 0);
        await panel.getByText(/do not apply to the bot/).waitFor();
        await panel.getByRole('button', { name: 'Show report' }).click();
        const view = panel.getByTestId('report-bot');
        await view.waitFor();

        const from = await panel.getByLabel('From').inputValue();
        const to = await panel.getByLabel('To (included)').inputValue();
        const res = await fetch(`${botHub.url}/api/v1/reports/bot?from=${from}&to=${to}&tz=${encodeURIComponent(tz)}&bucket=day`, {
          headers: { authorization: `Bearer ${bruno}` },
        });
        assert.equal(res.status, 200);
        const bot = await res.json();
        assert.ok(bot.totals.answers >= 1 && bot.totals.handovers_asked_for_human >= 1 && bot.totals.unanswered >= 1, JSON.stringify(bot.totals));
        const totals = view.getByTestId('report-totals');
        const totalOf = async (label) => (await totals.locator('div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) }).locator('dd').textContent()).trim();
        assert.equal(await totalOf('Bot answers'), String(bot.totals.answers));
        assert.equal(await totalOf('Conversations'), String(bot.totals.conversations));
        assert.equal(await totalOf('Pending \\(under 24 h\\)'), String(bot.totals.pending));
        assert.equal(await totalOf('Hand-overs'), String(bot.totals.handovers));
        assert.equal(await totalOf('Unanswered questions'), String(bot.totals.unanswered));
        // The stacked chart is one named image with a legend; its figures are in a captioned table.
        await view.getByRole('img', { name: /^Hand-overs to people per period, stacked by reason/ }).waitFor();
        assert.equal(await view.locator('.chart-legend li').count(), 5);
        const reasons = view.getByRole('table', { name: 'Hand-overs per period by reason' });
        assert.equal(await reasons.locator('tbody tr').count(), bot.series.length);
        const asked = bot.series.reduce((n, p) => n + p.handovers_asked_for_human, 0);
        const column = await reasons.locator('tbody tr td:nth-of-type(1)').allTextContents();
        assert.equal(column.reduce((n, v) => n + Number(v), 0), asked);
        // The top unanswered questions, as the API lists them.
        const topics = view.getByRole('table', { name: 'Most asked unanswered questions' });
        const rows = topics.locator('tbody tr');
        assert.equal(await rows.count(), bot.top_unanswered.topics.length);
        assert.equal((await rows.first().locator('th').textContent()).trim(), bot.top_unanswered.topics[0].example);
        await axe(page, 'reports: bot');
        await shoot(page, `${backend}-reports-bot-1280`);
        await context.close();
      } finally {
        await botHub.stop();
      }
    });
  });
}
