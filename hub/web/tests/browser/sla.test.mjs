// The supervisor's SLA tab, in Chromium against the real hub on SQLite and PostgreSQL: a team
// calendar (zone, opening hours, a holiday) and a policy using it are built with the form
// controls, saved, and are then what the API holds; a value the hub refuses is shown on its
// field, which gets the focus; an older version loads back into the editor; a save from a stale
// version is refused; axe-core finds nothing; all by keyboard-reachable controls with names.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, startHub, launch, axe, shoot, apiLogin, openConsole } from './harness.mjs';

const DESKTOP = { width: 1280, height: 900 };

for (const backend of BACKENDS) {
  describe(`the SLA tab on ${backend}`, { timeout: 300_000 }, () => {
    let hub, browser;
    before(async () => {
      browser = await launch();
      hub = await startHub(backend, { bot: false });
    });
    after(async () => {
      await browser?.close();
      await hub?.stop();
    });

    test('a supervisor builds a calendar and a policy, saves, is told what is wrong, and loads a version back', async () => {
      const bruno = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
      const policies = async () => {
        const res = await fetch(`${hub.url}/api/v1/sla/policies`, { headers: { authorization: `Bearer ${bruno}` } });
        assert.equal(res.status, 200);
        return res.json();
      };
      assert.equal((await policies()).version, 0);

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB', timezoneId: 'Europe/Lisbon' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/supervisor#sla', 'bruno@demo.switchboard.local');
      const panel = page.getByRole('tabpanel');
      await panel.getByRole('heading', { name: 'SLA policies', level: 2 }).waitFor();
      await panel.getByText('No SLA policies are in force yet.').waitFor();
      await axe(page, 'sla: empty');

      // A calendar: Lisbon, weekdays 09:00–18:00 (the default line), Christmas off.
      await panel.getByRole('button', { name: 'Add a calendar' }).click();
      await panel.getByLabel(/^Name \(letters/).fill('lisbon');
      await panel.getByLabel(/^Time zone/).fill('Europe/Lisbon');
      await panel.getByRole('button', { name: 'Add a holiday' }).click();
      await panel.getByLabel('Holiday 1', { exact: true }).fill('2026-12-25');
      // A policy: the general queue, priority 5, first response in 30 minutes, on that calendar,
      // waiting for the customer excluded.
      await panel.getByRole('button', { name: 'Add a policy' }).click();
      await panel.getByLabel('Queue', { exact: true }).selectOption('general');
      await panel.getByLabel('Priority', { exact: true }).selectOption('5');
      await panel.getByLabel(/^First response target/).fill('30');
      await panel.getByLabel(/^Resolution target/).fill('480');
      await panel.getByLabel('Business calendar', { exact: true }).selectOption('lisbon');
      await panel.getByLabel('Time waiting for the customer does not count', { exact: true }).check();
      await panel.getByText('You have changes that are not saved.').waitFor();
      await axe(page, 'sla: draft');
      await shoot(page, `${backend}-sla-draft-1280`);
      await panel.getByRole('button', { name: 'Save and put in force' }).click();
      await panel.getByText(/^Saved: version 1 is in force/).waitFor();

      const saved = await policies();
      assert.equal(saved.version, 1);
      assert.deepEqual(saved.config.calendars.lisbon.holidays, ['2026-12-25']);
      assert.equal(saved.config.calendars.lisbon.time_zone, 'Europe/Lisbon');
      assert.deepEqual(saved.config.calendars.lisbon.hours, [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '18:00' }]);
      assert.equal(saved.config.policies.length, 1);
      const [policy] = saved.config.policies;
      assert.equal(policy.queue, 'general');
      assert.equal(policy.priority, 5);
      assert.equal(policy.first_response_secs, 1800);
      assert.equal(policy.resolution_secs, 28800);
      assert.equal(policy.calendar, 'lisbon');
      assert.equal(policy.pending_excluded, true);

      // The hub refuses a time zone it does not know: the message is on the field, which has the focus.
      const zone = panel.getByLabel(/^Time zone/);
      await zone.fill('Europe/Atlantis');
      await panel.getByRole('button', { name: 'Save and put in force' }).click();
      await panel.getByRole('alert').filter({ hasText: /^Not saved: the field calendars\.lisbon/ }).waitFor();
      const invalid = panel.locator('[aria-invalid="true"]');
      await invalid.waitFor();
      assert.equal(await invalid.evaluate((el) => el === document.activeElement), true);
      assert.ok((await invalid.getAttribute('aria-describedby'))?.length);
      await axe(page, 'sla: invalid');
      assert.equal((await policies()).version, 1);

      // Version 2 with a 15-minute target; then version 1 loads back into the editor.
      await zone.fill('Europe/Lisbon');
      await panel.getByLabel(/^First response target/).fill('15');
      await panel.getByRole('button', { name: 'Save and put in force' }).click();
      await panel.getByText(/^Saved: version 2 is in force/).waitFor();
      assert.equal((await policies()).config.policies[0].first_response_secs, 900);
      const versions = panel.getByRole('table', { name: /^Saved versions/ });
      await versions.locator('tbody tr').nth(1).waitFor();
      await versions.getByRole('button', { name: 'Load into the editor version 1' }).click();
      assert.equal(await panel.getByLabel(/^First response target/).inputValue(), '30');
      await panel.getByText('You have changes that are not saved.').waitFor();

      // Someone else saves meanwhile: this editor's save is refused, nothing is overwritten.
      const other = await fetch(`${hub.url}/api/v1/sla/policies`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${bruno}`, 'content-type': 'application/json' },
        body: JSON.stringify({ config: saved.config, expected_version: 2 }),
      });
      assert.equal(other.status, 200);
      await panel.getByRole('button', { name: 'Save and put in force' }).click();
      await panel.getByRole('alert').filter({ hasText: /another supervisor saved a newer version/ }).waitFor();
      assert.equal((await policies()).version, 3);
      await shoot(page, `${backend}-sla-conflict-1280`);
      await context.close();
    });
  });
}
