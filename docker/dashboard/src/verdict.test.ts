import { describe, expect, it } from "vitest";
import { type Snapshot, update } from "./data";
import type { IngestorEntry } from "./model";
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
const proxyDown = { ok: false as const, fault: { part: "influxdb" as const, text: "InfluxDB unreachable through the proxy (HTTP 502)" } };

describe("verdict", () => {
  it("is healthy when nothing needs a look", () => {
    expect(verdict(view()).level).toBe("ok");
  });
  it("counts warnings and names them", () => {
    const v = verdict(
      view({
        ingestor: { ok: true, data: [entry({ level: "warn", problems: ["10 events dropped"] })] },
        deliveries: { ok: true, data: [{ ok: false } as never] },
      }),
    );
    expect(v.level).toBe("warn");
    expect(v.text).toBe("2 warnings: 10 events dropped; 1 webhook delivery failed");
  });
  it("is down when InfluxDB fails, naming it once however many cards it empties", () => {
    const v = verdict(view({ influx: proxyDown, ingestor: proxyDown, domains: proxyDown, weather: proxyDown, games: proxyDown }));
    expect(v.level).toBe("error");
    expect(v.text).toBe("Down: InfluxDB unreachable through the proxy (HTTP 502)");
  });
  it("keeps a failing sports service a warning of its own beside a down InfluxDB", () => {
    const sports = { ok: false as const, fault: { part: "sports" as const, text: "sports service not answering (HTTP 502)" } };
    expect(verdict(view({ deliveries: sports })).text).toBe("1 warning: sports service not answering (HTTP 502)");
    expect(verdict(view({ influx: proxyDown, ingestor: proxyDown, deliveries: sports })).text).toBe(
      "Down: InfluxDB unreachable through the proxy (HTTP 502) · 1 warning: sports service not answering (HTTP 502)",
    );
  });
  it("judges problems on fresh data only, never on a stale copy", () => {
    const first = view({ ingestor: { ok: true, data: [entry({ level: "warn", problems: ["10 events dropped"] })] } });
    const later = update(first, snap({ at: 30_000, influx: proxyDown, ingestor: proxyDown }));
    expect(later.ingestor.data).toHaveLength(1);
    expect(verdict(later).text).toBe("Down: InfluxDB unreachable through the proxy (HTTP 502)");
  });
  it("says nothing about deliveries without the sports service", () => {
    expect(verdict(view({ deliveries: null })).level).toBe("ok");
  });
});
