// The customer beside the thread (issue 13): an e-mail arrives over SMTP, the agent opens it,
// sees its subject and the quoted text folded behind a button (opened by keyboard), the customer
// in the side panel (name, handle, language, tier, conversations) and opens an earlier
// conversation from there. On SQLite and PostgreSQL, with axe-core and screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, sendMail } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const CARLA = 'carla@example.com';

for (const backend of BACKENDS) {
  describe(`the customer and e-mail on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false, email: true });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('the subject, the folded quote, the customer and an earlier conversation', async () => {
      // Carla answers with nothing but the quoted history: the hub keeps the whole text (there
      // is no new part to keep), and the thread folds the quote.
      await sendMail(hub.smtpPort, CARLA, [
        `From: Carla Cliente <${CARLA}>`, 'To: support@demo.switchboard.local', 'Subject: Sin internet en casa',
        `Message-ID: <${randomUUID()}@example.com>`, 'Date: Sun, 29 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '',
        'On Sat, 28 Nov 2026 at 09:00, Telco Support <support@demo.switchboard.local>', 'wrote:',
        '> Please restart the router and tell us whether the light turns green.', '>', '> Regards, Telco Support',
      ].join('\r\n'));
      const token = await apiLogin(hub.url, 'ana@demo.switchboard.local');
      const get = async (path) => (await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).json();
      let mail;
      for (let i = 0; i < 100 && !mail; i += 1) {
        mail = (await get('/api/v1/conversations')).items.find((c) => c.channel === 'email');
        if (!mail) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(mail, 'the mail opened a conversation');
      // An earlier conversation of Carla's, resolved a month ago. No API opens a second
      // conversation for a customer while one is open, so it goes into the database directly.
      const earlier = randomUUID();
      const monthAgo = Date.now() - 30 * 86400_000;
      hub.sql(`INSERT INTO conversations (id, customer_id, channel, status, assignee_id, language, last_seq, created_at, updated_at)
        VALUES ('${earlier}', '${mail.customer_id}', 'email', 'resolved', NULL, 'es', 1, ${monthAgo}, ${monthAgo + 60_000});
        INSERT INTO messages (id, conversation_id, seq, author, author_id, body, channel_message_id, created_at)
        VALUES ('${randomUUID()}', '${earlier}', 1, 'customer', NULL, 'Mi factura de octubre trae un cargo de roaming que no reconozco.', NULL, ${monthAgo});`);

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await page.goto(hub.url);
      await page.getByLabel('E-mail').fill('ana@demo.switchboard.local');
      await page.getByLabel('Password').fill('switchboard-demo');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Live', { exact: true }).waitFor();
      await page.getByRole('button', { name: /^Queued/ }).click();
      await page.locator(`[data-conversation="${mail.id}"]`).click();

      // The thread: the subject in its header, the quote folded behind a button.
      await page.getByTestId('subject').filter({ hasText: 'Sin internet en casa' }).waitFor();
      const message = page.locator('.msg-customer').first();
      await message.waitFor();
      const quoted = message.locator('.quoted');
      const toggle = message.getByRole('button', { name: 'Show quoted text' });
      await toggle.waitFor();
      assert.equal(await quoted.isVisible(), false, 'the quote starts folded');
      assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
      await toggle.focus();
      await page.keyboard.press('Enter');
      await message.getByRole('button', { name: 'Hide quoted text' }).waitFor();
      assert.equal(await quoted.isVisible(), true);
      assert.match((await quoted.textContent()) ?? '', /restart the router/);
      assert.equal(await message.getByRole('button', { name: 'Hide quoted text' }).getAttribute('aria-expanded'), 'true');

      // The side panel: who Carla is, how she reaches us, her conversations.
      const side = page.getByRole('complementary', { name: 'Details' });
      const customer = side.getByTestId('customer');
      await customer.getByRole('heading', { name: 'Customer' }).waitFor();
      await customer.locator('dd', { hasText: 'Carla Cliente' }).waitFor();
      assert.equal(await customer.locator('dd', { hasText: 'Standard' }).count(), 1, 'the tier');
      const handles = customer.getByRole('list', { name: 'Reaches us on' });
      assert.match((await handles.textContent()) ?? '', new RegExp(`E-mail\\s*${CARLA}`));
      const history = customer.getByRole('list', { name: 'Conversations' });
      assert.equal(await history.getByRole('listitem').count(), 2);
      assert.match((await history.locator('[aria-current="page"]').textContent()) ?? '', /Sin internet en casa.*Open now/s);
      await axe(page, `workspace e-mail thread with the customer (${backend})`);
      await shoot(page, `${backend}-workspace-customer-email-1280`);

      // The earlier conversation opens in the thread, from its link.
      const link = history.getByRole('link', { name: /Mi factura de octubre/ });
      await link.click();
      await page.locator('.msg-customer').filter({ hasText: 'Mi factura de octubre' }).waitFor();
      await history.locator(`[data-history="${earlier}"] [aria-current="page"]`).waitFor();
      assert.equal(await history.getByRole('link', { name: /Sin internet en casa/ }).count(), 1, 'the other is a link now');
      await axe(page, `workspace earlier conversation (${backend})`);
      await shoot(page, `${backend}-workspace-customer-earlier-1280`);
      await context.close();
    });
  });
}
