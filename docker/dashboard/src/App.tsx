import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { DomainChart, PALETTE } from "./Chart";
import type { Config } from "./config";
import type { Section, Snapshot } from "./data";
import { refresh } from "./data";
import * as m from "./model";
import { verdict } from "./verdict";

function Card(props: { title: string; id: string; wide?: boolean; level?: m.Level; children: ComponentChildren }) {
  return (
    <section class={`card${props.wide ? " wide" : ""}`} data-testid={props.id} aria-labelledby={`${props.id}-h`}>
      <h2 id={`${props.id}-h`}>
        {props.level && <span class={`dot ${props.level}`} aria-hidden="true" />}
        {props.title}
      </h2>
      {props.children}
    </section>
  );
}

/** Error and empty states shared by every card. */
function Body<T>(props: { s: Section<T>; empty: (d: T) => boolean; emptyText: string; children: (d: T) => ComponentChildren }) {
  if (!props.s.ok)
    return (
      <p class="state error" data-testid="error">
        Could not load: {props.s.error}
      </p>
    );
  if (props.empty(props.s.data))
    return (
      <p class="state empty" data-testid="empty">
        {props.emptyText}
      </p>
    );
  return <>{props.children(props.s.data)}</>;
}

function Stat(props: { label: string; value: string; id: string; level?: m.Level }) {
  return (
    <div class={`stat ${props.level ?? ""}`}>
      <dt>{props.label}</dt>
      <dd data-testid={props.id}>{props.value}</dd>
    </div>
  );
}

function Influx({ snap }: { snap: Snapshot }) {
  const p = snap.influx;
  return (
    <Card title="InfluxDB" id="influxdb" level={p.ok ? "ok" : "error"}>
      <dl class="stats">
        <Stat label="Status" id="influx-status" value={p.ok ? "Reachable" : "Unreachable"} level={p.ok ? "ok" : "error"} />
        <Stat label="Version" id="influx-version" value={p.version ?? "–"} />
        <Stat label="Ping" id="influx-latency" value={`${m.fmtNum(p.latencyMs, 0)} ms`} />
      </dl>
      {!p.ok && <p class="state error">Ping failed: {p.error}</p>}
    </Card>
  );
}

function Ingestor({ snap, now }: { snap: Snapshot; now: number }) {
  const level = snap.ingestor.ok
    ? snap.ingestor.data.reduce<m.Level>((acc, e) => (e.level === "error" || acc === "error" ? "error" : e.level === "warn" ? "warn" : acc), "ok")
    : "error";
  return (
    <Card title="Integration" id="ingestor" level={snap.ingestor.ok && !snap.ingestor.data.length ? "warn" : level}>
      <Body
        s={snap.ingestor}
        empty={(d) => d.length === 0}
        emptyText="No self-metrics (ha_ingestor) in the last hour: is the integration set up and writing to this database?"
      >
        {(entries) =>
          entries.map((e) => (
            <div class="entry" data-testid={`entry-${e.entryId}`} key={e.entryId}>
              {entries.length > 1 && <h3>{e.title}</h3>}
              <dl class="stats">
                <Stat label="Events / min" id="events-per-minute" value={m.fmtNum(e.eventsPerMinute, 1)} />
                <Stat label="Pending" id="pending" value={m.fmtInt(e.pending)} level={(e.pending ?? 0) > 0 ? "warn" : undefined} />
                <Stat label="Dropped" id="dropped" value={m.fmtInt(e.dropped)} level={(e.dropped ?? 0) > 0 ? "warn" : undefined} />
                <Stat
                  label="Last write"
                  id="last-write"
                  value={e.lastWrite === null ? "never" : `${m.age(now - e.lastWrite)} ago`}
                  level={e.lastWrite === null || now - e.lastWrite > m.STALE_WRITE_MS ? "warn" : undefined}
                />
                <Stat label="Received" id="events-received" value={m.fmtInt(e.eventsReceived)} />
                <Stat label="Written" id="points-written" value={m.fmtInt(e.pointsWritten)} />
                <Stat label="Dead-lettered" id="dead-lettered" value={m.fmtInt(e.deadLettered)} level={(e.deadLettered ?? 0) > 0 ? "error" : undefined} />
                <Stat label="Write latency" id="write-latency" value={`${m.fmtNum(e.writeLatencyMs, 1)} ms`} />
              </dl>
              <p class="muted" data-testid="last-write-time">
                Last write {m.fmtTime(e.lastWrite)} · reported {m.age(now - e.time)} ago ·{" "}
                {e.connected === false ? "InfluxDB disconnected" : "connected"}
              </p>
              {e.problems.length > 0 && (
                <ul class={`problems ${e.level}`} data-testid="problems">
                  {e.problems.map((p) => (
                    <li key={p}>{p}</li>
                  ))}
                </ul>
              )}
            </div>
          ))
        }
      </Body>
    </Card>
  );
}

