"""Run the dashboard's nginx template for real: rendered like the nginx image does, nginx
unprivileged in the foreground, plus a recording upstream to see what nginx forwards."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import http.server
import json
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

from tests.helpers import START_DEADLINE_S, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DASHBOARD = DOCKER / "dashboard"
TEMPLATE = DASHBOARD / "nginx" / "default.conf.template"
ENVSH = DASHBOARD / "nginx" / "05-ha-dashboard-env.envsh"
DIST = DASHBOARD / "dist"
ARTIFACTS = ROOT / "test-artifacts" / "stack"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def render_template(text: str, env: Mapping[str, str]) -> str:
    """envsubst "$(printf '${%s} ' <defined vars>)": replaces ${NAME} and $NAME only for
    names that are defined, exactly what the image's 20-envsubst-on-templates.sh does."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env[name] if name in env else match.group(0)

    return _PLACEHOLDER.sub(sub, text)


def template_variables() -> set[str]:
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", TEMPLATE.read_text()))


def entrypoint_env(env: Mapping[str, str], cwd: Path | None = None) -> tuple[dict[str, str], str]:
    """Source the image's .envsh the way the nginx entrypoint does, with only ``env`` (and a
    PATH) set; return the environment it leaves and what it logged."""
    result = subprocess.run(
        ["sh", "-c", f'. "{ENVSH}" && env -0'],
        env={"PATH": "/usr/bin:/bin", **env}, cwd=cwd,
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    pairs = (item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return dict(pairs), result.stderr


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@dataclass
class Nginx:
    """nginx with the dashboard template, foreground, pid and temp files in `workdir`."""

    env: dict[str, str]
    # Own temp dir, not pytest's 0700 tree: as root, workers run as nobody and must reach it.
    workdir: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="ha_dashboard_nginx_"))
    )
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """nginx's own error log and stderr, for failure messages."""
        w = self.workdir
        return (
            f"nginx error.log:\n{_tail(w / 'error.log')}\nnginx stderr:\n{_tail(w / 'stderr.log')}"
        )

    def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        assert (DIST / "index.html").exists(), (
            "docker/dashboard/dist is missing: run `npm ci && npm run build` there first"
        )
        w = self.workdir
        w.mkdir(parents=True, exist_ok=True)
        # As root, workers run as nobody, who may not enter the checkout (a clone under a 0700
        # folder such as mktemp -d or /root): serve a copy from a 0755 folder of our own.
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        w.chmod(0o755)
        html = w / "html"
        shutil.rmtree(html, ignore_errors=True)
        shutil.copytree(DIST, html)
        for path in [html, *html.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        # What the image does at start: its .envsh, then the template.
        env, _ = entrypoint_env(
            {"DASHBOARD_PORT": f"127.0.0.1:{self.port}", "DASHBOARD_ROOT": str(html), **self.env}
        )
        missing = template_variables() - env.keys()
        assert not missing, f"template variables without a value: {missing}"
        (w / "default.conf").write_text(render_template(TEMPLATE.read_text(), env))
        (w / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {w}/nginx.pid;\n"
            f"error_log {w}/error.log warn;\n"
            "events { worker_connections 128; }\n"
            "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            f"  access_log {w}/access.log;\n"
            f"  client_body_temp_path {w}/client_temp;\n  proxy_temp_path {w}/proxy_temp;\n"
            f"  fastcgi_temp_path {w}/fastcgi_temp;\n  uwsgi_temp_path {w}/uwsgi_temp;\n"
            f"  scgi_temp_path {w}/scgi_temp;\n"
            f"  include {w}/default.conf;\n}}\n"
        )
        check = subprocess.run(
            [nginx, "-t", "-p", str(w), "-c", str(w / "nginx.conf")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        with (w / "stderr.log").open("wb") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen(
                [nginx, "-p", str(w), "-c", str(w / "nginx.conf")],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._wait_ready()

    def _wait_ready(self, deadline_s: float = START_DEADLINE_S) -> None:
        """Up means /healthz answers and / serves the page; fail fast with status and logs."""

        def healthz() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited with {self.proc.returncode}\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return True
            except urllib.error.HTTPError as err:
                raise AssertionError(f"GET /healthz -> HTTP {err.code}\n{self.log()}") from err
            except OSError:
                return False

        try:
            wait_until(healthz, "nginx answering /healthz", timeout=deadline_s)
        except AssertionError as err:
            if "timed out" not in str(err):
                raise  # nginx exited or answered an error: the message has its log already
            raise AssertionError(f"{err}\n{self.log()}") from None
        status, body = 0, b""
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=5) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        # 401: basic auth on, which the caller tests; anything else but 200 is a broken setup.
        assert status in (200, 401), f"GET / -> HTTP {status}: {body[:300]!r}\n{self.log()}"

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if os.environ.get("KEEP_SERVER_DATA") is None:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]


class Recorder:
    """A tiny upstream that answers JSON and remembers every request nginx forwarded."""

    def __init__(
        self, body: object, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        self.requests: list[Recorded] = []
        recorder = self
        payload = json.dumps(body).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                recorder.requests.append(
                    Recorded(
                        self.command, self.path, {k.lower(): v for k, v in self.headers.items()}
                    )
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
