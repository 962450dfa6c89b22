// The supervisor's CSAT report (issue 18), in Chromium against the real hub on SQLite and
// PostgreSQL: customers rate resolved chats in the widget; the reports tab's CSAT view shows the
// API's figures for the same dates (sent, answered, response rate, average, share satisfied),
// the answers per period as a stacked chart (one named image, a legend) with every figure in a
// table per period and per agent, the comments newest first with "More comments" (by keyboard;
// the focus moves to the first comment it adds), the CSV export; the agents report carries the
// CSAT columns. axe-core finds nothing; screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole, apiCall } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 360, height: 740 };

for (const backend of BACKENDS) {
  describe(`the CSAT report on ${backend}`, { timeout: 300_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    const call = (token, method, path, body) => apiCall(hub.url, token, method, path, body);

    /** A customer writes in the widget; Bruno takes the chat and resolves it; the customer rates it. */
    const rate = async (bruno, brunoId, text, score, comment) => {
      const context = await browser.newContext({ viewport: PHONE, locale: 'en-GB' });
      const customer = await context.newPage();
      await customer.goto(`${hub.url}/chat?lang=en`);
      const input = customer.getByLabel('Your message');
      await input.fill(text);
      await input.press('Enter');
      await customer.locator('.sb-customer', { hasText: text }).locator('.sb-state', { hasText: 'Delivered' }).waitFor();
      const conversation = await customer.evaluate(() => {
        const key = Object.keys(sessionStorage).find((k) => k.startsWith('switchboard.chat:'));
        return key ? JSON.parse(sessionStorage.getItem(key)).conversationId : null;
      });
      assert.ok(conversation, 'the chat is kept for the tab');
      const ticket = await call(bruno, 'POST', `/api/v1/conversations/${conversation}/handover`, {});
      await call(bruno, 'POST', `/api/v1/tickets/${ticket.id}/transfer`, { agent_id: brunoId });
      await call(bruno, 'POST', `/api/v1/tickets/${ticket.id}/resolve`, {});
      const survey = customer.getByRole('group', { name: 'How satisfied are you with the help you received?' });
      await survey.waitFor();
      await survey.getByRole('radio', { name: new RegExp(`^${score},`) }).check();
      await customer.getByLabel('Comment (optional)').fill(comment);
      await customer.getByRole('button', { name: 'Send rating' }).click();
      await customer.getByRole('status').filter({ hasText: 'Thank you for your rating.' }).waitFor();
      await context.close();
    };

    test('rated chats in the CSAT view: figures, stacked chart, tables, comments page by page, CSV', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const staff = await call(bruno, 'GET', '/api/v1/agents');
      const brunoId = staff.find((m) => m.name.startsWith('Bruno')).id;
      // Oldest first: the report lists the newest answer first.
      const ratings = [[5, 'Quick and clear'], [2, 'Too slow, I waited an hour'], [4, 'Helpful']];
      for (const [i, [score, comment]] of ratings.entries()) await rate(bruno, brunoId, `Question number ${i + 1}`, score, comment);

      const tz = 'Europe/Madrid';
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: tz, acceptDownloads: true });
      const page = await context.newPage();
      // The page asks for 50 comments a page; here 2, so that three comments make two pages.
      await page.route(/\/api\/v1\/reports\/csat\?/, (route) => {
        const url = new URL(route.request().url());
        if (!url.searchParams.has('format')) url.searchParams.set('limit', '2');
        return route.continue({ url: url.toString() });
      });
      await openConsole(page, hub.url, '/supervisor#reports', 'bruno@demo.switchboard.local');
      const panel = page.getByRole('tabpanel');
      await panel.getByRole('heading', { name: 'Reports' }).waitFor();
      await panel.getByLabel('Report', { exact: true }).selectOption('csat');
      await panel.getByRole('button', { name: 'Show report' }).click();
      const view = panel.getByTestId('report-csat');
      await view.waitFor();

      // The API, asked with the page's dates (plain dates read in the zone).
      const from = await panel.getByLabel('From').inputValue();
      const to = await panel.getByLabel('To (included)').inputValue();
      const query = `from=${from}&to=${to}&tz=${encodeURIComponent(tz)}&bucket=day`;
      const csat = await call(bruno, 'GET', `/api/v1/reports/csat?${query}`);
      assert.equal(csat.total.sent, 3, JSON.stringify(csat.total));
      assert.deepEqual(csat.total.distribution, [0, 1, 0, 1, 1]);

      const percent = (v) => (v === null ? '—' : new Intl.NumberFormat('en-GB', { style: 'percent', maximumFractionDigits: 1 }).format(v));
      const totals = view.getByTestId('report-totals');
      const totalOf = async (label) => (await totals.locator('div').filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) }).locator('dd').textContent()).trim();
      assert.equal(await totalOf('Surveys sent'), String(csat.total.sent));
      assert.equal(await totalOf('Answered'), String(csat.total.answered));
      assert.equal(await totalOf('Response rate'), percent(csat.total.response_rate));
      assert.equal(await totalOf('Average score'), new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 }).format(csat.total.average));
      assert.equal(await totalOf('Satisfied \\(4 or 5\\)'), percent(csat.total.satisfied));

      // The stacked chart is one named image with a legend of the five scores; its figures are in
      // the table, one row per day.
      const stacked = view.locator('figure').filter({ has: page.getByRole('img', { name: /^Answers per period, stacked by score/ }) });
      await stacked.waitFor();
      assert.equal(await stacked.locator('.chart-legend li').count(), 5);
      await view.getByRole('img', { name: /^Response rate and share satisfied per period/ }).waitFor();
      const table = view.getByTestId('report-table');
      assert.equal(await table.locator('tbody tr').count(), csat.buckets.length);
      const headers = (await table.locator('thead th').allTextContents()).map((h) => h.trim());
      for (const h of ['Surveys sent', 'Answered', 'Score 1', 'Score 5', 'Response rate', 'Average score', 'Satisfied (4 or 5)']) assert.ok(headers.includes(h), headers.join('|'));
      const column = async (h) => (await table.locator('tbody tr').locator(`th, td`).allTextContents()).filter((_, i) => i % headers.length === headers.indexOf(h));
      for (const [i, h] of ['Score 1', 'Score 2', 'Score 3', 'Score 4', 'Score 5'].entries()) {
        const sum = (await column(h)).reduce((n, v) => n + Number(v), 0);
        assert.equal(sum, csat.total.distribution[i], h);
      }

      // Per agent: Bruno's row, with his name.
      const agents = view.getByRole('table', { name: 'Satisfaction per agent' });
      assert.equal(await agents.locator('tbody tr').count(), csat.agents.length);
      const brunoApi = csat.agents.find((a) => a.agent_id === brunoId);
      assert.equal(brunoApi?.answered, 3, JSON.stringify(csat.agents));
      const brunoRow = agents.locator('tbody tr').filter({ has: page.locator('th', { hasText: /^Bruno/ }) });
      const agentHeaders = (await agents.locator('thead th').allTextContents()).map((h) => h.trim());
      const cell = async (h) => (await brunoRow.locator('th, td').nth(agentHeaders.indexOf(h)).textContent()).trim();
      assert.equal(await cell('Surveys sent'), String(brunoApi.sent));
      assert.equal(await cell('Satisfied (4 or 5)'), percent(brunoApi.satisfied));

      // The comments: newest first, two a page; "More comments", by keyboard, adds the third and
      // moves the focus to it.
      const comments = view.getByRole('list', { name: /^Customers' comments/ });
      const items = comments.getByRole('listitem');
      assert.equal(await items.count(), 2);
      assert.deepEqual(csat.comments.map((c) => c.comment).slice(0, 2), ['Helpful', 'Too slow, I waited an hour']);
      assert.match(await items.nth(0).textContent(), /Score 4 of 5.*Web chat.*Bruno/);
      assert.match(await items.nth(0).textContent(), /Helpful/);
      assert.match(await items.nth(1).textContent(), /Score 2 of 5/);
      await axe(page, 'reports: csat');
      await view.scrollIntoViewIfNeeded();
      await shoot(page, `${backend}-reports-csat-1280`);
      const more = view.getByRole('button', { name: 'More comments' });
      await more.focus();
      await page.keyboard.press('Enter');
      await items.nth(2).waitFor();
      await page.waitForFunction(() => document.activeElement?.closest('[data-testid="csat-comments"]') !== null
        && document.activeElement?.textContent?.includes('Quick and clear'));
      assert.match(await items.nth(2).textContent(), /Score 5 of 5.*Quick and clear/);
      await more.waitFor({ state: 'detached' });
      await axe(page, 'reports: csat, every comment');
      await items.nth(2).scrollIntoViewIfNeeded();
      await shoot(page, `${backend}-reports-csat-comments-1280`);

      // The CSV of the same query: the buckets, without the customers' words.
      const [download] = await Promise.all([page.waitForEvent('download'), panel.getByRole('button', { name: 'Export CSV' }).click()]);
      const csv = await readFile(await download.path(), 'utf8');
      assert.equal(csv.split('\n')[0], 'start,sent,answered,score_1,score_2,score_3,score_4,score_5,response_rate,average,satisfied');
      assert.equal(csv.trim().split('\n').length, 1 + csat.buckets.length);
      assert.doesNotMatch(csv, /Helpful/);

      // The agents report carries Bruno's CSAT figures as columns.
      await panel.getByLabel('Report', { exact: true }).selectOption('agents');
      await panel.getByRole('button', { name: 'Show report' }).click();
      const agentsView = panel.getByTestId('report-agents');
      await agentsView.waitFor();
      const agentsApi = await call(bruno, 'GET', `/api/v1/reports/agents?${query}`);
      const brunoReport = agentsApi.agents.find((a) => a.agent_id === brunoId);
      assert.equal(brunoReport?.csat_answered, 3, JSON.stringify(agentsApi.agents));
      const reportTable = agentsView.getByTestId('report-table');
      const row = reportTable.locator('tbody tr').filter({ has: page.locator('th', { hasText: /^Bruno/ }) });
      await row.waitFor();
      const cols = (await reportTable.locator('thead th').allTextContents()).map((h) => h.trim());
      const at = async (h) => {
        assert.ok(cols.includes(h), cols.join('|'));
        return (await row.locator('th, td').nth(cols.indexOf(h)).textContent()).trim();
      };
      assert.equal(await at('CSAT surveys sent'), String(brunoReport.csat_sent));
      assert.equal(await at('CSAT answers'), String(brunoReport.csat_answered));
      assert.equal(await at('CSAT average'), new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 }).format(brunoReport.csat_average));
      assert.equal(await at('CSAT satisfied (4 or 5)'), percent(brunoReport.csat_satisfied));
      await axe(page, 'reports: agents with CSAT');
      await context.close();
    });
  });
}
