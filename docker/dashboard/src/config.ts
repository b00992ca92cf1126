// Runtime settings: nginx renders /config.json from the container environment, so one image
// serves any database name. Build-time VITE_* values are the fallback (e.g. `npm run dev`).
import { durationMs } from "./model";

export interface Config {
  database: string;
  contextDatabase: string;
  refreshSeconds: number;
  window: string;
  bucket: string;
  /** Whether the sports webhooks service is set up: without it its cards are not shown. */
  sports: boolean;
}

export const MAX_REFRESH_SECONDS = 86_400;

export const defaults: Config = {
  database: import.meta.env.VITE_INFLUXDB_DATABASE ?? "home_assistant",
  contextDatabase: import.meta.env.VITE_INFLUXDB_CONTEXT_DATABASE ?? "",
  refreshSeconds: 30,
  window: "24h",
  bucket: "1h",
  sports: true,
};

/** The window as given, or null when the page cannot read it: the verdict counts in it. */
function readable(window: string | null): string | null {
  if (window === null) return null;
  try {
    durationMs(window);
    return window;
  } catch {
    return null;
  }
}

export function mergeConfig(raw: unknown): Config {
  const c = { ...defaults };
  if (!raw || typeof raw !== "object") return c;
  const r = raw as Record<string, unknown>;
  const s = (k: keyof Config) => (typeof r[k] === "string" && (r[k] as string).trim() ? (r[k] as string).trim() : null);
  c.database = s("database") ?? c.database;
  c.contextDatabase = s("contextDatabase") ?? c.contextDatabase;
  c.window = readable(s("window")) ?? c.window;
  c.bucket = s("bucket") ?? c.bucket;
  if (r.sports === false || (typeof r.sports === "string" && /^(off|false|no|0)$/i.test(r.sports.trim())))
    c.sports = false;
  // At least 2 s; at most a day: setTimeout holds up to 2^31-1 ms (24.8 days) and fires at
  // once above that, which turned a "practically never" interval into a query loop.
  const refresh = Number(r.refreshSeconds);
  if (Number.isFinite(refresh) && refresh >= 2) c.refreshSeconds = Math.min(refresh, MAX_REFRESH_SECONDS);
  // Weather and sports may live in their own bucket (the compose stack) or with the events.
  if (!c.contextDatabase) c.contextDatabase = c.database;
  return c;
}

export async function loadConfig(fetchFn: typeof fetch): Promise<Config> {
  try {
    const resp = await fetchFn("/config.json", { cache: "no-store" });
    if (resp.ok) return mergeConfig(await resp.json());
  } catch {
    // no runtime config (dev server): defaults
  }
  return mergeConfig({});
}
