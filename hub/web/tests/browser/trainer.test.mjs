// The bot trainer's console (issue 14), in Chromium against the real hub, on SQLite and
// PostgreSQL: a customer asks what the bot cannot answer; the trainer sees the group, reads the
// conversation it came from and answers it in the console; the next customer asking the same in
// the widget gets that answer. Then "try it" with the hits' ranks, the knowledge base (editor,
// preview, versions, import with progress), the answer review and the intents. axe-core on every
// tab, screenshots.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKENDS, startHub, hostPage, freePort, launch, axe, shoot, openConsole } from './harness.mjs';

const MOBILE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 900 };
const TINA = 'tina@demo.switchboard.local';
const QUESTION = '¿Venden teléfonos Nokia 3310 reacondicionados?';
const ANSWER = 'Sí: vendemos Nokia 3310 reacondicionados en la tienda online por 29 EUR, con un año de garantía.';

/** Opens the widget on the host page and asks `text`; returns the bot's reply element. */
async function askInWidget(browser, hostUrl, text) {
  const context = await browser.newContext({ viewport: MOBILE, locale: 'es-ES' });
  const page = await context.newPage();
  await page.goto(hostUrl);
  await page.getByRole('button', { name: 'Abrir el chat' }).click();
  await page.getByRole('dialog', { name: 'Soporte Switchboard' }).waitFor();
  const input = page.getByLabel('Su mensaje');
  await input.fill(text);
  await input.press('Enter');
  const reply = page.locator('.sb-bot[data-seq]').first();
  await reply.waitFor({ timeout: 60_000 });
  return { page, context, reply };
}

