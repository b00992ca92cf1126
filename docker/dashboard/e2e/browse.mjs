// Drive the built dashboard in real headless Chromium (playwright-core, system Chromium) and
// report what a user sees: every [data-testid] text, all network traffic, console errors, CSP
// violations and layout overflow, plus a full-page screenshot per scenario.
// Usage: node e2e/browse.mjs '<json>'  with {url, outDir, scenarios: [{name, width, height,
// mobile?, waitForRefresh?, steps?}]}. Prints one JSON object on stdout; the pytest side asserts.
// Steps run after the first load, in order:
//   {hover: css, as: name}    hover (part of) a chart bucket, keep the readout's texts as hovers[name]
//   {signal: name}            print "[browse] signal <name>" on stderr, wait for a line on stdin
//                             (the test does something to the servers meanwhile)
//   {waitFor: css}            wait until an element matches (no JS strings: the CSP forbids eval)
//   {waitForRefresh: true}    wait for the next refresh
//   {collect: name}           keep what the page shows now as snapshots[name]
//   {screenshot: name}        a full-page screenshot <outDir>/<name>.png
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2]);
const step = (msg) => process.stderr.write(`[browse] ${msg}\n`);
const TIMEOUT = 20_000;
mkdirSync(opts.outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});

async function scenario(s) {
  const context = await browser.newContext({
    viewport: { width: s.width, height: s.height },
    deviceScaleFactor: s.mobile ? 2 : 1,
    isMobile: !!s.mobile,
    hasTouch: !!s.mobile,
    locale: "en-US",
    timezoneId: "UTC",
  });
  const page = await context.newPage();
  const requests = [];
  const responses = [];
  const pending = [];
  const consoleErrors = [];
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
  // Bodies are read once the request has finished (never a stream still open), each with a
  // bound: a stuck read must fail the run, not hang it.
  const bounded = (p, what) =>
    Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), 5000))]);
  page.on("requestfinished", (req) => {
    pending.push(
      (async () => {
        const r = await bounded(req.response(), req.url()).catch(() => null);
        if (!r) return;
        let body = "";
        try {
          body = await bounded(r.text(), req.url());
        } catch {
          // redirects have no body
        }
        const headers = await bounded(r.allHeaders(), req.url()).catch(() => null);
        if (headers) responses.push({ url: r.url(), status: r.status(), headers, body });
      })().catch(() => {}), // a request still finishing while the context closes: not ours to keep
    );
  });
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`),
    );
  });

  // Fail fast and say why: a page that is not 200, a failed request for the app itself or a
  // script error ends the wait at once, with the status, console errors and failed requests.
  const failed = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.request().method()} ${r.url()} -> HTTP ${r.status()}`);
  });
  const why = () =>
    `failed requests: ${JSON.stringify(failed)}; console errors: ${JSON.stringify(consoleErrors)}`;
  let broken;
  const brokenPage = new Promise((_, reject) => {
    broken = reject;
  });
  brokenPage.catch(() => {});
  page.on("pageerror", (e) => broken(new Error(`script error: ${e}; ${why()}`)));
  page.on("response", (r) => {
    const type = r.request().resourceType();
    if (r.status() >= 400 && ["document", "script", "stylesheet"].includes(type))
      broken(new Error(`${type} ${r.url()} -> HTTP ${r.status()}; ${why()}`));
  });

  step(`${s.name}: open`);
  const target = opts.url + (s.path ?? "/");
  const resp = await page.goto(target, { waitUntil: "load", timeout: TIMEOUT });
  if (!resp || resp.status() !== 200) {
    const body = resp ? (await resp.text().catch(() => "")).slice(0, 500) : "";
    throw new Error(`GET ${target} -> HTTP ${resp?.status() ?? "no response"}: ${body}; ${why()}`);
  }
  await Promise.race([
    page.waitForSelector("[data-testid=dashboard]", { timeout: TIMEOUT }).catch((e) => {
      throw new Error(`${e.message}; ${why()}`);
    }),
    brokenPage,
  ]);
  // The chart draws once its box has a width: wait for it whenever the chart is on the page.
  await page.waitForFunction(
    () => !document.querySelector(".chart") || document.querySelector(".chart svg"),
    null,
    { timeout: TIMEOUT },
  );
  const waitForRefresh = async () => {
    const first = await page.getAttribute("[data-testid=dashboard]", "data-refreshed-at");
    await page.waitForFunction(
      (prev) => document.querySelector("[data-testid=dashboard]")?.getAttribute("data-refreshed-at") !== prev,
      first,
      { timeout: TIMEOUT },
    );
    return { first, second: await page.getAttribute("[data-testid=dashboard]", "data-refreshed-at") };
  };
  let refreshed = null;
  if (s.waitForRefresh) refreshed = await waitForRefresh();

  // What the page shows: every [data-testid] text by its path of test ids, the visible text,
  // and where each card sits (to check that the rows tile).
  const collect = () =>
    page.evaluate(() => {
      const texts = {};
      for (const el of document.querySelectorAll("[data-testid]")) {
        const path = [];
        for (let n = el; n; n = n.parentElement) if (n.dataset?.testid) path.unshift(n.dataset.testid);
        texts[path.join("/")] = el.textContent.trim();
      }
      const main = document.querySelector("main");
      const box = main.getBoundingClientRect();
      const style = getComputedStyle(main);
      const rect = (r) => ({ x: r.x, y: r.y + window.scrollY, width: r.width, height: r.height });
      return {
        texts,
        bodyText: document.body.innerText,
        html: document.documentElement.outerHTML,
        storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        csp: window.__csp,
        grid: {
          left: box.x + parseFloat(style.paddingLeft),
          right: box.right - parseFloat(style.paddingRight),
          gap: parseFloat(style.columnGap),
          rowGap: parseFloat(style.rowGap),
          cards: [...main.querySelectorAll(":scope > .card")].map((c) => ({
            id: c.dataset.testid,
            ...rect(c.getBoundingClientRect()),
          })),
        },
      };
    });

  const hovers = {};
  const snapshots = {};
  let stdin = null;
  for (const st of s.steps ?? []) {
    if (st.hover) {
      step(`${s.name}: hover ${st.hover}`);
      await page.hover(st.hover, { timeout: TIMEOUT });
      const index = await page.$eval(st.hover, (el) => el.closest("[data-index]").dataset.index);
      await page.waitForFunction(
        (i) => document.querySelector("[data-testid=readout]")?.dataset.bucket === i,
        index,
        { timeout: TIMEOUT },
      );
      hovers[st.as] = await page.evaluate(() => {
        const out = {};
        const readout = document.querySelector("[data-testid=readout]");
        out.readout = readout.textContent.trim();
        for (const el of readout.querySelectorAll("[data-testid]")) out[el.dataset.testid] = el.textContent.trim();
        return out;
      });
    } else if (st.signal) {
      stdin ??= createInterface({ input: process.stdin });
      const go = new Promise((resolve) => stdin.once("line", resolve));
      step(`signal ${st.signal}`);
      await go;
    } else if (st.waitFor) {
      step(`${s.name}: wait for ${st.waitFor}`);
      await page.waitForSelector(st.waitFor, { timeout: TIMEOUT }).catch(async (e) => {
        const seen = await page.evaluate(() => document.body.innerText).catch(() => "");
        throw new Error(`${e.message}: ${st.waitFor}; page shows: ${seen.slice(0, 1500)}; ${why()}`);
      });
    } else if (st.waitForRefresh) {
      await waitForRefresh();
    } else if (st.collect) {
      snapshots[st.collect] = await collect();
    } else if (st.screenshot) {
      await page.screenshot({ path: `${opts.outDir}/${st.screenshot}.png`, fullPage: true });
    } else {
      throw new Error(`unknown step ${JSON.stringify(st)}`);
    }
  }
  stdin?.close();
  step(`${s.name}: screenshot`);
  await page.screenshot({ path: `${opts.outDir}/${s.name}.png`, fullPage: true });

  const page_ = await collect();
  step(`${s.name}: collect`);
  await Promise.all(pending);
  step(`${s.name}: done`);
  const cookies = await context.cookies();
  await context.close();
  return { ...page_, requests, responses, consoleErrors, cookies, refreshed, hovers, snapshots };
}

const out = {};
try {
  for (const s of opts.scenarios) out[s.name] = await scenario(s);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
