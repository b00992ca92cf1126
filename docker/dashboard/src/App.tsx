import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { DomainChart, PALETTE } from "./Chart";
import type { Config } from "./config";
import type { Shown, View } from "./data";
import { refresh, update } from "./data";
import * as m from "./model";
import { verdict } from "./verdict";

/** "stale · 45 s old" beside a card's title while its source is down and it shows the last
 * good data; the failure itself is named once, in the verdict line. */
function StaleMark({ s, now }: { s: Shown<unknown>; now: number }) {
  if (!s.fault || s.data === null || s.at === null) return null;
  return (
    <span class="stale" data-testid="stale" title={`Last loaded ${m.fmtTime(s.at)}`}>
      stale · {m.age(now - s.at)} old
    </span>
  );
}

function Card(props: {
  title: string;
  id: string;
  wide?: boolean;
  level?: m.Level;
  s: Shown<unknown>;
  now: number;
  children: ComponentChildren;
}) {
  const stale = props.s.fault !== null && props.s.data !== null;
  return (
    <section
      class={`card${props.wide ? " wide" : ""}${stale ? " is-stale" : ""}`}
      data-testid={props.id}
      aria-labelledby={`${props.id}-h`}
    >
      <h2 id={`${props.id}-h`}>
        {props.level && <span class={`dot ${props.level}`} aria-hidden="true" />}
        {props.title}
        <StaleMark s={props.s} now={props.now} />
      </h2>
      {props.children}
    </section>
  );
}

/** Never-loaded and empty states shared by every card. */
function Body<T>(props: { s: Shown<T>; empty: (d: T) => boolean; emptyText: string; children: (d: T) => ComponentChildren }) {
  const d = props.s.data;
  if (d === null)
    return (
      <p class="state unavailable" data-testid="unavailable">
        Not loaded: see the status line at the top.
      </p>
    );
  if (props.empty(d))
    return (
      <p class="state empty" data-testid="empty">
        {props.emptyText}
      </p>
    );
  return <>{props.children(d)}</>;
}

function Stat(props: { label: string; value: string; id: string; level?: m.Level }) {
  return (
    <div class={`stat ${props.level ?? ""}`}>
      <dt>{props.label}</dt>
      <dd data-testid={props.id}>{props.value}</dd>
    </div>
  );
}

function Influx({ v }: { v: View }) {
  const s = v.influx;
  const up = s.fault === null;
  const status = up ? "Reachable" : s.fault!.part === "dashboard" ? "No answer" : "Unreachable";
  return (
    <Card title="InfluxDB" id="influxdb" level={up ? "ok" : "error"} s={s} now={v.at}>
      <dl class="stats">
        <Stat label="Status" id="influx-status" value={status} level={up ? "ok" : "error"} />
        <Stat label="Version" id="influx-version" value={s.data?.version ?? "–"} />
        {/* A round trip only means something when there was one. */}
        <Stat label="Ping" id="influx-latency" value={up ? m.withUnit(s.data?.latencyMs, 0, "ms") : "–"} />
      </dl>
    </Card>
  );
}

