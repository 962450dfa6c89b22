// The administration console (issue 14), in Chromium against the real hub on SQLite and
// PostgreSQL: an admin disables an agent whose open workspace (another browser) is signed out
// within a heartbeat and says so; enables her again; resets a password to a generated one shown
// once; adds a member; changes roles and a team, and is refused (409) when removing the last admin; saves the widget's
// look (refused below 4.5:1 contrast) and allowed origins, which a customer's widget on another
// site shows at once; reads the channels without secrets; saves retention. axe-core on each
// page and dialog, screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, hostPage, freePort, launch, axe, shoot, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 800 };
const HEARTBEAT_SECS = 2;
const ADMIN = 'admin@demo.switchboard.local';
const ANA = 'ana@demo.switchboard.local';

for (const backend of BACKENDS) {
  describe(`the administration console on ${backend}`, { timeout: 600_000 }, () => {
    let hub, browser, host;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false, heartbeatSecs: HEARTBEAT_SECS });
      // The customer's site: not allowed by the config file; the admin allows it in the console.
      host = await hostPage(hub.url, 'en', `http://127.0.0.1:${await freePort()}`);
    });
    after(async () => {
      await browser?.close();
      await host?.close();
      await hub?.stop();
    });

    test('staff: disable signs the open workspace out within a heartbeat; enable, reset, roles, the last admin', async () => {
      const adminContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const admin = await adminContext.newPage();
      await openConsole(admin, hub.url, '/admin', ADMIN);
      await admin.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
      const table = admin.getByRole('table', { name: 'Staff members' });
      const row = (name) => table.getByRole('row').filter({ has: admin.getByRole('rowheader', { name: new RegExp(`^${name}`) }) });
      await row('Ana Agent').waitFor();

      // Ana works in her workspace, in another browser.
      const anaContext = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const ana = await anaContext.newPage();
      await ana.goto(hub.url);
      await ana.getByLabel('E-mail').fill(ANA);
      await ana.getByLabel('Password').fill('switchboard-demo');
      await ana.getByRole('button', { name: 'Sign in' }).click();
      await ana.getByText('Live', { exact: true }).waitFor();
      await admin.reload();
      await row('Ana Agent').getByRole('cell', { name: 'Active, available' }).waitFor();
      await axe(admin, `admin staff (${backend})`);
      await shoot(admin, `${backend}-admin-staff-1280`);

      // Disable, confirmed in a dialog that holds the focus.
      await admin.getByRole('button', { name: 'Disable Ana Agent' }).click();
      const confirm = admin.getByRole('dialog', { name: 'Disable Ana Agent?' });
      await confirm.waitFor();
      await admin.waitForFunction(() => document.activeElement?.textContent === 'Cancel'); // focus starts on the safe choice
      await axe(admin, `admin disable dialog (${backend})`);
      await shoot(admin, `${backend}-admin-disable-dialog-1280`);
      const disabledAt = Date.now();
      await confirm.getByRole('button', { name: 'Disable' }).click();
      await admin.getByRole('status').filter({ hasText: 'Ana Agent was disabled and signed out everywhere.' }).waitFor();
      await row('Ana Agent').getByRole('cell', { name: 'Disabled' }).waitFor();
      await admin.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Enable Ana Agent');
      // (the focus lands on the button that took the place of the one that opened the dialog)

      // Ana's workspace is signed out within a heartbeat, and says why.
      await ana.getByRole('alert').filter({ hasText: 'Your session ended. Sign in again.' }).waitFor({ timeout: 15_000 });
      const took = Date.now() - disabledAt;
      assert.ok(took <= (HEARTBEAT_SECS + 2) * 1000, `signed out ${took} ms after being disabled (heartbeat ${HEARTBEAT_SECS} s)`);
      await ana.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor();
      await axe(ana, `workspace signed out by an admin (${backend})`);
      await shoot(ana, `${backend}-workspace-session-ended-1280`);
      // She cannot sign in while disabled.
      await ana.getByLabel('E-mail').fill(ANA);
      await ana.getByLabel('Password').fill('switchboard-demo');
      await ana.getByRole('button', { name: 'Sign in' }).click();
      await ana.getByRole('alert').filter({ hasText: 'Wrong e-mail or password.' }).waitFor();

      // Enabled again, she signs in.
      await admin.getByRole('button', { name: 'Enable Ana Agent' }).click();
      await admin.getByRole('status').filter({ hasText: 'Ana Agent can sign in again.' }).waitFor();
      await ana.getByRole('button', { name: 'Sign in' }).click();
      await ana.getByText('Live', { exact: true }).waitFor();

      // A generated one-time password, shown once; her session ends, the new password works.
      await admin.getByRole('button', { name: 'Reset password of Ana Agent' }).click();
      const reset = admin.getByRole('dialog', { name: 'Reset password of Ana Agent' });
      await reset.getByRole('radio', { name: /Generate a one-time password/ }).check();
      await axe(admin, `admin reset dialog (${backend})`);
      await reset.getByRole('button', { name: 'Reset password' }).click();
      const secret = reset.getByLabel('One-time password', { exact: true });
      await secret.waitFor();
      // It takes the focus (selected, ready to copy): the dialog stayed open, so nothing else would.
      await admin.waitForFunction(() => document.activeElement?.id === 'generated-password');
      const password = await secret.inputValue();
      assert.equal(password.length, 20);
      await shoot(admin, `${backend}-admin-password-once-1280`);
      await reset.getByRole('button', { name: 'Done' }).click();
      await admin.getByRole('status').filter({ hasText: /The password of Ana Agent was reset; 1 session/ }).waitFor();
      await ana.getByRole('alert').filter({ hasText: 'Your session ended.' }).waitFor({ timeout: 15_000 });
      const login = await fetch(`${hub.url}/api/v1/auth/login`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ANA, password }),
      });
      assert.equal(login.status, 200, 'the one-time password signs in');

      // A new member, with a form in a dialog; the same e-mail twice is refused.
      const add = async () => {
        await admin.getByRole('button', { name: 'Add staff member' }).click();
        const dialog = admin.getByRole('dialog', { name: 'Add staff member' });
        await dialog.getByLabel('Name').fill('Dora Agent');
        await dialog.getByLabel('E-mail').fill('dora@example.com');
        await dialog.getByLabel('Password').fill('a password for dora');
        await dialog.getByRole('checkbox', { name: 'Supervisor' }).check();
        await dialog.getByRole('button', { name: 'Create' }).click();
        return dialog;
      };
      // A name of blanks passes the browser's check but not the hub's: the 422 lands on the field.
      await admin.getByRole('button', { name: 'Add staff member' }).click();
      const blank = admin.getByRole('dialog', { name: 'Add staff member' });
      await blank.getByLabel('Name').fill('   ');
      await blank.getByLabel('E-mail').fill('blank@example.com');
      await blank.getByLabel('Password').fill('a password for blank');
      await blank.getByRole('button', { name: 'Create' }).click();
      await blank.getByRole('alert').waitFor();
      const nameInput = blank.getByLabel('Name');
      assert.equal(await nameInput.getAttribute('aria-invalid'), 'true');
      assert.equal(await nameInput.getAttribute('aria-describedby'), 'new-error');
      await admin.waitForFunction(() => document.activeElement?.id === 'new-name');
      assert.equal(await blank.getByLabel('E-mail').getAttribute('aria-invalid'), null, 'only the field at fault');
      assert.equal(await blank.getByLabel('Password').getAttribute('aria-describedby'), 'new-password-hint');
      await axe(admin, `admin add dialog with a field error (${backend})`);
      await blank.getByRole('button', { name: 'Cancel' }).click();
      await blank.waitFor({ state: 'detached' });
      await add();
      await admin.getByRole('status').filter({ hasText: 'Dora Agent was added.' }).waitFor();
      await row('Dora Agent').getByRole('cell', { name: 'Agent, Supervisor' }).waitFor();
      const again = await add();
      await again.getByRole('alert').filter({ hasText: 'the e-mail address is taken' }).waitFor();
      await axe(admin, `admin add dialog refused (${backend})`);
      await again.getByRole('button', { name: 'Cancel' }).click();
      await again.waitFor({ state: 'detached' });

      // Roles: Bruno becomes a bot trainer too.
      await admin.getByRole('button', { name: 'Roles of Bruno Agent' }).click();
      const roles = admin.getByRole('dialog', { name: 'Roles of Bruno Agent' });
      await roles.getByRole('checkbox', { name: 'Bot trainer' }).check();
      await roles.getByRole('button', { name: 'Save' }).click();
      await row('Bruno Agent').getByRole('cell', { name: 'Agent, Supervisor, Bot trainer' }).waitFor();

      // Team: a bad name is refused on its field; then Bruno joins "north".
      await admin.getByRole('button', { name: 'Team of Bruno Agent' }).click();
      const teamDialog = admin.getByRole('dialog', { name: 'Team of Bruno Agent' });
      await teamDialog.getByLabel('Team').fill('North Side');
      await teamDialog.getByRole('button', { name: 'Save' }).click();
      await teamDialog.getByRole('alert').waitFor();
      await admin.waitForFunction(() => document.activeElement?.id === 'member-team');
      assert.equal(await teamDialog.getByLabel('Team').getAttribute('aria-invalid'), 'true');
      await axe(admin, `admin team refused (${backend})`);
      await teamDialog.getByLabel('Team').fill('north');
      await teamDialog.getByRole('button', { name: 'Save' }).click();
      await admin.getByRole('status').filter({ hasText: 'Bruno Agent is now in team north.' }).waitFor();
      await row('Bruno Agent').getByRole('cell', { name: 'north', exact: true }).waitFor();

      // The last admin cannot drop the role: the dialog says why, and nothing changes.
      await admin.getByRole('button', { name: 'Roles of Demo Admin' }).click();
      const own = admin.getByRole('dialog', { name: 'Roles of Demo Admin' });
      await own.getByRole('checkbox', { name: 'Administrator' }).uncheck();
      await own.getByRole('button', { name: 'Save' }).click();
      await own.getByRole('alert').filter({ hasText: 'this would leave no active administrator' }).waitFor();
      await axe(admin, `admin last-admin refusal (${backend})`);
      await shoot(admin, `${backend}-admin-last-admin-1280`);
      await admin.keyboard.press('Escape');
      await own.waitFor({ state: 'detached' });
      await row('Demo Admin').getByRole('cell', { name: 'Agent, Administrator' }).waitFor();
      await anaContext.close();
      await adminContext.close();
    });

    test('widget, channels and retention: saved settings show up in the customer widget at once', async () => {
      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/admin#widget', ADMIN);
      await page.getByRole('heading', { level: 2, name: 'Chat widget' }).waitFor();
      await page.getByText("In force: the config file's [widget] section").waitFor();
      const form = page.locator('form[aria-labelledby="widget-title"]');
      await form.getByLabel('Title').fill('Telco help');
      await form.getByLabel('Greeting').fill('Hi! Ask us anything about your line.');
      await form.getByLabel('Main colour', { exact: true }).fill('#1b5e20');
      // Too little contrast: said beside the fields, and not saved.
      await form.getByLabel('Text colour on the main colour', { exact: true }).fill('#2e7d32');
      await page.getByText(/Contrast 1\.\d+:1 is too low/).first().waitFor();
      await form.getByLabel('Sites allowed to embed the chat').fill(host.origin);
      await form.getByRole('button', { name: 'Save' }).click();
      await form.getByRole('alert').filter({ hasText: /is too low/ }).waitFor();
      await form.getByLabel('Text colour on the main colour', { exact: true }).fill('#ffffff');
      await page.getByText(/Contrast \d+\.\d+:1, readable/).waitFor();
      // An origin the hub refuses: the field says so and keeps its hint among its descriptions.
      const origins = form.getByLabel('Sites allowed to embed the chat');
      await origins.fill('not an origin');
      await form.getByRole('button', { name: 'Save' }).click();
      await page.locator('#w-origins[aria-invalid="true"]').waitFor();
      assert.equal(await origins.getAttribute('aria-describedby'), 'w-origins-hint widget-error');
      await origins.fill(host.origin);
      const preview = page.getByRole('figure', { name: 'Preview' });
      assert.equal(await preview.getByText('Telco help').evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(27, 94, 32)');
      await form.getByRole('button', { name: 'Save' }).click();
      await form.getByRole('status').filter({ hasText: 'Saved. The widget uses the new settings now.' }).waitFor();
      await page.getByText('In force: the values saved here on').waitFor();
      await axe(page, `admin widget (${backend})`);
      await shoot(page, `${backend}-admin-widget-1280`);

      // The customer's site, allowed only now: the widget shows the saved title, greeting, colour.
      const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' })).newPage();
      await customer.goto(host.url);
      const launcher = customer.getByRole('button', { name: 'Open chat' });
      await launcher.waitFor();
      assert.equal(await launcher.evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(27, 94, 32)');
      await launcher.click();
      await customer.getByRole('heading', { name: 'Telco help' }).waitFor();
      await customer.getByText('Hi! Ask us anything about your line.').waitFor();
      await shoot(customer, `${backend}-widget-admin-settings-1280`);
      await customer.context().close();

      // Channels: read-only, where each is configured, no secrets.
      await page.getByRole('link', { name: 'Channels' }).click();
      await page.getByRole('heading', { level: 2, name: 'Channels' }).waitFor();
      await page.getByRole('heading', { name: 'Support numbers' }).waitFor();
      await page.getByText('Configured in the config file, section [sip]').waitFor();
      // A Telegram bot registered from the console: listed with which secrets are set, never their values.
      const register = page.getByRole('form', { name: 'Register an account' });
      await register.getByLabel('Platform').selectOption('telegram');
      await register.getByLabel('A name for the bot').fill('care_bot');
      await register.getByLabel('Name', { exact: true }).fill('Care on Telegram');
      await register.getByLabel('Bot token').fill('123456:telegram-token-never-shown');
      await register.getByLabel('Webhook secret').fill('a-webhook-secret-of-ours');
      await register.getByRole('button', { name: 'Register' }).click();
      await register.getByRole('status').getByText('Care on Telegram is registered').waitFor();
      const row = page.getByRole('row', { name: /Care on Telegram/ });
      await row.getByText('bot_token, webhook_secret').waitFor();
      await row.getByText('/webhooks/telegram/care_bot').waitFor();
      assert.equal(await register.getByLabel('Bot token').inputValue(), '', 'the secrets are cleared once sent');
      assert.ok(!(await page.content()).includes('telegram-token-never-shown'), 'no secret in the page');
      // The same account again: refused, said plainly.
      await register.getByLabel('Platform').selectOption('telegram');
      await register.getByLabel('A name for the bot').fill('care_bot');
      await register.getByLabel('Name', { exact: true }).fill('Again');
      await register.getByLabel('Bot token').fill('123456:another');
      await register.getByLabel('Webhook secret').fill('another-secret');
      await register.getByRole('button', { name: 'Register' }).click();
      await register.getByRole('alert').getByText('This account is registered already.').waitFor();
      await axe(page, `admin channels (${backend})`);
      await shoot(page, `${backend}-admin-channels-1280`);

      // Retention: bounded and saved, per data kind; enforced by the hub's job (no warning).
      await page.getByRole('link', { name: 'Retention' }).click();
      await page.getByLabel('Raw copies of mail kept (days)').waitFor();
      assert.equal(await page.getByText(/Not enforced on this hub/).count(), 0);
      await page.getByLabel('Message texts kept (days)').fill('90');
      await page.getByLabel('Conversations kept (days)').fill('365');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
      await axe(page, `admin retention (${backend})`);
      await shoot(page, `${backend}-admin-retention-1280`);
      await page.reload();
      await page.getByText('Saved on').waitFor();
      assert.equal(await page.getByLabel('Message texts kept (days)').inputValue(), '90', 'read back after a reload');
      await context.close();
    });
  });
}
