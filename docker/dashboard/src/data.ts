// One refresh of everything on the page. Each section fails on its own: one broken source
// (say the sports service) never blanks the rest.
import type { Config } from "./config";
import { type Fetch, type Ping, ping, query, QueryError, queries, type Row, rows } from "./influx";
import * as m from "./model";

export type Section<T> = { ok: true; data: T } | { ok: false; error: string };

export interface Snapshot {
  at: number;
  influx: Ping;
  ingestor: Section<m.IngestorEntry[]>;
  domains: Section<m.DomainSeries>;
  weather: Section<m.Weather[]>;
  games: Section<m.Game[]>;
  deliveries: Section<m.Delivery[]>;
}

async function section<T>(work: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, data: await work() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

async function getJson(fetchFn: Fetch, url: string): Promise<unknown> {
  const resp = await fetchFn(url, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(`sports service answered HTTP ${resp.status}`);
  return resp.json();
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
    ping(fetchFn),
    section(async () => m.ingestorEntries(rows(await query(fetchFn, cfg.database, queries.ingestor())), now())),
    section(async () =>
      m.eventsByDomain(await query(fetchFn, cfg.database, queries.eventsByDomain(cfg.window, cfg.bucket))),
    ),
    section(async () => m.weather(await contextQuery(fetchFn, cfg, queries.weather()))),
    section(async () => {
      const fromInflux = m.games(await contextQuery(fetchFn, cfg, queries.sports()));
      if (fromInflux.length) return fromInflux;
      // Nothing from the integration: the companion service may still follow teams.
      try {
        return m.serviceGames(await getJson(fetchFn, "/sports/api/games"));
      } catch {
        return fromInflux;
      }
    }),
    section(async () => m.deliveries(await getJson(fetchFn, "/sports/api/deliveries?limit=20"))),
  ]);
  return { at: now(), influx, ingestor, domains, weather, games, deliveries };
}