for (const backend of BACKENDS) {
  describe(`the trainer console on ${backend}`, { timeout: 900_000 }, () => {
    let hub, host, browser;
    before(async () => {
      browser = await launch();
      const hostOrigin = `http://127.0.0.1:${await freePort()}`;
      hub = await startHub(backend, { allowed: [hostOrigin] });
      host = await hostPage(hub.url, 'es', hostOrigin);
    });
    after(async () => {
      await browser?.close();
      await host?.close();
      await hub?.stop();
    });

    test('a trainer answers an unanswered group and the next customer gets the answer', async () => {
      // A customer asks what nobody wrote an answer for.
      const first = await askInWidget(browser, host.url, QUESTION);
      assert.doesNotMatch((await first.reply.textContent()) ?? '', /29 EUR/);
      await first.context.close();

      const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
      const page = await context.newPage();
      await openConsole(page, hub.url, '/trainer', TINA);
      await page.getByRole('heading', { level: 1, name: 'Bot trainer' }).waitFor();
      assert.equal(await page.getByRole('tab', { name: 'Unanswered' }).getAttribute('aria-selected'), 'true');
      const group = page.getByRole('article', { name: QUESTION });
      await group.waitFor();
      await group.getByText('Times asked: 1').waitFor();
      // Where it came from: the conversation, read in place.
      await group.getByRole('button', { name: 'Conversation' }).click();
      await group.locator('.peek').getByText(QUESTION).waitFor();
      await axe(page, 'trainer unanswered');
      await shoot(page, `${backend}-trainer-unanswered-1280`);

      await group.getByRole('button', { name: 'Answer', exact: true }).click();
      await group.getByLabel('Answer customers will get').fill(ANSWER);
      await axe(page, 'trainer answering a group');
      await group.getByRole('button', { name: 'Publish the answer' }).click();
      await page.getByRole('status').filter({ hasText: '1 questions answered' }).waitFor();
      await page.getByText('No open questions. The bot answered everything.').waitFor();

      // The next customer asking the same gets the trainer's answer from the bot.
      const next = await askInWidget(browser, host.url, QUESTION);
      await next.page.locator('.sb-bot[data-seq]', { hasText: '29 EUR' }).waitFor({ timeout: 60_000 });
      await shoot(next.page, `${backend}-trainer-learned-widget-360`);
      await next.context.close();

      // Two more questions: one merged into the Q&A pair found with the picker, one dismissed.
      const SHOP = '¿Tienen tienda física en Oporto?';
      const WALLS = '¿De qué color están pintadas las paredes de su oficina?';
      for (const q of [SHOP, WALLS]) await (await askInWidget(browser, host.url, q)).context.close();
      await page.getByRole('tab', { name: 'Knowledge base' }).click();
      await page.getByRole('tab', { name: 'Unanswered' }).click();
      const shop = page.getByRole('article', { name: SHOP });
      await shop.getByRole('button', { name: 'Merge into a document' }).click();
      await shop.getByLabel('Find a document').fill('Nokia 3310 reacondicionados');
      await shop.getByRole('button', { name: 'Search', exact: true }).click();
      await shop.getByRole('button', { name: `Merge the questions into “${QUESTION}”` }).click();
      await page.getByRole('status').filter({ hasText: `Merged into “${QUESTION}”: 1 questions answered.` }).waitFor();
      // The merged group's buttons are gone: focus moves to the group in its place.
      await page.waitForFunction((q) => document.activeElement?.tagName === 'H3' && document.activeElement.textContent === q, WALLS);
      await page.getByRole('article', { name: WALLS }).getByRole('button', { name: 'Dismiss' }).click();
      await page.getByRole('status').filter({ hasText: 'Dismissed 1 questions.' }).waitFor();
      await page.getByText('No open questions. The bot answered everything.').waitFor();
      // None left: focus is on the notice that says what happened.
      await page.waitForFunction(() => document.activeElement?.classList.contains('notice-focus'));

      // Try it: the decision, the confidence, the intent and the hits with their ranks.
      await page.getByRole('tab', { name: 'Try it' }).click();
      await page.getByLabel('Question').fill('how do I turn on roaming?');
      await page.getByRole('button', { name: 'Try', exact: true }).click();
      const result = page.getByTestId('try-result');
      await result.getByRole('heading', { name: 'The bot answers' }).waitFor();
      const hits = result.getByRole('table');
      const header = await hits.locator('thead').textContent();
      assert.match(header ?? '', /BM25 rank/);
      assert.match(header ?? '', /Vector rank/);
      const firstHit = await hits.locator('tbody tr').first().locator('td').allTextContents();
      assert.match(firstHit[3], /^\d+$/, `a BM25 rank: ${firstHit}`);
      assert.match(firstHit[4], /^\d+$/, `a vector rank: ${firstHit}`);
      await axe(page, 'trainer try it');
      await shoot(page, `${backend}-trainer-try-1280`);
      // Keyboard: the tabs follow the arrow keys.
      await page.getByRole('tab', { name: 'Try it' }).focus();
      await page.keyboard.press('ArrowRight');
      await page.getByRole('heading', { level: 2, name: 'Intents' }).waitFor();
      await page.waitForFunction(() => document.activeElement?.textContent === 'Intents', null, { timeout: 5000 });

      // Intents: the built-in set, editable.
      await page.getByRole('button', { name: /^bill_dispute/ }).click();
      const editor = page.getByRole('form', { name: 'bill_dispute' });
      await editor.waitFor();
      assert.equal(await editor.getByLabel('A person always handles it (the bot hands over at once)').isChecked(), true);
      await editor.getByLabel('Examples in Spanish, one per line').waitFor();
      // A skill name the hub refuses (422, field "skill"): that skill's control is marked and focused.
      await editor.getByRole('button', { name: 'Add a skill' }).click();
      const skill = editor.getByLabel('Skill', { exact: true }).last();
      await skill.fill('Not A Skill!');
      await editor.getByRole('button', { name: 'Save the intent' }).click();
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-invalid') === 'true');
      assert.equal(await skill.getAttribute('aria-invalid'), 'true');
      const skillId = await skill.getAttribute('id');
      assert.equal(await page.evaluate(() => document.activeElement?.id), skillId);
      assert.equal(await skill.getAttribute('aria-describedby'), `${skillId}-error`);
      await page.locator(`#${skillId}-error`).waitFor();
      await axe(page, 'trainer intents');
      await shoot(page, `${backend}-trainer-intents-1280`);

      // The knowledge base: the new Q&A pair, its editor with the preview and its versions.
      await page.getByRole('tab', { name: 'Knowledge base' }).click();
      await page.getByRole('main').getByLabel('Language').selectOption('es');
      await page.getByRole('button', { name: QUESTION }).click();
      await page.getByRole('heading', { name: `Edit “${QUESTION}”` }).waitFor();
      // Opening the editor takes focus to its heading.
      await page.waitForFunction((q) => document.activeElement?.tagName === 'H2' && document.activeElement.textContent === `Edit “${q}”`, QUESTION);
      // A 422 naming a field marks that control invalid, describes it with the hub's message, focuses it.
      const phrasings = page.getByLabel('Question phrasings, one per line');
      const kept = await phrasings.inputValue();
      await phrasings.fill('');
      await page.getByRole('button', { name: 'Save a new version' }).click();
      await page.waitForFunction(() => document.getElementById('doc-questions')?.getAttribute('aria-invalid') === 'true');
      assert.equal(await phrasings.getAttribute('aria-invalid'), 'true');
      assert.match((await phrasings.getAttribute('aria-describedby')) ?? '', /doc-questions-error/);
      // Focus moves to the field in the render after the error's: wait for it (a timeout fails).
      await page.waitForFunction(() => document.activeElement?.id === 'doc-questions');
      await page.locator('#doc-questions-error').waitFor();
      await axe(page, 'trainer document editor with a field error');
      await phrasings.fill(kept);
      const body = page.getByLabel('Answer (Markdown)');
      await body.fill(`${ANSWER}\n\n- **Garantía** de un año\n- <script>alert(1)</script>`);
      const preview = page.getByRole('region', { name: 'Preview' });
      await preview.locator('strong', { hasText: 'Garantía' }).waitFor();
      assert.equal(await preview.locator('script').count(), 0, 'raw HTML is shown as text');
      await preview.getByText('<script>alert(1)</script>').waitFor();
      await page.getByRole('button', { name: 'Save a new version' }).click();
      await page.getByRole('status').filter({ hasText: 'as version 3' }).waitFor();
      await page.getByRole('button', { name: 'Compare version 2' }).click();
      await page.locator('.diff-added', { hasText: 'Garantía' }).waitFor();
      await axe(page, 'trainer document editor');
      await shoot(page, `${backend}-trainer-editor-1280`);
      await page.getByRole('button', { name: 'Restore version 2' }).click();
      await page.getByRole('status').filter({ hasText: 'as version 4' }).waitFor();
      await page.getByRole('button', { name: 'Back to the list' }).click();
      // Closing it takes focus back to the list's heading.
      await page.waitForFunction(() => document.activeElement?.tagName === 'H2' && document.activeElement.textContent === 'Knowledge base');

      // A folder picked whole: only its top files, as the command-line importer reads it; a
      // same-named file in a subfolder is left out, and the trainer is told.
      const dir = await mkdtemp(join(tmpdir(), 'trainer-import-'));
      await mkdir(join(dir, 'handbook', 'old'), { recursive: true });
      await writeFile(join(dir, 'handbook', 'faq.md'), '---\nid: faq\ntitle: FAQ\nlanguage: en\n---\nTop.\n');
      await writeFile(join(dir, 'handbook', 'old', 'faq.md'), '---\nid: faq\ntitle: Old FAQ\nlanguage: en\n---\nOld.\n');
      await page.getByLabel('Or a whole folder').setInputFiles(join(dir, 'handbook'));
      await page.getByRole('status').filter({ hasText: '1 files in subfolders were left out' }).waitFor();
      await page.getByRole('button', { name: 'Import 1 files' }).waitFor();
      assert.equal(await page.getByLabel('Folder name').inputValue(), 'handbook');
      await rm(dir, { recursive: true, force: true });

      // A folder import, file by file, with progress: one good file, one bad.
      await page.getByLabel('Files').setInputFiles([
        { name: 'esim.md', mimeType: 'text/markdown', buffer: Buffer.from('---\nid: esim-move\ntitle: Moving your eSIM\nlanguage: en\n---\nOpen the app and choose **Move eSIM**.\n') },
        { name: 'broken.md', mimeType: 'text/markdown', buffer: Buffer.from('no front matter here') },
      ]);
      await page.getByLabel('Folder name').fill('handbook');
      await page.getByRole('button', { name: 'Import 2 files' }).click();
      await page.getByRole('status').filter({ hasText: 'Import finished: 2 files, 1 new documents.' }).waitFor();
      await page.locator('.file-done', { hasText: 'esim.md' }).waitFor();
      await page.locator('.file-failed', { hasText: 'broken.md' }).waitFor();
      assert.equal(await page.locator('#import-progress').getAttribute('value'), '2');
      await axe(page, 'trainer knowledge base with an import');
      await shoot(page, `${backend}-trainer-kb-1280`);

      // The answer review: the second customer's answer, marked right.
      await page.getByRole('tab', { name: 'Answer review' }).click();
      const row = page.getByRole('row').filter({ hasText: QUESTION }).first();
      await row.waitFor();
      await row.getByRole('button', { name: 'Right' }).click();
      await page.getByRole('status').filter({ hasText: 'Marked right.' }).waitFor();
      assert.equal(await row.getByRole('button', { name: 'Right' }).getAttribute('aria-pressed'), 'true');
      await page.getByLabel('Only “didn\'t help”').check();
      await page.getByText('No answers match these filters.').waitFor();
      await axe(page, 'trainer answer review');
      await shoot(page, `${backend}-trainer-answers-1280`);
      await context.close();
    });
  });
}
