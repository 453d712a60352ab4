// The operator's console (`GET /admin` on the queue-server) in a real browser: Debian's chromium
// driven by playwright-core, axe-core on every state of the page (issue 18).
//
//   node tests/pages/admin.mjs
//
// Environment:
//   CHROMIUM            the chromium executable (/usr/bin/chromium)
//   PAGES_NODE_MODULES  the node_modules directory holding playwright-core and axe-core
//   QUEUE_URL           the queue-server, e.g. http://127.0.0.1:8082
//   RESERVATION_URL     the reservation-api, e.g. http://127.0.0.1:8080
//   ADMIN_KEY           the admin key of both
//   OUT_DIR             where each step's screenshot goes (NN-name.png)
//   SANDBOX_URL         optional: the Toss sandbox (else the origin of the reservation-api's /v1/api/site widgetUrl)
//
// The operator logs in (a wrong key first), creates and edits a queue, watches its live numbers
// while fans join and are admitted through the API, pauses it (a fan's waiting room must show it
// within 1 s of the click), opens it, closes it through the confirmation dialog, creates an event
// of two sections and watches its sales move while a fan holds and pays for seats through the API,
// sees the (empty) payments list, switches to English, and is sent back to the login form when the
// key is refused. Every step prints `ok - name (ms)` or `not ok - name: reason`; exit code 0 only
// when all passed. Every wait is bounded, and the whole run by the 120 s budget.

import { harness, queueApi, reservationApi, expectEqual, show } from './harness.mjs';

const h = harness({
  name: 'admin',
  vars: ['CHROMIUM', 'PAGES_NODE_MODULES', 'QUEUE_URL', 'RESERVATION_URL', 'ADMIN_KEY', 'OUT_DIR'],
  budgetMs: 120_000,
  snapshot,
});
const { env, sleep, until, newContext, newPage, axeCheck, step } = h;
const QUEUE_URL = env.QUEUE_URL.replace(/\/+$/, '');
const q = queueApi(h, QUEUE_URL, env.ADMIN_KEY, { prefix: 'admin' });
const r = reservationApi(h, env.RESERVATION_URL, env.ADMIN_KEY);
const ADMIN = `${QUEUE_URL}/admin`;
const HANGUL = /[\u3131-\uD79D]/;

// What the failure output shows: the console's state, or a waiting room's.
const focus = { queue: null, event: null };

function snapshot(page) {
  return page.evaluate((focus) => {
    const el = (id) => document.getElementById(id);
    const text = (id) => (el(id) ? el(id).textContent.replace(/\s+/g, ' ').trim() : null);
    if (el('queue-state')) {
      return { page: 'waiting room', state: el('queue-state').dataset.state, status: el('status')?.dataset.status };
    }
    const visible = (id) => !!el(id) && el(id).checkVisibility();
    const row = (sel) => {
      const tr = document.querySelector(sel);
      if (!tr) return null;
      const o = {};
      for (const c of tr.querySelectorAll('[data-field]')) o[c.dataset.field] = c.dataset.value ?? c.dataset.state;
      return o;
    };
    return {
      lang: document.documentElement.lang,
      login: visible('login'),
      console: visible('console'),
      loginError: text('login-error'),
      message: `${el('message')?.dataset.kind}: ${text('message')}`,
      queueForm: `${el('queue-form')?.dataset.mode}: ${text('queue-form-msg')}`,
      eventForm: text('event-form-msg'),
      dialog: !!el('close-dialog')?.open,
      queue: focus.queue && row(`#queues-body tr[data-queue-id="${focus.queue}"]`),
      event: focus.event && row(`#events-body tr[data-event-id="${focus.event}"]`),
      errors: [text('queues-msg'), text('events-msg'), text('payments-msg')].filter(Boolean).join(' | '),
    };
  }, focus);
}

