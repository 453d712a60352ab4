// What every page script of tests/pages shares (issue 18): chromium driven by playwright-core,
// axe-core, a time budget, named steps with screenshots, and clients of the two services' APIs.
//
//   import { harness, queueApi, reservationApi } from './harness.mjs';
//   const h = harness({ name: 'admin', vars: ['CHROMIUM', ...], budgetMs: 120_000, snapshot });
//   const q = queueApi(h, h.env.QUEUE_URL, h.env.ADMIN_KEY);
//   await h.run(async () => { await h.step('name', { needs: [] }, async (s) => { ... }); });
//
// harness(options) checks the environment variables `vars` (a missing one: `not ok - setup`, exit 2;
// CHROMIUM, PAGES_NODE_MODULES and OUT_DIR are always needed), loads playwright-core and axe-core
// from PAGES_NODE_MODULES (no NODE_PATH), and returns:
//   env                        the variables read
//   sleep, left, bounded       time: `left()` of the budget, `bounded(ms)` cuts a wait to it
//   until(what, ms, probe)     polls probe (→ {ok, seen}) until ok; throws with the last `seen`
//   newContext(opts), newPage(context, label)
//                              a browser context (locale ko-KR unless given, bounded timeouts) and
//                              a page whose errors, console errors/warnings and failed requests go
//                              to the page log (printed under a failing step)
//   axeCheck(page)             axe.run(); throws on serious/critical violations, returns the rest
//   step(name, {needs}, body)  runs body(s) with s = {page, notes}: prints `ok - name (ms)` or
//                              `not ok - name: reason` (with `snapshot(s.page)` and the page log),
//                              fails it when the page's CSP refused something, and screenshots
//                              s.page into OUT_DIR/NN-name.png
//   shot(page, suffix)         an extra screenshot OUT_DIR/NN-suffix.png under the current step
//   show(value)                JSON with long strings cut (for messages)
//   onCleanup(fn)              run by closeAll after the browser is closed (bounded to 2 s)
//   run(main, {banner})        launches chromium (CHROMIUM_ARGS), runs main(browser), arms the
//                              watchdog (budget + 5 s), closes everything, prints the summary line
//                              `# name: N ok, M not ok, T ms` and exits 0 only when every step passed
//   results                    Map step name → passed
// and claimsOf(jwt), expectEqual(what, actual, expected), CHROMIUM_ARGS are exported as well.
//
// queueApi(h, baseUrl, adminKey, {prefix}) → the queue-server's API (proto-notes/queue-server.md):
//   api(method, route, body, {admin, expect}), createQueue(name, {rate, maxActive, status,
//   sessionTtlSec, settings}) (settings: more of the PUT body; id `${run}-${name}`, deleted at the end), setStatus, joinFan, joinFans, leaveFan,
//   queueInfo, listQueues, deleteQueue, poll(id, entryId), admit(id, userId, ms) (join and poll until
//   admitted → the admission token), pageUrl(id, params), track(id) (delete a queue made through a
//   page at the end too), run (the run's unique prefix), created.
// reservationApi(h, baseUrl, adminKey) → the reservation-api's API (proto-notes/reservation-api.md):
//   api(method, route, body, {admin, token, headers, expect}), createEvent(body), track(eventId),
//   events(), event(id), sales(id), hold(token, eventId, seatIds), seats(eventId, query),
//   pay(token, reservation, sandboxUrl) (the sandbox's widget step, then POST /v1/api/payments),
//   closeEvent(id). Events cannot be deleted: the ones made or tracked are closed at the end.
// readEnv(names) is exported too (the harness uses it for `vars`).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// What Debian's chromium needs on these machines (as root, no GPU, no network but loopback);
// Playwright adds a fresh --user-data-dir itself.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Loopback only: a proxy from the environment must not see the test's requests.
  '--no-proxy-server',
];

export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

