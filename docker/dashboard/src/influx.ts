// InfluxQL over the v1 /query endpoint, which InfluxDB 1.x, 2.x (DBRP mapping) and 3.x all answer.
// The browser calls nginx's /influxdb/query; nginx adds the read-only token server-side.

export type Scalar = string | number | boolean | null;
export type Row = Record<string, Scalar>;

export interface Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: Scalar[][];
}

interface QueryResponse {
  results?: { statement_id?: number; series?: Series[]; error?: string }[];
  error?: string;
}

/** The part of the stack a failure belongs to: the page names it once, at the top. */
export type Part = "influxdb" | "sports" | "dashboard";

/** A failure that says which part failed and how, in words a user can act on. */
export class SourceError extends Error {
  constructor(
    readonly part: Part,
    message: string,
  ) {
    super(message);
  }
}

/** InfluxDB answered, but refused the query (say, "database not found: x"). */
export class QueryError extends SourceError {
  constructor(message: string) {
    super("influxdb", message);
  }
}

export const DASHBOARD_DOWN = "the dashboard server is not answering";

/** What an HTTP status from one of nginx's proxied paths means for the part behind it. */
export function describeStatus(part: "influxdb" | "sports", status: number, detail?: string): SourceError {
  const name = part === "influxdb" ? "InfluxDB" : "sports service";
  const tail = detail ? `: ${detail}` : "";
  if (status === 502 || status === 503 || status === 504)
    return new SourceError(
      part,
      part === "influxdb"
        ? `InfluxDB unreachable through the proxy (HTTP ${status})`
        : `sports service not answering (HTTP ${status})`,
    );
  if (status === 401 || status === 403) {
    const secret = part === "influxdb" ? "read token" : "read key";
    return new SourceError(part, `${name} refused the dashboard's ${secret} (HTTP ${status}${tail})`);
  }
  return new SourceError(part, `${name} answered HTTP ${status}${tail}`);
}

/** Series of the first statement; throws on a query or server error. */
export function parseQueryResponse(body: unknown): Series[] {
  const resp = body as QueryResponse;
  if (!resp || typeof resp !== "object") throw new QueryError("unexpected response from InfluxDB");
  if (resp.error) throw new QueryError(`InfluxDB refused the query: ${resp.error}`);
  const first = resp.results?.[0];
  if (!first) return [];
  if (first.error) throw new QueryError(`InfluxDB refused the query: ${first.error}`);
  return (first.series ?? []).map((s) => ({ ...s, tags: s.tags ?? {}, values: s.values ?? [] }));
}

/** One object per value row, with the series' GROUP BY tags merged in. */
export function rows(series: Series[]): Row[] {
  const out: Row[] = [];
  for (const s of series) {
    for (const values of s.values) {
      const row: Row = { ...s.tags };
      s.columns.forEach((col, i) => {
        row[col] = values[i] ?? null;
      });
      out.push(row);
    }
  }
  return out;
}

/** Double-quoted InfluxQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Relative duration literal such as 24h; rejects anything else so it can be pasted into a query. */
export function duration(value: string): string {
  if (!/^\d+(ns|u|µ|ms|s|m|h|d|w)$/.test(value)) throw new Error(`bad InfluxQL duration: ${value}`);
  return value;
}

export const queries = {
  // Latest self-metrics point of each config entry, kept through an outage of days (it says
  // when the entry last wrote, and what it had pending).
  ingestor: () =>
    `SELECT * FROM "ha_ingestor" WHERE time > now() - 7d GROUP BY "entry_id" ORDER BY time DESC LIMIT 1`,
  // How much each entry's lifetime counters grew within the window: the sum of the steps
  // between successive points, where a step down (the counter started again from zero, say the
  // entry's stored counters were lost) counts as a reset, not as negative growth. The time bound
  // on the outer query applies to the inner one too: a step before the window is not counted.
  ingestorGrowth: (window: string) =>
    `SELECT sum("dropped") AS "dropped", sum("dead_lettered") AS "dead_lettered" FROM ` +
    `(SELECT non_negative_difference("dropped") AS "dropped", ` +
    `non_negative_difference("dead_lettered") AS "dead_lettered" FROM "ha_ingestor" GROUP BY "entry_id") ` +
    `WHERE time > now() - ${duration(window)} GROUP BY "entry_id"`,
  eventsByDomain: (window: string, bucket: string) =>
    `SELECT count("state") FROM "ha_states" WHERE time > now() - ${duration(window)} ` +
    `GROUP BY time(${duration(bucket)}), "domain" fill(0)`,
  weather: () =>
    `SELECT * FROM "weather" WHERE time > now() - 7d GROUP BY "source" ORDER BY time DESC LIMIT 1`,
  sports: () =>
    `SELECT * FROM "sports" WHERE time > now() - 7d GROUP BY "game_id" ORDER BY time DESC LIMIT 1`,
};

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export async function query(fetchFn: Fetch, db: string, q: string): Promise<Series[]> {
  const params = new URLSearchParams({ db, q, epoch: "ms" });
  const resp = await reach(fetchFn, `/influxdb/query?${params}`);
  let body: unknown = null;
  try {
    body = await resp.json();
  } catch {
    // fall through: reported below with the status
  }
  if (!resp.ok) {
    const msg = (body as QueryResponse | null)?.error;
    throw describeStatus("influxdb", resp.status, typeof msg === "string" ? msg : undefined);
  }
  return parseQueryResponse(body);
}

/** Longest wait for an answer: nginx gives up on its upstreams after 30 s (a 504), so only a
 * connection that hangs (a paused container, a socket dead after sleep) waits longer, and the
 * page then said "Healthy" with its refresh stopped until it ended. */
export const FETCH_TIMEOUT_MS = 35_000;

/** fetch() that turns "no answer at all" into the one part that can cause it: nginx itself. */
export async function reach(fetchFn: Fetch, url: string): Promise<Response> {
  // Not cleared on an answer: the abort covers reading the body too (a no-op once it is read).
  const giveUp = new AbortController();
  setTimeout(() => giveUp.abort(), FETCH_TIMEOUT_MS);
  try {
    return await fetchFn(url, { headers: { Accept: "application/json" }, signal: giveUp.signal });
  } catch {
    throw new SourceError("dashboard", DASHBOARD_DOWN);
  }
}

export interface Ping {
  version: string | null;
  latencyMs: number;
}

/** InfluxDB's /ping through the proxy; throws a SourceError when it does not answer. */
export async function ping(fetchFn: Fetch, now: () => number = () => performance.now()): Promise<Ping> {
  const start = now();
  const resp = await reach(fetchFn, "/influxdb/ping");
  const latencyMs = now() - start;
  if (!(resp.status === 204 || resp.ok)) throw describeStatus("influxdb", resp.status);
  return { version: resp.headers.get("X-Influxdb-Version"), latencyMs };
}
