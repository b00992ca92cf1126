import { describe, expect, it, vi } from "vitest";
import { mergeConfig } from "./config";
import { clock, day, yTicks } from "./Chart";
import { faults, refresh, update } from "./data";
import { DASHBOARD_DOWN, duration, FETCH_TIMEOUT_MS, ident, parseQueryResponse, ping, query, QueryError, queries, type Row, rows } from "./influx";
import * as m from "./model";

const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);

// The shape InfluxDB answers `SELECT * ... GROUP BY "entry_id" ... LIMIT 1` with (epoch=ms).
const ingestorBody = {
  results: [
    {
      statement_id: 0,
      series: [
        {
          name: "ha_ingestor",
          tags: { entry_id: "abc" },
          columns: ["time", "connected", "dead_lettered", "dropped", "events_per_minute", "events_received",
            "filtered", "last_write", "pending", "points_written", "title", "write_latency_ms"],
          values: [[NOW - 10_000, 1, 0, 0, 42.5, 1234, 3, NOW / 1000 - 12, 7, 1224, "Home", 8.25]],
        },
      ],
    },
  ],
};

// The shape InfluxDB answers queries.ingestorGrowth with: one series per entry with two points
// in the window at least (sum over non_negative_difference), the time being the epoch.
const growthBody = (dropped: number, deadLettered: number) => ({
  results: [{ statement_id: 0, series: [{ name: "ha_ingestor", tags: { entry_id: "abc" },
    columns: ["time", "dropped", "dead_lettered"], values: [[0, dropped, deadLettered]] }] }],
});

describe("InfluxQL responses", () => {
  it("turns series into rows with tags merged", () => {
    const r = rows(parseQueryResponse(ingestorBody));
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ entry_id: "abc", title: "Home", pending: 7, events_per_minute: 42.5 });
  });

  it("treats a statement without series as empty and raises statement errors", () => {
    expect(parseQueryResponse({ results: [{ statement_id: 0 }] })).toEqual([]);
    expect(() => parseQueryResponse({ results: [{ error: "database not found: x" }] })).toThrow(QueryError);
    expect(() => parseQueryResponse({ error: "unauthorized access" })).toThrow("unauthorized access");
    expect(() => parseQueryResponse("nope")).toThrow(QueryError);
  });

  it("quotes identifiers and refuses anything but a duration literal", () => {
    expect(ident('we"ird\\name')).toBe('"we\\"ird\\\\name"');
    expect(duration("24h")).toBe("24h");
    expect(() => duration("1h; DROP DATABASE x")).toThrow();
    expect(queries.eventsByDomain("6h", "10m")).toContain("now() - 6h GROUP BY time(10m)");
  });

  it("sends GET /influxdb/query with db, q and epoch=ms and no credentials", async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const fake = async (url: string, init?: RequestInit) => {
      seen.push({ url, init });
      return new Response(JSON.stringify(ingestorBody), { status: 200 });
    };
    await query(fake, "home_assistant", queries.ingestor());
    const u = new URL(seen[0].url, "http://x");
    expect(u.pathname).toBe("/influxdb/query");
    expect(u.searchParams.get("db")).toBe("home_assistant");
    expect(u.searchParams.get("epoch")).toBe("ms");
    expect(seen[0].init?.method ?? "GET").toBe("GET");
    expect(JSON.stringify(seen[0].init?.headers ?? {})).not.toMatch(/authorization/i);
  });

  it("names the failing part: InfluxDB behind the proxy, its token, or the dashboard server", async () => {
    const answer = (status: number, body = "") => async () => new Response(body, { status });
    await expect(query(answer(401, JSON.stringify({ error: "authorization failed" })), "db", "SELECT 1")).rejects.toThrow(
      "InfluxDB refused the dashboard's read token (HTTP 401: authorization failed)",
    );
    // nginx answers 502 when InfluxDB is down, 504 when it hangs: not "InfluxDB answered 502".
    await expect(query(answer(502, "<html>Bad Gateway</html>"), "db", "SELECT 1")).rejects.toThrow(
      "InfluxDB unreachable through the proxy (HTTP 502)",
    );
    await expect(query(answer(504), "db", "SELECT 1")).rejects.toMatchObject({ part: "influxdb" });
    const nothing = async () => {
      throw new TypeError("Failed to fetch");
    };
    await expect(query(nothing, "db", "SELECT 1")).rejects.toMatchObject({ part: "dashboard", message: DASHBOARD_DOWN });
    // A connection that never answers is given up on (the refresh goes on), not waited for.
    let signal: AbortSignal | undefined;
    const hangs = (_url: string, init?: RequestInit) => {
      signal = init?.signal ?? undefined;
      return new Promise<Response>((_resolve, reject) => {
        signal?.addEventListener("abort", () => reject(signal?.reason));
      });
    };
    vi.useFakeTimers();
    try {
      const pending = expect(query(hangs, "db", "SELECT 1")).rejects.toMatchObject({ part: "dashboard" });
      await vi.advanceTimersByTimeAsync(FETCH_TIMEOUT_MS + 1);
      await pending;
    } finally {
      vi.useRealTimers();
    }
    expect(signal?.aborted).toBe(true);
  });

  it("pings and reads the version header; a failed ping has no latency", async () => {
    let t = 0;
    const tick = () => (t += 5);
    const ok = await ping(async () => new Response(null, { status: 204, headers: { "X-Influxdb-Version": "1.6.7" } }), tick);
    expect(ok).toEqual({ version: "1.6.7", latencyMs: 5 });
    await expect(ping(async () => new Response("bad gateway", { status: 502 }), tick)).rejects.toThrow(
      "InfluxDB unreachable through the proxy (HTTP 502)",
    );
    await expect(
      ping(async () => {
        throw new TypeError("Failed to fetch");
      }, tick),
    ).rejects.toThrow(DASHBOARD_DOWN);
  });
});

