"""Tells the user about delivery problems: one log line per change, repair issues, reauth."""

from __future__ import annotations

import logging

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, REAUTH_OWM_STEP
from .history import recorder_loaded

_LOGGER = logging.getLogger(__name__)

ISSUE_TARGET_MISSING = "target_missing"
ISSUE_DEAD_LETTERS = "dead_letters"
ISSUE_SPOOL_FULL = "spool_full"
ISSUE_SPOOL_RECOVERED = "spool_recovered"
ISSUE_SPOOL_UNWRITABLE = "spool_unwritable"
HEALTH_ISSUES = (
    ISSUE_TARGET_MISSING,
    ISSUE_DEAD_LETTERS,
    ISSUE_SPOOL_FULL,
    ISSUE_SPOOL_RECOVERED,
    ISSUE_SPOOL_UNWRITABLE,
)
# About what the running entry sees now: gone when it is disabled (it sees nothing then), and
# raised again once it runs, if still true. The others report what happened.
RUNTIME_ISSUES = (ISSUE_TARGET_MISSING, ISSUE_SPOOL_FULL, ISSUE_SPOOL_UNWRITABLE)


def issue_id(kind: str, entry: ConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


class HealthReporter:
    """PipelineHooks for Home Assistant."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        self._hass = hass
        self._entry = entry
        self._spool_dropped = 0  # since the spool-full issue was raised

    def _issue(
        self,
        kind: str,
        severity: ir.IssueSeverity,
        placeholders: dict[str, str],
        fixable: bool = False,
    ) -> None:
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id(kind, self._entry),
            is_fixable=fixable,
            data={"entry_id": self._entry.entry_id},
            is_persistent=False,
            severity=severity,
            translation_key=kind,
            translation_placeholders={"title": self._entry.title, **placeholders},
        )

    def _close(self, kind: str) -> None:
        ir.async_delete_issue(self._hass, DOMAIN, issue_id(kind, self._entry))

    @callback
    def connectivity_changed(self, connected: bool, error: str | None) -> None:
        if connected:
            _LOGGER.info("%s: InfluxDB is reachable again; writing resumed", self._entry.title)
            # What made these happen is over; dropped points stay counted in the sensor.
            for kind in (ISSUE_TARGET_MISSING, ISSUE_SPOOL_FULL):
                self._close(kind)
            self._spool_dropped = 0
        else:
            _LOGGER.warning(
                "%s: InfluxDB is unavailable (%s); spooling to disk until it is back",
                self._entry.title,
                error,
            )

    @callback
    def auth_failed(self, message: str) -> None:
        _LOGGER.error(
            "%s: InfluxDB rejected the credentials (%s); data is kept until you re-authenticate",
            self._entry.title,
            message,
        )
        # An entry has one reauth flow at a time, and an open one for the OpenWeatherMap key
        # would keep this one from starting while the points wait on InfluxDB's credentials.
        flows = self._hass.config_entries.flow
        for flow in list(self._entry.async_get_active_flows(self._hass, {SOURCE_REAUTH})):
            if flow.get("step_id") == REAUTH_OWM_STEP:
                flows.async_abort(flow["flow_id"])
        self._entry.async_start_reauth(self._hass)

    @callback
    def target_missing(self, message: str) -> None:
        self._issue(ISSUE_TARGET_MISSING, ir.IssueSeverity.ERROR, {"error": message})

    @callback
    def dead_lettered(self, examples: list[tuple[str, str]]) -> None:
        line, reason = examples[0]
        self._issue(
            ISSUE_DEAD_LETTERS,
            ir.IssueSeverity.WARNING,
            {"example": line[:300], "reason": reason[:300]},
            fixable=True,
        )

    @callback
    def spool_dropped(self, points: int) -> None:
        """One issue per loss: with the recorder, gap repair's fixable issue names the window
        and the count; without it nothing can bring the points back, and this says so."""
        if recorder_loaded(self._hass):
            return
        self._spool_dropped += points  # the issue says all of this outage's, not the last
        self._issue(
            ISSUE_SPOOL_FULL, ir.IssueSeverity.WARNING, {"points": str(self._spool_dropped)}
        )

    @callback
    def spool_recovered(self, moved_to: str) -> None:
        """The spool file was damaged and set aside; what it held could not be replayed."""
        self._issue(ISSUE_SPOOL_RECOVERED, ir.IssueSeverity.WARNING, {"path": moved_to})

    @callback
    def spool_writes_changed(self, working: bool, error: str | None) -> None:
        """A full disk is otherwise only in the log, while points pile up in memory."""
        if working:
            self._close(ISSUE_SPOOL_UNWRITABLE)
        else:
            self._issue(ISSUE_SPOOL_UNWRITABLE, ir.IssueSeverity.ERROR, {"error": error or ""})

    @callback
    def stopped(self) -> None:
        """The entry stopped: nothing of it waits in memory (spooled, or counted as dropped).
        As after a restart (the issue is not persistent), a store that fails raises it again."""
        self._close(ISSUE_SPOOL_UNWRITABLE)
