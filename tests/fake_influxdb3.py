"""An aiohttp server that answers like InfluxDB 3 Core, which cannot run on these machines.

Follows InfluxDB 3 Core's documentation:

* write: https://docs.influxdata.com/influxdb3/core/write-data/http-api/v3-write-lp/ and
  https://docs.influxdata.com/influxdb3/core/write-data/troubleshoot/ -
  ``POST /api/v3/write_lp?db=&precision=&accept_partial=&no_sync=``, gzip bodies, 204 when every
  line is written. A rejected line answers 400: with ``accept_partial=true`` (the default) the
  valid lines are written and the body is
  ``{"error": "partial write of line protocol occurred", "data": [{"original_line",
  "line_number", "error_message"}, ...]}`` (at most 100 entries); with ``accept_partial=false``
  nothing is written and the body is ``{"error": "parsing failed for write_lp endpoint",
  "data": {...the first rejected line...}}``. 503 with ``Retry-After`` when unavailable.
* schema rules: https://docs.influxdata.com/influxdb3/core/write-data/best-practices/schema-design/
  - a tag and a field cannot share a name in a table (the write fails on a column conflict);
  a column keeps its type ("invalid column type for column 'x', expected
  iox::column_type::field::float, got iox::column_type::field::string"); tags added after a
  table's first write go to the end of its columns.
* auth and the other endpoints: the Core OpenAPI reference
  (https://docs.influxdata.com/influxdb3/core/api/v3/) - ``Authorization: Bearer TOKEN`` on
  every endpoint, ``Token TOKEN`` and Basic (password = token) or ``p=`` on the v1 ``/query``;
  401 ``{"error": ...}`` without a valid token, 403 for a token without the permission;
  ``/health`` and ``/ping`` need a token too unless exempted (``--disable-authz health,ping``):
  ``/health`` answers ``OK``, ``/ping`` JSON with the version (and an ``X-Influxdb-Version``); ``/query`` is the v1-compatible InfluxQL endpoint (db, q, epoch).
  ``db`` of a write names a database InfluxDB creates when missing; with
  ``create_databases=False`` a missing one answers 404 ``database not found``.

``/query`` knows the few InfluxQL statements the dashboard and tests send: ``SHOW DATABASES``,
``SHOW MEASUREMENTS``, ``SELECT count("f") FROM "m" ... GROUP BY ..."tag"`` (one bucket per tag
value), ``SELECT * FROM "m" ... GROUP BY "tag" ... LIMIT 1`` (newest row per tag value) and
``SELECT sum("f") AS "f", ... FROM (SELECT non_negative_difference("f") AS "f", ... FROM "m"
GROUP BY "tag") ... GROUP BY "tag"`` (per tag value, the steps up between successive values
summed; no series for a tag value with fewer than two rows); WHERE clauses are not evaluated;
anything else is a 400 in InfluxDB's shape.

A write with no line (an empty body, or comments only) is refused after the token was checked:
400, plain text ``incoming write was empty``, no database created (the server's source,
influxdata/influxdb ``influxdb3_write/src/write_buffer/mod.rs`` ``Error::EmptyWrite``, answered
in ``influxdb3_server/src/http.rs``; since #26223, before 3.0.0). Tokens are
``{token: "write" | "read"}``; an empty dict runs the server without auth (``--without-auth``).
No Home Assistant imports.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
import itertools
import re
from typing import Any

from aiohttp import web

MAX_REPORTED = 100
VERSION = "3.7.0"
_EPOCH = {"ms": 1_000_000, "s": 10**9, "u": 1_000, "ns": 1}
_PRECISION_NS = {"nanosecond": 1, "microsecond": 1_000, "millisecond": 1_000_000, "second": 10**9}


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _until(text: str, i: int, stops: str) -> int:
    """Index of the first unescaped character of `stops` from i (len(text) if none)."""
    while i < len(text) and text[i] not in stops:
        i += 2 if text[i] == "\\" else 1
    return min(i, len(text))


def _string_end(text: str, i: int) -> int:
    """Index just past the closing quote of the string field value opening at text[i]."""
    i += 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    if i >= len(text):
        raise ValueError("Unterminated string")
    return i + 1


def split_lines(body: str) -> list[str]:
    """Lines of a body: a newline inside a quoted string field value does not end a line."""
    lines, start, i = [], 0, 0
    while i < len(body):
        head_end = _until(body, i, " \n")
        if head_end >= len(body) or body[head_end] == "\n":
            lines.append(body[start:head_end])
            i = start = head_end + 1
            continue
        i = head_end + 1
        while i < len(body) and body[i] != "\n":  # fields and timestamp
            if body[i] == '"':
                i = _string_end(body, i) if '"' in body[i + 1 :] else len(body)
            else:
                i = _until(body, i, '"\n')
        lines.append(body[start:i])
        i = start = i + 1
    return [line for line in lines if line.strip()]


def parse_line(line: str, precision_ns: int, now_ns: int) -> Row:
    """One line as InfluxDB's line protocol parser reads it (names unescaped)."""
    head_end = _until(line, 0, " ")
    head = line[:head_end]
    table_end = _until(head, 0, ",")
    table = _unescape(head[:table_end])
    if not table:
        raise ValueError("Expected measurement name")
    tags: dict[str, str] = {}
    i = table_end
    while i < len(head):
        end = _until(head, i + 1, ",")
        item = head[i + 1 : end]
        eq = _until(item, 0, "=")
        key, value = item[:eq], item[eq + 1 :]
        if eq >= len(item) or not key or not value:
            raise ValueError(f"Tag set malformed: `{item}`")
        tags[_unescape(key)] = _unescape(value)
        i = end
    fields: dict[str, Any] = {}
    i = head_end + 1
    while i < len(line) and line[i] != " ":
        eq = _until(line, i, "= ,")
        if eq >= len(line) or line[eq] != "=" or eq == i:
            raise ValueError("No fields were provided")
        name = _unescape(line[i:eq])
        i = eq + 1
        end = _string_end(line, i) if line[i : i + 1] == '"' else _until(line, i, " ,")
        if name in fields:
            raise ValueError(f"invalid line protocol - multiple instances of '{name}' field found")
        try:
            fields[name] = _field_value(line[i:end])
        except ValueError as err:
            raise ValueError(f"Invalid field value for '{name}': {err}") from None
        i = end + 1 if end < len(line) and line[end] == "," else end
    if not fields:
        raise ValueError("No fields were provided")
    rest = line[i + 1 :] if i < len(line) else ""
    if rest and not rest.lstrip("-").isdigit():
        raise ValueError(f"Could not parse entire line. Found trailing content: `{rest}`")
    time_ns = int(rest) * precision_ns if rest else now_ns
    return Row(table, tags, fields, time_ns)


