"""InfluxDB 3 as a target, through Home Assistant: the "InfluxDB 3" config-flow step (errors,
reauth, reconfigure), events written natively, a rejected token starting reauth; and the
VictoriaMetrics note of the 2.x form, against the real VictoriaMetrics binary.

InfluxDB 3 itself: the fake in tests/fake_influxdb3.py here; a real ``influxdb:3-core`` where
INFLUXDB3_URL is set (the GitHub workflow sets it, and there a missing server is a failure).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import os
from typing import Any
from unittest.mock import patch
import uuid

import aiohttp
from homeassistant import config_entries
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
import pytest

from custom_components.ha_ingestor.const import (
    CONF_API,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_ORG,
    CONF_VICTORIA_METRICS,
    DOMAIN,
    ApiKind,
)
from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target
from tests.fake_influxdb3 import FakeInfluxDB3
from tests.helpers import (
    V3_TOKEN,
    FakeServer,
    closed_port_url,
    flush,
    v3_entry,
    v3_input,
)
from tests.servers import VictoriaMetrics

REAL_URL = os.environ.get("INFLUXDB3_URL", "").rstrip("/")
REAL_TOKEN = os.environ.get("INFLUXDB3_TOKEN", "")
if os.environ.get("GITHUB_ACTIONS") and not (REAL_URL and REAL_TOKEN):
    # The workflow runs influxdb:3-core as a service: there, a missing server is a failure.
    raise RuntimeError("INFLUXDB3_URL (and INFLUXDB3_TOKEN) must be set on GitHub")


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is config_entries.ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)


async def _v3_form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert "influxdb_v3" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "influxdb_v3"}
    )
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "influxdb_v3"
    return result


async def test_v3_creates_entry(hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]) -> None:
    result = await _v3_form(hass)
    schema = result["data_schema"].schema
    defaults = {str(key): key.default() for key in schema if callable(key.default)}
    assert defaults[CONF_URL] == "http://localhost:8181"  # InfluxDB 3's port
    assert CONF_ORG not in defaults and CONF_BUCKET not in defaults
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v3_input(fake_v3.url + "/")
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "InfluxDB home_assistant (127.0.0.1)"
    assert result["data"] == {
        CONF_API: "v3",
        CONF_URL: fake_v3.url,
        CONF_DATABASE: "home_assistant",
        CONF_TOKEN: V3_TOKEN,
        CONF_VERIFY_SSL: True,
    }
    # The test write went to the native endpoint with the token.
    (write,) = fake_v3.fake.requests
    assert write.path == "/api/v3/write_lp"
    assert write.headers["Authorization"] == f"Bearer {V3_TOKEN}"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({CONF_TOKEN: "apiv3_wrong"}, "invalid_auth"),
        ({CONF_TOKEN: ""}, "invalid_auth"),  # the server has auth on
        ({CONF_TOKEN: "apiv3_reader"}, "invalid_auth"),  # may read, not write: 403
        ({CONF_DATABASE: "missing"}, "database_not_found"),
    ],
)
async def test_v3_errors_then_recover(
    hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3], overrides: dict[str, str], error: str
) -> None:
    fake_v3.fake.tokens["apiv3_reader"] = "read"
    fake_v3.fake.create_databases = False
    result = await _v3_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], v3_input(fake_v3.url, **overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v3_input(fake_v3.url)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_v3_without_auth_needs_no_token(
    hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]
) -> None:
    fake_v3.fake.tokens.clear()  # influxdb3 serve --without-auth
    result = await _v3_form(hass)
    data = v3_input(fake_v3.url)
    del data[CONF_TOKEN]
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_TOKEN not in result["data"]
    assert "Authorization" not in fake_v3.fake.requests[0].headers


async def test_v3_unreachable_and_not_influxdb3(
    hass: HomeAssistant, fake_v2: Any, not_influx_url: str
) -> None:
    for url, error in (
        (closed_port_url(), "cannot_connect"),
        (not_influx_url, "not_influxdb"),
        (fake_v2.url, "not_influxdb"),  # an InfluxDB 2: no /api/v3/write_lp
    ):
        result = await _v3_form(hass)
        result = await hass.config_entries.flow.async_configure(result["flow_id"], v3_input(url))
        assert result["errors"] == {"base": error}, url


async def test_v3_reauth(hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]) -> None:
    entry = v3_entry(fake_v3.url, token="apiv3_old")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "apiv3_wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOKEN: V3_TOKEN}
        )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN] == V3_TOKEN


async def test_v3_reconfigure_keeps_the_token(
    hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]
) -> None:
    entry = v3_entry(fake_v3.url)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    schema = result["data_schema"].schema
    assert {str(key) for key in schema} == {CONF_URL, CONF_DATABASE, CONF_TOKEN, CONF_VERIFY_SSL}
    data = v3_input(fake_v3.url, **{CONF_DATABASE: "other"})
    del data[CONF_TOKEN]
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_DATABASE] == "other"
    assert entry.data[CONF_TOKEN] == V3_TOKEN
    assert entry.title == "InfluxDB other (127.0.0.1)"


async def test_v3_events_written_natively_and_bad_points_set_aside(
    hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]
) -> None:
    # A field InfluxDB 3 already knows as a string: numbers for it are refused, line by line.
    fake_v3.fake.reject = lambda line: (
        "invalid column type for column 'level'" if "level=" in line else None
    )
    entry = v3_entry(fake_v3.url)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for i in range(40):
        hass.states.async_set(f"sensor.t{i % 4}", str(i), {"level": i} if i == 7 else {})
    await flush(hass)
    rows = [r for r in fake_v3.fake.rows["home_assistant"] if r.table == "ha_states"]
    assert sorted(r.fields["value"][1] for r in rows) == [float(i) for i in range(40) if i != 7]
    assert {r.tags["entity_id"] for r in rows} == {f"sensor.t{i}" for i in range(4)}
    stats = entry.runtime_data.pipeline.stats
    assert stats.dead_lettered == 1
    writes = [r for r in fake_v3.fake.requests if r.path == "/api/v3/write_lp"]
    assert {r.query["precision"] for r in writes} == {"microsecond"}
    # Timestamps are the events' own, in microseconds.
    now = hass.states.get("sensor.t0").last_updated.timestamp()  # type: ignore[union-attr]
    assert abs(max(r.time_ns for r in rows) / 1e9 - now) < 60


async def test_v3_rejected_token_starts_reauth(
    hass: HomeAssistant, fake_v3: FakeServer[FakeInfluxDB3]
) -> None:
    entry = v3_entry(fake_v3.url, token="apiv3_revoked")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    hass.states.async_set("sensor.a", "1")
    with pytest.raises(HomeAssistantError, match="not everything could be written"):
        await flush(hass)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == [SOURCE_REAUTH]
    assert entry.runtime_data.pipeline.pending == 1  # kept for when the token works


@pytest.mark.parametrize(
    ("api", "form"),
    [
        ("v2", {CONF_ORG: "home", CONF_BUCKET: "home_assistant", CONF_TOKEN: "unused"}),
        # The form core's influxdb users know: it took VictoriaMetrics for InfluxDB 1.x, so
        # line breaks in strings cost VictoriaMetrics whole points, numbers included.
        ("v1", {CONF_DATABASE: "home_assistant"}),
    ],
)
async def test_victoria_metrics_gets_a_note(
    hass: HomeAssistant,
    victoria: VictoriaMetrics,
    socket_enabled: None,
    api: str,
    form: dict[str, str],
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": f"influxdb_{api}"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: victoria.url, CONF_VERIFY_SSL: True, **form}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "victoria_metrics"  # the note: string fields are dropped
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_API] == api
    assert result["data"][CONF_VICTORIA_METRICS] is True  # its string fields have no line breaks


async def test_two_windows_adding_one_victoria_metrics_make_one_entry(
    hass: HomeAssistant, victoria: VictoriaMetrics, socket_enabled: None
) -> None:
    """Both flows reached the note; the second one to submit it saved a duplicate."""
    flows = []
    for _ in range(2):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "influxdb_v2"}
        )
        flows.append(result["flow_id"])
    for flow_id in flows:
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                CONF_URL: victoria.url,
                CONF_VERIFY_SSL: True,
                CONF_ORG: "home",
                CONF_BUCKET: "home_assistant",
                CONF_TOKEN: "unused",
            },
        )
        assert result["step_id"] == "victoria_metrics"
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        first = await hass.config_entries.flow.async_configure(flows[0], {})
        second = await hass.config_entries.flow.async_configure(flows[1], {})
    assert first["type"] is FlowResultType.CREATE_ENTRY
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.skipif(not REAL_URL, reason="needs a real InfluxDB 3: INFLUXDB3_URL (CI sets it)")
async def test_real_influxdb3(socket_enabled: None) -> None:
    """The same contract against a real influxdb:3-core: check, a partial write naming the
    rejected line, the rest queryable."""
    database = f"ha_ci_{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession() as session:
        target = Target(api=ApiKind.V3, url=REAL_URL, database=database, token=REAL_TOKEN)
        writer = InfluxWriter(session, target)
        assert await writer.check() is None
        wrong = Target(api=ApiKind.V3, url=REAL_URL, database=database, token="apiv3_wrong")
        assert await InfluxWriter(session, wrong).check() is not None
        first = await writer.write_lines(["m,e=a v=1.0 1700000000000000"])
        assert first.outcome is Outcome.OK, first
        lines = [
            "m,e=a v=2.0 1700000000000001",
            'm,e=a v="text" 1700000000000002',
            "m,e=b v=3.0 1700000000000003",
        ]
        result = await writer.write_lines(lines)
        assert result.outcome is Outcome.PARTIAL, result
        assert [index for index, _ in result.rejected] == [1]
        assert result.covered == 3
        async with session.get(
            f"{REAL_URL}/query",
            params={"db": database, "q": 'SELECT count("v") FROM "m"'},
            headers={"Authorization": f"Token {REAL_TOKEN}"},
        ) as resp:
            body = await resp.json()
        assert resp.status == 200, body
        assert body["results"][0]["series"][0]["values"][0][1] == 3
