// The fan's whole journey in a real browser (issue 18): the waiting room, the seat picker
// (`/events/{eventId}` on the reservation-api, reservation-api/src/http/pages/fan.html), the Toss
// sandbox's hosted checkout (reservation-api/src/toss/sandbox/checkout.html), the success and fail
// pages and the tickets; with axe-core on every state of every page.
//
//   node tests/pages/journey.mjs
//
// Environment (tests/pages/main.rs sets it; .ci/playwright.sh prints the first two):
//   CHROMIUM, PAGES_NODE_MODULES   Debian's chromium; playwright-core and axe-core
//   QUEUE_URL, RESERVATION_URL     the two services, e.g. http://127.0.0.1:8082, http://127.0.0.1:8080
//   SANDBOX_URL                    the embedded Toss sandbox, e.g. http://127.0.0.1:8090
//   ADMIN_KEY                      the admin key of both
//   OUT_DIR                        where each step's screenshot goes (NN-name.png)
//
// Steps: the whole journey from the waiting room (the position seen moving) to the seats, a hold
// with its countdown, the sandbox's card form, the tickets with their QR codes and the copied link
// in a fresh browser; a declined card then a good one; a cancel in the widget then a retry; a hold
// that runs out; the keyboard alone; another buyer's hold shown on the map; Korean and English; a
// seat taken meanwhile (409); back from the payment window, then a release; a 50,000-seat venue.
// Phone-sized (390x844) screenshots of a few states are taken too (NN-*-phone.png).
//
// Every step prints `ok - name (ms)` or `not ok - name: reason`; figures (the 50,000-seat map's
// time and bytes) are printed as `# ` notes and never gate. Every wait is bounded, the whole run by
// BUDGET_MS. Queues are deleted and events closed at the end.

import http from 'node:http';
import { harness, queueApi, reservationApi, expectEqual } from './harness.mjs';

const BUDGET_MS = 150_000;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const CARD_OK = '4242 4242 4242 4242';
const CARD_DECLINED = '4000 0000 0000 0002';
const HANGUL = /[\u3131-\uD79D]/;

/** What the fan pages' DOM contract (the comment atop fan.html) shows, read at once. */
function snapshot(page) {
  return page.evaluate(() => {
    const el = (id) => document.getElementById(id);
    const text = (id) => (el(id) ? el(id).textContent.replace(/\s+/g, ' ').trim() : null);
    const seats = [...document.querySelectorAll('#seat-grid .seat')];
    const count = (st) => seats.filter((b) => b.dataset.status === st).length;
    return {
      url: location.href,
      route: document.body?.dataset.route ?? null,
      lang: document.documentElement.lang,
      mapReadyMs: document.documentElement.dataset.mapReadyMs ?? null,
      notice: el('notice')?.dataset.kind || null,
      noticeText: text('notice') || null,
      section: el('seat-grid')?.dataset.section ?? null,
      seats: seats.length
        ? `${count('available')}a ${count('held')}h ${count('sold')}s ` +
          `${seats.filter((b) => b.getAttribute('aria-pressed') === 'true').length}sel ` +
          `${seats.filter((b) => b.dataset.mine).length}mine`
        : null,
      selected: text('selected-count'),
      holdPanel: el('hold-panel') ? !el('hold-panel').hidden : null,
      countdown: el('countdown')?.dataset.remainingSec || null,
      readonly: el('readonly') ? !el('readonly').hidden : null,
      checkout: el('checkout') && !el('checkout').hidden ? el('checkout').dataset.state : null,
      coMessage: text('co-message') || null,
      result: el('result') && !el('result').hidden ? el('result').dataset.state : null,
      resultText: text('result-text') || null,
      resultCode: text('result-code') || null,
      retry: el('retry') ? !el('retry').hidden : null,
      tickets: el('tickets-page') && !el('tickets-page').hidden ? el('tickets-page').dataset.state : null,
      ticketCount: document.querySelectorAll('article.ticket').length,
      qrLoaded: [...document.querySelectorAll('article.ticket img.qr')].filter(
        (i) => i.complete && i.naturalWidth > 0,
      ).length,
      position: text('position'),
    };
  });
}

