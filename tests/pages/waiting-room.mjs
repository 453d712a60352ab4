// The waiting-room page (`GET /queues/{queueId}` on the queue-server) in a real browser: Debian's
// chromium driven by playwright-core, with axe-core checking accessibility (issue 18).
//
//   node tests/pages/waiting-room.mjs
//
// Environment (tests/pages/main.rs sets it; .ci/playwright.sh prints the first two):
//   CHROMIUM            the chromium executable (/usr/bin/chromium)
//   PAGES_NODE_MODULES  the node_modules directory holding playwright-core and axe-core
//   QUEUE_URL           the queue-server, e.g. http://127.0.0.1:8082
//   ADMIN_KEY           its admin key
//   OUT_DIR             where each step's screenshot goes (NN-name.png)
//
// Every step prints `ok - name (ms)` or `not ok - name: reason`; the exit code is 0 only when all
// passed. The queues are the script's own (a fresh name per run), created through the admin API.
// Every wait is bounded, and the whole run by the 120 s budget; the browser is always closed.

import { harness, queueApi, claimsOf, expectEqual, show } from './harness.mjs';

// The harness (tests/pages/harness.mjs): environment, chromium, axe-core, budget, steps.
const h = harness({
  name: 'waiting-room',
  vars: ['CHROMIUM', 'PAGES_NODE_MODULES', 'QUEUE_URL', 'ADMIN_KEY', 'OUT_DIR'],
  budgetMs: 120_000,
  snapshot,
});
const { env, sleep, until, bounded, newContext, newPage, axeCheck, step } = h;
const QUEUE_URL = env.QUEUE_URL.replace(/\/+$/, '');

// ---------------------------------------------------------------------------------------------
// The queue-server's API (proto-notes/queue-server.md); the queues are deleted at the end.

const { api, createQueue, setStatus, joinFan, leaveFan, queueInfo, joinFans, pageUrl } = queueApi(
  h,
  QUEUE_URL,
  env.ADMIN_KEY,
);

// ---------------------------------------------------------------------------------------------
// The page as the DOM contract describes it.

/** Everything the contract names, read at once (for checks and for error messages). */
function snapshot(page) {
  return page.evaluate(() => {
    const el = (id) => document.getElementById(id);
    const attr = (id, name) => el(id)?.getAttribute(name) ?? null;
    const text = (id) => (el(id) ? el(id).textContent.replace(/\s+/g, ' ').trim() : null);
    const visible = (id) => !!el(id) && el(id).checkVisibility({ visibilityProperty: true });
    return {
      lang: document.documentElement.getAttribute('lang'),
      status: attr('status', 'data-status'),
      transport: attr('transport', 'data-transport'),
      state: attr('queue-state', 'data-state'),
      position: text('position'),
      eta: text('eta'),
      progress: attr('progress', 'aria-valuenow'),
      progressRole: attr('progress', 'role'),
      entryId: text('entry-id'),
      form: visible('join-form'),
      admitted: visible('admitted'),
      continueHref: el('continue')?.href ?? null,
      prequeue: visible('prequeue'),
      drawId: text('draw-id'),
      participants: text('participants'),
      etaRange: text('eta-range'),
    };
  });
}

/** Waits until `check(snapshot)` holds. */
function waitPage(page, what, ms, check) {
  return until(what, ms, async () => {
    const snap = await snapshot(page).catch((e) => ({ error: String(e.message).split('\n')[0] }));
    return { ok: !snap.error && check(snap), seen: show(snap), snap };
  }).then((r) => r.snap);
}

