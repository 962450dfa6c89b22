// The workspace's numbers for BENCHMARKS.md, on SQLite: time to interactive with 1,000
// conversations listed, and the work per frame while 50 messages a second stream into an open
// 2,000-message thread. Writes target/browser-bench.json. PERF_TRACE=1 prints where the frame
// time went (Chromium's devtools.timeline trace).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHub, launch, apiLogin, shoot, repo, startFrameMeter, stopFrameMeter, traceTotals } from './harness.mjs';

let hub, browser;
before(async () => {
  browser = await launch();
  // 1,000 chats from this one address: far over the hub's default rate per address.
  hub = await startHub('sqlite', { bot: false, opensPerMinute: 1000000 });
});
after(async () => {
  await browser?.close();
  await hub?.stop();
});

async function pool(n, concurrency, job) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await job(next++);
  }));
}

test('time to interactive and frame time with 1,000 conversations and a 2,000-message thread', { timeout: 600_000 }, async () => {
  const token = await apiLogin(hub.url, 'bruno@demo.switchboard.local');
  const post = (path, body) => fetch(`${hub.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  }).then((r) => { if (!r.ok) throw new Error(`${path}: ${r.status}`); return r.json(); });
  const ids = [];
  await pool(1000, 16, async (i) => { ids[i] = (await post('/api/v1/webchat/sessions', { language: ['en', 'es', 'pt'][i % 3] })).conversation_id; });
  const big = (await post('/api/v1/webchat/sessions', { language: 'es' })).conversation_id;
  await pool(2000, 16, async (i) => post(`/api/v1/conversations/${big}/messages`, { text: `Message ${i} of the long thread: ${'lorem ipsum '.repeat(1 + (i % 7))}`, client_id: `seed-${i}` }));

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(hub.url);
  await page.getByLabel('E-mail').fill('bruno@demo.switchboard.local');
  await page.getByLabel('Password').fill('switchboard-demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Live', { exact: true }).waitFor();
  // Time to interactive: a fresh load (signed in) until the list of 1,000 is on screen and a
  // row answers a click.
  await page.reload();
  await page.getByRole('button', { name: /^Queued/ }).click();
  const rows = page.locator('.row button');
  await rows.first().waitFor();
  const tti = await page.evaluate(() => performance.now());
  const listed = Number(await page.locator('button[aria-pressed="true"] .count').textContent());
  assert.ok(listed >= 1000, `listed ${listed}`);
  // The long thread is wherever the agent's replies put it (queued, or mine).
  if ((await page.locator(`[data-conversation="${big}"]`).count()) === 0) await page.getByRole('button', { name: /^Mine/ }).click();
  await page.locator(`[data-conversation="${big}"]`).click();
  // All 2,000 are loaded; the DOM holds the newest window (60 to 100), the rest behind "earlier".
  await page.getByRole('button', { name: /Show 1\d\d\d earlier messages/ }).waitFor({ timeout: 60_000 });
  await shoot(page, 'bench-workspace-2000-thread-1280');

  // Frame work: from a frame's start (the rAF timestamp) to just after it painted (a message
  // posted from rAF runs after style, layout and paint). 50 messages/s for 6 s.
  await startFrameMeter(page);
  const trace = process.env.PERF_TRACE ? join(repo, 'target', 'browser-perf-trace.json') : null;
  if (trace) await browser.startTracing(page, { path: trace, categories: ['devtools.timeline'] });
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < 6000) {
    const due = Math.floor(((Date.now() - started) / 1000) * 50);
    const batch = [];
    while (sent < due) batch.push(post(`/api/v1/conversations/${big}/messages`, { text: `Live message ${sent}`, client_id: `live-${sent++}` }));
    await Promise.all(batch);
    await new Promise((r) => setTimeout(r, 10));
  }
  await page.locator('.msg').filter({ hasText: `Live message ${sent - 1}` }).waitFor();
  let cpu = null;
  if (trace) {
    await browser.stopTracing();
    const events = traceTotals(trace);
    // CPU time (thread clock) of the page's main thread over the 6 s, by kind of work: unlike
    // wall-clock frame times, it does not grow when other processes take the cores.
    const main = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
    cpu = {};
    for (const e of events) {
      if (e.ph === 'X' && e.tdur && main.has(`${e.pid}:${e.tid}`) && ['RunTask', 'FunctionCall', 'FireAnimationFrame', 'UpdateLayoutTree', 'Layout', 'PrePaint', 'Paint', 'Layerize', 'Commit'].includes(e.name)) {
        cpu[e.name] = +((cpu[e.name] ?? 0) + e.tdur / 1000).toFixed(1);
      }
    }
    // All of it: the thread time of the outermost events (nested ones are inside them).
    let busy = 0;
    let end = -1;
    for (const e of events.filter((x) => x.ph === 'X' && x.tdur !== undefined && main.has(`${x.pid}:${x.tid}`)).sort((a, b) => a.ts - b.ts)) {
      if (e.ts >= end) {
        busy += e.tdur / 1000;
        end = e.ts + e.dur;
      }
    }
    cpu.total = +busy.toFixed(1);
    console.log('main thread CPU ms:', JSON.stringify(cpu));
  }
  const { frames, p95, max, loaf } = await stopFrameMeter(page);
  const sizes = JSON.parse(readFileSync(join(repo, 'hub/web/dist/sizes.json'), 'utf8'));
  const result = {
    widget_gzip_kb: +(sizes.widget_gzip_bytes / 1024).toFixed(1),
    workspace_first_load_gzip_kb: +(sizes.workspace_first_load_gzip_bytes / 1024).toFixed(1),
    workspace_tti_ms: Math.round(tti),
    conversations_listed: listed,
    thread_messages: 2000 + sent,
    thread_messages_in_dom: await page.locator('.msg').count(),
    messages_per_second: 50,
    frames,
    frame_work_p95_ms: +p95.toFixed(1),
    frame_work_max_ms: +max.toFixed(1),
    long_animation_frames: loaf,
    ...(cpu ? { main_thread_cpu_ms: cpu } : {}),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(join(repo, 'target', 'browser-bench.json'), JSON.stringify(result, null, 2));
  assert.ok(result.thread_messages_in_dom <= 400, 'the thread keeps a bounded window in the DOM');
  assert.ok(tti < 5000, `time to interactive ${tti} ms`);
  // The 16 ms frame target is reported (BENCHMARKS.md), and enforced with
  // SWITCHBOARD_PERF_STRICT=1: on a shared 2-core VM with software rendering it is missed.
  if (process.env.SWITCHBOARD_PERF_STRICT === '1') assert.ok(p95 < 16, `frame work p95 ${p95} ms`);
  await context.close();
});
