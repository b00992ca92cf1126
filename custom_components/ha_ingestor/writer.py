"""HTTP writer for InfluxDB's write APIs: v1 (1.x), v2 (2.x, VictoriaMetrics), v3 (3.x).

Uses Home Assistant's shared aiohttp session rather than influxdb-client: one connection pool
for the whole process, no extra dependency or thread pool, and the body is ours to build.
Bodies are gzipped (in an executor thread) only where that pays: to a server on another
network. To this machine or the local network the bytes cost less to send than to compress
(gzip was ~40% of the CPU we added per event, benchmarks/README.md), so the lines go plain.
No Home Assistant imports: benchmarks and the dashboard tests use it directly.

InfluxDB 3 is written through its native ``/api/v3/write_lp`` with ``accept_partial=true``:
a 400 then lists each rejected line (``line_number``, ``error_message``) and everything else
is written, so bad points are set aside from one answer instead of by bisecting the batch.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import ipaddress
import json
import time
from typing import Any, Final
import zlib

import aiohttp
from yarl import URL

from .backoff import parse_retry_after
from .const import ApiKind

DEFAULT_TIMEOUT: Final = 10.0
# Minimal gzip level: 4-6x smaller bodies for a few percent of the CPU of level 6.
GZIP_LEVEL: Final = 1
# InfluxDB 3 reports at most this many rejected lines in one answer (its write docs).
V3_MAX_REPORTED_LINES: Final = 100
VM_HEADER: Final = "x-server-hostname"
# Host names that stay on the local network: single labels (Docker, add-ons) and these suffixes.
LOCAL_SUFFIXES: Final = (".local", ".lan", ".home", ".home.arpa", ".internal", ".localdomain")


class Outcome(StrEnum):
    OK = "ok"
    RETRY = "retry"  # timeout, connection error, 5xx, 429: try again later, same batch
    REJECTED = "rejected"  # 400/422: something in the batch is bad; split it
    PARTIAL = "partial"  # InfluxDB 3's 400: the lines in `rejected` were refused, others written
    TOO_LARGE = "too_large"  # 413: split the batch
    AUTH = "auth"  # 401/403: credentials rejected
    NOT_FOUND = "not_found"  # 404: database/bucket (or org) missing


class CheckError(StrEnum):
    """Connection-test failures, as config-flow error keys."""

    CANNOT_CONNECT = "cannot_connect"
    INVALID_AUTH = "invalid_auth"
    NOT_FOUND = "not_found"
    SSL_ERROR = "ssl_error"
    INVALID_URL = "invalid_url"
    NOT_INFLUXDB = "not_influxdb"


@dataclass(frozen=True, slots=True)
class Target:
    """Where to write. v1: database (+ optional user/password); v2: org, bucket and token;
    v3: database and an optional token (servers run without auth take none)."""

    api: ApiKind
    url: str
    verify_ssl: bool = True
    database: str = ""
    username: str = ""
    password: str = ""
    org: str = ""
    bucket: str = ""
    token: str = ""
    gzip: bool | None = None  # None: where it pays (`gzip_pays`)

    @property
    def base_url(self) -> URL:
        return URL(self.url.rstrip("/"))

    @property
    def compressed(self) -> bool:
        return gzip_pays(self.base_url.host or "") if self.gzip is None else self.gzip

    def write_url(self) -> URL:
        base = self.base_url
        if self.api == ApiKind.V1:
            query = {"db": self.database, "precision": "u"}
            return (base / "write").with_query(query)
        if self.api == ApiKind.V3:
            # no_sync=false (the default, said explicitly): acknowledged once the WAL is persisted.
            return (base / "api" / "v3" / "write_lp").with_query(
                {
                    "db": self.database,
                    "precision": "microsecond",
                    "accept_partial": "true",
                    "no_sync": "false",
                }
            )
        return (base / "api" / "v2" / "write").with_query(
            {"org": self.org, "bucket": self.bucket, "precision": "us"}
        )

    def headers(self) -> dict[str, str]:
        if self.api == ApiKind.V2:
            return {"Authorization": f"Token {self.token}"}
        if self.api == ApiKind.V3:
            return {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.username:
            return {"Authorization": basic_authorization(self.username, self.password)}
        return {}


def basic_authorization(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value (RFC 7617), UTF-8 as InfluxDB decodes it.

    Built by hand: aiohttp's ``BasicAuth`` is deprecated in the aiohttp Home Assistant 2026 ships,
    and its replacement does not exist in the one Home Assistant 2025.4 ships.
    """
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {credentials}"


