import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { DomainSeries } from "./model";

export const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#64748b"];

const pad = (n: number) => String(n).padStart(2, "0");
function axisTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  if (d.getHours() === 0 && d.getMinutes() === 0) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Events per time bucket, one line per domain. uPlot draws on canvas and is resized with its box. */
export function DomainChart({ data }: { data: DomainSeries }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const height = 220;
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height,
        legend: { show: false }, // the table next to the chart carries the numbers
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [
          {
            stroke: "currentColor",
            grid: { stroke: "rgba(127,127,127,0.15)" },
            // 24-hour clock like the rest of the page; the date at midnight.
            values: (_u, splits) => splits.map(axisTime),
          },
          { stroke: "currentColor", grid: { stroke: "rgba(127,127,127,0.15)" }, size: 44 },
        ],
        series: [
          {},
          ...data.domains.map((d, i) => ({
            label: d.domain,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: data.times.length < 30 },
          })),
        ],
      },
      [data.times, ...data.domains.map((d) => d.counts)],
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [data]);
  return <div class="chart" ref={box} role="img" aria-label="Events per domain over time" />;
}
