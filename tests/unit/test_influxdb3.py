"""InfluxDB 3's native write API: the writer and the batch task against the fake InfluxDB 3
(tests/fake_influxdb3.py), with a real SQLite spool; VictoriaMetrics detection against the
real binary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from custom_components.ha_ingestor.backoff import Backoff
from custom_components.ha_ingestor.const import ApiKind
from custom_components.ha_ingestor.pipeline import Pipeline, PipelineConfig
from custom_components.ha_ingestor.spool import Spool
from custom_components.ha_ingestor.stats import Stats
from custom_components.ha_ingestor.writer import (
    CheckError,
    InfluxWriter,
    Outcome,
    Target,
    v3_rejected_lines,
)
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.fake_influxdb3 import FakeInfluxDB3
from tests.helpers import Hooks, accounted, async_wait_until, lines, serve
from tests.servers import VictoriaMetrics

TOKEN = "apiv3_good"


@dataclass
class V3:
    fake: FakeInfluxDB3
    url: str
    session: aiohttp.ClientSession
    tmp: Path
    hooks: Hooks = field(default_factory=Hooks)

    def writer(self, token: str = TOKEN, database: str = "home_assistant") -> InfluxWriter:
        # gzip as to a remote server (on loopback the writer would send plain bodies)
        target = Target(api=ApiKind.V3, url=self.url, database=database, token=token, gzip=True)
        return InfluxWriter(self.session, target, timeout=5)

    def pipeline(self, token: str = TOKEN) -> Pipeline:
        spool = Spool(self.tmp / "spool.db", 50_000_000, synchronous="NORMAL")
        p = Pipeline(
            self.writer(token),
            spool,
            Stats(),
            PipelineConfig(batch_size=500, flush_interval=0.05),
            self.hooks,
            Backoff(initial=0.02, cap=0.1),
        )
        p.start(lambda coro: __import__("asyncio").get_running_loop().create_task(coro))
        return p

    @staticmethod
    def submit(p: Pipeline, data: list[str]) -> None:
        for line in data:
            p.stats.received += 1
            p.submit(line)


def dead_letters(v3: V3) -> list[Any]:
    spool = Spool(v3.tmp / "spool.db", 50_000_000)
    try:
        return spool.dead_letters(limit=1_000)
    finally:
        spool.close()


@pytest.fixture
async def v3(tmp_path: Path) -> AsyncIterator[V3]:
    fake = FakeInfluxDB3()
    async with serve(fake.app()) as url, aiohttp.ClientSession() as session:
        yield V3(fake, url, session, tmp_path)


def test_write_url_and_auth() -> None:
    target = Target(api=ApiKind.V3, url="http://h:8181/", database="ha db", token="t")
    url = target.write_url()
    assert url.path == "/api/v3/write_lp"
    assert dict(url.query) == {
        "db": "ha db",
        "precision": "microsecond",
        "accept_partial": "true",
        "no_sync": "false",
    }
    assert target.headers() == {"Authorization": "Bearer t"}
    # A server run without auth gets no Authorization header at all.
    assert Target(api=ApiKind.V3, url="http://h:8181", database="d").headers() == {}


def test_rejected_lines_in_both_partial_modes() -> None:
    entry = {"original_line": "m v=x 1", "line_number": 2, "error_message": "bad"}
    partial = {"error": "partial write of line protocol occurred", "data": [entry]}
    whole = {"error": "parsing failed for write_lp endpoint", "data": entry}
    assert v3_rejected_lines(json.dumps(partial)) == [(2, "bad")]
    assert v3_rejected_lines(json.dumps(whole)) == [(2, "bad")]
    assert v3_rejected_lines('{"error": "no data"}') == []
    assert v3_rejected_lines("not json") == []


@pytest.mark.asyncio
async def test_partial_write_dead_letters_exactly_the_rejected_lines(v3: V3) -> None:
    data = lines(1_000)
    bad = {data[13], data[500], data[999]}
    v3.fake.reject = lambda line: "invalid column type" if line in bad else None
    p = v3.pipeline()
    v3.submit(p, data)
    assert await p.flush()
    await p.async_stop()
    # One request for the batch of 1,000: the answer names the lines, no bisecting.
    assert len(v3.fake.requests) == 1
    assert set(v3.fake.written) == set(data) - bad
    assert p.stats.dead_lettered == 3 and p.stats.written == 997
    assert accounted(p) == p.stats.received == 1_000
    assert {(d.line, d.reason) for d in dead_letters(v3)} == {
        (line, "HTTP 400: invalid column type") for line in bad
    }
    request = v3.fake.requests[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.query["precision"] == "microsecond"
    assert request.query["no_sync"] == "false"


@pytest.mark.asyncio
async def test_more_rejections_than_one_answer_lists(v3: V3) -> None:
    """InfluxDB 3 lists at most 100 rejected lines: what its answer does not cover is sent
    again (rewriting a point is harmless), so every rejected line is still found."""
    data = lines(400)
    bad = set(data[::3])  # 134 lines
    v3.fake.reject = lambda line: "rejected" if line in bad else None
    p = v3.pipeline()
    v3.submit(p, data)
    assert await p.flush()
    await p.async_stop()
    assert len(v3.fake.requests) == 2
    assert {d.line for d in dead_letters(v3)} == bad
    assert p.stats.dead_lettered == len(bad) == 134
    assert p.stats.written == 400 - 134
    assert set(v3.fake.written) == set(data) - bad
    assert accounted(p) == 400


@pytest.mark.asyncio
async def test_server_errors_spool_and_replay(v3: V3) -> None:
    v3.fake.fail_next = [503, 429, 500]
    v3.fake.retry_after = "0"
    p = v3.pipeline()
    data = lines(50)
    v3.submit(p, data)
    await async_wait_until(lambda: p.stats.written == 50, "the 50 points written")
    await p.async_stop()
    assert sorted(set(v3.fake.written)) == sorted(data)
    assert p.stats.failed_writes == 3 and p.stats.dead_lettered == 0
    assert accounted(p) == 50


@pytest.mark.asyncio
async def test_rejected_token_pauses_for_reauth_and_keeps_everything(v3: V3) -> None:
    p = v3.pipeline(token="apiv3_revoked")
    v3.submit(p, lines(20))
    assert not await p.flush(wait=5)
    assert p.paused_for_auth
    assert v3.hooks.auth and "401" in v3.hooks.auth[0]
    await p.async_stop()
    assert p.pending == 20 and v3.fake.written == []


@pytest.mark.asyncio
async def test_check(v3: V3) -> None:
    """InfluxDB 3 refuses the check's empty write once the token may write (400, "incoming
    write was empty"): that is a working server, not "not InfluxDB"."""
    async with v3.session.post(
        f"{v3.url}/api/v3/write_lp?db=home_assistant&precision=microsecond",
        data=b"",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as empty:
        assert (empty.status, await empty.text()) == (400, "incoming write was empty")
    assert await v3.writer().check() is None
    assert await v3.writer(token="wrong").check() is CheckError.INVALID_AUTH
    assert await v3.writer(token="").check() is CheckError.INVALID_AUTH  # auth is on
    v3.fake.tokens["apiv3_reader"] = "read"
    assert await v3.writer(token="apiv3_reader").check() is CheckError.INVALID_AUTH  # 403
    v3.fake.create_databases = False
    assert await v3.writer(database="missing").check() is CheckError.NOT_FOUND
    v3.fake.tokens.clear()  # a server run with --without-auth
    assert await v3.writer(token="").check() is None


@pytest.mark.asyncio
async def test_check_refuses_what_is_not_influxdb_3(tmp_path: Path) -> None:
    # No /api/v3/write_lp there.
    async with serve(FakeInfluxDB2().app()) as url, aiohttp.ClientSession() as session:
        target = Target(api=ApiKind.V3, url=url, database="home_assistant", token=TOKEN)
        assert await InfluxWriter(session, target).check() is CheckError.NOT_INFLUXDB


@pytest.mark.asyncio
async def test_victoria_metrics_is_recognised(victoria: VictoriaMetrics, v3: V3) -> None:
    async with aiohttp.ClientSession() as session:
        target = Target(api=ApiKind.V2, url=victoria.url, org="o", bucket="b", token="x")
        writer = InfluxWriter(session, target)
        assert await writer.check() is None
        assert await writer.is_victoria_metrics()
        async with serve(FakeInfluxDB2().app()) as url:
            v2 = Target(api=ApiKind.V2, url=url, org="home", bucket="b", token="good-token")
            assert not await InfluxWriter(session, v2).is_victoria_metrics()
    # InfluxDB 3 answers /health with OK too, but is not VictoriaMetrics.
    assert not await v3.writer().is_victoria_metrics()


@pytest.mark.asyncio
async def test_fake_answers_a_whole_batch_refusal_when_partial_is_off(v3: V3) -> None:
    """The fake's other partial mode, as the documentation shows it."""
    url = v3.writer().target.write_url().update_query(accept_partial="false")
    async with v3.session.post(
        url, data='m v=1 1\nm v="x" 2', headers={"Authorization": f"Bearer {TOKEN}"}
    ) as resp:
        body = await resp.json()
    assert resp.status == 400
    assert body["error"] == "parsing failed for write_lp endpoint"
    assert body["data"]["line_number"] == 2
    assert "expected iox::column_type::field::float" in body["data"]["error_message"]
    assert v3.fake.written == []
    result = await v3.writer().write_lines(["m v=1 1", 'm v="x" 2'])
    assert result.outcome is Outcome.PARTIAL and result.rejected[0][0] == 1
    assert v3.fake.written == ["m v=1 1"]