describe("integration health", () => {
  const base = rows(parseQueryResponse(ingestorBody))[0];
  const entries = (latest: Row[], growth: Row[] = []) => m.ingestorEntries(latest, growth, NOW, "24h");

  it("maps the self-metrics fields", () => {
    const [e] = entries([base]);
    expect(e).toMatchObject({
      entryId: "abc", title: "Home", eventsPerMinute: 42.5, pending: 7, dropped: 0,
      eventsReceived: 1234, pointsWritten: 1224, connected: true, lastWrite: NOW - 12_000, level: "ok",
    });
    expect(e.problems).toEqual([]);
  });

  it("flags a disconnected InfluxDB as an error", () => {
    const [e] = entries([{ ...base, connected: 0 }]);
    expect(e.level).toBe("error");
    expect(e.problems[0]).toMatch(/unreachable/);
  });

  it("warns on stale metrics, old or missing writes", () => {
    const [stale] = entries([{ ...base, time: NOW - 5 * 60_000 }]);
    expect(stale.level).toBe("warn");
    expect(stale.problems).toContain("no self-metrics for 5 min");
    // Silent longer: down (self-metrics are written only while InfluxDB is reachable).
    const [silent] = entries([{ ...base, time: NOW - 2 * 3600_000 }]);
    expect(silent.level).toBe("error");
    expect(silent.problems[0]).toBe("no self-metrics for 2 h: Home Assistant is stopped or cannot reach InfluxDB");
    const [never] = entries([{ ...base, last_write: 0 }]);
    expect(never.lastWrite).toBeNull();
    expect(never.problems).toContain("no successful write yet");
    const [old] = entries([{ ...base, last_write: NOW / 1000 - 3600 }]);
    expect(old.problems).toContain("last successful write 60 min ago");
  });

  it("shows drops and dead letters long ago as totals, not as a warning", () => {
    const old = { ...base, dropped: 1500, dead_lettered: 1 };
    for (const growth of [rows(parseQueryResponse(growthBody(0, 0))), []]) {
      const [e] = entries([old], growth);
      expect(e).toMatchObject({ level: "ok", problems: [], dropped: 1500, deadLettered: 1 });
      expect(m.lifetimeTotals(e)).toBe("Since the entry was set up: 1,500 events dropped, 1 point dead-lettered");
    }
    expect(m.lifetimeTotals(entries([base])[0])).toBeNull();
  });

  it("warns on what the totals grew by within the window", () => {
    const [e] = entries([{ ...base, dropped: 1500, dead_lettered: 2 }], rows(parseQueryResponse(growthBody(1, 2))));
    expect(e.level).toBe("warn");
    expect(e.problems).toEqual(["1 event dropped in the last 24h", "2 points dead-lettered in the last 24h"]);
    expect(m.lifetimeTotals(e)).toBe("Since the entry was set up: 1,500 events dropped, 2 points dead-lettered");
    // Each entry's growth is its own.
    const [other] = entries([{ ...base, entry_id: "x", dropped: 1500 }], rows(parseQueryResponse(growthBody(1, 2))));
    expect(other.level).toBe("ok");
  });

  it("asks InfluxDB for growth within the window that skips a counter's reset", () => {
    const q = queries.ingestorGrowth("6h");
    expect(q).toContain('non_negative_difference("dropped")');
    expect(q).toContain('non_negative_difference("dead_lettered")');
    expect(q).toContain("WHERE time > now() - 6h GROUP BY \"entry_id\"");
    expect(() => queries.ingestorGrowth("6h; DROP")).toThrow();
  });

  it("sorts several config entries by title", () => {
    const out = entries([{ ...base, title: "b" }, { ...base, entry_id: "x", title: "a" }]);
    expect(out.map((e) => e.title)).toEqual(["a", "b"]);
  });
});

