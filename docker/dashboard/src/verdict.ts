// The one line at the top: healthy, N warnings, or down, and why. It is also the one place a
// failure is spelled out: each failing part is named once here, never again on every card.
// Down means the data path is broken (InfluxDB or the dashboard server unreachable, or the
// integration's own metrics unreadable or erroring); anything else that needs a look is a warning.
import type { Fault, View } from "./data";
import { durationMs, type Level, recentFailures } from "./model";

export interface Verdict {
  level: Level;
  text: string;
  reasons: string[];
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** `window`: the dashboard's look-back window (Config.window): only what went wrong within it
 * warns, so one failure long ago does not keep the page at "1 warning" for good. */
export function verdict(v: View, window: string): Verdict {
  const down: string[] = [];
  const warn: string[] = [];
  const add = (list: string[], text: string) => {
    if (!down.includes(text) && !warn.includes(text)) list.push(text);
  };
  const fault = (f: Fault | null | undefined, core: boolean) => {
    if (f) add(core || f.part === "dashboard" ? down : warn, f.text);
  };
  // The data path first, so a fault shared with a later card counts as "down" once.
  fault(v.influx.fault, true);
  fault(v.ingestor.fault, true);
  for (const s of [v.domains, v.weather, v.games, v.deliveries]) fault(s?.fault, false);

  // Problems are judged on fresh data only: a stale copy says nothing about now.
  const entries = v.ingestor.fault ? null : v.ingestor.data;
  if (entries && !entries.length) add(warn, "no self-metrics from the integration in the last 7 days");
  for (const e of entries ?? []) {
    const who = entries!.length > 1 ? `${e.title}: ` : "";
    for (const p of e.problems) add(e.level === "error" ? down : warn, who + p);
  }
  if (v.deliveries && !v.deliveries.fault && v.deliveries.data) {
    const failed = recentFailures(v.deliveries.data, v.at, durationMs(window));
    if (failed) add(warn, `${plural(failed, "webhook delivery", "webhook deliveries")} failed in the last ${window}`);
  }

  const warnings = warn.length ? `${plural(warn.length, "warning", "warnings")}: ${warn.join("; ")}` : "";
  if (down.length)
    return { level: "error", text: `Down: ${down.join("; ")}${warnings ? ` · ${warnings}` : ""}`, reasons: [...down, ...warn] };
  if (warn.length) return { level: "warn", text: warnings, reasons: warn };
  return { level: "ok", text: `Healthy: InfluxDB reachable, the integration writing, nothing dropped in the last ${window}`, reasons: [] };
}
