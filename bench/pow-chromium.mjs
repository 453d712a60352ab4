// pow-chromium.mjs: how long the waiting room takes to solve a queue's proof of work in Chromium,
// by difficulty. Run by bench/pow-chromium.sh (which starts a queue-server and finds chromium and
// playwright-core through .ci/playwright.sh).
//
// For each difficulty, a queue asking for it, and RUNS fresh pages (a new browser context each,
// as a new fan) that open the waiting room with ?user=, solve, and join; the page's own timer
// (html[data-pow-ms], from fetching the challenge to the solution) is read. Prints medians,
// quartiles and the worst, as a Markdown table.
//
// Env: CHROMIUM, PAGES_NODE_MODULES, QUEUE_URL, ADMIN_KEY, DIFFICULTIES (comma list), RUNS.
import path from 'node:path';
import { createRequire } from 'node:module';
import { CHROMIUM_ARGS } from '../tests/pages/harness.mjs';

const env = process.env;
const { chromium } = createRequire(import.meta.url)(path.join(env.PAGES_NODE_MODULES, 'playwright-core'));
const base = env.QUEUE_URL.replace(/\/+$/, '');
const difficulties = (env.DIFFICULTIES || '1000,5000,20000,50000').split(',').map(Number);
const runs = Number(env.RUNS || 7);
const run = Date.now().toString(36);

async function putQueue(id, difficulty) {
  const resp = await fetch(`${base}/v1/api/queues/${id}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${env.ADMIN_KEY}` },
    body: JSON.stringify({ admissionRatePerSec: 1, maxActive: 1, sessionTtlSec: 600, status: 'paused', powDifficulty: difficulty }),
  });
  if (resp.status !== 201) throw new Error(`PUT ${id}: ${resp.status} ${await resp.text()}`);
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

const browser = await chromium.launch({ executablePath: env.CHROMIUM, args: CHROMIUM_ARGS });
console.log(`# chromium ${browser.version()}, ${runs} solves per difficulty`);
console.log('| difficulty (tries on average) | median (ms) | p25 (ms) | p75 (ms) | worst (ms) |');
console.log('|---:|---:|---:|---:|---:|');
try {
  for (const difficulty of difficulties) {
    const queue = `pow-${run}-${difficulty}`;
    await putQueue(queue, difficulty);
    const times = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${base}/queues/${queue}?user=fan-${i}`);
      await page.waitForFunction(
        () => document.documentElement.dataset.powMs && document.getElementById('position')?.textContent?.match(/^\d+$/),
        null,
        { timeout: 300_000, polling: 50 },
      );
      times.push(Number(await page.evaluate(() => document.documentElement.dataset.powMs)));
      await context.close();
    }
    times.sort((a, b) => a - b);
    console.log(
      `| ${difficulty} | ${quantile(times, 0.5)} | ${quantile(times, 0.25)} | ${quantile(times, 0.75)} | ${times[times.length - 1]} |`,
    );
    await fetch(`${base}/v1/api/queues/${queue}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.ADMIN_KEY}` } });
  }
} finally {
  await browser.close();
}