/** The console's row of a queue: {field: data-value or data-state, buttons: {action: enabled}}. */
function queueRow(page, id) {
  return page.evaluate((id) => {
    const tr = [...document.querySelectorAll('#queues-body tr')].find((t) => t.dataset.queueId === id);
    if (!tr) return null;
    const o = { buttons: {} };
    for (const c of tr.querySelectorAll('[data-field]')) {
      o[c.dataset.field] = c.dataset.field === 'status' ? c.dataset.state : c.dataset.value;
      o[`${c.dataset.field}Text`] = c.textContent.trim();
    }
    for (const b of tr.querySelectorAll('button[data-action]')) o.buttons[b.dataset.action] = !b.disabled;
    return o;
  }, id);
}

function eventRow(page, id) {
  return page.evaluate((id) => {
    const tr = [...document.querySelectorAll('#events-body tr')].find((t) => t.dataset.eventId === id);
    if (!tr) return null;
    const o = {
      name: tr.querySelector('th').firstChild.textContent,
      picker: tr.querySelector('a.picker-link')?.href,
      queueLink: tr.querySelector('a.queue-link')?.href,
      text: tr.textContent.replace(/\s+/g, ' ').trim(),
    };
    for (const c of tr.querySelectorAll('[data-field]')) {
      o[c.dataset.field] = c.dataset.value ?? c.dataset.state;
      o[`${c.dataset.field}Text`] = c.textContent.trim();
    }
    return o;
  }, id);
}

/** Waits until `check(value)` holds for `read()`; returns the value. */
async function waitFor(what, ms, read, check) {
  const { value } = await until(what, ms, async () => {
    const value = await read().catch((e) => ({ error: String(e.message).split('\n')[0] }));
    return { ok: !!value && !value.error && check(value), seen: show(value), value };
  });
  return value;
}

const rowSel = (id) => `#queues-body tr[data-queue-id="${id}"]`;
const stored = (page) => page.evaluate(() => sessionStorage.getItem('ticketon.admin.key'));

async function openConsole(page) {
  const response = await page.goto(ADMIN);
  const type = response?.headers()['content-type'] ?? '';
  if (!response?.ok() || !type.startsWith('text/html')) {
    throw new Error(`GET ${ADMIN} answered ${response?.status()} ${type}, not an HTML page`);
  }
}