const h = harness({
  name: 'journey',
  vars: ['QUEUE_URL', 'RESERVATION_URL', 'SANDBOX_URL', 'ADMIN_KEY'],
  budgetMs: BUDGET_MS,
  snapshot,
});
const { until, bounded, sleep, show } = h;
const RES = h.env.RESERVATION_URL.replace(/\/+$/, '');
const SANDBOX = h.env.SANDBOX_URL.replace(/\/+$/, '');
const q = queueApi(h, h.env.QUEUE_URL, h.env.ADMIN_KEY, { prefix: 'journey' });
const r = reservationApi(h, RES, h.env.ADMIN_KEY);

// ---------------------------------------------------------------------------------------------
// Helpers

/** Waits until `check(snapshot)` holds (a page between two documents reads as not yet). */
function waitFan(page, what, ms, check) {
  return until(what, ms, async () => {
    const snap = await snapshot(page).catch((e) => ({ error: String(e.message).split('\n')[0] }));
    let ok = false;
    try {
      ok = !snap.error && !!check(snap);
    } catch {
      ok = false;
    }
    return { ok, seen: show(snap), snap };
  }).then((x) => x.snap);
}

const startsAt = new Date(Date.now() + 30 * 86400_000).toISOString();
function newEvent(name, queueId, { holdTtlSec = 120, sections, maxSeatsPerOrder = 4 } = {}) {
  return r.createEvent({
    name,
    venue: 'KSPO Dome',
    startsAt,
    queueId,
    holdTtlSec,
    maxSeatsPerOrder,
    sections: sections ?? [
      { name: 'A', rows: 5, seatsPerRow: 12, price: 110000 },
      { name: 'B', rows: 6, seatsPerRow: 14, price: 88000 },
    ],
  });
}

const pickerUrl = (eventId, token) =>
  `${RES}/events/${encodeURIComponent(eventId)}${token ? `#admissionToken=${encodeURIComponent(token)}` : ''}`;

async function fanPage(label, { locale = 'ko-KR', viewport = DESKTOP } = {}) {
  const context = await h.newContext({ locale, viewport });
  return h.newPage(context, label);
}

/** Opens the seat picker (with the token in the fragment, as the waiting room sends it). */
async function openPicker(page, eventId, token) {
  const response = await page.goto(pickerUrl(eventId, token));
  const type = response?.headers()['content-type'] ?? '';
  if (!response?.ok() || !type.startsWith('text/html')) {
    throw new Error(`GET /events/${eventId} answered ${response?.status()} ${type}, not an HTML page`);
  }
  return waitFan(page, 'the seat map drawn', 15_000, (p) => p.mapReadyMs && p.seats);
}

/** Clicks `n` available seats of the grid with the mouse; returns their seat ids. */
async function pickSeats(page, n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const seat = page.locator('#seat-grid .seat[data-status=available]:not([aria-pressed=true])').first();
    ids.push(Number(await seat.getAttribute('data-seat-id')));
    await seat.click();
  }
  await waitFan(page, `${n} seats selected`, 3_000, (p) => p.seats.includes(` ${n}sel`));
  return ids;
}

const holdOf = (page, eventId) =>
  page.evaluate((k) => JSON.parse(sessionStorage.getItem(k) || 'null'), `ticketon.hold.${eventId}`);

async function holdSelected(page, eventId) {
  await page.click('#hold');
  await waitFan(page, 'the hold shown with its countdown', 10_000, (p) => p.holdPanel && Number(p.countdown) > 0);
  const hold = await holdOf(page, eventId);
  if (!hold?.reservationId) throw new Error(`no hold in sessionStorage: ${JSON.stringify(hold)}`);
  return hold;
}

const atSandbox = (u) => u.href.startsWith(`${SANDBOX}/v1/sandbox/checkout`);
async function toSandbox(page) {
  await page.click('#pay');
  await page.waitForURL(atSandbox, { timeout: bounded(15_000) });
  await page.waitForSelector('#card-number', { timeout: bounded(5_000) });
}

/** On the sandbox's card form: pays with `card`; back on the reservation-api's origin. */
async function payWith(page, card) {
  await page.fill('#card-number', card);
  await page.click('#pay');
  await page.waitForURL((u) => u.href.startsWith(RES), { timeout: bounded(15_000) });
}

