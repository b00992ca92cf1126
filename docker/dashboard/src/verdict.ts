// The one line at the top: healthy, N warnings, or down, and why. Down means the data path is
// broken (InfluxDB unreachable, or the integration's own metrics unreadable or erroring);
// anything else that needs a look is a warning. Pure, so model.test.ts-style tests stay fast.
import type { Snapshot } from "./data";
import type { Level } from "./model";

export interface Verdict {
  level: Level;
  text: string;
  reasons: string[];
}

export function verdict(snap: Snapshot): Verdict {
  const down: string[] = [];
  const warn: string[] = [];
  if (!snap.influx.ok) down.push(`InfluxDB unreachable (${snap.influx.error ?? "no answer"})`);
  if (!snap.ingestor.ok) down.push(`integration metrics: ${snap.ingestor.error}`);
  else if (!snap.ingestor.data.length) warn.push("no self-metrics from the integration in the last hour");
  else
    for (const e of snap.ingestor.data) {
      const who = snap.ingestor.data.length > 1 ? `${e.title}: ` : "";
      for (const p of e.problems) (e.level === "error" ? down : warn).push(who + p);
    }
  if (!snap.domains.ok) warn.push(`events by domain: ${snap.domains.error}`);
  if (!snap.weather.ok) warn.push(`weather: ${snap.weather.error}`);
  if (!snap.games.ok) warn.push(`games: ${snap.games.error}`);
  if (!snap.deliveries.ok) warn.push(`webhook deliveries: ${snap.deliveries.error}`);
  else {
    const failed = snap.deliveries.data.filter((d) => d.ok === false).length;
    if (failed) warn.push(`${failed} webhook ${failed === 1 ? "delivery" : "deliveries"} failed`);
  }
  if (down.length) return { level: "error", text: `Down: ${down.join("; ")}`, reasons: [...down, ...warn] };
  if (warn.length)
    return {
      level: "warn",
      text: `${warn.length} ${warn.length === 1 ? "warning" : "warnings"}: ${warn.join("; ")}`,
      reasons: warn,
    };
  return { level: "ok", text: "Healthy: InfluxDB reachable, the integration writing, nothing dropped", reasons: [] };
}
