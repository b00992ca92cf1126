"""Repair flows: clear the rejected points; backfill a gap from the recorder."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .gap_repair import ISSUE_GAP

if TYPE_CHECKING:
    from .gap_repair import GapRepair


class _EntryRepairFlow(RepairsFlow):
    """A fix flow for an issue of one entry, starting at its confirm step."""

    def __init__(self, entry_id: str) -> None:
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        raise NotImplementedError


class ClearDeadLettersFlow(_EntryRepairFlow):
    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        if user_input is not None:
            entry = self.hass.config_entries.async_get_entry(self._entry_id)
            if entry is None or entry.state is not ConfigEntryState.LOADED:
                # Said, not claimed done: the table stays, and with it the issue.
                return self.async_abort(reason="entry_not_loaded")
            spool = entry.runtime_data.pipeline.spool
            await self.hass.async_add_executor_job(spool.clear_dead_letters)
            return self.async_create_entry(data={})
        return self.async_show_form(step_id="confirm")


class BackfillGapFlow(_EntryRepairFlow):
    """Confirm, then show progress while the backfill runs; the issue closes when it is done
    (also if the dialog was closed meanwhile: the gap repair deletes it)."""

    def __init__(self, entry_id: str) -> None:
        super().__init__(entry_id)
        self._task: asyncio.Task[bool] | None = None

    def _gaps(self) -> GapRepair | None:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return None
        gaps: GapRepair = entry.runtime_data.history.gaps
        return gaps

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        if self._task is not None:  # the progress step shows under this step's id
            return await self.async_step_backfill()
        if (gaps := self._gaps()) is None:
            return self.async_abort(reason="entry_not_loaded")
        if gaps.busy:
            return self.async_abort(reason="backfill_running")
        if user_input is None:
            issue = ir.async_get(self.hass).async_get_issue(self.handler, self.issue_id)
            return self.async_show_form(
                step_id="confirm",
                description_placeholders=None if issue is None else issue.translation_placeholders,
            )
        done = await gaps.async_repair()
        if done is None:
            return self.async_abort(reason="window_purged")
        self._task = self.hass.async_create_task(_wait(done), "ha_ingestor gap repair flow")
        return await self.async_step_backfill()

    async def async_step_backfill(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        task = self._task
        assert task is not None
        if not task.done():
            return self.async_show_progress(progress_action="backfill", progress_task=task)
        if task.cancelled() or not task.result():
            return self.async_show_progress_done(next_step_id="cancelled")
        return self.async_show_progress_done(next_step_id="done")

    async def async_step_done(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        # Ending with an entry deletes the issue, which by now may name a newer gap.
        if (gaps := self._gaps()) is not None and gaps.tracker.window is not None:
            return self.async_abort(reason="new_gap")
        return self.async_create_entry(data={})

    async def async_step_cancelled(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        return self.async_abort(reason="backfill_cancelled")


async def _wait(done: asyncio.Future[bool]) -> bool:
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        return False


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    assert data is not None
    entry_id = str(data["entry_id"])
    if issue_id.startswith(f"{ISSUE_GAP}_"):
        return BackfillGapFlow(entry_id)
    return ClearDeadLettersFlow(entry_id)