async function main() {
  const c = {}; // the operator's console
  const fan = {}; // a fan's waiting room

  await step('login-refused-with-a-wrong-key', {}, async (s) => {
    c.context = await newContext({ locale: 'ko-KR' });
    c.page = s.page = await newPage(c.context, 'console');
    // The page logs a 403 of the refused key as a console error: expected here, not a fault.
    await openConsole(c.page);
    let snap = await waitFor('the login form', 5_000, () => snapshot(c.page), (p) => p.login && !p.console);
    expectEqual('html lang', snap.lang, 'ko');
    s.notes.push(...(await axeCheck(c.page)));
    await c.page.fill('#admin-key', `${env.ADMIN_KEY}-wrong`);
    await c.page.click('#login-form button[type=submit]');
    snap = await waitFor('#login-error', 5_000, () => snapshot(c.page), (p) => !!p.loginError);
    if (snap.console) throw new Error('the console shows after a wrong key');
    if (!HANGUL.test(snap.loginError)) throw new Error(`#login-error is not Korean: ${snap.loginError}`);
    expectEqual('the stored key', await stored(c.page), null);
    s.notes.push(`refused: "${snap.loginError}"`);
    s.notes.push(...(await axeCheck(c.page)));
  });

  await step('login-with-the-admin-key', { needs: ['login-refused-with-a-wrong-key'] }, async (s) => {
    s.page = c.page;
    await c.page.fill('#admin-key', env.ADMIN_KEY);
    await c.page.press('#admin-key', 'Enter'); // the keyboard submits the form
    await waitFor('the console', 5_000, () => snapshot(c.page), (p) => p.console && !p.login);
    await waitFor(
      'the queues table refreshed twice',
      5_000,
      () => c.page.evaluate(() => Number(document.getElementById('queues-table').dataset.updated || 0)),
      (first) => first > 0,
    );
    const t1 = await c.page.evaluate(() => Number(document.getElementById('queues-table').dataset.updated));
    await waitFor(
      'a second refresh within 2 s',
      2_000,
      () => c.page.evaluate(() => Number(document.getElementById('queues-table').dataset.updated)),
      (t) => t > t1,
    );
    expectEqual('the stored key', await stored(c.page), env.ADMIN_KEY);
    await waitFor(
      'the events and payments loaded',
      5_000,
      () =>
        c.page.evaluate(() => ({
          events: document.getElementById('events-table').dataset.updated,
          payments: document.getElementById('payments-table').dataset.updated,
        })),
      (p) => !!p.events && !!p.payments,
    );
    s.notes.push(...(await axeCheck(c.page)));
  });

  const id = `${q.run}-console`;
  focus.queue = id;
  await step('queue-created-in-the-console', { needs: ['login-with-the-admin-key'] }, async (s) => {
    s.page = c.page;
    q.track(id);
    await c.page.fill('#q-id', id);
    await c.page.fill('#q-rate', '5');
    await c.page.fill('#q-max', '60');
    await c.page.fill('#q-ttl', '600');
    await c.page.selectOption('#q-status', 'paused');
    await c.page.click('#queue-submit');
    const row = await waitFor('the new row', 3_000, () => queueRow(c.page, id), (r) => r.status === 'paused');
    expectEqual('configured rate', row.configured, '5');
    expectEqual('max active', row.max, '60');
    expectEqual('waiting', row.waiting, '0');
    expectEqual('buttons', JSON.stringify(row.buttons), JSON.stringify({ pause: false, open: true, close: true, edit: true }));
    const info = await q.queueInfo(id);
    expectEqual('the API: status', info.status, 'paused');
    expectEqual('the API: rate', info.admissionRatePerSec, 5);
    // The same id again is refused in the page, without a PUT that would change it.
    await c.page.fill('#q-id', id);
    await c.page.fill('#q-rate', '7');
    await c.page.click('#queue-submit');
    await waitFor('the "exists" message', 2_000, () => snapshot(c.page), (p) => p.queueForm.includes(id));
    expectEqual('the API: rate after a second create', (await q.queueInfo(id)).admissionRatePerSec, 5);
    s.notes.push(...(await axeCheck(c.page)));
  });

  await step('edit-shows-the-api-error', { needs: ['queue-created-in-the-console'] }, async (s) => {
    s.page = c.page;
    await c.page.click(`${rowSel(id)} [data-action=edit]`);
    await waitFor('edit mode', 2_000, () => c.page.evaluate(() => document.getElementById('queue-form').dataset.mode), (m) => m === 'edit');
    expectEqual('#q-id read-only', await c.page.evaluate(() => document.getElementById('q-id').readOnly), true);
    expectEqual('focus on the rate', await c.page.evaluate(() => document.activeElement?.id), 'q-rate');
    s.notes.push(...(await axeCheck(c.page)));
    await c.page.fill('#q-rate', '0');
    await c.page.click('#queue-submit');
    const api = await q.api('PUT', `/v1/api/queues/${id}`, { admissionRatePerSec: 0, maxActive: 60, sessionTtlSec: 600 }, { admin: true });
    const message = api.body?.error?.message;
    if (api.status !== 400 || !message) throw new Error(`the API accepted rate 0: ${api.status} ${JSON.stringify(api.body)}`);
    const snap = await waitFor('the API message in #queue-form-msg', 3_000, () => snapshot(c.page), (p) => p.queueForm.includes(message));
    s.notes.push(`shown: ${snap.queueForm}`);
    expectEqual('the API: rate unchanged', (await q.queueInfo(id)).admissionRatePerSec, 5);
  });

  await step('edit-the-rate', { needs: ['edit-shows-the-api-error'] }, async (s) => {
    s.page = c.page;
    await c.page.fill('#q-rate', '20');
    await c.page.click('#queue-submit');
    const row = await waitFor('configured 20', 3_000, () => queueRow(c.page, id), (r) => r.configured === '20');
    expectEqual('max active kept', row.max, '60');
    expectEqual('status kept', row.status, 'paused');
    const info = await q.queueInfo(id);
    expectEqual('the API: rate', info.admissionRatePerSec, 20);
    expectEqual('the API: status kept', info.status, 'paused');
    expectEqual('back in create mode', await c.page.evaluate(() => document.getElementById('queue-form').dataset.mode), 'create');
  });

  await step('waiting-goes-up-as-fans-join', { needs: ['queue-created-in-the-console'] }, async (s) => {
    s.page = c.page;
    const t0 = Date.now();
    await q.joinFans(id, 'fan', 60);
    const row = await waitFor('waiting 60', 3_000, () => queueRow(c.page, id), (r) => r.waiting === '60');
    s.notes.push(`waiting 60 shown ${Date.now() - t0} ms after the first join (60 joins)`);
    expectEqual('active', row.active, '0');
    expectEqual('admitted total', row.admitted, '0');
    expectEqual('waiting, formatted', row.waitingText, '60');
  });

  await step('admissions-move-the-numbers', { needs: ['waiting-goes-up-as-fans-join'] }, async (s) => {
    s.page = c.page;
    await c.page.click(`${rowSel(id)} [data-action=open]`);
    // 60 fans at 20/s: about 3 s of admissions; the achieved rate is the admittedTotal delta over ~5 s.
    let best = 0;
    const row = await waitFor('all 60 admitted', 8_000, async () => {
      const row = await queueRow(c.page, id);
      if (row && row.rate !== '') best = Math.max(best, Number(row.rate));
      return row;
    }, (r) => r.admitted === '60' && r.waiting === '0' && r.active === '60');
    await waitFor('an achieved rate above 0', 3_000, () => queueRow(c.page, id), (r) => {
      if (r.rate !== '') best = Math.max(best, Number(r.rate));
      return best > 0;
    });
    s.notes.push(`achieved rate seen up to ${best}/s (configured 20/s); state ${row.status}`);
    expectEqual('status', row.status, 'open');
    if (best > 20 * 1.5) throw new Error(`the achieved rate ${best}/s is far over the configured 20/s`);
    s.notes.push(...(await axeCheck(c.page)));
  });

  // A fan waits at the front (all 60 slots are busy): an operator's pause shows on the fan's page.
  await step('pause-shows-on-a-fan-page-within-1s', { needs: ['admissions-move-the-numbers'] }, async (s) => {
    fan.context = await newContext({ locale: 'ko-KR' });
    fan.page = s.page = await newPage(fan.context, 'fan');
    await fan.page.goto(q.pageUrl(id, { user: 'fan-watching' }));
    await waitFor(
      'the fan waiting, state open',
      8_000,
      () => fan.page.evaluate(() => ({ state: document.getElementById('queue-state')?.dataset.state, pos: document.getElementById('position')?.textContent, transport: document.getElementById('transport')?.dataset.transport })),
      (p) => p.state === 'open' && /^\d+$/.test(p.pos ?? '') && !!p.transport,
    );
    await fan.page.evaluate(() => {
      const el = document.getElementById('queue-state');
      window.__stateSeen = [];
      new MutationObserver(() => window.__stateSeen.push([el.dataset.state, Date.now()])).observe(el, {
        attributes: true,
        attributeFilter: ['data-state'],
      });
    });
    const clicked = Date.now();
    await c.page.click(`${rowSel(id)} [data-action=pause]`);
    const seen = await waitFor(
      'data-state=paused on the fan page',
      3_000,
      () => fan.page.evaluate(() => window.__stateSeen),
      (list) => list.some(([st]) => st === 'paused'),
    );
    const at = seen.find(([st]) => st === 'paused')[1];
    s.notes.push(`the fan page showed paused ${at - clicked} ms after the click (transport ${await fan.page.evaluate(() => document.getElementById('transport').dataset.transport)})`);
    if (at - clicked > 1000) throw new Error(`data-state=paused shown ${at - clicked} ms after the click (over 1000 ms)`);
    await waitFor('the console row paused', 2_000, () => queueRow(c.page, id), (r) => r.status === 'paused');
    expectEqual('the API: status', (await q.queueInfo(id)).status, 'paused');
    await h.shot(c.page, 'console-paused');
    fan.ok = true;
  });

  await step('open-again', { needs: ['queue-created-in-the-console'] }, async (s) => {
    s.page = c.page;
    if ((await queueRow(c.page, id))?.status !== 'paused') {
      await q.setStatus(id, 'paused'); // the pause step did not get there
      await waitFor('the row paused', 3_000, () => queueRow(c.page, id), (r) => r.status === 'paused');
    }
    await c.page.click(`${rowSel(id)} [data-action=open]`);
    const row = await waitFor('the console row open', 2_000, () => queueRow(c.page, id), (r) => r.status === 'open');
    expectEqual('buttons', JSON.stringify(row.buttons), JSON.stringify({ pause: true, open: false, close: true, edit: true }));
    expectEqual('the API: status', (await q.queueInfo(id)).status, 'open');
    if (fan.ok) {
      await waitFor('the fan page open', 2_000, () => fan.page.evaluate(() => document.getElementById('queue-state').dataset.state), (st) => st === 'open');
    }
    // Focus stays on a usable button: the Open button just went disabled.
    const focused = await c.page.evaluate(() => document.activeElement?.dataset?.action ?? document.activeElement?.tagName);
    s.notes.push(`focus after opening: ${focused}`);
  });

  await step('close-asks-for-confirmation', { needs: ['open-again'] }, async (s) => {
    s.page = c.page;
    const dialog = () => c.page.evaluate(() => {
      const d = document.getElementById('close-dialog');
      return { open: d.open, modal: d.matches(':modal'), queue: document.getElementById('close-dialog-queue').textContent, focus: document.activeElement?.id };
    });
    await c.page.click(`${rowSel(id)} [data-action=close]`);
    let d = await waitFor('the dialog', 2_000, dialog, (x) => x.open);
    expectEqual('modal', d.modal, true);
    expectEqual('the queue named', d.queue, id);
    expectEqual('focus on cancel', d.focus, 'close-cancel');
    s.notes.push(...(await axeCheck(c.page)));
    await h.shot(c.page, 'close-dialog');
    // Cancel: nothing changes.
    await c.page.click('#close-cancel');
    await waitFor('the dialog closed', 2_000, dialog, (x) => !x.open);
    await sleep(400);
    expectEqual('the API after cancel', (await q.queueInfo(id)).status, 'open');
    expectEqual('the row after cancel', (await queueRow(c.page, id)).status, 'open');
    // Escape is a cancel too.
    await c.page.click(`${rowSel(id)} [data-action=close]`);
    await waitFor('the dialog again', 2_000, dialog, (x) => x.open);
    await c.page.keyboard.press('Escape');
    await waitFor('closed by Escape', 2_000, dialog, (x) => !x.open);
    await sleep(300);
    expectEqual('the API after Escape', (await q.queueInfo(id)).status, 'open');
    // Confirm: closed.
    await c.page.click(`${rowSel(id)} [data-action=close]`);
    await waitFor('the dialog a third time', 2_000, dialog, (x) => x.open);
    await c.page.click('#close-confirm');
    const row = await waitFor('the row closed', 2_000, () => queueRow(c.page, id), (r) => r.status === 'closed');
    expectEqual('buttons', JSON.stringify(row.buttons), JSON.stringify({ pause: true, open: true, close: false, edit: true }));
    expectEqual('the API: status', (await q.queueInfo(id)).status, 'closed');
    if (fan.ok) {
      await waitFor('the fan page closed', 2_000, () => fan.page.evaluate(() => document.getElementById('queue-state').dataset.state), (st) => st === 'closed');
    }
  });

  // --- Events and sales.
  const ev = {};
  await step('event-created-with-two-sections', { needs: ['login-with-the-admin-key'] }, async (s) => {
    s.page = c.page;
    ev.queue = await q.createQueue('sale', { rate: 100, maxActive: 10, status: 'open' });
    ev.name = `Console test ${q.run}`;
    await c.page.fill('#e-name', ev.name);
    await c.page.fill('#e-venue', 'KSPO Dome');
    await c.page.fill('#e-queue', ev.queue);
    await c.page.fill('#e-hold', '300');
    await c.page.fill('#e-max', '4');
    const sections = c.page.locator('#sections fieldset.section');
    await sections.nth(0).locator('.s-name').fill('VIP');
    await sections.nth(0).locator('.s-rows').fill('2');
    await sections.nth(0).locator('.s-seats').fill('5');
    await sections.nth(0).locator('.s-price').fill('150000');
    await c.page.click('#add-section');
    expectEqual('sections', await sections.count(), 2);
    await sections.nth(1).locator('.s-name').fill('R');
    await sections.nth(1).locator('.s-rows').fill('0');
    await sections.nth(1).locator('.s-seats').fill('10');
    await sections.nth(1).locator('.s-price').fill('90000');
    s.notes.push(...(await axeCheck(c.page)));
    // A section of 0 rows: the reservation-api's message shows, nothing is created.
    await c.page.click('#event-submit');
    const refused = await waitFor(
      'the API error in #event-form-msg',
      5_000,
      () => c.page.evaluate(() => { const m = document.getElementById('event-form-msg'); return { text: m.textContent, kind: m.classList.contains('error') ? 'error' : 'ok' }; }),
      (m) => m.kind === 'error' && m.text.length > 0,
    );
    s.notes.push(`0 rows refused: "${refused.text}"`);
    if ((await r.events()).some((e) => e.name === ev.name)) throw new Error('an event was created with a section of 0 rows');
    await sections.nth(1).locator('.s-rows').fill('2');
    await c.page.click('#event-submit');
    const found = await waitFor('the event in the API', 5_000, () => r.events(), (list) => list.some((e) => e.name === ev.name));
    ev.id = focus.event = found.find((e) => e.name === ev.name).eventId;
    r.track(ev.id);
    const row = await waitFor('the event row with its sales', 6_000, () => eventRow(c.page, ev.id), (x) => x.available === '30');
    expectEqual('sold', row.sold, '0');
    expectEqual('held', row.held, '0');
    expectEqual('revenue', row.revenue, '0');
    expectEqual('revenue shown', row.revenueText, '₩0');
    expectEqual('status', row.status, 'on_sale');
    const base = env.RESERVATION_URL.replace(/\/+$/, '');
    expectEqual('seat picker link', row.picker, `${base}/events/${ev.id}`);
    expectEqual('waiting room link', row.queueLink, `${QUEUE_URL}/queues/${ev.queue}`);
    const detail = await r.event(ev.id);
    expectEqual('sections in the API', JSON.stringify(detail.sections.map((x) => [x.name, x.rows, x.seatsPerRow, x.price])),
      JSON.stringify([['VIP', 2, 5, 150000], ['R', 2, 10, 90000]]));
    expectEqual('the form is reset', await c.page.locator('#sections fieldset.section').count(), 1);
    s.notes.push(...(await axeCheck(c.page)));
  });

  await step('sales-move-with-a-purchase', { needs: ['event-created-with-two-sections'] }, async (s) => {
    s.page = c.page;
    const token = await q.admit(ev.queue, 'buyer-1', 10_000);
    const vip = (await r.seats(ev.id, '?section=VIP&status=available')).slice(0, 2).map((x) => x.seatId);
    const reservation = await r.hold(token, ev.id, vip);
    expectEqual('the hold amount', reservation.amount, 300000);
    const held = await waitFor('held 2 in the console', 5_000, () => eventRow(c.page, ev.id), (x) => x.held === '2');
    expectEqual('free while held', held.available, '28');
    await h.shot(c.page, 'held');
    let sandbox = process.env.SANDBOX_URL;
    if (!sandbox) {
      const site = (await r.api('GET', '/v1/api/site', undefined, { expect: [200] })).body;
      sandbox = new URL(site.payments.widgetUrl).origin;
    }
    const paid = await r.pay(token, reservation, sandbox);
    expectEqual('tickets', paid.tickets.length, 2);
    const row = await waitFor('sold 2 in the console', 5_000, () => eventRow(c.page, ev.id), (x) => x.sold === '2' && x.held === '0');
    expectEqual('revenue', row.revenue, '300000');
    expectEqual('revenue shown', row.revenueText, '₩300,000');
    expectEqual('free', row.available, '28');
    const sales = await r.sales(ev.id);
    expectEqual('the API: revenue', sales.revenue, 300000);
    s.notes.push(...(await axeCheck(c.page)));
  });

  await step('payments-needing-action-listed', { needs: ['login-with-the-admin-key'] }, async (s) => {
    s.page = c.page;
    const attention = (await r.api('GET', '/v1/api/payments/attention', undefined, { admin: true, expect: [200] })).body.payments;
    const view = await c.page.evaluate(() => ({
      empty: document.getElementById('payments-empty').checkVisibility(),
      emptyText: document.getElementById('payments-empty').textContent.trim(),
      table: document.getElementById('payments-table').checkVisibility(),
      rows: document.querySelectorAll('#payments-body tr[data-payment-id]').length,
    }));
    if (attention.length === 0) {
      if (!view.empty || view.table || !view.emptyText) throw new Error(`no payments, but the page shows ${JSON.stringify(view)}`);
    } else {
      s.notes.push(`${attention.length} payment(s) need action on this runner`);
      if (view.empty || view.rows !== attention.length) throw new Error(`${attention.length} payments, the page shows ${JSON.stringify(view)}`);
    }
    await c.page.locator('#payments').scrollIntoViewIfNeeded();
    s.notes.push(...(await axeCheck(c.page)));
  });

  await step('english-toggle', { needs: ['login-with-the-admin-key'] }, async (s) => {
    s.page = c.page;
    await c.page.click('#lang-toggle');
    await waitFor('lang=en', 2_000, () => snapshot(c.page), (p) => p.lang === 'en');
    const body = await c.page.evaluate(() => document.body.innerText);
    const korean = body.split('\n').filter((l) => HANGUL.test(l.replace(/한국어/g, '')));
    if (korean.length) throw new Error(`Korean text left: ${JSON.stringify(korean.slice(0, 5))}`);
    if (ev.id) {
      const row = await eventRow(c.page, ev.id);
      if (!/On sale/.test(row.statusText ?? '')) throw new Error(`event status in English: ${row.statusText}`);
    }
    const qr = await queueRow(c.page, id);
    const english = { open: 'Open', paused: 'Paused', closed: 'Closed' };
    if (qr && qr.statusText !== english[qr.status]) throw new Error(`queue status ${qr.status} in English: ${qr.statusText}`);
    s.notes.push(...(await axeCheck(c.page)));
    await h.shot(c.page, 'console-en');
    // Remembered across a reload; the key stays for the tab.
    await c.page.reload();
    await waitFor('en and logged in after a reload', 5_000, () => snapshot(c.page), (p) => p.lang === 'en' && p.console);
    // A browser preferring English gets English at once.
    const context = await newContext({ locale: 'en-US' });
    const page = await newPage(context, 'english');
    await openConsole(page);
    await waitFor('en in an en-US browser', 5_000, () => snapshot(page), (p) => p.lang === 'en' && p.login);
    await h.shot(page, 'english-login');
    await c.page.click('#lang-toggle');
    await waitFor('lang=ko again', 2_000, () => snapshot(c.page), (p) => p.lang === 'ko');
  });

  await step('a-refused-key-returns-to-login', { needs: ['login-with-the-admin-key'] }, async (s) => {
    s.page = c.page;
    await c.page.evaluate(() => sessionStorage.setItem('ticketon.admin.key', 'a-key-revoked-meanwhile'));
    await c.page.reload();
    const snap = await waitFor('back at the login form', 5_000, () => snapshot(c.page), (p) => p.login && !p.console && !!p.loginError);
    s.notes.push(`said: "${snap.loginError}"`);
    expectEqual('the stored key', await stored(c.page), null);
    s.notes.push(...(await axeCheck(c.page)));
    // And the logout button: in again, then out.
    await c.page.fill('#admin-key', env.ADMIN_KEY);
    await c.page.click('#login-form button[type=submit]');
    await waitFor('in again', 5_000, () => snapshot(c.page), (p) => p.console);
    await c.page.click('#logout');
    await waitFor('logged out', 2_000, () => snapshot(c.page), (p) => p.login && !p.console);
    expectEqual('the stored key after logout', await stored(c.page), null);
    expectEqual('focus on the key', await c.page.evaluate(() => document.activeElement?.id), 'admin-key');
  });
}

await h.run(main, { banner: `queue-server ${QUEUE_URL}, reservation-api ${env.RESERVATION_URL}` });
