// The story of issue 13, end to end in Chromium against the real hub, on SQLite and PostgreSQL:
// a customer chats from a page of another origin, the bot answers, a person takes over, the
// network drops mid-message, and nothing is lost or duplicated; plus the bad input.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { BACKENDS, startHub, hostPage, freePort, launch, axe, shoot, apiLogin } from './harness.mjs';

const MOBILE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 800 };

for (const backend of BACKENDS) {
  describe(`the story on ${backend}`, { timeout: 900_000 }, () => {
    let hub, host, evil, browser;
    before(async () => {
      browser = await launch();
      // The host page's origin must be known before the hub starts: pick its port first.
      const hostOrigin = `http://127.0.0.1:${await freePort()}`;
      hub = await startHub(backend, { allowed: [hostOrigin] });
      host = await hostPage(hub.url, 'es', hostOrigin);
      evil = await hostPage(hub.url, 'es');
    });
    after(async () => {
      await browser?.close();
      await host?.close();
      await evil?.close();
      await hub?.stop();
    });

    test('customer and agent, from the bot to resolved, through a dropped network', async () => {
      const customerContext = await browser.newContext({ viewport: MOBILE, locale: 'es-ES' });
      const customer = await customerContext.newPage();
      const violations = trackCsp(customer);
      // The customer's socket goes through a switch the test can open: "up" forwards both ways,
      // "drop" forwards the page's frames but loses everything the hub sends (acks included)
      // and then cuts the line, "down" refuses connections.
      const net = { mode: 'up', sockets: [] };
      await customer.routeWebSocket(/\/ws\/webchat/, (ws) => {
        if (net.mode === 'down') {
          ws.close({ code: 1011, reason: 'network down' });
          return;
        }
        const server = ws.connectToServer();
        net.sockets.push(ws, server);
        ws.onMessage((m) => server.send(m));
        server.onMessage((m) => {
          if (net.mode === 'up') ws.send(m);
        });
      });

      await customer.goto(host.url);
      const launcher = customer.getByRole('button', { name: 'Abrir el chat' });
      await launcher.waitFor();
      await axe(customer, 'widget closed');
      await shoot(customer, `${backend}-widget-closed-360`);
      await launcher.click();
      const panel = customer.getByRole('dialog', { name: 'Soporte Switchboard' });
      await panel.waitFor();
      await axe(customer, 'widget open');

      // The agent signs in (second browser context, desktop).
      const agentContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const agent = await agentContext.newPage();
      const agentViolations = trackCsp(agent);
      await agent.goto(hub.url);
      await agent.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor();
      await agent.getByText('ana@demo.switchboard.local').waitFor();
      await axe(agent, 'sign-in');
      await shoot(agent, `${backend}-signin-1280`);
      await agent.getByLabel('E-mail').fill('ana@demo.switchboard.local');
      await agent.getByLabel('Password').fill('switchboard-demo');
      await agent.getByRole('button', { name: 'Sign in' }).click();
      await agent.getByText('Live', { exact: true }).waitFor();
      assert.equal(await agent.evaluate(() => location.href.includes('token')), false, 'no token in the URL');
      // Ana has a softphone identity (demo) but no softphone registered: the header says so.
      await agent.getByRole('status').filter({ hasText: 'Softphone: not registered' }).waitFor();

      // Spanish question: the bot answers with its article.
      const input = customer.getByLabel('Su mensaje');
      await input.fill('¿Cómo activo el roaming?');
      await input.press('Enter');
      const mine = customer.locator('.sb-customer').filter({ hasText: '¿Cómo activo el roaming?' });
      await mine.locator('.sb-state', { hasText: 'Entregado' }).waitFor();
      const answer = customer.locator('.sb-bot[data-seq]').first();
      await answer.waitFor({ timeout: 30_000 });
      const article = await answer.locator('.sb-source cite').textContent();
      assert.ok(article && article.length > 3, `the answer names its article: ${await answer.textContent()}`);
      assert.match((await answer.textContent()) ?? '', /roaming/i);
      await axe(customer, 'widget with a bot answer');
      await shoot(customer, `${backend}-widget-bot-answer-360`);
      // The article's title is a link to the article's page on the hub.
      const link = answer.locator('.sb-source a');
      const href = await link.getAttribute('href');
      assert.ok(href?.startsWith(`${hub.url}/help/`), `the article is linked: ${href}`);
      assert.equal(await link.getAttribute('target'), '_blank');
      const articleContext = await browser.newContext({ viewport: MOBILE, locale: 'es-ES' });
      const articlePage = await articleContext.newPage();
      const articleViolations = trackCsp(articlePage);
      await articlePage.goto(href);
      await articlePage.getByRole('heading', { level: 1, name: article }).waitFor();
      await axe(articlePage, 'help article');
      await shoot(articlePage, `${backend}-help-article-360`);
      assert.deepEqual(articleViolations, []);
      await articleContext.close();

      // "Talk to a person": the hand-over message, and an offer in Ana's workspace.
      await customer.getByRole('button', { name: 'Hablar con una persona' }).click();
      await customer.locator('.sb-bot').filter({ hasText: /espera/ }).waitFor({ timeout: 30_000 });
      const offers = agent.getByRole('region', { name: 'Offers' });
      await offers.getByRole('button', { name: 'Accept' }).waitFor({ timeout: 30_000 });
      assert.match((await offers.locator('.countdown').textContent()) ?? '', /^\d+:\d\d$/);
      await axe(agent, 'workspace with an offer');
      await shoot(agent, `${backend}-workspace-offer-1280`);
      await offers.getByRole('button', { name: 'Accept' }).click();
      await agent.locator('.msg-customer').filter({ hasText: '¿Cómo activo el roaming?' }).waitFor();
      // The customer is told who took the conversation.
      await customer.locator('.sb-notice').filter({ hasText: 'Ana Agent se unió a la conversación.' }).waitFor();
      await customer.getByText('Está hablando con Ana Agent').waitFor();
      const summary = agent.getByTestId('summary');
      await summary.waitFor();
      assert.ok(((await summary.textContent()) ?? '').length > 10, 'the bot hand-over summary is shown');
      await axe(agent, 'workspace thread');
      await shoot(agent, `${backend}-workspace-thread-1280`);

      // Typing shows on the other side, both ways.
      await agent.getByRole('textbox', { name: 'Reply' }).pressSequentially('Hola');
      await customer.getByRole('status').filter({ hasText: 'Ana Agent está escribiendo…' }).waitFor();
      await shoot(customer, `${backend}-widget-agent-typing-360`);
      await input.pressSequentially('Un momento');
      await agent.getByRole('status').filter({ hasText: 'The customer is typing…' }).waitFor();
      await input.fill('');

      // Ana replies; the customer sees it.
      await agent.getByRole('textbox', { name: 'Reply' }).fill('Hola, soy Ana. ¿En qué país está?');
      await agent.getByRole('button', { name: 'Send' }).click();
      await customer.locator('.sb-agent').filter({ hasText: 'Hola, soy Ana' }).waitFor();

      // The customer sends a screenshot: it shows in the chat, and Ana sees the file.
      const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
      await customer.locator('#sb-file').setInputFiles({ name: 'pantalla.png', mimeType: 'image/png', buffer: png });
      const sent = customer.locator('.sb-customer').filter({ has: customer.locator('.sb-image') });
      await sent.locator('.sb-state', { hasText: 'Entregado' }).waitFor();
      assert.equal(await sent.locator('.sb-image').getAttribute('alt'), 'pantalla.png');
      await agent.locator('.msg-customer .media').filter({ hasText: 'pantalla.png' }).waitFor();
      // A picture showing a card number is refused (the hub reads pictures with OCR).
      const cardPicture = await customer.evaluate(() => {
        const c = document.createElement('canvas');
        c.width = 900;
        c.height = 140;
        const g = c.getContext('2d');
        g.fillStyle = '#fff';
        g.fillRect(0, 0, c.width, c.height);
        g.fillStyle = '#000';
        g.font = '48px sans-serif';
        g.fillText('Tarjeta 4111 1111 1111 1111', 20, 80);
        return c.toDataURL('image/png').split(',')[1];
      });
      await customer.locator('#sb-file').setInputFiles({ name: 'tarjeta.png', mimeType: 'image/png', buffer: Buffer.from(cardPicture, 'base64') });
      await customer.getByRole('alert').filter({ hasText: 'muestra un número de tarjeta' }).waitFor();
      assert.equal(await customer.locator('.sb-image[alt="tarjeta.png"]').count(), 0, 'the card picture is not sent');
      // A file of a kind the chat does not take is refused with a message, and nothing is sent.
      await customer.locator('#sb-file').setInputFiles({ name: 'virus.exe', mimeType: 'application/x-msdownload', buffer: Buffer.from('MZ') });
      await customer.getByRole('alert').filter({ hasText: 'Solo se pueden enviar imágenes' }).waitFor();
      await axe(customer, 'widget with a file and a refusal');
      await shoot(customer, `${backend}-widget-file-360`);

      // The network drops while a message is on its way: the hub stores it, the ack is lost,
      // the line goes down; when it comes back the widget resends, and it arrives once.
      net.mode = 'drop';
      const text = 'Estoy en Francia y no tengo datos';
      await input.fill(text);
      await input.press('Enter');
      await agent.locator('.msg-customer').filter({ hasText: text }).waitFor();
      net.mode = 'down';
      for (const ws of net.sockets.splice(0)) await ws.close({ code: 4000, reason: 'cut' }).catch(() => undefined);
      const banner = customer.getByRole('status').filter({ hasText: 'sin conexión' });
      await banner.waitFor();
      assert.equal(await customer.locator('.sb-customer').filter({ hasText: text }).locator('.sb-state').textContent(), 'Enviando…');
      await axe(customer, 'widget offline');
      await shoot(customer, `${backend}-widget-offline-360`);
      net.mode = 'up';
      await customer.locator('.sb-customer').filter({ hasText: text }).locator('.sb-state', { hasText: 'Entregado' }).waitFor({ timeout: 20_000 });
      await banner.waitFor({ state: 'detached' });
      assert.equal(await customer.locator('.sb-customer').filter({ hasText: text }).count(), 1, 'shown once to the customer');
      await agent.waitForTimeout(500);
      assert.equal(await agent.locator('.msg-customer').filter({ hasText: text }).count(), 1, 'shown once to the agent');
      const token = await apiLogin(hub.url, 'ana@demo.switchboard.local');
      const conversationId = await agent.locator('[aria-current="true"]').getAttribute('data-conversation');
      const stored = await (await fetch(`${hub.url}/api/v1/conversations/${conversationId}/messages?limit=200`, { headers: { authorization: `Bearer ${token}` } })).json();
      assert.equal(stored.items.filter((m) => m.text === text).length, 1, 'stored exactly once');

      // Script in a message is text, on both sides.
      const xss = '<img src=x onerror="window.__xss=1">';
      await input.fill(xss);
      await input.press('Enter');
      await customer.locator('.sb-customer').filter({ hasText: xss }).locator('.sb-state', { hasText: 'Entregado' }).waitFor();
      await agent.locator('.msg-customer').filter({ hasText: xss }).waitFor();
      assert.equal(await customer.evaluate(() => window.__xss), undefined);
      assert.equal(await agent.evaluate(() => window.__xss), undefined);
      assert.equal(await agent.locator('.log img').count(), 0);

      // The chat survives a reload (token in sessionStorage): the history comes back.
      await customer.reload();
      await customer.getByRole('button', { name: 'Abrir el chat' }).click();
      await customer.locator('.sb-agent').filter({ hasText: 'Hola, soy Ana' }).waitFor();
      assert.equal(await customer.locator('.sb-customer').filter({ hasText: text }).count(), 1);

      // Ana resolves with the keyboard.
      await agent.getByRole('textbox', { name: 'Reply' }).press('Escape');
      await agent.keyboard.press('e');
      await agent.locator('.ws-side dd', { hasText: 'Resolved' }).waitFor();
      // The customer sees that the conversation has ended.
      await customer.locator('.sb-notice').filter({ hasText: 'Esta conversación ha terminado.' }).waitFor();
      await axe(customer, 'widget ended');
      await shoot(customer, `${backend}-widget-ended-360`);

      assert.deepEqual(violations, [], 'no CSP violations on the host page');
      assert.deepEqual(agentViolations, [], 'no CSP violations in the workspace');
      await customerContext.close();
      await agentContext.close();
    });

    test('every page at 360 px and 1280 px, with its security headers', async () => {
      for (const [path, frame] of [['/', "frame-ancestors 'none'"], ['/chat', `frame-ancestors 'self' ${host.origin}`]]) {
        const r = await fetch(hub.url + path);
        assert.equal(r.status, 200);
        const csp = r.headers.get('content-security-policy') ?? '';
        assert.match(csp, /script-src 'self';/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
        assert.ok(csp.endsWith(frame), csp);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      }
      assert.equal((await fetch(hub.url)).headers.get('x-frame-options'), 'DENY');
      // A published help article (the bot's answers link to these), as customers open it.
      const admin = await apiLogin(hub.url, 'admin@demo.switchboard.local');
      const docs = await (await fetch(`${hub.url}/api/v1/kb/documents?status=published&language=pt`, { headers: { authorization: `Bearer ${admin}` } })).json();
      const doc = docs.items.find((d) => d.kind === 'article') ?? docs.items[0];
      const helpPage = await fetch(`${hub.url}/help/${doc.id}`);
      assert.equal(helpPage.status, 200);
      assert.equal(helpPage.headers.get('x-frame-options'), 'DENY');
      assert.match(helpPage.headers.get('content-security-policy') ?? '', /script-src 'none';/);
      for (const viewport of [MOBILE, DESKTOP]) {
        const context = await browser.newContext({ viewport, locale: 'pt-PT' });
        const page = await context.newPage();
        const violations = trackCsp(page);
        await page.goto(`${hub.url}/help/${doc.id}`);
        await page.getByRole('heading', { level: 1 }).waitFor();
        await axe(page, `help article at ${viewport.width}`);
        await shoot(page, `${backend}-help-article-${viewport.width}`);
        await page.goto(host.url);
        // The host page is in Spanish: the widget follows the page, not the browser.
        await page.getByRole('button', { name: 'Abrir el chat' }).click();
        await page.getByLabel('Su mensaje').waitFor();
        await axe(page, `widget open at ${viewport.width}`);
        await shoot(page, `${backend}-widget-open-${viewport.width}`);
        await page.goto(`${hub.url}/chat`);
        await page.getByRole('main', { name: 'Soporte Switchboard' }).waitFor();
        await page.getByLabel('A sua mensagem').waitFor();
        await axe(page, `/chat at ${viewport.width}`);
        await shoot(page, `${backend}-chat-page-${viewport.width}`);
        await page.goto(hub.url);
        await page.getByRole('heading', { name: 'Entrar no Switchboard' }).waitFor();
        await shoot(page, `${backend}-signin-${viewport.width}`);
        await page.getByLabel('E-mail').fill('bruno@demo.switchboard.local');
        await page.getByLabel('Palavra-passe').fill('switchboard-demo');
        await page.getByRole('button', { name: 'Entrar' }).click();
        await page.getByRole('heading', { name: 'Área de trabalho do Switchboard' }).waitFor();
        await page.getByRole('button', { name: /Resolvidas/ }).click();
        await axe(page, `workspace list at ${viewport.width}`);
        await shoot(page, `${backend}-workspace-list-${viewport.width}`);
        // Focus order starts at the header's controls, every one labelled.
        await page.keyboard.press('Tab');
        const first = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.closest('label')?.textContent ?? document.activeElement?.textContent);
        assert.ok(first && first.trim().length > 0, 'the first focusable control has a name');
        assert.deepEqual(violations, []);
        await context.close();
      }
    });

    test('a page of an origin that is not allowed can open neither a session nor a socket', async () => {
      const r = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: evil.origin },
        body: '{}',
      });
      assert.equal(r.status, 403);
      const allowed = await fetch(`${hub.url}/api/v1/webchat/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: host.origin },
        body: '{}',
      });
      assert.equal(allowed.status, 201);
      assert.equal(allowed.headers.get('access-control-allow-origin'), host.origin);
      const { token } = await allowed.json();
      assert.equal(await upgradeStatus(hub.url, token, evil.origin), 403);
      assert.equal(await upgradeStatus(hub.url, token, host.origin), 101);

      const context = await browser.newContext({ viewport: MOBILE, locale: 'es-ES' });
      const page = await context.newPage();
      await page.goto(evil.url);
      await page.getByRole('button', { name: 'Abrir el chat' }).click();
      await page.getByRole('status').filter({ hasText: 'no está disponible' }).waitFor();
      const fromPage = await page.evaluate(async ([hubUrl, t]) => {
        const session = await fetch(`${hubUrl}/api/v1/webchat/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
          .then((x) => x.status, () => 'blocked');
        const socket = await new Promise((resolve) => {
          const ws = new WebSocket(`${hubUrl.replace('http', 'ws')}/ws/webchat?token=${t}`);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
        });
        return { session, socket };
      }, [hub.url, token]);
      assert.deepEqual(fromPage, { session: 'blocked', socket: 'refused' });
      await shoot(page, `${backend}-widget-forbidden-360`);
      await context.close();
    });
  });
}

function trackCsp(page) {
  const violations = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
  });
  return violations;
}

/** The status of a websocket handshake to /ws/webchat sent with `origin`. */
function upgradeStatus(hubUrl, token, origin) {
  const u = new URL(`/ws/webchat?token=${encodeURIComponent(token)}`, hubUrl);
  return new Promise((resolve, reject) => {
    const req = request(u, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', origin },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', reject);
    req.end();
  });
}
