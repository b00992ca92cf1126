import { useEffect, useRef, useState } from "preact/hooks";
import { type DomainSeries, fmtInt } from "./model";

export const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#64748b"];

const HEIGHT = 220;
const LEFT = 40; // y labels
const BOTTOM = 40; // hour labels, then day labels
const TOP = 8;
const DAY_LABEL_W = 84; // room a "Wed 22 Dec" label needs
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const pad = (n: number) => String(n).padStart(2, "0");

/** 24-hour clock, like the rest of the page; 00:00 at midnight, never a date-like "12-01". */
export const clock = (ms: number) => {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
/** The day, in words, under the first bucket of each day: "Wed 2 Dec". */
export const day = (ms: number) => {
  const d = new Date(ms);
  return `${DAYS[d.getDay()]} ${d.getDate()} ${MONTHS[d.getMonth()]}`;
};
const dayKey = (ms: number) => new Date(ms).toDateString();

/** 0, a round step, up to at least `max`: 1, 2, 5 x 10^n. */
export function yTicks(max: number): number[] {
  const target = Math.max(1, max) / 4;
  const mag = 10 ** Math.floor(Math.log10(target));
  const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= target) ?? 10 * mag;
  const ticks = [0];
  while (ticks[ticks.length - 1] < max || ticks.length < 2) ticks.push(ticks[ticks.length - 1] + Math.max(1, step));
  return ticks;
}

function Readout({ data, i }: { data: DomainSeries; i: number }) {
  const t = data.times[i];
  const rows = data.domains.map((d, k) => ({ d, k, n: d.counts[i] })).filter((r) => r.n > 0);
  const total = rows.reduce((a, r) => a + r.n, 0);
  const now = i === data.times.length - 1 && data.partial[i];
  return (
    <div class="readout" data-testid="readout" data-bucket={i} aria-live="polite">
      <b data-testid="readout-time">
        {clock(t)}–{clock(t + data.bucketMs)}
      </b>{" "}
      {data.partial[i] && (
        <span class="partial-note" data-testid="readout-partial">
          {now ? "in progress, so far" : "partly outside the window"}
        </span>
      )}{" "}
      <span data-testid="readout-total">
        {fmtInt(total)} {total === 1 ? "event" : "events"}
      </span>
      {rows.length > 0 && (
        <ul>
          {rows.map(({ d, k, n }) => (
            <li key={d.domain} data-testid={`readout-${d.domain}`}>
              <span class="swatch" style={{ background: PALETTE[k % PALETTE.length] }} />
              {d.domain} {fmtInt(n)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Events per time bucket as stacked bars, one colour per domain, in SVG (no canvas: it
 * scales, prints and is readable by a test). Hovering, tapping or focusing a bar shows its
 * counts in the readout above; with none chosen it shows the newest bucket. */
export function DomainChart({ data }: { data: DomainSeries }) {
  const box = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  const [chosen, setChosen] = useState<number | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setWidth(el.clientWidth);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const n = data.times.length;
  const totals = data.times.map((_, i) => data.domains.reduce((a, d) => a + d.counts[i], 0));
  const ticks = yTicks(Math.max(0, ...totals));
  const top = ticks[ticks.length - 1];
  const plotW = Math.max(0, width - LEFT - 4);
  const plotH = HEIGHT - TOP - BOTTOM;
  const band = n ? plotW / n : 0;
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  const labelEvery = Math.max(1, Math.ceil(44 / Math.max(1, band)));
  const shown = chosen !== null && chosen < n ? chosen : n - 1;
  // A day label under the first bucket of each day; the first one only if it has room.
  const dayStarts = data.times.flatMap((t, i) => (i === 0 || dayKey(t) !== dayKey(data.times[i - 1]) ? [i] : []));
  const labelled = new Set(dayStarts.filter((i, k) => i > 0 || dayStarts.length === 1 || dayStarts[k + 1] * band >= DAY_LABEL_W));

  return (
    <div class="chart-wrap">
      {n > 0 && <Readout data={data} i={shown} />}
      <div class="chart" ref={box} onMouseLeave={() => setChosen(null)}>
        {width > 0 && (
          <svg width={width} height={HEIGHT} role="img" aria-label="Events per domain over time, stacked bars">
            {ticks.map((v) => (
              <g key={v} class="grid">
                <line x1={LEFT} x2={LEFT + plotW} y1={y(v)} y2={y(v)} />
                <text x={LEFT - 6} y={y(v) + 4} text-anchor="end">
                  {fmtInt(v)}
                </text>
              </g>
            ))}
            {data.times.map((t, i) => {
              const x = LEFT + i * band;
              const newDay = i > 0 && dayKey(t) !== dayKey(data.times[i - 1]);
              let acc = 0;
              return (
                <g
                  key={t}
                  class={`col${data.partial[i] ? " partial" : ""}${i === shown ? " chosen" : ""}`}
                  data-testid={`bucket-${i}`}
                  data-index={i}
                  data-start={t}
                  tabIndex={0}
                  onMouseEnter={() => setChosen(i)}
                  onFocus={() => setChosen(i)}
                  onClick={() => setChosen(i)}
                >
                  <rect class="hit" x={x} y={TOP} width={band} height={plotH} />
                  {data.domains.map((d, k) => {
                    const c = d.counts[i];
                    if (!c) return null;
                    const y0 = y(acc);
                    acc += c;
                    return (
                      <rect
                        key={d.domain}
                        x={x + band * 0.12}
                        width={Math.max(1, band * 0.76)}
                        y={y(acc)}
                        height={Math.max(0, y0 - y(acc))}
                        fill={PALETTE[k % PALETTE.length]}
                      />
                    );
                  })}
                  {newDay && <line class="midnight" x1={x} x2={x} y1={TOP} y2={TOP + plotH + 20} />}
                  {i % labelEvery === 0 && (
                    <text class="tick" x={Math.min(x + band / 2, width - 16)} y={TOP + plotH + 15} text-anchor="middle">
                      {clock(t)}
                    </text>
                  )}
                  {labelled.has(i) && (
                    // Near the right edge the label ends there instead of running off it.
                    <text
                      class="day"
                      x={x + DAY_LABEL_W > width ? width - 2 : x + 2}
                      text-anchor={x + DAY_LABEL_W > width ? "end" : "start"}
                      y={TOP + plotH + 32}
                      data-testid="day-label"
                    >
                      {day(t)}
                    </text>
                  )}
                </g>
              );
            })}
          </svg>
        )}
      </div>
    </div>
  );
}