function Ingestor({ v }: { v: View }) {
  const s = v.ingestor;
  const now = v.at;
  const level: m.Level =
    s.fault || !s.data
      ? "error"
      : !s.data.length
        ? "warn"
        : s.data.reduce<m.Level>((acc, e) => (e.level === "error" || acc === "error" ? "error" : e.level === "warn" ? "warn" : acc), "ok");
  return (
    <Card title="Integration" id="ingestor" level={level} s={s} now={now}>
      <Body
        s={s}
        empty={(d) => d.length === 0}
        emptyText="No self-metrics (ha_ingestor) in the last 7 days: is the integration set up and writing to this database?"
      >
        {(entries) =>
          entries.map((e) => {
            const totals = m.lifetimeTotals(e);
            return (
              <div class="entry" data-testid={`entry-${e.entryId}`} key={e.entryId}>
                {entries.length > 1 && <h3>{e.title}</h3>}
                <dl class="stats">
                  <Stat label="Events / min" id="events-per-minute" value={m.fmtNum(e.eventsPerMinute, 1)} />
                  <Stat label="Pending" id="pending" value={m.fmtInt(e.pending)} level={(e.pending ?? 0) > 0 ? "warn" : undefined} />
                  <Stat label="Dropped" id="dropped" value={m.fmtInt(e.dropped)} level={(e.droppedGrown ?? 0) > 0 ? "warn" : undefined} />
                  <Stat
                    label="Last write"
                    id="last-write"
                    value={e.lastWrite === null ? "never" : `${m.age(now - e.lastWrite)} ago`}
                    level={e.lastWrite === null || now - e.lastWrite > m.STALE_WRITE_MS ? "warn" : undefined}
                  />
                  <Stat label="Received" id="events-received" value={m.fmtInt(e.eventsReceived)} />
                  <Stat label="Written" id="points-written" value={m.fmtInt(e.pointsWritten)} />
                  <Stat label="Dead-lettered" id="dead-lettered" value={m.fmtInt(e.deadLettered)} level={(e.deadLetteredGrown ?? 0) > 0 ? "error" : undefined} />
                  <Stat label="Write latency" id="write-latency" value={m.withUnit(e.writeLatencyMs, 1, "ms")} />
                </dl>
                <p class="muted" data-testid="last-write-time">
                  Last write {m.fmtTime(e.lastWrite)} · reported {m.age(now - e.time)} ago ·{" "}
                  {e.connected === false ? "InfluxDB disconnected" : "connected"}
                </p>
                {totals && (
                  <p class="muted" data-testid="lifetime">
                    {totals}
                  </p>
                )}
                {e.problems.length > 0 && (
                  <ul class={`problems ${e.level}`} data-testid="problems">
                    {e.problems.map((p) => (
                      <li key={p}>{p}</li>
                    ))}
                  </ul>
                )}
              </div>
            );
          })
        }
      </Body>
    </Card>
  );
}

function Domains({ v, cfg }: { v: View; cfg: Config }) {
  return (
    <Card title={`Events by domain (last ${cfg.window}, per ${cfg.bucket})`} id="domains" wide s={v.domains} now={v.at}>
      <Body s={v.domains} empty={(d) => d.total === 0} emptyText={`No state changes in the last ${cfg.window}.`}>
        {(d) => (
          <div class="domains">
            <DomainChart data={d} />
            <table class="legend">
              <thead>
                <tr>
                  <th scope="col">Domain</th>
                  <th scope="col" class="num">Events</th>
                </tr>
              </thead>
              <tbody>
                {d.domains.map((row, i) => (
                  <tr key={row.domain} data-testid={`domain-${row.domain}`}>
                    <td>
                      <span class="swatch" style={{ background: PALETTE[i % PALETTE.length] }} />
                      {row.domain}
                    </td>
                    <td class="num" data-testid="domain-total">
                      {m.fmtInt(row.total)}
                    </td>
                  </tr>
                ))}
              </tbody>
              <tfoot>
                <tr>
                  <th scope="row">Total</th>
                  <td class="num" data-testid="domains-total">
                    {m.fmtInt(d.total)}
                  </td>
                </tr>
              </tfoot>
            </table>
          </div>
        )}
      </Body>
    </Card>
  );
}

function WeatherCard({ v }: { v: View }) {
  return (
    <Card title="Weather" id="weather" s={v.weather} now={v.at}>
      <Body s={v.weather} empty={(d) => d.length === 0} emptyText="No weather in the last 7 days (enable weather enrichment in the integration).">
        {(list) =>
          list.map((w) => {
            const u = m.weatherUnits();
            return (
              <div class="weather" key={w.source} data-testid={`weather-${w.source}`}>
                <div class="big">
                  <span data-testid="temperature">{m.withUnit(w.temperature, 1, u.temperature)}</span>
                  <span class="cond" data-testid="condition">{w.condition ?? ""}</span>
                </div>
                <dl class="stats">
                  <Stat label="Feels like" id="apparent" value={m.withUnit(w.apparentTemperature, 1, u.temperature)} />
                  <Stat label="Humidity" id="humidity" value={m.withUnit(w.humidity, 0, "%")} />
                  <Stat label="Pressure" id="pressure" value={m.withUnit(w.pressure, 0, u.pressure)} />
                  <Stat label="Wind" id="wind" value={`${m.withUnit(w.windSpeed, 1, u.windSpeed)} ${m.compass(w.windBearing)}`.trim()} />
                </dl>
                <p class="muted">
                  {w.source} · {m.age(v.at - w.time)} ago
                </p>
              </div>
            );
          })
        }
      </Body>
    </Card>
  );
}