const waiting = (snap) => snap.status === 'waiting' && /^\d+$/.test(snap.position ?? '');
const HANGUL = /[\u3131-\uD79D]/;
const SUBMIT = 'button:not([type]), button[type=submit], input[type=submit]';
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Opens the waiting room; its own response must be a page (the rest is the page's doing). */
async function openPage(page, url) {
  const response = await page.goto(url);
  if (response?.status() === 304) return; // revalidated from the cache
  const type = response?.headers()['content-type'] ?? '';
  if (!response?.ok() || !type.startsWith('text/html')) {
    throw new Error(`GET ${url} answered ${response?.status()} ${type}, not an HTML page`);
  }
}


// ---------------------------------------------------------------------------------------------

async function main() {

  // --- A paused sale: 3 fans ahead, then fan-1 through the page. maxActive 3 keeps every slot
  // busy once the 3 are admitted, so fan-1 waits at the front from then on.
  const line = {};
  await step('korean-by-default-joins-fourth', {}, async (s) => {
    line.queue = await createQueue('main', { rate: 100, maxActive: 3 });
    line.ahead = await joinFans(line.queue, 'ahead', 3);
    line.context = await newContext({ locale: 'ko-KR' });
    line.page = s.page = await newPage(line.context, 'fan-1');
    await openPage(line.page, pageUrl(line.queue, { user: 'fan-1' }));
    const snap = await waitPage(
      line.page,
      'fan-1 waiting at 4',
      5_000,
      (p) => waiting(p) && p.position === '4',
    );
    expectEqual('html lang', snap.lang, 'ko');
    expectEqual('#queue-state data-state', snap.state, 'paused');
    await waitPage(line.page, 'data-transport=sse', 5_000, (p) => p.transport === 'sse');
    expectEqual('#eta (4 places at 100/s)', snap.eta, '1분 이내');
    expectEqual('#progress role', snap.progressRole, 'progressbar');
    const now = Number(snap.progress);
    if (!(Number.isFinite(now) && now >= 0 && now <= 100))
      throw new Error(`#progress aria-valuenow ${snap.progress}`);
    // The page's entry is the user's: joining again through the API returns it (200, not 201).
    const again = await api(
      'POST',
      `/v1/api/queues/${line.queue}/entries`,
      { userId: 'fan-1' },
      { expect: [200] },
    );
    line.entryId = again.body.entryId;
    if (!snap.entryId?.includes(line.entryId)) {
      throw new Error(`#entry-id "${snap.entryId}" does not show the entry ${line.entryId}`);
    }
    const stored = await line.page.evaluate((k) => localStorage.getItem(k), `ticketon.queue.${line.queue}`);
    const remembered = JSON.parse(stored ?? 'null');
    if (remembered?.user !== 'fan-1' || remembered?.entryId !== line.entryId) {
      throw new Error(`localStorage ticketon.queue.${line.queue} is ${stored}`);
    }
  });

  await step('axe-waiting-ko', { needs: ['korean-by-default-joins-fourth'] }, async (s) => {
    s.page = line.page;
    s.notes.push(...(await axeCheck(line.page)));
  });

  // The contract's "position visibly changes". Fans who leave while the line is paused do not
  // move it: a position counts entries that left until the frontier skips them, and the
  // frontier moves only by admitting (queue-server/src/model/queue.rs, `position`). So the 3
  // ahead are admitted (opening the queue), which fills the 3 slots; then one more fan leaves
  // from behind, which must not change fan-1's place.
  await step('position-moves-to-1', { needs: ['korean-by-default-joins-fourth'] }, async (s) => {
    s.page = line.page;
    const behind = await joinFan(line.queue, 'behind-1');
    await setStatus(line.queue, 'open');
    const t0 = Date.now();
    const snap = await waitPage(line.page, '#position 1', 3_000, (p) => p.position === '1');
    s.notes.push(`position 4 → 1 shown ${Date.now() - t0} ms after the queue opened`);
    expectEqual('#status data-status', snap.status, 'waiting');
    const info = await queueInfo(line.queue);
    expectEqual('active sessions', info.active, 3);
    await leaveFan(line.queue, behind.entryId);
    await setStatus(line.queue, 'paused');
    await waitPage(line.page, 'data-state=paused', 3_000, (p) => p.state === 'paused');
    await sleep(300);
    expectEqual('#position after a leave behind', (await snapshot(line.page)).position, '1');
  });

  await step('pause-shows-within-1s', { needs: ['korean-by-default-joins-fourth'] }, async (s) => {
    s.page = line.page;
    // When the page's #queue-state changes, measured in the page (same clock as here).
    await line.page.evaluate(() => {
      const el = document.getElementById('queue-state');
      window.__stateSeen = [];
      new MutationObserver(() =>
        window.__stateSeen.push([el.getAttribute('data-state'), Date.now()]),
      ).observe(el, {
        attributes: true,
        attributeFilter: ['data-state'],
      });
    });
    // A push can beat the PATCH's answer to this process: then the page shows it before "sent".
    const timing = (at, before, sent) =>
      at >= sent
        ? `${at - sent} ms after the PATCH answered`
        : `${at - before} ms after the PATCH was sent, before its answer arrived`;
    const seen = async (state, after) =>
      (await line.page.evaluate(() => window.__stateSeen)).find(
        ([st, at]) => st === state && at >= after - 50,
      );
    let t = Date.now();
    await setStatus(line.queue, 'open');
    let sent = Date.now();
    await until('data-state=open', 3_000, async () => ({
      ok: !!(await seen('open', t)),
      seen: show(await snapshot(line.page)),
    }));
    s.notes.push(`open shown ${timing((await seen('open', t))[1], t, sent)}`);
    t = Date.now();
    await setStatus(line.queue, 'paused');
    sent = Date.now();
    await until('data-state=paused', 1_500, async () => ({
      ok: !!(await seen('paused', t)),
      seen: show(await snapshot(line.page)),
    }));
    const at = (await seen('paused', t))[1];
    const ms = at - sent;
    s.notes.push(`paused shown ${timing(at, t, sent)}`);
    if (ms > 1000)
      throw new Error(`data-state=paused shown ${ms} ms after the PATCH answered (over 1000 ms)`);
    expectEqual('#status after open and pause', (await snapshot(line.page)).status, 'waiting');
  });

  await step('second-tab-keeps-its-place', { needs: ['korean-by-default-joins-fourth'] }, async (s) => {
    const first = await snapshot(line.page);
    const before = await queueInfo(line.queue);
    const tab = (s.page = await newPage(line.context, 'fan-1 tab 2'));
    const joins = [];
    tab.on('request', (r) => {
      if (r.method() === 'POST' && /\/entries(\?|$)/.test(new URL(r.url()).pathname)) joins.push(r.url());
    });
    await openPage(tab, pageUrl(line.queue));
    const snap = await waitPage(tab, 'the second tab waiting', 5_000, waiting);
    expectEqual('#entry-id in the second tab', snap.entryId, first.entryId);
    expectEqual('#position in the second tab', snap.position, first.position);
    await sleep(500);
    const after = await queueInfo(line.queue);
    expectEqual('the queue waiting count', after.waiting, before.waiting);
    if (joins.length > 0) throw new Error(`the second tab joined again: POST ${joins.join(', ')}`);
    expectEqual('#entry-id in the first tab', (await snapshot(line.page)).entryId, first.entryId);
  });

  // --- English: 179 fans ahead at 1/s, so the ETA is exactly 180 s (nobody admitted yet: the
  // configured rate).
  const en = {};
  await step('english-and-toggle', {}, async (s) => {
    en.queue = await createQueue('english', { rate: 1, maxActive: 10 });
    await joinFans(en.queue, 'ahead', 179);
    const context = await newContext({ locale: 'en-US' });
    en.page = s.page = await newPage(context, 'fan-en');
    await openPage(en.page, pageUrl(en.queue, { user: 'fan-en' }));
    let snap = await waitPage(
      en.page,
      'fan-en waiting at 180',
      5_000,
      (p) => waiting(p) && p.position === '180',
    );
    expectEqual('html lang', snap.lang, 'en');
    expectEqual('#eta at 180 s', snap.eta, 'about 3 minutes');
    const hangul = await en.page.evaluate(() => document.body.innerText);
    if (HANGUL.test(hangul.replace(/한국어/g, ''))) {
      s.notes.push(
        `Korean text on the English page: ${JSON.stringify(hangul.match(/[^\n]*[\u3131-\uD79D][^\n]*/g))}`,
      );
    }
    await en.page.click('#lang-toggle');
    snap = await waitPage(en.page, 'lang=ko after the toggle', 2_000, (p) => p.lang === 'ko');
    expectEqual('#eta in Korean', snap.eta, '약 3분');
    await h.shot(en.page, 'english-and-toggle-ko');
    // The choice is remembered: a reload stays Korean though the browser prefers English.
    await en.page.reload();
    snap = await waitPage(en.page, 'lang=ko after a reload', 5_000, (p) => p.lang === 'ko' && waiting(p));
    expectEqual('#position after the reload', snap.position, '180');
    await en.page.click('#lang-toggle');
    snap = await waitPage(en.page, 'lang=en after toggling back', 2_000, (p) => p.lang === 'en');
    expectEqual('#eta in English again', snap.eta, 'about 3 minutes');
  });

  await step('axe-waiting-en', { needs: ['english-and-toggle'] }, async (s) => {
    s.page = en.page;
    s.notes.push(...(await axeCheck(en.page)));
  });

  // --- The form: a browser that prefers neither English nor Korean gets the Korean default.
  const form = {};
  await step('join-form-shows', {}, async (s) => {
    form.queue = await createQueue('form', { rate: 100, maxActive: 10 });
    const context = await newContext({ locale: 'fr-FR' });
    form.page = s.page = await newPage(context, 'form');
    await openPage(form.page, pageUrl(form.queue));
    await waitPage(form.page, '#join-form visible', 5_000, (p) => p.form);
    if ((await queueInfo(form.queue)).waiting !== 0)
      throw new Error('the form page joined before submitting');
  });

  await step('join-form-labelled', { needs: ['join-form-shows'] }, async (s) => {
    s.page = form.page;
    const label = await form.page.evaluate(() => {
      const input = document.getElementById('user');
      if (!input) return null;
      const byLabel = [...(input.labels ?? [])].map((l) => l.textContent.trim()).join(' ');
      return (
        byLabel ||
        input.getAttribute('aria-label') ||
        (input.getAttribute('aria-labelledby') ? 'aria-labelledby' : '')
      );
    });
    if (!label) throw new Error(`#user has no label (${label === null ? 'no #user' : 'none'})`);
    const submit = await form.page.locator('#join-form').locator(SUBMIT).count();
    if (submit === 0) throw new Error('#join-form has no submit button');
  });

  await step('other-languages-get-korean', { needs: ['join-form-shows'] }, async (s) => {
    s.page = form.page;
    expectEqual('html lang (a fr-FR browser)', (await snapshot(form.page)).lang, 'ko');
  });

  await step('axe-form', { needs: ['join-form-shows'] }, async (s) => {
    s.page = form.page;
    s.notes.push(...(await axeCheck(form.page)));
  });

  await step('join-form-submits', { needs: ['join-form-shows'] }, async (s) => {
    s.page = form.page;
    const user = 'fan.form@example.com';
    await form.page.fill('#user', user);
    await form.page.locator('#join-form').locator(SUBMIT).first().click();
    const snap = await waitPage(
      form.page,
      'waiting after submitting',
      5_000,
      (p) => waiting(p) && p.position === '1',
    );
    const stored = JSON.parse(
      (await form.page.evaluate((k) => localStorage.getItem(k), `ticketon.queue.${form.queue}`)) ?? 'null',
    );
    expectEqual('the remembered user', stored?.user, user);
    if (!stored?.entryId || !snap.entryId?.includes(stored.entryId)) {
      throw new Error(`#entry-id "${snap.entryId}" does not show the remembered entry ${stored?.entryId}`);
    }
    expectEqual('the queue waiting count', (await queueInfo(form.queue)).waiting, 1);
  });

  // --- A queue that asks for a proof of work: the page is refused, fetches a challenge, solves it
  // in Web Workers (the CSP allows blob: workers only) and joins. The time goes in the notes.
  await step('proof-of-work-then-joins', {}, async (s) => {
    const difficulty = 5_000;
    const queue = await createQueue('pow', { rate: 1, maxActive: 1, settings: { powDifficulty: difficulty } });
    const context = await newContext();
    const page = (s.page = await newPage(context, 'pow'));
    await openPage(page, pageUrl(queue, { user: 'fan.pow@example.com' }));
    await waitPage(page, 'waiting after the proof of work', 60_000, (p) => waiting(p) && p.position === '1');
    const ms = Number(await page.evaluate(() => document.documentElement.dataset.powMs));
    if (!(ms > 0)) throw new Error(`the proof of work was not timed (html[data-pow-ms] = ${ms})`);
    s.notes.push(`a proof of work of ${difficulty} tries on average solved in ${ms} ms`);
    expectEqual('the queue waiting count', (await queueInfo(queue)).waiting, 1);
  });

  // --- A scheduled sale: the pre-queue, then the draw gives a place.
  const pre = {};
  await step('prequeue-view', {}, async (s) => {
    pre.opensAt = Date.now() + 6_000;
    pre.queue = await createQueue('prequeue', {
      rate: 1,
      maxActive: 1,
      status: null,
      settings: { opensAt: new Date(pre.opensAt).toISOString(), prequeue: true },
    });
    const other = await joinFan(pre.queue, 'fan.early@example.com');
    expectEqual('an API join in the pre-queue', other.status, 'prequeue');
    const context = await newContext();
    pre.page = s.page = await newPage(context, 'prequeue');
    await openPage(pre.page, pageUrl(pre.queue, { user: 'fan.prequeue@example.com' }));
    pre.before = await waitPage(
      pre.page,
      'the pre-queue view',
      10_000,
      (p) => p.status === 'prequeue' && p.prequeue && /^[0-9a-f]{32}$/.test(p.drawId ?? '') && p.participants === '2',
    );
    if (!pre.before.etaRange) throw new Error('the pre-queue view shows no wait range');
    s.notes.push(`shown: ${pre.before.etaRange}`);
    s.notes.push(...(await axeCheck(pre.page)));
  });

  await step('prequeue-then-the-draw', { needs: ['prequeue-view'] }, async (s) => {
    s.page = pre.page;
    await waitPage(pre.page, 'a place once drawn', 20_000, (p) => (waiting(p) && p.position === '1') || p.admitted);
    const record = (await api('GET', `/v1/api/queues/${pre.queue}/draw`, undefined, { expect: [200] })).body;
    expectEqual('the draw stage', record.stage, 'drawn');
    if (!record.ids.includes(pre.before.drawId)) throw new Error(`${pre.before.drawId} is not in the published draw`);
    s.notes.push(`drawn ${Date.now() - pre.opensAt} ms after the opening: ${record.participants} participants`);
  });

  // --- Admitted: an open queue with room.
  const adm = {};
  await step('admitted-goes-to-next', {}, async (s) => {
    adm.queue = await createQueue('admit', { rate: 100, maxActive: 10, status: 'open' });
    const context = await newContext();
    const page = (s.page = await newPage(context, 'next'));
    await page.route('http://127.0.0.1:1/**', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html; charset=utf-8',
        body: '<!doctype html><html lang="en"><title>after</title><main><h1>After the queue</h1></main></html>',
      }),
    );
    await openPage(page, pageUrl(adm.queue, { user: 'x', next: 'http://127.0.0.1:1/after' }));
    await page.waitForURL((u) => u.origin === 'http://127.0.0.1:1' && u.hash.startsWith('#admissionToken='), {
      timeout: bounded(10_000),
    });
    const url = new URL(page.url());
    expectEqual('the next page', url.pathname, '/after');
    const token = url.hash.slice('#admissionToken='.length);
    if (!JWT.test(token)) throw new Error(`#admissionToken=${token} is not a JWT`);
    const claims = claimsOf(token);
    expectEqual('token qid', claims.qid, adm.queue);
    expectEqual('token sub', claims.sub, 'x');
  });

  await step('admitted-shows-continue', {}, async (s) => {
    adm.queue ??= await createQueue('admit', { rate: 100, maxActive: 10, status: 'open' });
    const context = await newContext();
    adm.page = s.page = await newPage(context, 'admitted');
    await openPage(adm.page, pageUrl(adm.queue, { user: 'y' }));
    const snap = await waitPage(adm.page, '#admitted visible', 10_000, (p) => p.admitted);
    expectEqual('#status data-status', snap.status, 'admitted');
    const match = /#admissionToken=([^#]+)$/.exec(snap.continueHref ?? '');
    if (!match || !JWT.test(match[1])) throw new Error(`#continue href ${snap.continueHref}`);
    expectEqual('token sub', claimsOf(match[1]).sub, 'y');
    expectEqual('still on the waiting room', new URL(adm.page.url()).pathname, `/queues/${adm.queue}`);
  });

  // The queue was deleted and made again: the remembered entry is gone, and the page joins afresh
  // instead of showing an error forever.
  await step('a-gone-entry-joins-again', {}, async (s) => {
    const id = await createQueue('remade', { rate: 1, maxActive: 1 });
    await joinFans(id, 'remade-ahead', 1);
    const context = await newContext();
    const page = (s.page = await newPage(context, 'remade'));
    await openPage(page, pageUrl(id, { user: 'remade-fan' }));
    const before = await waitPage(page, 'waiting', 10_000, waiting);
    await api('DELETE', `/v1/api/queues/${id}`, undefined, { admin: true, expect: [204] });
    await api('PUT', `/v1/api/queues/${id}`, { admissionRatePerSec: 1, maxActive: 1, sessionTtlSec: 600, status: 'paused' },
      { admin: true, expect: [201] });
    await openPage(page, pageUrl(id, { user: 'remade-fan' }));
    const after = await waitPage(page, 'waiting again under a new entry', 15_000,
      (p) => waiting(p) && p.entryId && p.entryId !== before.entryId);
    expectEqual('the position in the new line', after.position, '1');
  });

  // A crafted link must not send the token elsewhere: another host, or a javascript: URL.
  await step('next-only-to-this-host', {}, async (s) => {
    adm.queue ??= await createQueue('admit', { rate: 100, maxActive: 10, status: 'open' });
    for (const [user, next] of [
      ['evil-1', 'http://evil.example/steal'],
      ['evil-2', 'javascript:alert(document.cookie)'],
    ]) {
      const context = await newContext();
      const page = (s.page = await newPage(context, user));
      let leaked = false;
      await page.route('http://evil.example/**', (route) => {
        leaked = true;
        return route.abort();
      });
      await openPage(page, pageUrl(adm.queue, { user, next }));
      const snap = await waitPage(page, '#admitted visible', 10_000, (p) => p.admitted);
      if (leaked) throw new Error(`next=${next}: the page went there`);
      if (!(snap.continueHref ?? '').includes('/queues/')) {
        throw new Error(`next=${next}: #continue goes to ${snap.continueHref}`);
      }
      expectEqual(`still on the waiting room (next=${next})`, new URL(page.url()).pathname, `/queues/${adm.queue}`);
    }
  });

  await step('axe-admitted', { needs: ['admitted-shows-continue'] }, async (s) => {
    s.page = adm.page;
    s.notes.push(...(await axeCheck(adm.page)));
  });

  // --- Fallbacks: 2 fans ahead, 2 slots; fb-1 without SSE, fb-2 without SSE and WebSocket.
  const fb = {};
  await step('fallback-without-sse', {}, async (s) => {
    fb.queue = await createQueue('fallback', { rate: 100, maxActive: 2 });
    await joinFans(fb.queue, 'ahead', 2);
    const context = await newContext();
    let blocked = 0;
    await context.route('**/*', (route) => {
      const request = route.request();
      const accept = request.headers().accept ?? '';
      if (accept.includes('text/event-stream') || request.resourceType() === 'eventsource') {
        blocked += 1;
        return route.abort('failed');
      }
      return route.fallback();
    });
    fb.sse = s.page = await newPage(context, 'fb-1');
    await openPage(fb.sse, pageUrl(fb.queue, { user: 'fb-1' }));
    const snap = await waitPage(
      fb.sse,
      'websocket or poll',
      10_000,
      (p) => p.transport === 'websocket' || p.transport === 'poll',
    );
    await waitPage(fb.sse, 'fb-1 waiting at 3', 5_000, (p) => waiting(p) && p.position === '3');
    s.notes.push(`transport ${snap.transport}; ${blocked} event-stream request(s) aborted`);
  });

  await step('fallback-to-polling', {}, async (s) => {
    fb.queue ??= await createQueue('fallback', { rate: 100, maxActive: 2 });
    const context = await newContext();
    await context.addInitScript(() => {
      delete window.EventSource;
      delete window.WebSocket;
    });
    // Paused, nobody left: fb-2's place is behind everyone waiting now.
    const position = String((await queueInfo(fb.queue)).waiting + 1);
    fb.poll = s.page = await newPage(context, 'fb-2');
    await openPage(fb.poll, pageUrl(fb.queue, { user: 'fb-2' }));
    await waitPage(fb.poll, 'data-transport=poll', 10_000, (p) => p.transport === 'poll');
    await waitPage(
      fb.poll,
      `fb-2 waiting at ${position}`,
      5_000,
      (p) => waiting(p) && p.position === position,
    );
  });

  await step(
    'fallbacks-still-update',
    { needs: ['fallback-without-sse', 'fallback-to-polling'] },
    async (s) => {
      s.page = fb.poll;
      await setStatus(fb.queue, 'open'); // the 2 ahead are admitted, the 2 slots are full
      const t0 = Date.now();
      await Promise.all([
        waitPage(fb.sse, 'fb-1 at 1', 5_000, (p) => p.position === '1' && p.state === 'open'),
        waitPage(fb.poll, 'fb-2 at 2', 5_000, (p) => p.position === '2' && p.state === 'open'),
      ]);
      s.notes.push(`both pages moved ${Date.now() - t0} ms after the queue opened`);
      expectEqual('fb-2 transport', (await snapshot(fb.poll)).transport, 'poll');
    },
  );
}


await h.run(main, { banner: `queue-server ${QUEUE_URL}` });
