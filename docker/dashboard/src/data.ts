// One refresh of everything on the page, and what the page keeps between refreshes. Each section
// fails on its own (one broken source never blanks the rest), a failure names the part that
// failed, and a section whose source is down keeps its last good data, marked stale.
import type { Config } from "./config";
import { describeStatus, type Fetch, type Part, type Ping, ping, query, QueryError, queries, reach, type Row, rows, SourceError } from "./influx";
import * as m from "./model";

export interface Fault {
  part: Part;
  text: string;
}

export type Section<T> = { ok: true; data: T } | { ok: false; fault: Fault };

export interface Snapshot {
  at: number;
  influx: Section<Ping>;
  ingestor: Section<m.IngestorEntry[]>;
  domains: Section<m.DomainSeries>;
  weather: Section<m.Weather[]>;
  games: Section<m.Game[]>;
  /** null: the sports service is not configured, so there is nothing to show or to fail. */
  deliveries: Section<m.Delivery[]> | null;
}

async function section<T>(part: Part, work: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, data: await work() };
  } catch (err) {
    if (err instanceof SourceError) return { ok: false, fault: { part: err.part, text: err.message } };
    return { ok: false, fault: { part, text: err instanceof Error ? err.message : String(err) } };
  }
}

async function getJson(fetchFn: Fetch, url: string): Promise<unknown> {
  const resp = await reach(fetchFn, url);
  if (!resp.ok) throw describeStatus("sports", resp.status);
  try {
    return await resp.json();
  } catch {
    throw new SourceError("sports", "sports service answered something that is not JSON");
  }
}

/** Weather and sports live in their own bucket in the compose stack, but in the events database
 * when the integration writes everything to one place: ask the first, fall back to the second. */
async function contextQuery(fetchFn: Fetch, cfg: Config, q: string) {
  if (cfg.contextDatabase === cfg.database) return rows(await query(fetchFn, cfg.database, q));
  let found: Row[] = [];
  try {
    found = rows(await query(fetchFn, cfg.contextDatabase, q));
  } catch (err) {
    // A plain InfluxDB 1.x with one database has no context database at all.
    if (!(err instanceof QueryError && /database not found/.test(err.message))) throw err;
  }
  if (found.length) return found;
  return rows(await query(fetchFn, cfg.database, q));
}

export async function refresh(fetchFn: Fetch, cfg: Config, now: () => number = Date.now): Promise<Snapshot> {
  const [influx, ingestor, domains, weather, games, deliveries] = await Promise.all([
    section("influxdb", () => ping(fetchFn)),
    section("influxdb", async () => {
      const [latest, growth] = await Promise.all([
        query(fetchFn, cfg.database, queries.ingestor()),
        query(fetchFn, cfg.database, queries.ingestorGrowth(cfg.window)),
      ]);
      return m.ingestorEntries(rows(latest), rows(growth), now(), cfg.window);
    }),
    section("influxdb", async () =>
      m.eventsByDomain(await query(fetchFn, cfg.database, queries.eventsByDomain(cfg.window, cfg.bucket)), {
        now: now(),
        bucketMs: m.durationMs(cfg.bucket),
        windowMs: m.durationMs(cfg.window),
      }),
    ),
    section("influxdb", async () => m.weather(await contextQuery(fetchFn, cfg, queries.weather()))),
    section("influxdb", async () => {
      const fromInflux = m.games(await contextQuery(fetchFn, cfg, queries.sports()));
      if (fromInflux.length || !cfg.sports) return fromInflux;
      // Nothing from the integration: the companion service may still follow teams.
      try {
        return m.serviceGames(await getJson(fetchFn, "/sports/api/games"));
      } catch {
        return fromInflux; // its failure shows once, on the deliveries below
      }
    }),
    cfg.sports
      ? section("sports", async () => m.deliveries(await getJson(fetchFn, "/sports/api/deliveries?limit=20")))
      : Promise.resolve(null),
  ]);
  return { at: now(), influx, ingestor, domains, weather, games, deliveries };
}

/** What a card shows: the data (fresh, or the last good copy), when it was read, and the fault
 * that stops it being fresh. data null + fault: never loaded; data + fault: stale. */
export interface Shown<T> {
  data: T | null;
  at: number | null;
  fault: Fault | null;
}

export interface View {
  at: number;
  influx: Shown<Ping>;
  ingestor: Shown<m.IngestorEntry[]>;
  domains: Shown<m.DomainSeries>;
  weather: Shown<m.Weather[]>;
  games: Shown<m.Game[]>;
  deliveries: Shown<m.Delivery[]> | null;
}

function keep<T>(prev: Shown<T> | null | undefined, s: Section<T>, at: number): Shown<T> {
  if (s.ok) return { data: s.data, at, fault: null };
  return { data: prev?.data ?? null, at: prev?.at ?? null, fault: s.fault };
}

/** Fold a new refresh into what the page shows: fresh sections replace, failed ones keep the
 * last good data they had. */
export function update(prev: View | null, snap: Snapshot): View {
  return {
    at: snap.at,
    influx: keep(prev?.influx, snap.influx, snap.at),
    ingestor: keep(prev?.ingestor, snap.ingestor, snap.at),
    domains: keep(prev?.domains, snap.domains, snap.at),
    weather: keep(prev?.weather, snap.weather, snap.at),
    games: keep(prev?.games, snap.games, snap.at),
    deliveries: snap.deliveries === null ? null : keep(prev?.deliveries, snap.deliveries, snap.at),
  };
}

/** Every distinct fault once, in page order: the one place the page says what failed. */
export function faults(v: View): Fault[] {
  const out: Fault[] = [];
  for (const s of [v.influx, v.ingestor, v.domains, v.weather, v.games, v.deliveries])
    if (s?.fault && !out.some((f) => f.text === s.fault!.text)) out.push(s.fault);
  return out;
}
