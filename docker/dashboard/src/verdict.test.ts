import { describe, expect, it } from "vitest";
import { type Snapshot, update } from "./data";
import type { Delivery, IngestorEntry } from "./model";
import { verdict } from "./verdict";

const entry = (over: Partial<IngestorEntry>): IngestorEntry => ({ entryId: "e", title: "Home", level: "ok", problems: [], ...over }) as IngestorEntry;

const snap = (over: Partial<Snapshot> = {}): Snapshot => ({
  at: 0,
  influx: { ok: true, data: { version: "1.8", latencyMs: 3 } },
  ingestor: { ok: true, data: [entry({})] },
  domains: { ok: true, data: { total: 0 } as never },
  weather: { ok: true, data: [] },
  games: { ok: true, data: [] },
  deliveries: { ok: true, data: [] },
  ...over,
});
const view = (over: Partial<Snapshot> = {}) => update(null, snap(over));
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const delivery = (ok: boolean, ago: number): Delivery => ({
  id: String(ago), event: "test", target: "http://hook", status: ok ? "delivered" : "failed", ok,
  attempts: 1, httpStatus: ok ? 200 : 500, error: ok ? null : "HTTP 500", time: NOW + ago,
});
const failed = (ago: number) => delivery(false, ago);
const delivered = (ago: number) => delivery(true, ago);
const proxyDown = { ok: false as const, fault: { part: "influxdb" as const, text: "InfluxDB unreachable through the proxy (HTTP 502)" } };

describe("verdict", () => {
  it("is healthy when nothing needs a look", () => {
    expect(verdict(view(), "24h").level).toBe("ok");
  });
  it("counts warnings and names them", () => {
    const v = verdict(
      view({
        ingestor: { ok: true, data: [entry({ level: "warn", problems: ["10 events dropped in the last 24h"] })] },
        deliveries: { ok: true, data: [failed(-60_000)] },
      }),
      "24h",
    );
    expect(v.level).toBe("warn");
    expect(v.text).toBe("2 warnings: 10 events dropped in the last 24h; 1 webhook delivery failed in the last 24h");
  });
  it("warns on a webhook delivery that failed within the window, not on one that failed before", () => {
    const hour = 3_600_000;
    const deliveries = (...data: Delivery[]) => view({ at: NOW, deliveries: { ok: true, data } });
    const old = verdict(deliveries(failed(-25 * hour), failed(-7 * hour), delivered(-hour)), "6h");
    expect(old).toMatchObject({ level: "ok", text: "Healthy: InfluxDB reachable, the integration writing, nothing dropped in the last 6h" });
    expect(verdict(deliveries(failed(-23 * hour)), "24h").level).toBe("warn");
    expect(verdict(deliveries(failed(-5 * hour), failed(-7 * hour), failed(-hour)), "6h").text).toBe(
      "1 warning: 2 webhook deliveries failed in the last 6h",
    );
    // No time to judge its age by: it counts.
    expect(verdict(deliveries({ ...failed(0), time: null }), "6h").level).toBe("warn");
  });
  it("is down when InfluxDB fails, naming it once however many cards it empties", () => {
    const v = verdict(view({ influx: proxyDown, ingestor: proxyDown, domains: proxyDown, weather: proxyDown, games: proxyDown }), "24h");
    expect(v.level).toBe("error");
    expect(v.text).toBe("Down: InfluxDB unreachable through the proxy (HTTP 502)");
  });
  it("keeps a failing sports service a warning of its own beside a down InfluxDB", () => {
    const sports = { ok: false as const, fault: { part: "sports" as const, text: "sports service not answering (HTTP 502)" } };
    expect(verdict(view({ deliveries: sports }), "24h").text).toBe("1 warning: sports service not answering (HTTP 502)");
    expect(verdict(view({ influx: proxyDown, ingestor: proxyDown, deliveries: sports }), "24h").text).toBe(
      "Down: InfluxDB unreachable through the proxy (HTTP 502) · 1 warning: sports service not answering (HTTP 502)",
    );
  });
  it("judges problems on fresh data only, never on a stale copy", () => {
    const first = view({ ingestor: { ok: true, data: [entry({ level: "warn", problems: ["10 events dropped"] })] } });
    const later = update(first, snap({ at: 30_000, influx: proxyDown, ingestor: proxyDown }));
    expect(later.ingestor.data).toHaveLength(1);
    expect(verdict(later, "24h").text).toBe("Down: InfluxDB unreachable through the proxy (HTTP 502)");
  });
  it("says nothing about deliveries without the sports service", () => {
    expect(verdict(view({ deliveries: null }), "24h").level).toBe("ok");
  });
});
