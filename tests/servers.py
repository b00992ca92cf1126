"""Start and stop real servers (InfluxDB 1.6, VictoriaMetrics) for tests and benchmarks.

No Home Assistant imports: used by the integration tests, the companion tests and benchmarks.
A missing binary raises (never skips): scripts/test installs the servers.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from tests.helpers import START_DEADLINE_S, free_port, wait_until

START_ATTEMPTS = 3  # a first start that lost a port race moves to new ports, at most twice


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise RuntimeError(f"{binary} is not installed: run scripts/setup (as root) first")
    return path


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status < 500)
    except (urllib.error.URLError, OSError):
        return False


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 15
) -> None:
    """Signal a process and reap it; SIGKILL if it has not exited within `wait` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Server:
    """A server process on 127.0.0.1 with its data under a temp dir."""

    name: str
    port: int
    data_dir: Path
    args: list[str]
    ready_path: str
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    # The ports came from free_port, and the server has not answered on them yet: if another
    # process took one in between (xdist workers and their clients draw from the same range),
    # the first start moves to new ones. A restart keeps its port.
    movable: bool = False

    def __post_init__(self) -> None:
        self.log = self.data_dir / f"{self.name}.log"
        self._configure()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _configure(self) -> None:
        """Hand `port` (and any other port it needs) to the process: its arguments or config."""

    def _move(self) -> None:
        self.port = free_port()
        self._configure()

    def start(self) -> None:
        for _ in range(START_ATTEMPTS - 1):
            if self._start_once(may_retry=self.movable):
                break
            self._move()
        else:
            self._start_once(may_retry=False)
        self.movable = False

    def _start_once(self, *, may_retry: bool) -> bool:
        """Start and wait until it answers; False if it lost a port race and may retry."""
        log_start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        url = self.url + self.ready_path

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}")
            return _answers(url)

        try:
            wait_until(ready, f"{self.name} to answer {url}", timeout=START_DEADLINE_S)
        except AssertionError as err:
            self.stop()
            said = self.log.read_bytes()[log_start:].decode(errors="replace")
            if may_retry and "address already in use" in said:
                return False
            raise RuntimeError(f"{err}; its log ends:\n{said[-2000:]}") from err
        return True

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: what a crash looks like."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()


class InfluxDB1(Server):
    """Real InfluxDB 1.6 (`influxd`): v1 /write, /query (InfluxQL), /ping."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        conf = data_dir / "influxdb.conf"
        super().__init__(
            "influxdb",
            port or free_port(),
            data_dir,
            [_require("influxd"), "-config", str(conf)],
            "/ping",
            movable=port is None,
        )

    def _configure(self) -> None:
        data_dir, port = self.data_dir, self.port
        (data_dir / "influxdb.conf").write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{free_port()}"\n'
            f'[meta]\n  dir = "{data_dir}/meta"\n'
            f'[data]\n  dir = "{data_dir}/data"\n  wal-dir = "{data_dir}/wal"\n'
            '  query-log-enabled = false\n  wal-fsync-delay = "0s"\n'
            f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
            "  max-body-size = 0\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
            '[logging]\n  level = "warn"\n'
        )

    def query(self, q: str, db: str | None = None, epoch: str = "ns") -> dict[str, object]:
        params = {"q": q, "epoch": epoch}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(self.url + "/query", data=data, timeout=30) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result

    def create_database(self, db: str) -> None:
        self.query(f'CREATE DATABASE "{db}"')

    def write(self, db: str, body: str) -> None:
        """Lines written straight to the server (what another writer left there)."""
        url = f"{self.url}/write?{urllib.parse.urlencode({'db': db})}"
        with urllib.request.urlopen(url, data=body.encode(), timeout=30) as resp:
            assert resp.status == 204, resp.status

    def rows(self, q: str, db: str) -> list[dict[str, object]]:
        """Run an InfluxQL SELECT and return rows as dicts (tags included for GROUP BY *)."""
        out: list[dict[str, object]] = []
        result = self.query(q, db)
        for res in result.get("results", []):  # type: ignore[attr-defined]
            if "error" in res:
                raise RuntimeError(res["error"])
            for series in res.get("series", []):
                tags = series.get("tags", {})
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    row.update(tags)
                    row["_measurement"] = series["name"]
                    out.append(row)
        return out


class VictoriaMetrics(Server):
    """Real VictoriaMetrics: line protocol on /write and /api/v2/write."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(
            "victoria-metrics", port or free_port(), data_dir, [], "/health", movable=port is None
        )

    def _configure(self) -> None:
        self.args = [
            _require("victoria-metrics"),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.data_dir}/vm",
            "-loggerLevel=ERROR",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, object]]:
        """All series as exported JSON lines (metric labels, values, timestamps in ms)."""
        with contextlib.suppress(urllib.error.URLError):
            urllib.request.urlopen(self.url + "/internal/force_flush", timeout=10).read()
        url = self.url + "/api/v1/export?" + urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(url, timeout=60) as resp:
            return [json.loads(line) for line in resp.read().splitlines() if line.strip()]

    def wait_for_samples(
        self, expected: int, match: str = '{__name__=~".+"}'
    ) -> list[dict[str, object]]:
        """Poll until `expected` samples are searchable (VM indexes new series after ~1 s)."""
        counted: list[int] = []

        def enough() -> list[dict[str, object]] | None:
            series = self.export(match)
            counted.append(sum(len(s["values"]) for s in series))  # type: ignore[arg-type]
            return series if counted[-1] >= expected else None

        try:
            return wait_until(enough, f"{expected} samples of {match}", interval=0.25)
        except AssertionError as err:
            raise AssertionError(f"{err}; {counted[-1]} searchable") from None


@contextlib.contextmanager
def running(
    server_cls: type[InfluxDB1] | type[VictoriaMetrics],
) -> Iterator[InfluxDB1 | VictoriaMetrics]:
    tmp = Path(tempfile.mkdtemp(prefix=f"ha_ingestor_{server_cls.__name__.lower()}_"))
    server = server_cls(tmp)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if os.environ.get("KEEP_SERVER_DATA") is None:
            shutil.rmtree(tmp, ignore_errors=True)
