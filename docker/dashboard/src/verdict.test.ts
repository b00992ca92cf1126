import { describe, expect, it } from "vitest";
import type { Snapshot } from "./data";
import type { IngestorEntry } from "./model";
import { verdict } from "./verdict";

const entry = (over: Partial<IngestorEntry>): IngestorEntry => ({ entryId: "e", title: "Home", level: "ok", problems: [], ...over }) as IngestorEntry;

const snap = (over: Partial<Snapshot> = {}): Snapshot => ({
  at: 0,
  influx: { ok: true, version: "1.8", latencyMs: 3 },
  ingestor: { ok: true, data: [entry({})] },
  domains: { ok: true, data: { total: 0 } as never },
  weather: { ok: true, data: [] },
  games: { ok: true, data: [] },
  deliveries: { ok: true, data: [] },
  ...over,
});

describe("verdict", () => {
  it("is healthy when nothing needs a look", () => {
    expect(verdict(snap()).level).toBe("ok");
  });
  it("counts warnings and names them", () => {
    const v = verdict(
      snap({
        ingestor: { ok: true, data: [entry({ level: "warn", problems: ["10 events dropped"] })] },
        deliveries: { ok: true, data: [{ ok: false } as never] },
      }),
    );
    expect(v.level).toBe("warn");
    expect(v.text).toBe("2 warnings: 10 events dropped; 1 webhook delivery failed");
  });
  it("is down when InfluxDB or the integration's metrics fail, naming the part", () => {
    const v = verdict(snap({ influx: { ok: false, version: null, latencyMs: 1, error: "HTTP 502" } }));
    expect(v.level).toBe("error");
    expect(v.text).toBe("Down: InfluxDB unreachable (HTTP 502)");
    expect(verdict(snap({ ingestor: { ok: false, error: "x" } })).text).toBe("Down: integration metrics: x");
  });
});
