"""HTTP writer for InfluxDB's v1 (1.x) and v2 (2.x, 3.x, VictoriaMetrics) write APIs.

Uses Home Assistant's shared aiohttp session rather than influxdb-client: one connection pool
for the whole process, no extra dependency or thread pool, and the body is ours to build
(joined and gzipped in an executor thread, so the event loop only sends bytes).
No Home Assistant imports: benchmarks and the dashboard tests use it directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import json
import time
from typing import Final, Literal
import zlib

import aiohttp
from yarl import URL

from .backoff import parse_retry_after

ApiVersion = Literal["v1", "v2"]
DEFAULT_TIMEOUT: Final = 10.0
# Minimal gzip level: 4-6x smaller bodies for a few percent of the CPU of level 6.
GZIP_LEVEL: Final = 1


class Outcome(StrEnum):
    OK = "ok"
    RETRY = "retry"  # timeout, connection error, 5xx, 429: try again later, same batch
    REJECTED = "rejected"  # 400/422: something in the batch is bad; split it
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
    """Where to write. v1 uses database (+ optional user/password); v2 org, bucket and token."""

    api: ApiVersion
    url: str
    verify_ssl: bool = True
    database: str = ""
    username: str = ""
    password: str = ""
    org: str = ""
    bucket: str = ""
    token: str = ""

    def write_url(self) -> URL:
        base = URL(self.url.rstrip("/"))
        if self.api == "v1":
            query = {"db": self.database, "precision": "u"}
            return (base / "write").with_query(query)
        return (base / "api" / "v2" / "write").with_query(
            {"org": self.org, "bucket": self.bucket, "precision": "us"}
        )

    def headers(self) -> dict[str, str]:
        if self.api == "v2":
            return {"Authorization": f"Token {self.token}"}
        if self.username:
            return {"Authorization": basic_authorization(self.username, self.password)}
        return {}


def basic_authorization(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value, UTF-8 encoded as InfluxDB decodes it.

    The aiohttp of Home Assistant 2026 deprecates ``BasicAuth`` for ``encode_basic_auth`` (aiohttp 4
    drops the class); the aiohttp of Home Assistant 2025.4 only has the class, not deprecated there.
    """
    encode: Callable[[str, str, str], str] | None = getattr(aiohttp, "encode_basic_auth", None)
    if encode is not None:
        return encode(username, password, "utf-8")
    return aiohttp.BasicAuth(username, password, "utf-8").encode()


@dataclass(frozen=True, slots=True)
class WriteResult:
    outcome: Outcome
    status: int | None = None
    message: str = ""
    retry_after: float | None = None
    latency: float = 0.0


def encode_body(lines: list[str]) -> bytes:
    """Join and gzip lines. CPU-bound: called in an executor thread."""
    raw = "\n".join(lines).encode("utf-8", "replace")
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


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.OK
    if status in (401, 403):
        return Outcome.AUTH
    if status == 404:
        return Outcome.NOT_FOUND
    if status == 413:
        return Outcome.TOO_LARGE
    if status in (400, 422):
        return Outcome.REJECTED
    return Outcome.RETRY


class InfluxWriter:
    """Sends gzipped line-protocol bodies and classifies the answer."""

    def __init__(
        self, session: aiohttp.ClientSession, target: Target, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self._session = session
        self.target = target
        self._url = target.write_url()
        self._headers = {
            **target.headers(),
            "Content-Encoding": "gzip",
            "Content-Type": "text/plain; charset=utf-8",
        }
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = target.verify_ssl

    async def write_lines(self, lines: list[str]) -> WriteResult:
        body = await asyncio.get_running_loop().run_in_executor(None, encode_body, lines)
        return await self.write_body(body)

    async def write_body(self, body: bytes) -> WriteResult:
        start = time.monotonic()
        try:
            async with self._session.post(
                self._url,
                data=body,
                headers=self._headers,
                timeout=self._timeout,
                ssl=self._ssl,
            ) as resp:
                status = resp.status
                text = "" if status == 204 else error_message(await resp.text(errors="replace"))
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))
        except TimeoutError:
            return WriteResult(Outcome.RETRY, message="timeout", latency=time.monotonic() - start)
        except aiohttp.ClientError as err:
            return WriteResult(
                Outcome.RETRY,
                message=f"{type(err).__name__}: {err}",
                latency=time.monotonic() - start,
            )
        return WriteResult(
            classify(status), status, text[:1000], retry_after, time.monotonic() - start
        )

    async def check(self) -> CheckError | None:
        """Test the target with an empty write: checks reachability, credentials and db/bucket.

        InfluxDB (and compatible servers) answer an authorised empty write with 204, so
        anything else that answers 2xx is not an InfluxDB write endpoint.
        """
        try:
            async with self._session.post(
                self._url,
                data=b"",
                headers=self.target.headers(),
                timeout=self._timeout,
                ssl=self._ssl,
            ) as resp:
                status = resp.status
                text = "" if status == 204 else (await resp.text(errors="replace")).lower()
        except aiohttp.ClientSSLError:
            return CheckError.SSL_ERROR
        except (aiohttp.InvalidURL, ValueError):
            return CheckError.INVALID_URL
        except (aiohttp.ClientError, TimeoutError):
            return CheckError.CANNOT_CONNECT
        if status == 204:
            return None
        if status in (401, 403):
            return CheckError.INVALID_AUTH
        # InfluxDB says which: "database not found", "bucket ... not found", "organization ...".
        if status == 404 and any(w in text for w in ("database", "bucket", "organization")):
            return CheckError.NOT_FOUND
        return CheckError.NOT_INFLUXDB
