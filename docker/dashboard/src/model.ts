// Pure transforms from query rows to what the page shows. No DOM, no fetch: unit tested.
import type { Row, Scalar, Series } from "./influx";

const num = (v: Scalar | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? v : null;
const str = (v: Scalar | undefined): string | null =>
  v === null || v === undefined || v === "" ? null : String(v);

export type Level = "ok" | "warn" | "error";

export interface IngestorEntry {
  entryId: string;
  title: string;
  time: number; // ms, time of the self-metrics point
  eventsReceived: number | null;
  pointsWritten: number | null;
  pending: number | null;
  filtered: number | null;
  /** Lifetime totals (the integration never lowers them): information, not a warning. */
  deadLettered: number | null;
  dropped: number | null;
  /** Growth of those totals within the dashboard's window, resets skipped; null: not known
   * (fewer than two points in the window). Only growth warns. */
  deadLetteredGrown: number | null;
  droppedGrown: number | null;
  lastWrite: number | null; // ms, null when never written
  connected: boolean | null;
  eventsPerMinute: number | null;
  writeLatencyMs: number | null;
  level: Level;
  problems: string[];
}

// Self-metrics come every 30 s: two missed points means the integration stopped reporting.
export const STALE_METRICS_MS = 90_000;
/** Silent this long, an entry is down: it writes self-metrics only while it reaches InfluxDB,
 * so an outage never shows as `connected=0` in them; silence is how it shows. */
export const SILENT_DOWN_MS = 600_000;
export const STALE_WRITE_MS = 300_000;

/** `latest`: each entry's newest self-metrics point; `growth`: what its counters grew by within
 * `window` (queries.ingestorGrowth), one row per entry that has two points in it at least. */
export function ingestorEntries(latest: Row[], growth: Row[], nowMs: number, window: string): IngestorEntry[] {
  const grown = new Map(growth.map((g) => [str(g.entry_id), g]));
  return latest
    .map((r) => {
      const lastWriteS = num(r.last_write);
      const connected = num(r.connected);
      const g = grown.get(str(r.entry_id));
      const e: IngestorEntry = {
        entryId: str(r.entry_id) ?? "?",
        title: str(r.title) ?? str(r.entry_id) ?? "HA Ingestor",
        time: num(r.time) ?? 0,
        eventsReceived: num(r.events_received),
        pointsWritten: num(r.points_written),
        pending: num(r.pending),
        filtered: num(r.filtered),
        deadLettered: num(r.dead_lettered),
        dropped: num(r.dropped),
        deadLetteredGrown: num(g?.dead_lettered),
        droppedGrown: num(g?.dropped),
        lastWrite: lastWriteS ? lastWriteS * 1000 : null,
        connected: connected === null ? null : connected >= 1,
        eventsPerMinute: num(r.events_per_minute),
        writeLatencyMs: num(r.write_latency_ms),
        level: "ok",
        problems: [],
      };
      assess(e, nowMs, window);
      return e;
    })
    .sort((a, b) => a.title.localeCompare(b.title));
}

function assess(e: IngestorEntry, nowMs: number, window: string): void {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (e.connected === false) errors.push("InfluxDB is unreachable from Home Assistant");
  const silent = nowMs - e.time;
  if (silent > SILENT_DOWN_MS)
    errors.push(`no self-metrics for ${age(silent)}: Home Assistant is stopped or cannot reach InfluxDB`);
  else if (silent > STALE_METRICS_MS) warnings.push(`no self-metrics for ${age(silent)}`);
  if (e.lastWrite === null) warnings.push("no successful write yet");
  else if (nowMs - e.lastWrite > STALE_WRITE_MS)
    warnings.push(`last successful write ${age(nowMs - e.lastWrite)} ago`);
  // A drop long ago stays in the totals for good: warning on it would mean warning forever.
  const dropped = e.droppedGrown ?? 0;
  const deadLettered = e.deadLetteredGrown ?? 0;
  if (dropped > 0) warnings.push(`${counted(dropped, "event", "events")} dropped in the last ${window}`);
  if (deadLettered > 0) warnings.push(`${counted(deadLettered, "point", "points")} dead-lettered in the last ${window}`);
  e.problems = [...errors, ...warnings];
  e.level = errors.length ? "error" : warnings.length ? "warn" : "ok";
}

/** The lifetime totals in words, shown on the entry's card whatever the window says. */
export function lifetimeTotals(e: IngestorEntry): string | null {
  const parts: string[] = [];
  const dropped = e.dropped ?? 0;
  const deadLettered = e.deadLettered ?? 0;
  if (dropped > 0) parts.push(`${counted(dropped, "event", "events")} dropped`);
  if (deadLettered > 0) parts.push(`${counted(deadLettered, "point", "points")} dead-lettered`);
  return parts.length ? `Since the entry was set up: ${parts.join(", ")}` : null;
}

export interface DomainSeries {
  times: number[]; // ms, the bucket starts
  bucketMs: number;
  /** A bucket only partly inside the window: the current one (still filling) or the first
   * (cut by the window's start). Its count is not comparable with a whole bucket's. */
  partial: boolean[];
  domains: { domain: string; counts: number[]; total: number }[];
  total: number;
}

export interface Span {
  now: number; // ms
  bucketMs: number;
  windowMs: number;
}

/** `count(state) ... GROUP BY time(...), domain` series -> one aligned count array per domain. */
export function eventsByDomain(series: Series[], span: Span, maxDomains = 8): DomainSeries {
  const timeSet = new Set<number>();
  for (const s of series) for (const v of s.values) if (typeof v[0] === "number") timeSet.add(v[0]);
  const times = [...timeSet].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  let domains = series.map((s) => {
    const counts = new Array<number>(times.length).fill(0);
    const col = s.columns.indexOf("count");
    for (const v of s.values) {
      const i = index.get(v[0] as number);
      const c = num(v[col]);
      if (i !== undefined && c !== null) counts[i] += c;
    }
    return { domain: s.tags.domain || "(none)", counts, total: counts.reduce((a, b) => a + b, 0) };
  });
  domains = domains.filter((d) => d.total > 0).sort((a, b) => b.total - a.total || a.domain.localeCompare(b.domain));
  if (domains.length > maxDomains) {
    const rest = domains.slice(maxDomains - 1);
    const other = {
      domain: "other",
      counts: times.map((_, i) => rest.reduce((a, d) => a + d.counts[i], 0)),
      total: rest.reduce((a, d) => a + d.total, 0),
    };
    domains = [...domains.slice(0, maxDomains - 1), other];
  }
  const start = span.now - span.windowMs;
  return {
    times,
    bucketMs: span.bucketMs,
    partial: times.map((t) => t < start || t + span.bucketMs > span.now),
    domains,
    total: domains.reduce((a, d) => a + d.total, 0),
  };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An InfluxQL duration literal such as 1h or 30m, in ms (the dashboard's window and bucket). */
export function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w)$/.exec(value);
  if (!match) throw new Error(`unsupported duration: ${value}`);
  return Number(match[1]) * UNIT_MS[match[2]];
}

export interface Weather {
  source: string;
  condition: string | null;
  time: number;
  temperature: number | null;
  apparentTemperature: number | null;
  humidity: number | null;
  pressure: number | null;
  windSpeed: number | null;
  windBearing: number | null;
}

/** Units of a weather point, whatever its source: the integration reads OpenWeatherMap with
 * units=metric and converts a Home Assistant weather entity's own units to the same (wind in
 * m/s: an entity's 36 km/h is stored as 10). */
export function weatherUnits(): { temperature: string; pressure: string; windSpeed: string } {
  return { temperature: "°C", pressure: "hPa", windSpeed: "m/s" };
}

export function weather(rows: Row[]): Weather[] {
  return rows
    .map((r) => ({
      source: str(r.source) ?? "?",
      condition: str(r.condition),
      time: num(r.time) ?? 0,
      temperature: num(r.temperature),
      apparentTemperature: num(r.apparent_temperature),
      humidity: num(r.humidity),
      pressure: num(r.pressure),
      windSpeed: num(r.wind_speed),
      windBearing: num(r.wind_bearing),
    }))
    .sort((a, b) => b.time - a.time);
}

export interface Game {
  gameId: string;
  league: string;
  home: string;
  away: string;
  homeScore: number | null;
  awayScore: number | null;
  period: number | null;
  state: string;
  detail: string | null;
  name: string | null;
  time: number;
}

const STATE_ORDER: Record<string, number> = { in: 0, pre: 1, post: 2 };

export function games(rows: Row[]): Game[] {
  return rows
    .map((r) => ({
      gameId: str(r.game_id) ?? "?",
      league: str(r.league) ?? "",
      home: str(r.home) ?? "?",
      away: str(r.away) ?? "?",
      homeScore: num(r.home_score),
      awayScore: num(r.away_score),
      period: num(r.period),
      state: str(r.state) ?? "",
      detail: str(r.detail),
      name: str(r.name),
      time: num(r.time) ?? 0,
    }))
    .sort((a, b) => (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3) || b.time - a.time);
}

export interface Delivery {
  id: string;
  event: string;
  target: string | null;
  status: string;
  ok: boolean | null;
  attempts: number | null;
  httpStatus: number | null;
  error: string | null;
  time: number | null; // ms
}

/** How many deliveries failed within the window: one that failed long ago says nothing about
 * now (its card still lists it). One without a time counts, as its age is unknown. */
export function recentFailures(list: Delivery[], nowMs: number, windowMs: number): number {
  return list.filter((d) => d.ok === false && (d.time === null || nowMs - d.time <= windowMs)).length;
}

const pick = (o: Record<string, unknown>, ...keys: string[]): unknown => {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
};

function toMs(v: unknown): number | null {
  if (typeof v === "number") return v > 1e12 ? v : v * 1000; // seconds or ms
  if (typeof v === "string" && v) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

/** The sports service's delivery log, tolerant of a bare list or a {deliveries: [...]} wrapper. */
export function deliveries(body: unknown): Delivery[] {
  const list = Array.isArray(body)
    ? body
    : ((body as Record<string, unknown> | null)?.deliveries as unknown[] | undefined) ?? [];
  if (!Array.isArray(list)) return [];
  return list
    .filter((d): d is Record<string, unknown> => !!d && typeof d === "object")
    .map((d) => {
      const httpStatus = pick(d, "last_status_code", "response_status", "http_status", "status_code");
      const status = String(pick(d, "status", "state", "result") ?? (httpStatus ?? "unknown"));
      const okRaw = pick(d, "ok", "success", "delivered");
      const ok =
        typeof okRaw === "boolean"
          ? okRaw
          : /^(delivered|ok|success|sent|done)$/i.test(status)
            ? true
            : /^(failed|error|dead|gave_up|abandoned)$/i.test(status)
              ? false
              : null;
      return {
        id: String(pick(d, "id", "delivery_id") ?? "?"),
        event: String(pick(d, "event", "event_type", "type", "kind") ?? "?"),
        target: ((t) => (t === undefined ? null : String(t)))(pick(d, "target", "url", "subscription_id")),
        status,
        ok,
        attempts: typeof pick(d, "attempts", "attempt") === "number" ? (pick(d, "attempts", "attempt") as number) : null,
        httpStatus: typeof httpStatus === "number" ? httpStatus : null,
        error: typeof d.last_error === "string" && d.last_error ? d.last_error : null,
        time: toMs(pick(d, "updated_at", "delivered_at", "created_at", "time")),
      };
    })
    .sort((a, b) => (b.time ?? 0) - (a.time ?? 0));
}

/** The sports service's games ({games: [{id, league, state, detail, home: {abbreviation,
 * score}, away: {...}}]}), for when the integration writes no `sports` measurement. */
export function serviceGames(body: unknown): Game[] {
  const list = Array.isArray(body)
    ? body
    : ((body as Record<string, unknown> | null)?.games as unknown[] | undefined) ?? [];
  if (!Array.isArray(list)) return [];
  const side = (v: unknown) => (v && typeof v === "object" ? (v as Record<string, unknown>) : {});
  const scalar = (v: unknown): Scalar =>
    v === null || ["string", "number", "boolean"].includes(typeof v) ? (v as Scalar) : null;
  const rowsOut: Row[] = list
    .filter((g): g is Record<string, unknown> => !!g && typeof g === "object")
    .map((g) => {
      const home = side(g.home);
      const away = side(g.away);
      return {
        game_id: scalar(g.id ?? g.game_id),
        league: scalar(g.league),
        state: scalar(g.state),
        detail: scalar(g.detail),
        name: scalar(g.name),
        period: scalar(g.period),
        home: scalar(home.abbreviation ?? g.home),
        away: scalar(away.abbreviation ?? g.away),
        home_score: scalar(home.score),
        away_score: scalar(away.score),
        time: toMs(g.updated_at ?? g.start ?? null),
      };
    });
  return games(rowsOut);
}

// ---- formatting (fixed locale: the page reads the same on every machine) ----

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function fmtInt(v: number | null | undefined): string {
  return v === null || v === undefined ? "–" : intFmt.format(v);
}

/** "1 event", "1,500 events". */
export function counted(n: number, one: string, many: string): string {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

export function fmtNum(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined) return "–";
  return new Intl.NumberFormat("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
}

/** A number with its unit ("12.5 °C", "8.5 ms"), or a dash alone when there is no value. */
export function withUnit(v: number | null | undefined, digits: number, unit: string): string {
  if (v === null || v === undefined) return "–";
  return `${fmtNum(v, digits)} ${unit}`; // SI style: a space before every unit, °C and % too
}

/** Compact age: 45 s, 12 min, 3 h, 2 d. */
export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 36) return `${h} h`;
  return `${Math.round(h / 24)} d`;
}

export function fmtTime(ms: number | null): string {
  if (ms === null) return "never";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

const COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
export function compass(deg: number | null): string {
  if (deg === null) return "";
  return COMPASS[Math.round((((deg % 360) + 360) % 360) / 45) % 8];
}