@dataclass(frozen=True, slots=True)
class WriteResult:
    outcome: Outcome
    status: int | None = None
    message: str = ""
    retry_after: float | None = None
    latency: float = 0.0
    # PARTIAL: (index into the batch, InfluxDB's reason) of each rejected line, and how many
    # lines from the start of the batch the answer covers; the rest must be sent again.
    rejected: tuple[tuple[int, str], ...] = ()
    covered: int = 0


def gzip_pays(host: str) -> bool:
    """True for a server on another network; False on this machine or the local network
    (loopback, private and link-local addresses, single-label and local host names)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." in host and not host.endswith(LOCAL_SUFFIXES) and host != "localhost"
    return not (address.is_loopback or address.is_private or address.is_link_local)


def plain_body(lines: list[str]) -> bytes:
    return "\n".join(lines).encode("utf-8", "replace")


def gzip_body(lines: list[str]) -> bytes:
    """Join and gzip lines. CPU-bound: called in an executor thread."""
    raw = plain_body(lines)
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


def error_message(body: str) -> str:
    """The human part of an InfluxDB error body (2.x: "message", 1.x: "error")."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return body.strip()


def v3_rejected_lines(body: str) -> list[tuple[int, str]]:
    """``(line_number, error_message)`` of each line an InfluxDB 3 400 answer rejects.

    ``data`` is a list with ``accept_partial=true`` and a single object with ``false``;
    empty when the body is not such an answer.
    """
    try:
        data: Any = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return []
    items = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    found: list[tuple[int, str]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        number, message = item.get("line_number"), item.get("error_message")
        if isinstance(number, int) and not isinstance(number, bool):
            found.append((number, str(message or "rejected")))
    return found


def partial_result(result: WriteResult, body: str, lines: int) -> WriteResult:
    """A v3 400 turned into PARTIAL, with the rejected lines as indexes into the batch.

    Lines after the last reported one are not covered when InfluxDB reported as many lines as
    it ever does (more may have been rejected). An answer naming no line of this batch stays
    REJECTED, so the pipeline isolates bad lines by splitting as for the other APIs.
    """
    reported = v3_rejected_lines(body)
    rejected = {n - 1: m for n, m in reported if 1 <= n <= lines}
    if not rejected:
        return result
    covered = max(rejected) + 1 if len(reported) >= V3_MAX_REPORTED_LINES else lines
    return WriteResult(
        Outcome.PARTIAL,
        result.status,
        result.message,
        result.retry_after,
        result.latency,
        tuple(sorted(rejected.items())),
        covered,
    )


def classify(status: int, raw: str, location: str | None) -> tuple[Outcome, str]:
    """What an answer means for the points, and what to tell the user.

    Only 204 is a write: InfluxDB (1.x to 3.x) and VictoriaMetrics answer every accepted one
    so. Another 2xx or a redirect is something in front of it (a proxy's login page, a captive
    portal), and so is a 400 page (InfluxDB explains a refusal in JSON or plain text; a page
    is a proxy's "plain HTTP request sent to HTTPS port"): the points are not at fault, so
    they are kept and tried again, not split down to single lines and dead-lettered.
    """
    if status == 204:
        return Outcome.OK, ""
    if 300 <= status < 400:
        return Outcome.RETRY, (
            f"redirected to {location}: the URL is not InfluxDB's own (a proxy's login?)"
        )
    if 200 <= status < 300:
        return Outcome.RETRY, f"answered {status}, not 204: not InfluxDB writing (a proxy's page?)"
    text = error_message(raw) if raw else ""
    if status in (401, 403):
        return Outcome.AUTH, text
    if status == 404:
        return Outcome.NOT_FOUND, text
    if status == 413:
        return Outcome.TOO_LARGE, text
    if status in (400, 422):
        if raw.lstrip().startswith("<"):
            return Outcome.RETRY, f"answered {status} with a page: not InfluxDB (a proxy?)"
        return Outcome.REJECTED, text
    return Outcome.RETRY, text


# InfluxDB 3's answer (400) to a write without lines, the check's empty write included.
V3_EMPTY_WRITE: Final = "incoming write was empty"


class InfluxWriter:
    """Sends line-protocol bodies (gzipped where it pays) and classifies the answer."""

    def __init__(
        self, session: aiohttp.ClientSession, target: Target, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._session = session
        self.target = target
        self._url = target.write_url()
        self._gzip = target.compressed
        self._headers = {**target.headers(), "Content-Type": "text/plain; charset=utf-8"}
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = target.verify_ssl

    async def write_lines(self, lines: list[str]) -> WriteResult:
        if self._gzip:
            body = await asyncio.get_running_loop().run_in_executor(None, gzip_body, lines)
        else:  # a join: memory speed, cheaper than the hop to a thread
            body = plain_body(lines)
        result, raw = await self._post(body)
        if result.status == 400 and self.target.api == ApiKind.V3:
            return partial_result(result, raw, len(lines))
        return result

    async def _post(self, body: bytes) -> tuple[WriteResult, str]:
        """The answer to one write request, and its raw body (for InfluxDB 3's line list)."""
        start = time.monotonic()
        try:
            async with self._session.post(
                self._url,
                data=body,
                headers=self._headers,
                timeout=self._timeout,
                ssl=self._ssl,
                allow_redirects=False,  # a redirected POST comes back as a GET of a page
            ) as resp:
                status = resp.status
                raw = "" if status == 204 else await resp.text(errors="replace")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
                location = resp.headers.get("Location")
        except TimeoutError:
            result = WriteResult(Outcome.RETRY, message="timeout", latency=time.monotonic() - start)
            return result, ""
        except aiohttp.ClientError as err:
            result = WriteResult(
                Outcome.RETRY,
                message=f"{type(err).__name__}: {err}",
                latency=time.monotonic() - start,
            )
            return result, ""
        outcome, text = classify(status, raw, location)
        result = WriteResult(outcome, status, text[:1000], retry_after, time.monotonic() - start)
        return result, raw

    async def check(self) -> CheckError | None:
        """Test the target: reachability, credentials and database/bucket.

        InfluxDB 3 first answers its health endpoint (which checks the token where auth is
        on); then every API gets an empty write. InfluxDB (and compatible servers) answer an
        authorised empty write with 204, so anything else that answers 2xx is not an
        InfluxDB write endpoint.
        """
        if self.target.api == ApiKind.V3:
            health = await self._probe("GET", self.target.base_url / "health")
            if not isinstance(health, tuple):
                return health
            if health[0] in (401, 403):
                return CheckError.INVALID_AUTH
            if health[0] != 200:
                return CheckError.NOT_INFLUXDB
        answer = await self._probe("POST", self._url)
        if not isinstance(answer, tuple):
            return answer
        status, text, _ = answer
        if status == 204:
            return None
        if self.target.api == ApiKind.V3 and status == 400 and V3_EMPTY_WRITE in text:
            return None  # InfluxDB 3 refuses a write without lines, once the token may write
        if status in (401, 403):
            return CheckError.INVALID_AUTH
        # InfluxDB says which: "database not found", "bucket ... not found", "organization ...".
        if status == 404 and any(w in text for w in ("database", "bucket", "organization")):
            return CheckError.NOT_FOUND
        return CheckError.NOT_INFLUXDB

    async def is_victoria_metrics(self) -> bool | None:
        """True when the server is VictoriaMetrics (it stores no string fields); None when it
        did not answer.

        VictoriaMetrics answers ``/health`` with a bare ``OK`` and an ``X-Server-Hostname``
        header on every answer; InfluxDB 1.8+ and 2.x answer JSON, InfluxDB 3 sends no such
        header.
        """
        answer = await self._probe("GET", self.target.base_url / "health")
        if not isinstance(answer, tuple):
            return None
        return answer[0] == 200 and answer[1].strip() == "ok" and VM_HEADER in answer[2]

    async def _probe(self, method: str, url: URL) -> tuple[int, str, set[str]] | CheckError:
        """Status, lower-cased body and lower-cased header names of one empty request, or
        why there was no answer."""
        try:
            async with self._session.request(
                method,
                url,
                data=b"" if method == "POST" else None,
                headers=self.target.headers(),
                timeout=self._timeout,
                ssl=self._ssl,
            ) as resp:
                status = resp.status
                text = "" if status == 204 else (await resp.text(errors="replace")).lower()
                headers = {name.lower() for name in resp.headers}
        except aiohttp.ClientSSLError:
            return CheckError.SSL_ERROR
        except (aiohttp.InvalidURL, ValueError):
            return CheckError.INVALID_URL
        except (aiohttp.ClientError, TimeoutError):
            return CheckError.CANNOT_CONNECT
        return status, text, headers