describe("events by domain", () => {
  const t0 = NOW - 3 * 3_600_000;
  const s = (domain: string, counts: number[]) => ({
    name: "ha_states",
    tags: { domain },
    columns: ["time", "count"],
    values: counts.map((c, i) => [t0 + i * 3_600_000, c]),
  });

  const span = { now: NOW - 20 * 60_000, bucketMs: 3_600_000, windowMs: 3 * 3_600_000 };

  it("aligns counts on one time axis and sorts domains by total", () => {
    const d = m.eventsByDomain([s("light", [1, 0, 2]), s("sensor", [5, 6, 7]), s("switch", [0, 0, 0])], span);
    expect(d.times).toEqual([t0, t0 + 3_600_000, t0 + 7_200_000]);
    expect(d.domains.map((x) => [x.domain, x.total])).toEqual([["sensor", 18], ["light", 3]]);
    expect(d.total).toBe(21);
  });

  it("folds the smallest domains into 'other'", () => {
    const d = m.eventsByDomain([s("a", [9]), s("b", [8]), s("c", [1]), s("d", [2])], span, 3);
    expect(d.domains.map((x) => [x.domain, x.total])).toEqual([["a", 9], ["b", 8], ["other", 3]]);
    expect(d.total).toBe(20);
  });

  it("is empty without series", () => {
    expect(m.eventsByDomain([], span)).toEqual({ times: [], bucketMs: 3_600_000, partial: [], domains: [], total: 0 });
  });

  it("marks the hour still filling and the one the window cuts as partial, not the whole ones", () => {
    // Buckets 09:00, 10:00, 11:00; now 11:40. A 3 h window starts at 08:40, a 2 h one at 09:40.
    const d = m.eventsByDomain([s("sensor", [5, 6, 7])], span);
    expect(d.partial).toEqual([false, false, true]);
    const cut = m.eventsByDomain([s("sensor", [5, 6, 7])], { ...span, windowMs: 2 * 3_600_000 });
    expect(cut.partial).toEqual([true, false, true]);
  });

  it("reads the window and bucket durations", () => {
    expect(m.durationMs("1h")).toBe(3_600_000);
    expect(m.durationMs("24h")).toBe(86_400_000);
    expect(m.durationMs("10m")).toBe(600_000);
    expect(() => m.durationMs("1 hour")).toThrow();
  });
});