function Games({ v }: { v: View }) {
  return (
    <Card title="Sports games" id="games" s={v.games} now={v.at}>
      <Body s={v.games} empty={(d) => d.length === 0} emptyText="No games in the last 7 days (follow a team in the integration options).">
        {(list) => (
          <ul class="games">
            {list.map((g) => (
              <li key={g.gameId} data-testid={`game-${g.gameId}`} class={`game ${g.state}`}>
                <span class="league">{g.league.toUpperCase()}</span>
                <span class="teams">
                  <span data-testid="away">{g.away}</span> <b data-testid="away-score">{m.fmtInt(g.awayScore)}</b>
                  {" @ "}
                  <span data-testid="home">{g.home}</span> <b data-testid="home-score">{m.fmtInt(g.homeScore)}</b>
                </span>
                <span class={`badge ${g.state}`} data-testid="game-state">
                  {g.state === "in" ? "live" : g.state === "pre" ? "upcoming" : g.state === "post" ? "final" : g.state}
                </span>
                {g.detail && <span class="muted detail" data-testid="game-detail">{g.detail}</span>}
              </li>
            ))}
          </ul>
        )}
      </Body>
    </Card>
  );
}

function Deliveries({ v, s }: { v: View; s: Shown<m.Delivery[]> }) {
  return (
    <Card title="Webhook deliveries" id="deliveries" s={s} now={v.at}>
      <Body s={s} empty={(d) => d.length === 0} emptyText="No webhook deliveries yet.">
        {(list) => (
          <table class="deliveries">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Target</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Tries</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id} data-testid={`delivery-${d.id}`} title={d.error ?? undefined}>
                  <td data-testid="delivery-event">{d.event}</td>
                  <td class="target" data-testid="delivery-target">{d.target ?? "–"}</td>
                  <td>
                    <span class={`badge ${d.ok === true ? "ok" : d.ok === false ? "error" : "warn"}`} data-testid="delivery-status">
                      {d.status}
                      {d.httpStatus !== null ? ` (${d.httpStatus})` : ""}
                    </span>
                    {d.ok === false && d.error && (
                      <span class="muted detail" data-testid="delivery-error">
                        {d.error}
                      </span>
                    )}
                  </td>
                  <td class="num" data-testid="delivery-attempts">{m.fmtInt(d.attempts)}</td>
                  <td class="muted">{d.time === null ? "–" : `${m.age(v.at - d.time)} ago`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Body>
    </Card>
  );
}

export function App({ cfg }: { cfg: Config }) {
  const [view, setView] = useState<View | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<number>();

  const run = useCallback(async () => {
    window.clearTimeout(timer.current);
    setBusy(true);
    try {
      const snap = await refresh(window.fetch.bind(window), cfg);
      setView((prev) => update(prev, snap));
    } finally {
      setBusy(false);
      // Schedule after completion, so slow answers never pile up overlapping requests.
      timer.current = window.setTimeout(run, cfg.refreshSeconds * 1000);
    }
  }, [cfg]);

  useEffect(() => {
    void run();
    return () => window.clearTimeout(timer.current);
  }, [run]);

  const said = view && verdict(view, cfg.window);
  // Without the sports service, its cards go: games only while the integration writes some.
  const showGames = cfg.sports || !!view?.games.fault || !!view?.games.data?.length;
  return (
    <>
      <header>
        <h1>HA Ingestor</h1>
        <p class="muted" aria-live="polite" data-testid="updated">
          {view ? `Updated ${m.fmtTime(view.at).slice(11)}` : "Loading…"} · every {cfg.refreshSeconds} s
        </p>
        <button type="button" onClick={() => void run()} disabled={busy}>
          {busy ? "Refreshing…" : "Refresh"}
        </button>
      </header>
      {said && (
        <p class={`verdict ${said.level}`} data-testid="verdict" data-level={said.level} role="status">
          {said.text}
        </p>
      )}
      {view ? (
        <main data-testid="dashboard" data-refreshed-at={view.at}>
          <Influx v={view} />
          <Ingestor v={view} />
          <WeatherCard v={view} />
          <Domains v={view} cfg={cfg} />
          {showGames && <Games v={view} />}
          {view.deliveries && <Deliveries v={view} s={view.deliveries} />}
        </main>
      ) : (
        <main>
          <p class="state">Loading…</p>
        </main>
      )}
    </>
  );
}
