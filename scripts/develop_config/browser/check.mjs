// scripts/develop --check, in the browser: headless Chromium (the system's, via playwright-core)
// against Home Assistant's real frontend. Logged in by the trusted network of the dev config.
// Opens the integration page, the device page, a dashboard with the README's card (its ids
// replaced by the dev entry's), the add and options forms; saves a screenshot of each and
// reports what a user would read there.
// Usage: node check.mjs '<json>' with {haUrl, outDir, deviceId, card, rawKeys}.
// Prints one JSON object {pages: {name: {texts, problems}}} on stdout; helper.py judges it.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const opts = JSON.parse(process.argv[2]);
const TIMEOUT = Number(opts.timeoutMs ?? 60_000);
const step = (msg) => process.stderr.write(`[browser] ${msg}\n`);
mkdirSync(opts.outDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const context = await browser.newContext({
  viewport: { width: 1280, height: 900 }, locale: "en-US", timezoneId: "UTC",
});
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT);
const consoleErrors = [];
page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));

// Every visible text, through open shadow roots (HA's UI is web components all the way down).
const deepTexts = () => page.evaluate(() => {
  const out = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) {
      const parent = node.parentElement?.tagName;
      const text = node.textContent.trim();
      if (text && parent !== "STYLE" && parent !== "SCRIPT") out.push(text);
      return;
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return out;
});

const pages = {};
async function look(name, until) {
  await page.getByText(until, { exact: false }).first().waitFor();
  await page.waitForTimeout(1500); // late rows, translations and icons settle
  const texts = await deepTexts();
  const problems = [];
  for (const t of texts) {
    if (t.includes("Entity not available")) problems.push(`"Entity not available": ${t}`);
    if (/\bcomponent\.[a-z_]+\.|\bui\.(panel|card|dialogs|components)\./.test(t)) {
      problems.push(`raw translation key: ${t}`);
    }
    if (opts.rawKeys.includes(t)) problems.push(`untranslated key shown: ${t}`);
  }
  await page.screenshot({ path: `${opts.outDir}/${name}.png`, fullPage: true });
  pages[name] = { texts, problems };
  step(`${name}: ${texts.length} texts, ${problems.length} problems`);
}

const failures = [];
async function section(name, fn) {
  try {
    await fn();
  } catch (err) {
    failures.push(`${name}: ${String(err).split("\n")[0]}`);
    step(`${name} FAILED: ${err}`);
    await page.screenshot({ path: `${opts.outDir}/${name}-failed.png`, fullPage: true }).catch(() => {});
    await page.keyboard.press("Escape").catch(() => {});
  }
}

step("login (trusted network)");
await page.goto(opts.haUrl + "/");
await page.waitForFunction(() => document.querySelector("home-assistant")?.hass?.connected);

const only = opts.only ?? null;
const want = (name) => only === null || only.includes(name);

if (want("card")) await section("card", async () => {
  await page.evaluate(async (card) => {
    const hass = document.querySelector("home-assistant").hass;
    await hass.callWS({
      type: "lovelace/config/save",
      config: { title: "HA Ingestor", views: [{ title: "Ingestor", path: "ingestor", cards: [card] }] },
    });
  }, opts.card);
  await page.goto(opts.haUrl + "/lovelace/ingestor");
  await look("card", opts.card.entities[opts.card.entities.length - 1].name);
});

if (want("integration")) await section("integration", async () => {
  await page.goto(opts.haUrl + "/config/integrations/integration/ha_ingestor");
  await look("integration", opts.title);
});

if (want("device")) await section("device", async () => {
  await page.goto(`${opts.haUrl}/config/devices/device/${opts.deviceId}`);
  await look("device", "Points written");
});

async function closeDialog() {
  await page.keyboard.press("Escape");
  await page.waitForTimeout(800);
}

// The forms, opened as a user does: the add link, and "Configure" for the options.
if (want("add")) await section("add", async () => {
  await page.goto(opts.haUrl + "/config/integrations/dashboard/add?domain=ha_ingestor");
  await page.getByRole("button", { name: "OK" }).click(); // "Do you want to set up HA Ingestor?"
  await page.getByText(opts.v2MenuLabel, { exact: true }).click();
  await look("add-v2", "A token with write access");
  await page.getByLabel("URL").fill(opts.closedUrl);
  await page.getByLabel("Organization").fill("home");
  await page.getByLabel("API token").fill("typed-token");
  await page.getByRole("button", { name: "Submit" }).click();
  await look("add-v2-error", "Could not connect");
  pages["add-v2-error"].tokenKept = await page.getByLabel("API token").inputValue();
  await closeDialog();
});

async function options(...choices) {
  await page.goto(opts.haUrl + "/config/integrations/integration/ha_ingestor");
  await page.getByText(opts.title).first().waitFor();
  await page.getByRole("button", { name: "Configure" }).first().click();
  for (const choice of choices) {
    await page.getByText(choice, { exact: true }).click();
  }
}
if (want("options")) {
  await section("options-weather-entity", async () => {
    await options("Weather", "A Home Assistant weather entity (no key needed)");
    await look("options-weather-entity", "Weather from a Home Assistant entity");
    await closeDialog();
  });
  await section("options-weather-owm", async () => {
    await options("Weather", "OpenWeatherMap (needs an API key)");
    await look("options-weather-owm", "Weather from OpenWeatherMap");
    await closeDialog();
  });
  await section("options-sports", async () => {
    await options("Sports teams");
    await look("options-sports", "Add teams from league");
    await closeDialog();
  });
  await section("options-settings", async () => {
    await options("What is ingested and how it is delivered");
    await look("options-settings", "Event types");
    await page.getByRole("combobox", { name: "Event types" }).first().click();
    await page.waitForTimeout(1000);
    await look("options-event-types", "State changes (state_changed)");
    await closeDialog();
  });
}

await browser.close();
process.stdout.write(JSON.stringify({ pages, failures, consoleErrors }) + "\n");