@dataclass
class Row:
    table: str
    tags: dict[str, str]
    fields: dict[str, Any]
    time_ns: int


@dataclass
class Table:
    tags: list[str] = field(default_factory=list)  # in column order
    fields: dict[str, str] = field(default_factory=dict)  # name -> iox column type


def _field_value(raw: str) -> tuple[str, Any]:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise ValueError("Unterminated string")
        return "string", _unescape(raw[1:-1])
    if raw.endswith("i"):
        return "integer", int(raw[:-1])
    if raw.endswith("u"):
        return "uinteger", int(raw[:-1])
    if raw in ("t", "T", "true", "True", "TRUE"):
        return "boolean", True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return "boolean", False
    return "float", float(raw)


@dataclass
class FakeInfluxDB3:
    databases: set[str] = field(default_factory=lambda: {"home_assistant"})
    tokens: dict[str, str] = field(default_factory=lambda: {"apiv3_good": "write"})
    create_databases: bool = True
    # Endpoints answered without a token, like `influxdb3 serve --disable-authz health,ping`.
    disable_authz: set[str] = field(default_factory=set)
    # Statuses to answer next, one per write request, before normal handling.
    fail_next: list[int] = field(default_factory=list)
    retry_after: str | None = None
    # Lines for which this returns a reason are rejected, as a schema conflict would be.
    reject: Any = None
    delay: float = 0.0
    requests: list[web.Request] = field(default_factory=list)
    rows: dict[str, list[Row]] = field(default_factory=dict)  # database -> rows
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/api/v3/write_lp", self._write)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ping", self._ping)
        app.router.add_route("*", "/query", self._query)
        return app

    # ------------------------------------------------------------------ auth

    def _token(self, request: web.Request, v1: bool) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme == "Bearer":
            return credential
        if v1 and scheme == "Token":
            return credential
        if v1 and scheme == "Basic":
            try:
                return base64.b64decode(credential).decode().partition(":")[2]
            except ValueError:
                return None
        if v1 and "p" in request.query:
            return request.query["p"]
        return None

    def _denied(self, request: web.Request, need: str, v1: bool = False) -> web.Response | None:
        if not self.tokens:
            return None
        token = self._token(request, v1)
        if token is None or token not in self.tokens:
            return web.json_response({"error": "the request was not authenticated"}, status=401)
        if need == "write" and self.tokens[token] != "write":
            return web.json_response({"error": "access denied"}, status=403)
        return None

    async def _health(self, request: web.Request) -> web.Response:
        denied = None if "health" in self.disable_authz else self._denied(request, "read")
        return denied or web.Response(text="OK")

    async def _ping(self, request: web.Request) -> web.Response:
        denied = None if "ping" in self.disable_authz else self._denied(request, "read")
        return denied or web.json_response(
            {"version": VERSION, "revision": "fake"}, headers={"X-Influxdb-Version": VERSION}
        )

    # ------------------------------------------------------------------ write

    async def _write(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        if self.fail_next:
            status = self.fail_next.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.json_response(
                {"error": f"simulated {status}"}, status=status, headers=headers
            )
        if (denied := self._denied(request, "write")) is not None:
            return denied
        db = request.query.get("db", "")
        if not db:
            return web.json_response({"error": "missing query parameter: db"}, status=400)
        if db not in self.databases and not self.create_databases:
            return web.json_response({"error": f"database not found {db}"}, status=404)
        precision = request.query.get("precision", "auto")
        if precision not in _PRECISION_NS:
            return web.json_response({"error": f"invalid precision {precision}"}, status=400)
        accept_partial = request.query.get("accept_partial", "true") != "false"
        if self.delay:
            await asyncio.sleep(self.delay)
        body = (await request.read()).decode("utf-8")  # aiohttp has undone gzip
        lines = [line for line in split_lines(body) if not line.lstrip().startswith("#")]
        if not lines:
            return web.Response(status=400, text="incoming write was empty")
        self.databases.add(db)
        valid: list[tuple[str, Row]] = []
        errors: list[dict[str, Any]] = []
        staged: dict[tuple[str, str], Table] = {}
        for number, line in enumerate(lines, 1):
            reason = self.reject(line) if self.reject else None
            row = None
            if reason is None:
                try:
                    row = parse_line(line, _PRECISION_NS[precision], 0)
                except ValueError as err:
                    reason = str(err)
            if row is not None:
                reason = self._check_schema(db, row, staged)
            if reason is not None:
                errors.append({"original_line": line[:100], "line_number": number,
                               "error_message": reason})  # fmt: skip
            elif row is not None:
                valid.append((line, row))
        if errors and not accept_partial:
            return web.json_response(
                {"error": "parsing failed for write_lp endpoint", "data": errors[0]}, status=400
            )
        self.tables.update(staged)
        for line, row in valid:
            self.written.append(line)
            self.rows.setdefault(db, []).append(row)
        if errors:
            return web.json_response(
                {"error": "partial write of line protocol occurred", "data": errors[:MAX_REPORTED]},
                status=400,
            )
        return web.Response(status=204)

    def _check_schema(self, db: str, row: Row, staged: dict[tuple[str, str], Table]) -> str | None:
        key = (db, row.table)
        known = staged.get(key) or self.tables.get(key) or Table()
        table = Table(list(known.tags), dict(known.fields))
        for name in row.tags:
            if name in table.fields or name in row.fields:
                return f"column '{name}' is a field in table '{row.table}', cannot be a tag"
            if name not in table.tags:
                table.tags.append(name)
        for name, (kind, _) in row.fields.items():
            if name in table.tags:
                return f"column '{name}' is a tag in table '{row.table}', cannot be a field"
            have = table.fields.setdefault(name, kind)
            if have != kind:
                return (
                    f"invalid column type for column '{name}', expected "
                    f"iox::column_type::field::{have}, got iox::column_type::field::{kind}"
                )
        staged[key] = table
        return None

    # ------------------------------------------------------------------ InfluxQL

    async def _query(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request, "read", v1=True)) is not None:
            return denied
        params = dict(request.query)
        if request.method == "POST":
            params.update(await request.post())  # type: ignore[arg-type]
        db, q = params.get("db", ""), params.get("q", "")
        if not q:
            return web.json_response({"error": "missing required parameter: q"}, status=400)
        epoch = params.get("epoch")
        try:
            result = self._run(db, q.strip(), epoch)
        except LookupError as err:
            return web.json_response({"error": str(err)}, status=404)
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"results": [{"statement_id": 0, **result}]})

    def _run(self, db: str, q: str, epoch: str | None) -> dict[str, Any]:
        if re.fullmatch(r"(?i)SHOW\s+DATABASES", q):
            values = [[name] for name in sorted(self.databases)]
            return {"series": [{"name": "databases", "columns": ["name"], "values": values}]}
        if db not in self.databases:
            raise LookupError(f"database not found: {db}")
        rows = self.rows.get(db, [])
        if re.fullmatch(r"(?i)SHOW\s+MEASUREMENTS", q):
            names = sorted({r.table for r in rows})
            return {"series": [{"name": "measurements", "columns": ["name"],
                                "values": [[n] for n in names]}]} if names else {}  # fmt: skip
        growth = re.fullmatch(
            r'(?i)SELECT\s+(.+?)\s+FROM\s+\(SELECT\s+(.+?)\s+FROM\s+"([^"]+)"\s+'
            r'GROUP\s+BY\s+"([^"]+)"\)(?:\s+WHERE\s+.+?)?\s+GROUP\s+BY\s+"\4"',
            q,
        )
        if growth is not None:
            outer, inner, table, tag = growth.groups()
            summed = re.findall(r'(?i)sum\("([^"]+)"\)\s+AS\s+"([^"]+)"', outer)
            differenced = r'(?i)non_negative_difference\("([^"]+)"\)\s+AS\s+"([^"]+)"'
            steps = {alias: name for name, alias in re.findall(differenced, inner)}
            if not summed or any(name not in steps for name, _ in summed):
                raise ValueError(f"error parsing query: unsupported by this fake: {q[:80]}")
            fields = [(alias, steps[name]) for name, alias in summed]
            return {
                "series": self._growth(table, [r for r in rows if r.table == table], fields, tag)
            }
        match = re.match(r'(?i)SELECT\s+(count\("([^"]+)"\)|\*)\s+FROM\s+"([^"]+)"(.*)$', q)
        if match is None:
            raise ValueError(f"error parsing query: unsupported by this fake: {q[:80]}")
        _, counted, table, rest = match.groups()
        selected = [r for r in rows if r.table == table]
        group = re.search(r'(?i)GROUP\s+BY\s+.*?"([^"]+)"', rest)
        tag = group.group(1) if group else None
        if counted is not None:
            return {"series": self._count(table, selected, counted, tag, epoch)}
        return {"series": self._newest(table, selected, tag, epoch)}

    @staticmethod
    def _count(
        table: str, rows: list[Row], counted: str, tag: str | None, epoch: str | None
    ) -> list[dict[str, Any]]:
        """count("f") per value of the GROUP BY tag, as one bucket (time buckets are not split)."""
        groups: dict[str, list[Row]] = {}
        for row in rows:
            if counted in row.fields:
                groups.setdefault(row.tags.get(tag, "") if tag else "", []).append(row)
        divisor = _EPOCH.get(epoch or "ns", 1)
        series = []
        for key, members in sorted(groups.items()):
            start = min(r.time_ns for r in members) // divisor
            item: dict[str, Any] = {
                "name": table, "columns": ["time", "count"], "values": [[start, len(members)]]
            }  # fmt: skip
            if tag:
                item["tags"] = {tag: key}
            series.append(item)
        return series

    @staticmethod
    def _growth(
        table: str, rows: list[Row], fields: list[tuple[str, str]], tag: str
    ) -> list[dict[str, Any]]:
        """sum(non_negative_difference(f)) per tag value: a step down is skipped, as InfluxDB's
        non_negative_difference drops a negative result; a field with no step sums to null."""
        groups: dict[str, list[Row]] = {}
        for row in sorted(rows, key=lambda r: r.time_ns):
            groups.setdefault(row.tags.get(tag, ""), []).append(row)
        series = []
        for key, members in sorted(groups.items()):
            if len(members) < 2:
                continue
            sums: list[Any] = []
            for _, source in fields:
                values = [r.fields[source][1] for r in members if source in r.fields]
                ups = [b - a for a, b in itertools.pairwise(values) if b >= a]
                sums.append(sum(ups) if ups else None)
            series.append({
                "name": table, "tags": {tag: key},
                "columns": ["time", *(alias for alias, _ in fields)], "values": [[0, *sums]],
            })  # fmt: skip
        return series

    @staticmethod
    def _newest(
        table: str, rows: list[Row], tag: str | None, epoch: str | None
    ) -> list[dict[str, Any]]:
        by_group: dict[str, Row] = {}
        for row in rows:
            key = row.tags.get(tag, "") if tag else ""
            if key not in by_group or row.time_ns >= by_group[key].time_ns:
                by_group[key] = row
        divisor = _EPOCH.get(epoch or "ns", 1)
        series = []
        for key, row in sorted(by_group.items()):
            columns = ["time", *sorted(set(row.tags) - {tag}), *sorted(row.fields)]
            values = [row.time_ns // divisor]
            values += [row.tags[c] for c in columns[1:] if c in row.tags and c != tag]
            values += [row.fields[c][1] for c in sorted(row.fields)]
            item: dict[str, Any] = {"name": table, "columns": columns, "values": [values]}
            if tag:
                item["tags"] = {tag: key}
            series.append(item)
        return series
