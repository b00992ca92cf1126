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

export class QueryError extends Error {}

/** Series of the first statement; throws on a query or server error. */
export function parseQueryResponse(body: unknown): Series[] {
  const resp = body as QueryResponse;
  if (!resp || typeof resp !== "object") throw new QueryError("unexpected response from InfluxDB");
  if (resp.error) throw new QueryError(resp.error);
  const first = resp.results?.[0];
  if (!first) return [];
  if (first.error) throw new QueryError(first.error);
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
  // Latest self-metrics point of each config entry.
  ingestor: () =>
    `SELECT * FROM "ha_ingestor" WHERE time > now() - 1h GROUP BY "entry_id" ORDER BY time DESC LIMIT 1`,
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
  const resp = await fetchFn(`/influxdb/query?${params}`, { headers: { Accept: "application/json" } });
  let body: unknown = null;
  try {
    body = await resp.json();
  } catch {
    // fall through: reported below with the status
  }
  if (!resp.ok) {
    const msg = (body as QueryResponse | null)?.error;
    throw new QueryError(`InfluxDB answered HTTP ${resp.status}${msg ? `: ${msg}` : ""}`);
  }
  return parseQueryResponse(body);
}

export interface Ping {
  ok: boolean;
  version: string | null;
  latencyMs: number;
  error?: string;
}

export async function ping(fetchFn: Fetch, now: () => number = () => performance.now()): Promise<Ping> {
  const start = now();
  try {
    const resp = await fetchFn("/influxdb/ping");
    const latencyMs = now() - start;
    const version = resp.headers.get("X-Influxdb-Version");
    if (resp.status === 204 || resp.ok) return { ok: true, version, latencyMs };
    return { ok: false, version, latencyMs, error: `HTTP ${resp.status}` };
  } catch (err) {
    return { ok: false, version: null, latencyMs: now() - start, error: String(err) };
  }
}
