// Open one page in headless Chromium and report what its own script found: the page sets
// window.__result when done. Used by tests/stack/test_cross_site.py to play a hostile web page.
// Usage: node e2e/visit.mjs '{"url": "..."}'. Prints {result, consoleErrors, status} as JSON.
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  const resp = await page.goto(opts.url, { waitUntil: "load", timeout: 10_000 });
  if (!resp || resp.status() !== 200) throw new Error(`GET ${opts.url} -> HTTP ${resp?.status()}`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 10_000 }).catch((e) => {
    throw new Error(`${e.message}; console errors: ${JSON.stringify(consoleErrors)}`);
  });
  const result = await page.evaluate(() => window.__result);
  process.stdout.write(JSON.stringify({ result, consoleErrors, status: resp.status() }));
} finally {
  await browser.close();
}
