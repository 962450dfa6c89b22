// The consoles' frame and its role boundaries, in Chromium against the real hub on SQLite and
// PostgreSQL: each role's header offers the places it may go; an agent who types a console's
// address gets a "not allowed" page (and the API a 403), never a console; a trainer who opens
// the workspace's address lands in their console.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };

for (const backend of BACKENDS) {
  describe(`console roles on ${backend}`, { timeout: 300_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('an agent typing console addresses gets "not allowed" and the API 403', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      const requested = [];
      page.on('request', (r) => requested.push(new URL(r.url()).pathname));
      await openConsole(page, hub.url, '/supervisor', 'ana@demo.switchboard.local');
      const main = page.getByRole('main');
      await main.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
      await main.getByText('The Supervisor console needs the supervisor role').waitFor();
      // Nothing of a console was drawn or fetched: no tab list, no console bundle, no console API.
      assert.equal(await page.getByRole('tablist').count(), 0);
      assert.equal(requested.filter((p) => /\/assets\/(supervisor|trainer|admin)-/.test(p)).length, 0, requested.join(' '));
      // (Only who she is: the roles are asked of the hub, not taken from the sign-in.)
      assert.equal(requested.filter((p) => p.startsWith('/api/v1/') && !p.startsWith('/api/v1/auth/') && p !== '/api/v1/me').length, 0, requested.join(' '));
      // Her header offers only the workspace.
      const places = page.getByRole('navigation', { name: 'Places' });
      assert.deepEqual(await places.getByRole('link').allTextContents(), ['Workspace']);
      await axe(page, 'not allowed');
      await shoot(page, `${backend}-console-not-allowed-1280`);
      for (const path of ['/trainer', '/admin']) {
        await page.goto(`${hub.url}${path}`);
        await main.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
      }
      // The API says the same.
      const token = await apiLogin(hub.url, 'ana@demo.switchboard.local');
      for (const path of ['/api/v1/routing/rules', '/api/v1/bot/unanswered', '/api/v1/kb/documents']) {
        const r = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(r.status, 403, path);
        assert.equal((await r.json()).error.code, 'forbidden', path);
      }
      // The way back works.
      await main.getByRole('link', { name: 'Back to where you work' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
      await context.close();
    });

    test('each role sees the places it may go; a trainer at "/" lands in the training console', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/', 'tina@demo.switchboard.local');
      await page.waitForURL(`${hub.url}/trainer`);
      const places = page.getByRole('navigation', { name: 'Places' });
      await places.getByRole('link', { name: 'Bot training' }).waitFor();
      assert.deepEqual(await places.getByRole('link').allTextContents(), ['Bot training']);
      assert.equal(await places.getByRole('link', { name: 'Bot training' }).getAttribute('aria-current'), 'page');
      await context.close();

      // The admin goes everywhere; the header's language choice changes the whole frame.
      const admin = await (await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' })).newPage();
      await openConsole(admin, hub.url, '/admin', 'admin@demo.switchboard.local');
      await admin.getByRole('navigation', { name: 'Places' }).waitFor();
      await admin.getByRole('banner').getByRole('combobox', { name: 'Language' }).selectOption('pt');
      const adminPlaces = admin.getByRole('navigation', { name: 'Secções' });
      assert.deepEqual(await adminPlaces.getByRole('link').allTextContents(),
        ['Área de trabalho', 'Supervisão', 'Treino do bot', 'Administração']);
      assert.equal(await admin.evaluate(() => document.documentElement.lang), 'pt');
      await admin.getByRole('banner').getByRole('combobox', { name: 'Idioma' }).selectOption('en');
      // From the workspace a supervisor reaches their console by the header's link.
      const bruno = await (await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' })).newPage();
      await openConsole(bruno, hub.url, '/', 'bruno@demo.switchboard.local');
      await bruno.getByText('Live', { exact: true }).waitFor();
      await bruno.getByRole('navigation', { name: 'Places' }).getByRole('link', { name: 'Supervisor' }).click();
      await bruno.waitForURL(`${hub.url}/supervisor`);
      await bruno.getByRole('main').getByRole('heading', { level: 1 }).first().waitFor();
      assert.equal(await bruno.getByRole('heading', { name: 'Not allowed' }).count(), 0);
    });

    test('roles taken away while a console is open: the next load says "Not allowed"', async () => {
      const admin = await apiLogin(hub.url, 'admin@demo.switchboard.local');
      const call = async (method, path, token, body) => {
        const r = await fetch(`${hub.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
        return { status: r.status, body: await r.json() };
      };
      const me = (await call('GET', '/api/v1/me', await apiLogin(hub.url, 'bruno@demo.switchboard.local'))).body;
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor', 'bruno@demo.switchboard.local');
      await page.getByRole('main').getByRole('heading', { level: 1, name: 'Supervisor', exact: true }).waitFor();
      try {
        const cut = await call('PUT', `/api/v1/agents/${me.id}/roles`, admin, { roles: ['agent'] });
        assert.equal(cut.status, 200, JSON.stringify(cut.body));
        await page.reload();
        const main = page.getByRole('main');
        await main.getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
        assert.equal(await page.getByRole('heading', { name: 'Supervisor', exact: true }).count(), 0);
        // The header follows the hub too: the Supervisor link is gone.
        assert.deepEqual(await page.getByRole('navigation', { name: 'Places' }).getByRole('link').allTextContents(), ['Workspace']);
        await axe(page, 'not allowed after a role change');
        // Given back, the console opens again at the next load.
        const back = await call('PUT', `/api/v1/agents/${me.id}/roles`, admin, { roles: me.roles });
        assert.equal(back.status, 200, JSON.stringify(back.body));
        await page.reload();
        await page.getByRole('main').getByRole('heading', { level: 1, name: 'Supervisor', exact: true }).waitFor();
        assert.equal(await page.getByRole('heading', { name: 'Not allowed' }).count(), 0);

        // Taken away again with the console open: its next call is a 403, the shell re-checks
        // and says "Not allowed" without a reload.
        await page.goto(`${hub.url}/supervisor#rules`);
        await page.getByRole('heading', { level: 2, name: 'Routing rules' }).waitFor();
        assert.equal((await call('PUT', `/api/v1/agents/${me.id}/roles`, admin, { roles: ['agent'] })).status, 200);
        // (The console may meet its 403 on a call of its own before the click: then the button is
        // already gone, and the outcome is the same.)
        await page.getByRole('button', { name: 'Dry run' }).click({ timeout: 5000 }).catch(() => undefined);
        await page.getByRole('main').getByRole('heading', { level: 1, name: 'Not allowed' }).waitFor();
        assert.equal(await page.getByRole('heading', { level: 1, name: 'Supervisor', exact: true }).count(), 0);
      } finally {
        await call('PUT', `/api/v1/agents/${me.id}/roles`, admin, { roles: me.roles });
        await context.close();
      }
    });
  });
}
