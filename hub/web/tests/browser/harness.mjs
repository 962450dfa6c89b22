// What the browser tests share: a real hub (the built `switchboard` binary) on a fresh SQLite
// file or a fresh PostgreSQL schema, a host page of another origin, Chromium, and axe-core.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
export const repo = new URL('../../../../', import.meta.url).pathname;
export const screenshots = join(repo, 'target', 'browser-screenshots');
mkdirSync(screenshots, { recursive: true });

export const BACKENDS = (process.env.SWITCHBOARD_BROWSER_BACKENDS ?? 'sqlite,postgres').split(',').filter(Boolean);
const PG_BASE = process.env.SWITCHBOARD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function binary() {
  const candidates = [process.env.SWITCHBOARD_BIN, join(repo, 'target/debug/switchboard'), join(repo, 'target/release/switchboard')];
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) throw new Error('no switchboard binary: run `cargo build --bin switchboard` first (or set SWITCHBOARD_BIN)');
  return found;
}

/** An HTTP server on a free port of 127.0.0.1 serving `handler`. */
export async function serve(handler, listenPort = 0) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

export async function freePort() {
  const s = await serve(() => undefined);
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}

/** A page of another origin that embeds the widget, like an operator's website. */
export async function hostPage(hubUrl, language = 'es', origin = null) {
  return serve((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="${language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Tienda de ejemplo</title></head>
<body><main><h1>Tienda de ejemplo</h1><p>Una página de otro origen que incrusta el chat.</p></main>
<script src="${hubUrl}/widget.js" data-language="${language}" async></script></body></html>`);
  }, origin ? Number(new URL(origin).port) : 0);
}

/** Starts the hub on a fresh database; `allowed` are the origins that may embed the chat;
 * `heartbeatSecs` shortens the sockets' heartbeat (the session re-check) from 30 s;
 * `stepUpSecs` shortens how long a sign-in counts as recent for sensitive actions (300 s). */
// `port`: listen there (a port taken beforehand, when another server must know the hub's address
// first); `extra`: more TOML appended to the configuration file.
export async function startHub(backend, { allowed = [], bot = true, email = false, opensPerMinute = null, heartbeatSecs = null, stepUpSecs = null, port: chosenPort = null, extra = '' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-browser-'));
  let url;
  let schema = null;
  if (backend === 'postgres') {
    schema = `sbweb_${randomBytes(6).toString('hex')}`;
    psql(`CREATE SCHEMA ${schema}`);
    url = `${PG_BASE}${PG_BASE.includes('?') ? '&' : '?'}options=-c%20search_path%3D${schema}`;
  } else {
    url = `sqlite://${join(dir, 'switchboard.db')}`;
  }
  const port = chosenPort ?? (await freePort());
  const smtpPort = email ? await freePort() : null;
  const modelDir = process.env.SWITCHBOARD_MODEL_DIR ?? join(repo, 'models/all-MiniLM-L6-v2');
  writeFileSync(join(dir, 'switchboard.toml'), `
[server]
workers = 2
shutdown_timeout_secs = 2
${heartbeatSecs ? `heartbeat_secs = ${heartbeatSecs}\n` : ''}${stepUpSecs ? `[staff]\nstep_up_secs = ${stepUpSecs}\n` : ''}[demo]
enabled = true
[bot]
enabled = ${bot}
model_dir = ${JSON.stringify(modelDir)}
[secrets]
key_file = ${JSON.stringify(join(dir, 'secrets.key'))}
${opensPerMinute ? `[webchat]
opens_per_minute_per_address = ${opensPerMinute}
` : ''}[widget]
allowed_origins = ${JSON.stringify(allowed)}
title = "Soporte Switchboard"
${email ? `[email]
enabled = true
smtp_bind = "127.0.0.1:${smtpPort}"
addresses = ["${SUPPORT}"]
from_address = "${SUPPORT}"
` : ''}${extra}`);
  const log = [];
  const child = spawn(binary(), ['--config', join(dir, 'switchboard.toml'), 'serve', '--bind', `127.0.0.1:${port}`, '--database-url', url], {
    cwd: dir,
    // The hub's configuration is the file alone: SWITCHBOARD_* variables of the test run are not
    // the hub's settings (the hub refuses unknown ones).
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SWITCHBOARD_'))), RUST_LOG: process.env.RUST_LOG ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => log.push(String(d)));
  child.stderr.on('data', (d) => log.push(String(d)));
  const hubUrl = `http://127.0.0.1:${port}`;
  // The hub listens at once; the bot's vectors for the demo knowledge base are built in the
  // background (minutes for a debug build on a busy machine), and until then it answers by
  // keywords. The story is about the bot as it runs for good: wait, as a client would, on /readyz.
  const deadline = Date.now() + 420_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the hub exited: ${log.join('')}`);
    try {
      const ready = await (await fetch(`${hubUrl}/readyz`)).json();
      if (ready.status === 'ready' && ready.bot?.vectors !== 'building') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the hub did not get ready: ${log.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: hubUrl,
    log,
    smtpPort,
    /** Runs SQL in the hub's database (seeding what no API creates). */
    sql(statement) {
      if (schema) psql(`SET search_path TO ${schema}; ${statement}`);
      else execFileSync('sqlite3', [join(dir, 'switchboard.db'), `PRAGMA busy_timeout = 5000; ${statement}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      if (schema) psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function psql(sql) {
  const u = new URL(PG_BASE);
  execFileSync('psql', ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), '-d', u.pathname.slice(1), '-v', 'ON_ERROR_STOP=1', '-qc', sql], {
    env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core (WCAG 2.0/2.1 A and AA) in the page; fails on serious or critical violations. */
export async function axe(page, state) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const detail = bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(' | ')}`).join('\n');
  if (bad.length) throw new Error(`axe found serious/critical violations in ${state}:\n${detail}`);
  return result;
}

export async function shoot(page, name) {
  await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: false });
}

/** Calls the hub's API as `token` (a JSON body when given) and returns its JSON answer; any
 *  answer but a success fails the test with the method, path, status and body. */
export async function apiCall(hubUrl, token, method, path, body) {
  const r = await fetch(`${hubUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
  return r.json();
}

/** Signs in over the API (for checks the test makes beside the browser). */
export async function apiLogin(hubUrl, email) {
  const r = await fetch(`${hubUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'switchboard-demo' }),
  });
  if (!r.ok) throw new Error(`login ${r.status}`);
  return (await r.json()).token;
}

export const SUPPORT = 'support@demo.switchboard.local';

/** Sends `raw` (a whole mail, CRLF lines) to the hub's SMTP listener, as a mail server would. */
export function sendMail(port, from, raw) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const steps = ['EHLO mail.example.com', `MAIL FROM:<${from}>`, `RCPT TO:<${SUPPORT}>`, 'DATA', `${raw.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..')}\r\n.`, 'QUIT'];
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffer += chunk;
      // One reply at a time: its last line is "NNN text" (not "NNN-…").
      for (;;) {
        const lines = buffer.split('\r\n');
        const end = lines.findIndex((l) => /^\d{3} /.test(l));
        if (end < 0) return;
        const reply = lines[end];
        buffer = lines.slice(end + 1).join('\r\n');
        if (!/^[23]/.test(reply)) {
          socket.destroy();
          reject(new Error(`SMTP: ${reply}`));
          return;
        }
        const next = steps.shift();
        if (next === undefined) {
          socket.end();
          resolve();
          return;
        }
        socket.write(`${next}\r\n`);
      }
    });
    socket.on('error', reject);
  });
}

/** Signs in through the page at `path` (`/supervisor`, `/trainer`, `/admin` or `/`) as a demo
 * staff member and waits for the page's first heading after the sign-in form. */
export async function openConsole(page, hubUrl, path, email) {
  await page.goto(`${hubUrl}${path}`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('switchboard-demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Sign in to Switchboard' }).waitFor({ state: 'detached' });
}

/** Starts measuring frame work in the page: from each frame's start (its rAF timestamp) to just
 * after it painted (a message posted from rAF runs after style, layout and paint), and counts
 * long animation frames. */
export async function startFrameMeter(page) {
  await page.evaluate(() => {
    window.__frames = [];
    window.__loaf = 0;
    try {
      new PerformanceObserver((l) => { window.__loaf += l.getEntries().length; }).observe({ type: 'long-animation-frame' });
    } catch { /* not supported */ }
    const channel = new MessageChannel();
    let start = 0;
    channel.port1.onmessage = () => window.__frames.push(performance.now() - start);
    const loop = (ts) => {
      start = ts;
      channel.port2.postMessage(0);
      if (!window.__stop) requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  });
}

/** Stops the meter: how many frames were counted (the first five left out), their p95 and max
 * frame work in ms, and the long animation frames. */
export async function stopFrameMeter(page) {
  const { times, loaf } = await page.evaluate(() => { window.__stop = true; return { times: window.__frames, loaf: window.__loaf }; });
  const sorted = times.slice(5).sort((a, b) => a - b);
  return { frames: sorted.length, p95: sorted[Math.floor(sorted.length * 0.95)], max: sorted[sorted.length - 1], loaf };
}

/** Prints where a Chromium trace's time went (the 15 longest kinds of event) and returns its events. */
export function traceTotals(path) {
  const events = JSON.parse(readFileSync(path, 'utf8')).traceEvents;
  const totals = {};
  for (const e of events) {
    if (e.ph === 'X' && e.dur) totals[e.name] = (totals[e.name] ?? 0) + e.dur / 1000;
  }
  console.log(Object.entries(totals).sort((a, b) => b[1] - a[1]).slice(0, 15).map(([n, ms]) => `${n}: ${ms.toFixed(0)} ms`).join('\n'));
  return events;
}
