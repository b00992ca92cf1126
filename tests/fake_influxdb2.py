"""An aiohttp server that answers like InfluxDB 2's write API, for what no real server here does.

InfluxDB 2 cannot run on these machines (see ENVIRONMENT.md). This follows the documented
`POST /api/v2/write` contract: `Authorization: Token ...`, `org` and `bucket` query
parameters, gzip bodies, 204 on success, JSON errors `{"code": ..., "message": ...}` with
400 (partial write: the valid points are written, the message names the rejected lines), 401,
404 (bucket or organization not found), 413, 429/503 with `Retry-After`. Field types are
tracked per measurement and field, so a type change is rejected like InfluxDB does.

No Home Assistant imports: unit and integration tests both use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes and not preceded by a backslash."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


def field_types(line: str) -> tuple[str, dict[str, str]]:
    """(measurement, {field: type}) of a line, enough to detect type conflicts."""
    parts = _split_unescaped(line, " ")
    if len(parts) < 2:
        raise ValueError("missing fields")
    head, fields = parts[0], parts[1]
    measurement = _split_unescaped(head, ",")[0]
    types: dict[str, str] = {}
    for item in _split_unescaped(fields, ","):
        key, _, value = item.partition("=")
        if not key or not value:
            raise ValueError(f"bad field {item!r}")
        if value.startswith('"'):
            types[key] = "string"
        elif value.endswith("i"):
            types[key] = "integer"
        elif value in ("true", "false", "t", "f", "T", "F", "True", "False"):
            types[key] = "boolean"
        else:
            float(value)
            types[key] = "float"
    return measurement, types


@dataclass
class FakeInfluxDB2:
    org: str = "home"
    buckets: set[str] = field(default_factory=lambda: {"home_assistant"})
    tokens: set[str] = field(default_factory=lambda: {"good-token"})
    # Statuses to answer next, one per request, before normal handling (e.g. [503, 503]).
    fail_next: list[int] = field(default_factory=list)
    retry_after: str | None = None
    # Lines for which this returns a reason are rejected (partial write).
    reject: Callable[[str], str | None] | None = None
    max_body_lines: int | None = None  # answer 413 above this many lines
    delay: float = 0.0  # seconds per write request: a slow server
    written: list[str] = field(default_factory=list)
    requests: int = 0
    encodings: list[str] = field(default_factory=list)
    _types: dict[tuple[str, str], str] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/api/v2/write", self._write)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ping", self._ping)
        return app

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "influxdb", "status": "pass", "version": "v2.7.0"})

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"X-Influxdb-Version": "v2.7.0"})

    async def _write(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.fail_next:
            status = self.fail_next.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(
                {"code": "unavailable", "message": f"simulated {status}"},
                status=status,
                headers=headers,
            )
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Token ") or auth[6:] not in self.tokens:
            return self._error(401, "unauthorized", "unauthorized access")
        if request.query.get("org") != self.org:
            org = request.query.get("org")
            return self._error(404, "not found", f'organization name "{org}" not found')
        bucket = request.query.get("bucket", "")
        if bucket not in self.buckets:
            return self._error(404, "not found", f'bucket "{bucket}" not found')
        if self.delay:
            await asyncio.sleep(self.delay)
        # aiohttp has already undone Content-Encoding: gzip here.
        self.encodings.append(request.headers.get("Content-Encoding", ""))
        body = await request.read()
        lines = [ln for ln in body.decode("utf-8").split("\n") if ln.strip()]
        if self.max_body_lines is not None and len(lines) > self.max_body_lines:
            return self._error(413, "request too large", "unable to read data: body too large")
        errors: list[str] = []
        for number, line in enumerate(lines, 1):
            reason = self.reject(line) if self.reject else None
            if reason is None:
                reason = self._check_types(line)
            if reason is not None:
                errors.append(f"line {number}: {reason}")
                continue
            self.written.append(line)
        if errors:
            written = len(lines) - len(errors)
            return self._error(
                400,
                "invalid",
                f"partial write error ({written} written): " + "; ".join(errors[:10]),
            )
        return web.Response(status=204)

    def _check_types(self, line: str) -> str | None:
        try:
            measurement, types = field_types(line)
        except ValueError as err:
            return f"unable to parse '{line[:60]}': {err}"
        for key, kind in types.items():
            known = self._types.setdefault((measurement, key), kind)
            if known != kind:
                return (
                    f"failure writing points to database: partial write: field type conflict: "
                    f'input field "{key}" on measurement "{measurement}" is type {kind}, '
                    f"already exists as type {known}"
                )
        return None