export function expectEqual(what, actual, expected) {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

export const show = (snap) =>
  JSON.stringify(snap, (k, v) => (typeof v === 'string' && v.length > 80 ? `${v.slice(0, 77)}...` : v));

const firstLine = (e) => String(e?.message ?? e).split('\n')[0];

/** Reads `names` from the environment; a missing one ends the process (exit 2). */
export function readEnv(names) {
  const env = {};
  for (const name of names) {
    env[name] = process.env[name];
    if (!env[name]) {
      console.log(`not ok - setup: the environment variable ${name} is not set`);
      process.exit(2);
    }
  }
  return env;
}

export function harness({ name, vars = [], budgetMs = 120_000, snapshot = null } = {}) {
  const started = Date.now();
  const deadline = started + budgetMs;
  const env = readEnv([...new Set(['CHROMIUM', 'PAGES_NODE_MODULES', 'OUT_DIR', ...vars])]);
  const MODULES = env.PAGES_NODE_MODULES;
  // No NODE_PATH: the packages are loaded from the absolute directory .ci/playwright.sh installed.
  let AXE_SOURCE, chromium;
  try {
    AXE_SOURCE = fs.readFileSync(path.join(MODULES, 'axe-core', 'axe.min.js'), 'utf8');
    ({ chromium } = createRequire(import.meta.url)(path.join(MODULES, 'playwright-core')));
    fs.mkdirSync(env.OUT_DIR, { recursive: true });
  } catch (e) {
    console.log(`not ok - setup: ${firstLine(e)} (run .ci/playwright.sh)`);
    process.exit(2);
  }

  // --- Time: every wait is cut to what is left of the budget.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const left = () => deadline - Date.now();
  const bounded = (ms) => Math.max(1, Math.min(ms, left()));

  /** Polls `probe` (→ {ok, seen}) until ok, for at most `ms`; throws with what was last seen. */
  async function until(what, ms, probe) {
    const end = Date.now() + bounded(ms);
    for (;;) {
      const last = await probe();
      if (last.ok) return last;
      if (Date.now() >= end) {
        throw new Error(`${what}: not within ${ms} ms (last seen: ${last.seen})`);
      }
      await sleep(40);
    }
  }

  // --- Browser, pages, and what they log (printed under a failing step).
  let browser;
  const contexts = [];
  const pageLog = [];
  const cleanups = [];

  async function newContext(options = {}) {
    const context = await browser.newContext({ locale: 'ko-KR', ...options });
    context.setDefaultTimeout(bounded(10_000));
    context.setDefaultNavigationTimeout(bounded(15_000));
    contexts.push(context);
    return context;
  }

  async function newPage(context, label) {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageLog.push(`${label}: page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        pageLog.push(`${label}: console ${m.type()}: ${m.text()}`);
    });
    page.on('requestfailed', (r) =>
      pageLog.push(`${label}: request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`),
    );
    return page;
  }

  /** `axe.run()` on the page; fails on any serious or critical violation (all are printed). */
  async function axeCheck(page) {
    // Evaluated over the DevTools protocol, as @axe-core/playwright does: the page's
    // Content-Security-Policy (inline scripts by hash only) refuses an injected <script> tag
    // (page.addScriptTag), and bypassCSP would hide what the policy does to the page's own script.
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
    const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const lines = results.violations.map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} (${v.nodes.length} node${v.nodes.length === 1 ? '' : 's'}: ` +
        `${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(', ')})`,
    );
    const blocking = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (blocking.length > 0) {
      throw new Error(`${blocking.length} serious or critical axe violation(s):\n${lines.join('\n')}`);
    }
    return lines.map((l) => `axe (not blocking): ${l}`);
  }

  // --- Steps: each is named, timed, screenshotted (OUT_DIR/NN-name.png), and may need earlier ones.
  const results = new Map();
  let stepNo = 0;
  const number = () => String(stepNo).padStart(2, '0');

  /** An extra screenshot of the current step: OUT_DIR/NN-suffix.png. */
  function shot(page, suffix) {
    return page.screenshot({
      path: path.join(env.OUT_DIR, `${number()}-${suffix}.png`),
      fullPage: true,
      timeout: bounded(5_000),
    });
  }

  async function step(stepName, { needs = [] } = {}, body) {
    stepNo += 1;
    const no = number();
    const missing = needs.filter((n) => results.get(n) !== true);
    if (missing.length > 0) {
      results.set(stepName, false);
      console.log(`not ok - ${stepName}: not run, needs ${missing.join(', ')}`);
      return;
    }
    if (left() <= 0) {
      results.set(stepName, false);
      console.log(`not ok - ${stepName}: not run, the ${budgetMs / 1000} s budget is spent`);
      return;
    }
    const t0 = Date.now();
    const logFrom = pageLog.length;
    const s = { page: null, notes: [] };
    try {
      await body(s);
      // The page's own Content-Security-Policy must allow everything the page does.
      const refused = pageLog.slice(logFrom).filter((l) => /Content Security Policy/i.test(l));
      if (refused.length > 0) throw new Error(`the page's CSP refused something:\n${refused.join('\n')}`);
      results.set(stepName, true);
      console.log(`ok - ${stepName} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.set(stepName, false);
      const [first, ...rest] = String(e?.message ?? e).split('\n');
      console.log(`not ok - ${stepName}: ${first}`);
      for (const line of rest.filter((l) => l.trim()).slice(0, 20)) console.log(`  # ${line}`);
      if (s.page && snapshot) {
        const snap = await Promise.resolve()
          .then(() => snapshot(s.page))
          .catch(() => null);
        if (snap) console.log(`  # page ${s.page.url()}: ${show(snap)}`);
      }
      for (const line of pageLog.slice(logFrom, logFrom + 20)) console.log(`  # ${line}`);
    }
    for (const note of s.notes) console.log(`  # ${note}`);
    if (s.page && !s.page.isClosed()) {
      const file = path.join(env.OUT_DIR, `${no}-${stepName}.png`);
      await s.page
        .screenshot({ path: file, fullPage: true, timeout: bounded(5_000) })
        .catch((e) => console.log(`  # no screenshot ${file}: ${firstLine(e)}`));
    }
  }

  // --- The end: close the browser, then the scripts' own cleanups; each bounded.
  const onCleanup = (fn) => cleanups.push(fn);

  async function closeAll() {
    await Promise.race([
      (async () => {
        for (const context of contexts) await context.close().catch(() => {});
        await browser?.close().catch(() => {});
      })(),
      sleep(5_000),
    ]);
    await Promise.race([Promise.all(cleanups.map((fn) => Promise.resolve().then(fn).catch(() => {}))), sleep(2_000)]);
  }

  async function run(main, { banner = '' } = {}) {
    const watchdog = setTimeout(async () => {
      console.log(`not ok - budget: the run took over ${budgetMs / 1000} s`);
      await closeAll();
      process.exit(1);
    }, budgetMs + 5_000);
    let code = 0;
    try {
      browser = await chromium.launch({
        executablePath: env.CHROMIUM,
        args: CHROMIUM_ARGS,
        timeout: bounded(30_000),
      });
      console.log(
        `# chromium ${browser.version()}${banner ? `, ${banner}` : ''}, screenshots in ${env.OUT_DIR}`,
      );
      await main(browser);
    } catch (e) {
      console.log(`not ok - setup: ${firstLine(e)}`);
      code = 1;
    } finally {
      await closeAll();
      clearTimeout(watchdog);
    }
    const passed = [...results.values()].filter(Boolean).length;
    const failed = results.size - passed;
    console.log(`# ${name}: ${passed} ok, ${failed} not ok, ${Date.now() - started} ms`);
    process.exit(code !== 0 || failed > 0 ? 1 : 0);
  }

  return {
    env,
    started,
    deadline,
    budgetMs,
    sleep,
    left,
    bounded,
    until,
    newContext,
    newPage,
    axeCheck,
    step,
    shot,
    show,
    onCleanup,
    closeAll,
    run,
    results,
    pageLog,
    claimsOf,
    expectEqual,
    get browser() {
      return browser;
    },
    get stepNo() {
      return stepNo;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// JSON over HTTP, bounded by the budget; `expect` lists the statuses that do not throw.

async function call(h, base, method, route, body, { authorization, headers: extra = {}, expect } = {}) {
  const headers = { accept: 'application/json', ...extra };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (authorization) headers.authorization = authorization;
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(h.bounded(10_000)),
  });
  const text = await response.text();
  if (expect && !expect.includes(response.status)) {
    throw new Error(`${method} ${base}${route} answered ${response.status} (expected ${expect}): ${text}`);
  }
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

const trim = (url) => String(url).replace(/\/+$/, '');

/** The queue-server's API (proto-notes/queue-server.md); queues made here are deleted at the end. */
export function queueApi(h, baseUrl, adminKey, { prefix = 'pages' } = {}) {
  const base = trim(baseUrl);
  const run = `${prefix}-${Date.now().toString(36)}`;
  const created = [];

  const api = (method, route, body, { admin = false, expect } = {}) =>
    call(h, base, method, route, body, { authorization: admin ? `Bearer ${adminKey}` : undefined, expect });

  async function createQueue(name, { rate, maxActive, status = 'paused', sessionTtlSec = 600, settings = {} }) {
    const id = `${run}-${name}`;
    await api(
      'PUT',
      `/v1/api/queues/${id}`,
      { admissionRatePerSec: rate, maxActive, sessionTtlSec, status, ...settings },
      { admin: true, expect: [201] },
    );
    created.push(id);
    return id;
  }
  const setStatus = (id, status) =>
    api('PATCH', `/v1/api/queues/${id}/status`, { status }, { admin: true, expect: [200] });
  const joinFan = async (id, userId) =>
    (await api('POST', `/v1/api/queues/${id}/entries`, { userId }, { expect: [200, 201] })).body;
  const leaveFan = (id, entryId) =>
    api('DELETE', `/v1/api/queues/${id}/entries/${entryId}`, undefined, { expect: [204] });
  const queueInfo = async (id) => (await api('GET', `/v1/api/queues/${id}`, undefined, { expect: [200] })).body;
  const listQueues = async () =>
    (await api('GET', '/v1/api/queues', undefined, { admin: true, expect: [200] })).body.queues;
  const deleteQueue = (id) => api('DELETE', `/v1/api/queues/${id}`, undefined, { admin: true, expect: [204, 404] });
  const poll = async (id, entryId) =>
    (await api('GET', `/v1/api/queues/${id}/entries/${entryId}`, undefined, { expect: [200] })).body;

  /** Joins `count` fans named `prefix-N` in order, each acknowledged before the next. */
  async function joinFans(id, namePrefix, count) {
    const entries = [];
    for (let n = 1; n <= count; n++) entries.push(await joinFan(id, `${namePrefix}-${n}`));
    return entries;
  }

  /** Joins and polls until admitted (the queue must be open); returns the admission token. */
  async function admit(id, userId, ms = 10_000) {
    let entry = await joinFan(id, userId);
    if (entry.admissionToken) return entry.admissionToken;
    const { last } = await h.until(`${userId} admitted to ${id}`, ms, async () => {
      const now = await poll(id, entry.entryId);
      return { ok: now.status === 'admitted', seen: JSON.stringify(now), last: now };
    });
    return last.admissionToken;
  }

  const pageUrl = (id, params = {}) => {
    const url = new URL(`${base}/queues/${encodeURIComponent(id)}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.href;
  };

  /** Marks a queue made elsewhere (through a page) for deletion at the end. */
  const track = (id) => {
    if (!created.includes(id)) created.push(id);
  };

  h.onCleanup(() => Promise.all(created.map((id) => deleteQueue(id).catch(() => {}))));

  return {
    base,
    run,
    created,
    api,
    createQueue,
    setStatus,
    joinFan,
    joinFans,
    leaveFan,
    queueInfo,
    listQueues,
    deleteQueue,
    poll,
    admit,
    pageUrl,
    track,
  };
}

/** The reservation-api's API (proto-notes/reservation-api.md). Events cannot be deleted: the
 * ones made here are closed at the end (PATCH status closed). */
export function reservationApi(h, baseUrl, adminKey) {
  const base = trim(baseUrl);
  const made = [];

  const api = (method, route, body, { admin = false, token, headers, expect } = {}) =>
    call(h, base, method, route, body, {
      authorization: admin ? `Bearer ${adminKey}` : token ? `Bearer ${token}` : undefined,
      headers,
      expect,
    });

  async function createEvent(body) {
    const event = (await api('POST', '/v1/api/events', body, { admin: true, expect: [201] })).body;
    made.push(event.eventId);
    return event;
  }
  const track = (eventId) => {
    if (!made.includes(eventId)) made.push(eventId);
  };
  const events = async () =>
    (await api('GET', '/v1/api/events?limit=100', undefined, { admin: true, expect: [200] })).body.events;
  const event = async (id) => (await api('GET', `/v1/api/events/${id}`, undefined, { admin: true, expect: [200] })).body;
  const sales = async (id) =>
    (await api('GET', `/v1/api/events/${id}/sales`, undefined, { admin: true, expect: [200] })).body;
  const seats = async (eventId, query = '') =>
    (await api('GET', `/v1/api/events/${eventId}/seats${query}`, undefined, { admin: true, expect: [200] })).body;
  const closeEvent = (id) =>
    api('PATCH', `/v1/api/events/${id}/status`, { status: 'closed' }, { admin: true, expect: [200] });

  /** Holds seats with an admission token → the reservation. */
  const hold = async (token, eventId, seatIds) =>
    (await api('POST', '/v1/api/reservations', { eventId, seatIds }, { token, expect: [201] })).body;

  /** Pays a held reservation: the sandbox's widget step gives a paymentKey, then Ticketon's
   * POST /v1/api/payments confirms it → {payment, tickets, accessToken}. */
  async function pay(token, reservation, sandboxUrl) {
    const widget = await call(
      h,
      trim(sandboxUrl),
      'POST',
      '/v1/sandbox/payments',
      { orderId: reservation.reservationId, amount: reservation.amount },
      { expect: [200] },
    );
    return (
      await api(
        'POST',
        '/v1/api/payments',
        { reservationId: reservation.reservationId, paymentKey: widget.body.paymentKey, amount: reservation.amount },
        { token, expect: [201] },
      )
    ).body;
  }

  h.onCleanup(() => Promise.all(made.map((id) => closeEvent(id).catch(() => {}))));

  return { base, made, api, createEvent, track, events, event, sales, seats, closeEvent, hold, pay };
}
