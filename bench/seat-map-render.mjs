// seat-map-render.mjs: how long the seat picker takes to show a venue in Chromium (issue 18's
// "a 50,000-seat map loads and renders in under 1 s"), and what its seat map costs on the wire.
//
//   node bench/seat-map-render.mjs <seat picker URL, e.g. http://127.0.0.1:18181/events/{id}> [loads]
//
// Env: CHROMIUM and PAGES_NODE_MODULES, as .ci/playwright.sh prints them (bench/seat-map.py passes
// them). Each load is a fresh browser context (an empty cache, as a fan's first visit), on a
// 390x844 phone-sized viewport; the time is the page's own `data-map-ready-ms` (from navigation
// start to the venue drawn and the first section's seats on screen). Prints one Markdown table row
// per figure: the median, the fastest and the slowest of the loads.
import path from 'node:path';
import { createRequire } from 'node:module';

const [url, loadsArg] = process.argv.slice(2);
if (!url || !process.env.CHROMIUM || !process.env.PAGES_NODE_MODULES) {
  console.error('usage: CHROMIUM=... PAGES_NODE_MODULES=... node bench/seat-map-render.mjs <picker URL> [loads]');
  process.exit(2);
}
const loads = Number(loadsArg || 7);
const { chromium } = createRequire(import.meta.url)(path.join(process.env.PAGES_NODE_MODULES, 'playwright-core'));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-proxy-server',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const ready = [], transfer = [], fetched = [];
try {
  for (let i = 0; i < loads; i++) {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'ko-KR' });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.documentElement.dataset.mapReadyMs, null, { timeout: 30_000 });
    const f = await page.evaluate(() => {
      const map = performance.getEntriesByType('resource').find((e) => e.name.includes('/seat-map'));
      return {
        ready: Number(document.documentElement.dataset.mapReadyMs),
        transfer: map ? map.transferSize : NaN,
        fetched: map ? map.responseEnd - map.startTime : NaN,
      };
    });
    ready.push(f.ready);
    transfer.push(f.transfer);
    fetched.push(f.fetched);
    await context.close();
  }
} finally {
  await browser.close();
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (name, xs, unit) =>
  console.log(`| ${name} | ${median(xs).toFixed(0)} ${unit} | ${Math.min(...xs).toFixed(0)} ${unit} | ${Math.max(...xs).toFixed(0)} ${unit} |`);
console.log(`\nChromium ${browser.version()}, ${loads} cold loads of ${url}\n`);
console.log('| figure | median | fastest | slowest |');
console.log('|---|---:|---:|---:|');
row('navigation start to the map drawn', ready, 'ms');
row('the seat map fetched (request to last byte)', fetched, 'ms');
row('the seat map on the wire (headers included)', transfer, 'B');