function Domains({ snap, cfg }: { snap: Snapshot; cfg: Config }) {
  return (
    <Card title={`Events by domain (last ${cfg.window}, per ${cfg.bucket})`} id="domains" wide>
      <Body s={snap.domains} empty={(d) => d.total === 0} emptyText={`No state changes in the last ${cfg.window}.`}>
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

function WeatherCard({ snap, now }: { snap: Snapshot; now: number }) {
  return (
    <Card title="Weather" id="weather">
      <Body s={snap.weather} empty={(d) => d.length === 0} emptyText="No weather in the last 7 days (enable weather enrichment in the integration).">
        {(list) =>
          list.map((w) => (
            <div class="weather" key={w.source} data-testid={`weather-${w.source}`}>
              <div class="big">
                <span data-testid="temperature">{m.fmtNum(w.temperature, 1)}°</span>
                <span class="cond" data-testid="condition">{w.condition ?? ""}</span>
              </div>
              <dl class="stats">
                <Stat label="Feels like" id="apparent" value={`${m.fmtNum(w.apparentTemperature, 1)}°`} />
                <Stat label="Humidity" id="humidity" value={`${m.fmtNum(w.humidity, 0)} %`} />
                <Stat label="Pressure" id="pressure" value={m.fmtNum(w.pressure, 0)} />
                <Stat label="Wind" id="wind" value={`${m.fmtNum(w.windSpeed, 1)} ${m.compass(w.windBearing)}`.trim()} />
              </dl>
              <p class="muted">
                {w.source} · {m.age(now - w.time)} ago
              </p>
            </div>
          ))
        }
      </Body>
    </Card>
  );
}

function Games({ snap }: { snap: Snapshot }) {
  return (
    <Card title="Sports games" id="games">
      <Body s={snap.games} empty={(d) => d.length === 0} emptyText="No games in the last 7 days (follow a team in the integration options).">
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

function Deliveries({ snap, now }: { snap: Snapshot; now: number }) {
  return (
    <Card title="Webhook deliveries" id="deliveries">
      <Body s={snap.deliveries} empty={(d) => d.length === 0} emptyText="No webhook deliveries yet.">
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
                  <td class="muted">{d.time === null ? "–" : `${m.age(now - d.time)} ago`}</td>
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
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [busy, setBusy] = useState(false);
  const timer = useRef<number>();

  const run = useCallback(async () => {
    window.clearTimeout(timer.current);
    setBusy(true);
    try {
      setSnap(await refresh(window.fetch.bind(window), cfg));
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

  const now = snap?.at ?? Date.now();
  return (
    <>
      <header>
        <h1>HA Ingestor</h1>
        <p class="muted" aria-live="polite" data-testid="updated">
          {snap ? `Updated ${m.fmtTime(snap.at).slice(11)}` : "Loading…"} · every {cfg.refreshSeconds} s
        </p>
        <button type="button" onClick={() => void run()} disabled={busy}>
          {busy ? "Refreshing…" : "Refresh"}
        </button>
      </header>
      {snap && (
        <p class={`verdict ${verdict(snap).level}`} data-testid="verdict" data-level={verdict(snap).level} role="status">
          {verdict(snap).text}
        </p>
      )}
      {snap ? (
        <main data-testid="dashboard" data-refreshed-at={snap.at}>
          <Influx snap={snap} />
          <Ingestor snap={snap} now={now} />
          <Domains snap={snap} cfg={cfg} />
          <WeatherCard snap={snap} now={now} />
          <Games snap={snap} />
          <Deliveries snap={snap} now={now} />
        </main>
      ) : (
        <main>
          <p class="state">Loading…</p>
        </main>
      )}
    </>
  );
}