describe("chart axes", () => {
  it("labels midnight as a time, with the day in words apart from it", () => {
    const midnight = new Date(2026, 11, 2).getTime(); // local, as the page shows it
    expect(clock(midnight)).toBe("00:00");
    expect(clock(midnight + 13 * 3_600_000)).toBe("13:00");
    expect(day(midnight)).toBe("Wed 2 Dec");
  });

  it("steps the count axis in round numbers up to the tallest bar", () => {
    expect(yTicks(0)).toEqual([0, 1]);
    expect(yTicks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(yTicks(130)).toEqual([0, 50, 100, 150]);
  });
});

describe("weather, games and deliveries", () => {
  it("keeps the newest weather first and tolerates missing fields", () => {
    const w = m.weather([
      { time: 1, source: "weather.home", condition: "rainy", temperature: 11.5 },
      { time: 2, source: "openweathermap", condition: "sunny", temperature: 20, humidity: 40, wind_bearing: 270 },
    ]);
    expect(w.map((x) => x.source)).toEqual(["openweathermap", "weather.home"]);
    expect(w[1].humidity).toBeNull();
    expect(m.compass(w[0].windBearing)).toBe("W");
  });

  it("lists live games first, then upcoming, then final", () => {
    const g = m.games([
      { time: 3, game_id: "1", state: "post", home: "MIA", away: "NE", home_score: 20, away_score: 7 },
      { time: 1, game_id: "2", state: "in", home: "ATL", away: "NO", home_score: 3, away_score: 0 },
      { time: 2, game_id: "3", state: "pre", home: "SEA", away: "DEN" },
    ]);
    expect(g.map((x) => x.gameId)).toEqual(["2", "3", "1"]);
    expect(g[2]).toMatchObject({ homeScore: 20, awayScore: 7 });
    expect(g[1].homeScore).toBeNull();
  });

  it("reads the sports service's delivery log", () => {
    const [d] = m.deliveries({
      deliveries: [
        { delivery_id: "7d0c", subscription_id: 1, event: "test", status: "failed", attempts: 1,
          next_attempt_at: null, last_status_code: 500, last_error: "HTTP 500", league: null,
          game_id: null, created_at: "2026-11-27T11:59:00Z", updated_at: "2026-11-27T11:59:30Z" },
      ],
    });
    expect(d).toEqual({ id: "7d0c", event: "test", target: "1", status: "failed", ok: false,
      attempts: 1, httpStatus: 500, error: "HTTP 500", time: Date.UTC(2026, 10, 27, 11, 59, 30) });
  });

  it("reads the sports service's games", () => {
    const g = m.serviceGames({
      games: [
        { id: "401", league: "nfl", name: "New Orleans Saints at Atlanta Falcons", state: "in", detail: "0:48 - 4th",
          period: 4, home: { abbreviation: "ATL", score: 26 }, away: { abbreviation: "NO", score: 10 },
          updated_at: "2026-11-27T11:00:00Z" },
      ],
    });
    expect(g[0]).toMatchObject({ gameId: "401", home: "ATL", away: "NO", homeScore: 26, awayScore: 10, state: "in", period: 4 });
  });

  it("normalises deliveries from a list or a wrapper, newest first", () => {
    const body = {
      deliveries: [
        { id: 1, event_type: "score_changed", status: "delivered", attempts: 1, response_status: 200, created_at: "2026-11-27T11:00:00Z" },
        { id: 2, event_type: "game_ended", status: "failed", attempts: 5, response_status: 500, created_at: NOW / 1000 - 60 },
        { id: 3, event: "game_started", status: "pending" },
      ],
    };
    const d = m.deliveries(body);
    expect(d.map((x) => x.id)).toEqual(["2", "1", "3"]);
    expect(d.map((x) => x.ok)).toEqual([false, true, null]);
    expect(d[0].httpStatus).toBe(500);
    expect(m.deliveries(body.deliveries)).toHaveLength(3);
    expect(m.deliveries({ nope: 1 })).toEqual([]);
  });
});

describe("formatting", () => {
  it("formats numbers in a fixed locale and ages compactly", () => {
    expect(m.fmtInt(1234567)).toBe("1,234,567");
    expect(m.fmtInt(null)).toBe("–");
    expect(m.fmtNum(42.46, 1)).toBe("42.5");
    expect(m.age(12_000)).toBe("12 s");
    expect(m.age(45 * 60_000)).toBe("45 min");
    expect(m.age(5 * 3_600_000)).toBe("5 h");
    expect(m.age(3 * 86_400_000)).toBe("3 d");
  });

  it("puts a unit on every measured value, and none on a missing one", () => {
    expect(m.withUnit(12.5, 1, "°C")).toBe("12.5 °C");
    expect(m.withUnit(1012, 0, "hPa")).toBe("1,012 hPa");
    expect(m.withUnit(81, 0, "%")).toBe("81 %");
    expect(m.withUnit(null, 1, "ms")).toBe("–");
    // The integration stores every source in these (an entity's km/h converted to m/s).
    expect(m.weatherUnits()).toEqual({ temperature: "°C", pressure: "hPa", windSpeed: "m/s" });
  });
});

describe("config", () => {
  it("falls back to the events database for weather and sports", () => {
    expect(mergeConfig({ database: "ha" })).toMatchObject({ database: "ha", contextDatabase: "ha", refreshSeconds: 30 });
    expect(mergeConfig({ database: "ha", contextDatabase: "ctx", refreshSeconds: "10" })).toMatchObject({ contextDatabase: "ctx", refreshSeconds: 10 });
    expect(mergeConfig({ refreshSeconds: 0 }).refreshSeconds).toBe(30);
    // setTimeout fires at once past 2^31-1 ms: a huge interval is a day, not a query loop
    expect(mergeConfig({ refreshSeconds: "3000000" }).refreshSeconds).toBe(86_400);
    expect(mergeConfig({ refreshSeconds: "1e12" }).refreshSeconds * 1000).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(mergeConfig(null).database).toBe("home_assistant");
    // The verdict counts in the window: one it cannot read is the default, not a blank page.
    expect(mergeConfig({ window: "6h" }).window).toBe("6h");
    expect(mergeConfig({ window: "a day" }).window).toBe("24h");
  });

  it("knows when the sports service is not set up", () => {
    expect(mergeConfig({}).sports).toBe(true);
    expect(mergeConfig({ sports: "on" }).sports).toBe(true);
    expect(mergeConfig({ sports: "off" }).sports).toBe(false);
  });
});

describe("refresh", () => {
  it("reads weather from the context database, else from the events database", async () => {
    const asked: string[] = [];
    const weatherBody = {
      results: [{ series: [{ name: "weather", tags: { source: "weather.home" }, columns: ["time", "temperature"], values: [[NOW, 3.5]] }] }],
    };
    const fake = async (url: string) => {
      if (url === "/influxdb/ping") return new Response(null, { status: 204 });
      if (url.startsWith("/sports/")) return new Response(JSON.stringify({ deliveries: [], games: [] }));
      const p = new URL(url, "http://x").searchParams;
      if ((p.get("q") ?? "").includes('"weather"')) asked.push(p.get("db") ?? "");
      if ((p.get("q") ?? "").includes('"weather"') && p.get("db") === "events") return new Response(JSON.stringify(weatherBody));
      if (p.get("db") === "missing") return new Response(JSON.stringify({ results: [{ error: "database not found: missing" }] }));
      return new Response(JSON.stringify({ results: [{ statement_id: 0 }] }));
    };
    const snap = await refresh(fake, mergeConfig({ database: "events", contextDatabase: "ctx" }), () => NOW);
    expect(asked).toEqual(["ctx", "events"]);
    expect(snap.weather.ok && snap.weather.data[0].temperature).toBe(3.5);
    // No such context database (one-database InfluxDB 1.x): same fallback, no error shown.
    const again = await refresh(fake, mergeConfig({ database: "events", contextDatabase: "missing" }), () => NOW);
    expect(again.weather.ok && again.weather.data[0].temperature).toBe(3.5);
    expect(again.games).toEqual({ ok: true, data: [] });
  });

  it("keeps the other sections when one source fails", async () => {
    const fake = async (url: string) => {
      if (url === "/influxdb/ping") return new Response(null, { status: 204 });
      if (url.startsWith("/sports/")) return new Response("upstream down", { status: 502 });
      const q = new URL(url, "http://x").searchParams.get("q") ?? "";
      if (q.includes("ha_ingestor")) return new Response(JSON.stringify(ingestorBody));
      return new Response(JSON.stringify({ results: [{ statement_id: 0 }] }));
    };
    const snap = await refresh(fake, mergeConfig({}), () => NOW);
    expect(snap.influx.ok).toBe(true);
    expect(snap.ingestor.ok && snap.ingestor.data[0].pending).toBe(7);
    expect(snap.domains.ok && snap.domains.data.total).toBe(0);
    expect(snap.games).toEqual({ ok: true, data: [] });
    expect(snap.deliveries).toEqual({ ok: false, fault: { part: "sports", text: "sports service not answering (HTTP 502)" } });
  });

  it("asks nothing of the sports service when it is not set up", async () => {
    const asked: string[] = [];
    const fake = async (url: string) => {
      asked.push(url);
      if (url === "/influxdb/ping") return new Response(null, { status: 204 });
      return new Response(JSON.stringify({ results: [{ statement_id: 0 }] }));
    };
    const snap = await refresh(fake, mergeConfig({ sports: "off" }), () => NOW);
    expect(asked.filter((u) => u.startsWith("/sports/"))).toEqual([]);
    expect(snap.deliveries).toBeNull();
    expect(snap.games).toEqual({ ok: true, data: [] });
  });

  it("judges drops on the growth InfluxDB reports for the page's window", async () => {
    const asked: string[] = [];
    const fake = async (url: string) => {
      if (url === "/influxdb/ping") return new Response(null, { status: 204 });
      if (url.startsWith("/sports/")) return new Response(JSON.stringify({ deliveries: [] }));
      const q = new URL(url, "http://x").searchParams.get("q") ?? "";
      asked.push(q);
      if (q.includes("non_negative_difference")) return new Response(JSON.stringify(growthBody(3, 0)));
      if (q.includes("ha_ingestor")) return new Response(JSON.stringify(ingestorBody));
      return new Response(JSON.stringify({ results: [{ statement_id: 0 }] }));
    };
    const snap = await refresh(fake, mergeConfig({ window: "6h" }), () => NOW);
    expect(asked).toContain(queries.ingestorGrowth("6h"));
    expect(snap.ingestor.ok && snap.ingestor.data[0].problems).toEqual(["3 events dropped in the last 6h"]);
  });

  it("keeps the last good data while a source is down, and names each failure once", async () => {
    let influxUp = true;
    const fake = async (url: string) => {
      if (url.startsWith("/sports/")) return new Response(JSON.stringify({ deliveries: [] }));
      if (!influxUp) return new Response("<html>502 Bad Gateway</html>", { status: 502 });
      if (url === "/influxdb/ping") return new Response(null, { status: 204, headers: { "X-Influxdb-Version": "1.6.7" } });
      const q = new URL(url, "http://x").searchParams.get("q") ?? "";
      if (q.includes("ha_ingestor")) return new Response(JSON.stringify(ingestorBody));
      return new Response(JSON.stringify({ results: [{ statement_id: 0 }] }));
    };
    const cfg = mergeConfig({});
    const first = update(null, await refresh(fake, cfg, () => NOW));
    expect(first.ingestor).toMatchObject({ at: NOW, fault: null });
    influxUp = false;
    const later = update(first, await refresh(fake, cfg, () => NOW + 30_000));
    expect(later.at).toBe(NOW + 30_000);
    // Stale: the values from the last good read, when that was, and why they are not newer.
    expect(later.ingestor.data?.[0].pending).toBe(7);
    expect(later.ingestor.at).toBe(NOW);
    expect(later.ingestor.fault).toEqual({ part: "influxdb", text: "InfluxDB unreachable through the proxy (HTTP 502)" });
    expect(later.influx.data?.version).toBe("1.6.7");
    expect(later.deliveries).toMatchObject({ at: NOW + 30_000, fault: null });
    // Five sections failed the same way: one fault.
    expect(faults(later)).toEqual([{ part: "influxdb", text: "InfluxDB unreachable through the proxy (HTTP 502)" }]);
    // Back up: fresh again.
    influxUp = true;
    const back = update(later, await refresh(fake, cfg, () => NOW + 60_000));
    expect(back.ingestor).toMatchObject({ at: NOW + 60_000, fault: null });
  });
});
