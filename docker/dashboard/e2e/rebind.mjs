// DNS rebinding, played in headless Chromium for tests/stack/test_cross_site.py. The attacker's
// page is served for http://rebind.example:PORT/ by page.route (the attacker's server, never
// reached); every later request of that page resolves rebind.example to 127.0.0.1, what the
// attacker's DNS answers after the rebind, so the page's same-origin fetch() reaches the
// dashboard with Host: rebind.example:PORT. Every other name fails to resolve: nothing leaves
// loopback. The page sets window.__result when done.
// Usage: node e2e/rebind.mjs '{"url": "...", "html": "...", "extra": [chromium flags]}'.
// Prints {result, console} as JSON.
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2]);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--host-resolver-rules=MAP rebind.example 127.0.0.1, MAP * ~NOTFOUND", ...(opts.extra ?? [])],
});
try {
  const page = await browser.newPage();
  const console = [];
  page.on("console", (m) => console.push(m.text()));
  page.on("pageerror", (e) => console.push(String(e)));
  await page.route(opts.url, (route) => route.fulfill({ contentType: "text/html", body: opts.html }));
  await page.goto(opts.url, { waitUntil: "load", timeout: 10_000 });
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 10_000 }).catch((e) => {
    throw new Error(`${e.message}; console: ${JSON.stringify(console)}`);
  });
  const result = await page.evaluate(() => window.__result);
  process.stdout.write(JSON.stringify({ result, console }));
} finally {
  await browser.close();
}