async function waitTickets(page, n) {
  return waitFan(
    page,
    `${n} tickets with their QR codes`,
    15_000,
    (p) => p.tickets === 'ready' && p.ticketCount === n && p.qrLoaded === n,
  );
}

/** A fan admitted through the API (an open queue with room) → the admission token. */
async function admitted(queueId, user) {
  return q.admit(queueId, user, 10_000);
}

async function phoneShot(page, suffix) {
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  await sleep(150);
  await h.shot(page, suffix);
  await page.setViewportSize(size ?? DESKTOP);
}

/** Bytes of GET `url` on the wire with `encoding` (node's http does not decode). */
function wireBytes(url, encoding) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { 'accept-encoding': encoding }, timeout: bounded(10_000) }, (res) => {
      let bytes = 0;
      res.on('data', (c) => (bytes += c.length));
      res.on('end', () =>
        resolve({ status: res.statusCode, bytes, encoding: res.headers['content-encoding'] ?? 'identity' }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  // --- 1. The whole journey: waiting room → seats → hold → sandbox → tickets.
  const j = {};
  await h.step('waiting-room-admits-to-the-picker', {}, async (s) => {
    j.queue = await q.createQueue('main', { rate: 1, maxActive: 50, status: 'paused' });
    await q.joinFans(j.queue, 'ahead', 2);
    j.event = await newEvent('IU Concert', j.queue);
    j.page = s.page = await fanPage('fan-x');
    const next = `${RES}/events/${j.event.eventId}`;
    await j.page.goto(q.pageUrl(j.queue, { user: 'fan-x', next }));
    const positions = new Set();
    await until('fan-x waiting at 3', 10_000, async () => {
      const p = await snapshot(j.page).catch(() => ({}));
      if (/^\d+$/.test(p.position ?? '')) positions.add(p.position);
      return { ok: p.position === '3', seen: show(p) };
    });
    await q.setStatus(j.queue, 'open'); // 1 a second: 3 → 2 → 1 → admitted
    await until('admitted and on the seat picker', 20_000, async () => {
      const url = j.page.url();
      if (url.startsWith(next)) return { ok: true };
      const p = await snapshot(j.page).catch(() => ({}));
      if (/^\d+$/.test(p.position ?? '')) positions.add(p.position);
      return { ok: false, seen: `${url} ${show(p)}` };
    });
    s.notes.push(`positions seen on the waiting room: ${[...positions].join(' → ')}`);
    if (positions.size < 2) throw new Error(`the position never changed on the page: ${[...positions]}`);
    const snap = await waitFan(j.page, 'the seat map drawn', 15_000, (p) => p.mapReadyMs && p.seats);
    const url = new URL(j.page.url());
    expectEqual('the address after admission', `${url.origin}${url.pathname}${url.hash}`, next);
    const stored = await j.page.evaluate((k) => sessionStorage.getItem(k), `ticketon.admission.${j.event.eventId}`);
    if (!stored || stored.split('.').length !== 3) throw new Error(`no admission token in sessionStorage: ${stored}`);
    expectEqual('html lang', snap.lang, 'ko');
    expectEqual('read-only banner', snap.readonly, false);
    s.notes.push(`map ready ${snap.mapReadyMs} ms after navigation start; ${snap.seats}`);
    s.notes.push(...(await h.axeCheck(j.page)));
  });

  await h.step('picks-two-seats-and-holds', { needs: ['waiting-room-admits-to-the-picker'] }, async (s) => {
    s.page = j.page;
    j.seatIds = await pickSeats(j.page, 2);
    const label = await j.page.locator(`#seat-grid .seat[data-seat-id="${j.seatIds[0]}"]`).getAttribute('aria-label');
    if (!/^A구역 \d+열 \d+번, 110,000원, 선택함$/.test(label)) throw new Error(`a selected seat is named "${label}"`);
    s.notes.push(...(await h.axeCheck(j.page)));
    await h.shot(j.page, 'selected');
    j.hold = await holdSelected(j.page, j.event.eventId);
    expectEqual('the hold amount', j.hold.amount, 220000);
    const first = Number((await snapshot(j.page)).countdown);
    await sleep(2_100);
    const snap = await snapshot(j.page);
    if (!(Number(snap.countdown) < first)) throw new Error(`the countdown did not go down: ${first} → ${snap.countdown}`);
    if (!snap.seats.includes(' 2mine')) throw new Error(`the held seats are not shown as mine: ${snap.seats}`);
    const held = (await r.seats(j.event.eventId, '?status=held')).map((x) => x.seatId);
    for (const id of j.seatIds) if (!held.includes(id)) throw new Error(`seat ${id} is not held (held: ${held})`);
    s.notes.push(`countdown ${first} s → ${snap.countdown} s`);
    s.notes.push(...(await h.axeCheck(j.page)));
    await phoneShot(j.page, 'held-phone');
  });

  await h.step('pays-in-the-sandbox-and-gets-tickets', { needs: ['picks-two-seats-and-holds'] }, async (s) => {
    s.page = j.page;
    await toSandbox(j.page);
    const query = new URL(j.page.url()).searchParams;
    expectEqual('orderId', query.get('orderId'), j.hold.reservationId);
    expectEqual('amount', query.get('amount'), '220000');
    expectEqual('successUrl', query.get('successUrl'), `${RES}/events/${j.event.eventId}/checkout/success`);
    expectEqual('failUrl', query.get('failUrl'), `${RES}/events/${j.event.eventId}/checkout/fail`);
    expectEqual('orderName', query.get('orderName'), 'IU Concert A구역 2석');
    if (!query.get('clientKey')) throw new Error('no clientKey in the widget URL');
    s.notes.push(...(await h.axeCheck(j.page)));
    await h.shot(j.page, 'sandbox');
    await phoneShot(j.page, 'sandbox-phone');
    await payWith(j.page, CARD_OK);
    await j.page.waitForURL((u) => u.pathname === `/tickets/${j.hold.reservationId}`, { timeout: bounded(15_000) });
    await waitTickets(j.page, 2);
    expectEqual('the fragment after loading', new URL(j.page.url()).hash, '');
    j.link = await j.page.inputValue('#ticket-link');
    if (!j.link.startsWith(`${RES}/tickets/${j.hold.reservationId}#accessToken=`)) throw new Error(`#ticket-link ${j.link}`);
    const alts = await j.page.$$eval('article.ticket img.qr', (imgs) => imgs.map((i) => i.alt));
    if (!alts.every((a) => /A구역 \d+열 \d+번/.test(a))) throw new Error(`QR alt texts: ${alts}`);
    const sold = (await r.seats(j.event.eventId, '?status=sold')).map((x) => x.seatId);
    for (const id of j.seatIds) if (!sold.includes(id)) throw new Error(`seat ${id} is not sold`);
    s.notes.push(...(await h.axeCheck(j.page)));
    await phoneShot(j.page, 'tickets-phone');
  });

  await h.step('the-ticket-link-works-in-a-fresh-browser', { needs: ['pays-in-the-sandbox-and-gets-tickets'] }, async (s) => {
    const page = (s.page = await fanPage('fresh'));
    await page.goto(j.link);
    await waitTickets(page, 2);
    expectEqual('the fragment after loading', new URL(page.url()).hash, '');
    // Kept on this device: the bare address works again.
    await page.goto(`${RES}/tickets/${j.hold.reservationId}`);
    await waitTickets(page, 2);
  });

  // The later steps skip the waiting room: an open queue admits through the API.
  const f = {};
  await h.step('setup-open-queue-and-event', {}, async () => {
    f.queue = await q.createQueue('fast', { rate: 1000, maxActive: 1000, status: 'open' });
    f.event = await newEvent('IU Concert', f.queue);
  });

  // --- 2. A declined card: explained; the fan tries again with a good card.
  await h.step('declined-card-then-paid', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-declined'));
    await openPicker(page, f.event.eventId, await admitted(f.queue, 'fan-declined'));
    await pickSeats(page, 2);
    const hold = await holdSelected(page, f.event.eventId);
    await toSandbox(page);
    await payWith(page, CARD_DECLINED);
    const snap = await waitFan(page, 'the decline explained', 15_000, (p) => p.result === 'declined');
    if (!/REJECT_CARD_PAYMENT/.test(`${snap.resultText} ${snap.resultCode}`)) {
      throw new Error(`the page does not name the provider's code: ${snap.resultText} / ${snap.resultCode}`);
    }
    if (!snap.retry) throw new Error('no #retry while the hold lasts');
    s.notes.push(...(await h.axeCheck(page)));
    await h.shot(page, 'declined');
    await page.click('#retry');
    await page.waitForURL(atSandbox, { timeout: bounded(15_000) });
    expectEqual('the same order', new URL(page.url()).searchParams.get('orderId'), hold.reservationId);
    await payWith(page, CARD_OK);
    await page.waitForURL((u) => u.pathname === `/tickets/${hold.reservationId}`, { timeout: bounded(15_000) });
    await waitTickets(page, 2);
  });

  // --- 3. Cancel on the widget: the fail page explains; paying again is possible.
  await h.step('cancel-in-the-widget-then-retry', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-cancel'));
    await openPicker(page, f.event.eventId, await admitted(f.queue, 'fan-cancel'));
    await pickSeats(page, 1);
    const hold = await holdSelected(page, f.event.eventId);
    await toSandbox(page);
    await page.click('#cancel');
    await page.waitForURL((u) => u.pathname.endsWith('/checkout/fail'), { timeout: bounded(15_000) });
    const snap = await waitFan(page, 'the cancel explained', 10_000, (p) => p.result === 'cancelled');
    if (!snap.retry) throw new Error('no #retry while the hold lasts');
    if (!HANGUL.test(snap.resultText ?? '')) throw new Error(`#result-text "${snap.resultText}"`);
    s.notes.push(...(await h.axeCheck(page)));
    await h.shot(page, 'cancelled');
    await page.click('#retry');
    await page.waitForURL(atSandbox, { timeout: bounded(15_000) });
    expectEqual('the same order', new URL(page.url()).searchParams.get('orderId'), hold.reservationId);
  });

  // --- 4. A hold that runs out (holdTtlSec 3).
  await h.step('a-hold-runs-out', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const short = await newEvent('Short Hold', f.queue, { holdTtlSec: 3 });
    const page = (s.page = await fanPage('fan-expiry'));
    await openPicker(page, short.eventId, await admitted(f.queue, 'fan-expiry'));
    const ids = await pickSeats(page, 2);
    await holdSelected(page, short.eventId);
    const snap = await waitFan(page, 'the hold said to have run out', 10_000, (p) => p.notice === 'expired' && !p.holdPanel);
    if (!HANGUL.test(snap.noticeText ?? '')) throw new Error(`#notice "${snap.noticeText}"`);
    await until('the seats free again on the map', 8_000, async () => {
      const st = await page.$$eval(
        ids.map((id) => `#seat-grid .seat[data-seat-id="${id}"]`).join(','),
        (bs) => bs.map((b) => `${b.dataset.status}${b.dataset.mine ? '+mine' : ''}`),
      );
      return { ok: st.length === ids.length && st.every((x) => x === 'available'), seen: st.join(',') };
    });
    expectEqual('the hold in sessionStorage', await holdOf(page, short.eventId), null);
    s.notes.push(`notice: ${snap.noticeText}`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- 5. The keyboard alone, and the seats' accessible names.
  await h.step('seats-by-keyboard-alone', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-keys'));
    await openPicker(page, f.event.eventId, await admitted(f.queue, 'fan-keys'));
    const focused = () =>
      page.evaluate(() => {
        const a = document.activeElement;
        return {
          id: a?.id || null,
          seat: a?.classList.contains('seat') ? Number(a.dataset.seatId) : null,
          row: a?.dataset.row ?? null,
          number: a?.dataset.number ?? null,
          label: a?.getAttribute('aria-label') ?? null,
          pressed: a?.getAttribute('aria-pressed') ?? null,
        };
      });
    const roving = await page.$$eval('#seat-grid .seat[tabindex="0"]', (b) => b.length);
    expectEqual('seats in the tab order (roving tabindex)', roving, 1);
    let at = null;
    for (let i = 0; i < 40 && !at?.seat; i++) {
      await page.keyboard.press('Tab');
      at = await focused();
    }
    if (!at?.seat) throw new Error('Tab never reached the seat grid');
    if (!/^[AB]구역 \d+열 \d+번, [\d,]+원, 선택 가능$/.test(at.label)) throw new Error(`the focused seat is named "${at.label}"`);
    await page.keyboard.press('ArrowRight');
    const right = await focused();
    expectEqual('ArrowRight: same row', right.row, at.row);
    expectEqual('ArrowRight: next number', Number(right.number), Number(at.number) + 1);
    await page.keyboard.press('ArrowDown');
    const down = await focused();
    expectEqual('ArrowDown: next row', Number(down.row), Number(at.row) + 1);
    expectEqual('ArrowDown: same number', down.number, right.number);
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Space');
    const one = await focused();
    expectEqual('Space selects', one.pressed, 'true');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    const two = await focused();
    expectEqual('Enter selects', two.pressed, 'true');
    if (!/, 선택함$/.test(two.label)) throw new Error(`a selected seat is named "${two.label}"`);
    let onHold = false;
    for (let i = 0; i < 40 && !onHold; i++) {
      await page.keyboard.press('Tab');
      onHold = (await focused()).id === 'hold';
    }
    if (!onHold) throw new Error('Tab never reached #hold');
    await page.keyboard.press('Enter');
    await waitFan(page, 'held by keyboard', 10_000, (p) => p.holdPanel && Number(p.countdown) > 0);
    const hold = await holdOf(page, f.event.eventId);
    expectEqual('the held seats', JSON.stringify(hold.seats.map((x) => x.id).sort()), JSON.stringify([one.seat, two.seat].sort()));
    s.notes.push(`seat names: "${at.label}", "${two.label}"`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- 6. The map kept current: another buyer's hold shows within seconds.
  await h.step('the-map-follows-other-buyers', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-watch'));
    await openPicker(page, f.event.eventId, null);
    const ids = (
      await page.$$eval('#seat-grid .seat[data-status=available]', (bs) => bs.map((b) => Number(b.dataset.seatId)))
    ).slice(-2);
    if (ids.length < 2) throw new Error('no two available seats to take');
    const other = await admitted(f.queue, 'other-buyer');
    const t0 = Date.now();
    await r.hold(other, f.event.eventId, ids);
    await until('the other buyer\'s seats shown held', 8_000, async () => {
      const st = await page.$$eval(
        ids.map((id) => `#seat-grid .seat[data-seat-id="${id}"]`).join(','),
        (bs) => bs.map((b) => b.dataset.status),
      );
      return { ok: st.every((x) => x === 'held'), seen: st.join(',') };
    });
    s.notes.push(`another buyer's hold shown ${Date.now() - t0} ms after it was taken`);
    const snap = await snapshot(page);
    expectEqual('read-only without a token', snap.readonly, true);
    const link = await page.getAttribute('#queue-link', 'href');
    const want = `/queues/${encodeURIComponent(f.queue)}?next=${encodeURIComponent(`${RES}/events/${f.event.eventId}`)}`;
    if (!link?.endsWith(want)) throw new Error(`#queue-link ${link} (expected …${want})`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- 7. Both languages: Korean by default, English by the toggle and by the browser's locale.
  await h.step('korean-and-english', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const en = (s.page = await fanPage('fan-en', { locale: 'en-US' }));
    let snap = await openPicker(en, f.event.eventId, null);
    expectEqual('html lang (en-US browser)', snap.lang, 'en');
    const body = await en.evaluate(() => document.body.innerText);
    const korean = body.replace(/한국어/g, '').match(/[^\n]*[\u3131-\uD79D][^\n]*/g);
    if (korean) throw new Error(`Korean text on the English page: ${JSON.stringify(korean.slice(0, 5))}`);
    const label = await en.locator('#seat-grid .seat').first().getAttribute('aria-label');
    if (!/^Section [AB], row \d+, seat \d+, ₩[\d,]+, (available|held by another fan|sold)$/i.test(label)) {
      throw new Error(`an English seat is named "${label}"`);
    }
    s.notes.push(...(await h.axeCheck(en)));
    await en.click('#lang-toggle');
    snap = await waitFan(en, 'lang=ko after the toggle', 2_000, (p) => p.lang === 'ko');
    const ko = await en.locator('#seat-grid .seat').first().getAttribute('aria-label');
    if (!/^[AB]구역 \d+열 \d+번, [\d,]+원, /.test(ko)) throw new Error(`after the toggle a seat is named "${ko}"`);
    const meta = await en.textContent('#event-meta');
    if (!/\d+년 \d+월 \d+일/.test(meta)) throw new Error(`#event-meta after the toggle: "${meta}"`);
    await h.shot(en, 'toggled-ko');
    // Remembered; a Korean browser starts in Korean and toggles to English.
    const page = await fanPage('fan-ko');
    snap = await openPicker(page, f.event.eventId, null);
    expectEqual('html lang (ko-KR browser)', snap.lang, 'ko');
    await page.click('#lang-toggle');
    snap = await waitFan(page, 'lang=en after the toggle', 2_000, (p) => p.lang === 'en');
    const toggled = (await page.evaluate(() => document.body.innerText)).replace(/한국어/g, '');
    if (HANGUL.test(toggled)) throw new Error(`Korean text left after the toggle: ${JSON.stringify(toggled.match(/[^\n]*[\u3131-\uD79D][^\n]*/g).slice(0, 5))}`);
    await page.reload();
    snap = await waitFan(page, 'still English after a reload', 10_000, (p) => p.mapReadyMs && p.lang === 'en');
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- A seat taken by someone else between the fan's click and the hold: 409 seat_unavailable
  // (or the map's next poll, whichever comes first) marks it taken and says so.
  await h.step('a-seat-taken-meanwhile', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-race'));
    await openPicker(page, f.event.eventId, await admitted(f.queue, 'fan-race'));
    const ids = await pickSeats(page, 2);
    await r.hold(await admitted(f.queue, 'fan-faster'), f.event.eventId, [ids[1]]);
    await page.click('#hold');
    const snap = await waitFan(page, 'the taken seat explained', 8_000, (p) => p.notice === 'seat-unavailable');
    const taken = page.locator(`#seat-grid .seat[data-seat-id="${ids[1]}"]`);
    await until('the taken seat shown held', 5_000, async () => {
      const st = await taken.getAttribute('data-status');
      return { ok: st === 'held', seen: st };
    });
    expectEqual('the other seat still selected', await page.getAttribute(`#seat-grid .seat[data-seat-id="${ids[0]}"]`, 'aria-pressed'), 'true');
    expectEqual('no hold', snap.holdPanel, false);
    s.notes.push(`notice: ${snap.noticeText}`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- Back from the payment window: the hold is still shown (and re-checked); releasing it
  // frees the seats and ends the purchase session (the page says so and links the waiting room).
  await h.step('back-from-payment-then-release', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-back'));
    await openPicker(page, f.event.eventId, await admitted(f.queue, 'fan-back'));
    const ids = await pickSeats(page, 1);
    await holdSelected(page, f.event.eventId);
    await toSandbox(page);
    await page.goBack();
    await page.reload(); // not from the back-forward cache: the hold comes from sessionStorage
    const snap = await waitFan(page, 'the hold shown again', 15_000, (p) => p.route === 'picker' && p.holdPanel && Number(p.countdown) > 0 && p.seats?.includes(' 1mine'));
    await page.click('#release');
    await waitFan(page, 'released', 8_000, (p) => p.notice === 'released' && !p.holdPanel && p.readonly);
    await until('the seat free again', 5_000, async () => {
      const st = await page.getAttribute(`#seat-grid .seat[data-seat-id="${ids[0]}"]`, 'data-status');
      return { ok: st === 'available', seen: st };
    });
    const held = (await r.seats(f.event.eventId, '?status=held')).map((x) => x.seatId);
    if (held.includes(ids[0])) throw new Error(`seat ${ids[0]} is still held after the release`);
    s.notes.push(`countdown after coming back: ${snap.countdown} s`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- A fan who stops gives the admission up: the page says so, the token buys nothing more,
  // and the waiting room gets the slot back at once (not when the admission runs out).
  await h.step('leave-the-sale', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const page = (s.page = await fanPage('fan-leaves'));
    const token = await admitted(f.queue, 'fan-leaves');
    await openPicker(page, f.event.eventId, token);
    const before = (await q.queueInfo(f.queue)).active;
    await page.click('#leave');
    const snap = await waitFan(page, 'left', 8_000, (p) => p.notice === 'left' && p.readonly);
    const again = await r.api('DELETE', '/v1/api/session', undefined, { token, expect: [200] });
    expectEqual('the session after leaving', again.body.status, 'released');
    await until('the slot given back', 8_000, async () => {
      const active = (await q.queueInfo(f.queue)).active;
      return { ok: active < before, seen: `${before} → ${active}` };
    });
    s.notes.push(`notice: ${snap.noticeText}`);
    s.notes.push(...(await h.axeCheck(page)));
  });

  // --- 8. A 50,000-seat venue: time to the drawn map, and the map's bytes on the wire.
  await h.step('a-50000-seat-map', { needs: ['setup-open-queue-and-event'] }, async (s) => {
    const t0 = Date.now();
    const big = await newEvent('Stadium', f.queue, {
      sections: 'ABCDEFGHIJ'.split('').map((name, i) => ({ name, rows: 50, seatsPerRow: 100, price: 50000 + 11000 * i })),
    });
    s.notes.push(`50,000-seat event created in ${Date.now() - t0} ms`);
    const mapUrl = `${RES}/v1/api/events/${big.eventId}/seat-map`;
    const gz = await wireBytes(mapUrl, 'gzip');
    const plain = await wireBytes(mapUrl, 'identity');
    s.notes.push(`seat-map on the wire: ${gz.bytes} bytes ${gz.encoding} (${plain.bytes} bytes ${plain.encoding})`);
    const page = (s.page = await fanPage('fan-big'));
    const snap = await openPicker(page, big.eventId, await admitted(f.queue, 'fan-big'));
    const figures = await page.evaluate(() => {
      const map = performance.getEntriesByType('resource').find((e) => e.name.includes('/seat-map'));
      const cv = document.getElementById('venue-map');
      return {
        ready: Number(document.documentElement.dataset.mapReadyMs),
        marks: performance.getEntriesByType('mark').filter((m) => m.name.startsWith('ticketon:')).map((m) => `${m.name} ${Math.round(m.startTime)} ms`).join(', '),
        buttons: document.querySelectorAll('#seat-grid .seat').length,
        canvas: `${cv.width}x${cv.height}`,
        sections: JSON.parse(cv.dataset.sections || '[]').length,
        transfer: map ? `${map.transferSize} bytes transferred, ${map.encodedBodySize} encoded, ${map.decodedBodySize} decoded, fetched ${Math.round(map.responseEnd - map.startTime)} ms` : 'no resource entry',
      };
    });
    s.notes.push(`50,000-seat map ready ${figures.ready} ms after navigation start (the page's data-map-ready-ms)`);
    s.notes.push(`in the browser the seat-map: ${figures.transfer}`);
    s.notes.push(`page marks: ${figures.marks}`);
    s.notes.push(`canvas ${figures.canvas} px with ${figures.sections} sections; ${figures.buttons} seat buttons in the grid`);
    if (figures.sections !== 10) throw new Error(`the overview shows ${figures.sections} sections, not 10`);
    if (figures.buttons !== 5000) throw new Error(`${figures.buttons} seat buttons: the grid should be one section (5,000)`);
    if (!snap.mapReadyMs) throw new Error('the map never rendered');
    // A click on the overview picks that section.
    const blocks = JSON.parse(await page.getAttribute('#venue-map', 'data-sections'));
    const target = blocks[7];
    await page.locator('#venue-map').click({ position: { x: target.x + target.w / 2, y: target.y + target.h / 2 } });
    await waitFan(page, `section ${target.name} chosen on the canvas`, 5_000, (p) => p.section === target.name);
    await phoneShot(page, 'stadium-phone');
  });
}

h.run(main, { banner: `queue-server ${q.base}, reservation-api ${RES}, sandbox ${SANDBOX}` });
