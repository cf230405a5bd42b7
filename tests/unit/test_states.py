"""The StateSettler: Pending -> Active and InProgress -> Successful after the code is
prepared, Failed when it cannot be, each under a new revision id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lambdalite.control.bus import EventBus
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.states import FAILURE_CODE, StateSettler
from lambdalite.control.validation import FunctionSettings
from lambdalite.models import FunctionConfig
from lambdalite.store.functions import SqliteFunctionStore
from lambdalite.store.sqlite import SqliteDatabase
from tests.unit.control_plane import CODE, PREFIX, SETTINGS


def registry_at(db: Path) -> tuple[FunctionRegistry, EventBus]:
    bus = EventBus()
    return FunctionRegistry(SqliteFunctionStore(SqliteDatabase(db)), PREFIX, bus), bus


def test_creation_and_update_settle_once_the_code_is_prepared(tmp_path: Path) -> None:
    prepared: list[str] = []
    slept: list[float] = []

    async def prepare(config: FunctionConfig) -> None:
        prepared.append(config.revision_id)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def scenario() -> None:
        registry, bus = registry_at(tmp_path / "db")
        settler = StateSettler(registry, bus, prepare, settle_s=0.25, sleep=sleep)
        created = registry.create("fn", SETTINGS, CODE, publish=True)
        assert (created.state, created.version) == ("Pending", "1")
        await settler.drain()
        latest, version = registry.get("fn"), registry.get("fn", "1")
        assert (latest.state, latest.last_update_status) == ("Active", "Successful")
        assert (version.state, version.last_update_status) == ("Active", "Successful")
        assert latest.revision_id != registry.get("fn", "1").revision_id != created.revision_id
        assert len(prepared) == 2 and slept == [0.25, 0.25]
        updated = registry.update_configuration("fn", FunctionSettings(timeout_s=9), None)
        assert (updated.state, updated.last_update_status) == ("Active", "InProgress")
        await settler.drain()
        assert registry.get("fn").last_update_status == "Successful"
        assert registry.get("fn").revision_id != updated.revision_id

    asyncio.run(scenario())


def test_code_that_cannot_be_prepared_fails_the_function_with_a_reason(tmp_path: Path) -> None:
    async def prepare(config: FunctionConfig) -> None:
        raise OSError("disk full")

    async def scenario() -> None:
        registry, bus = registry_at(tmp_path / "db")
        settler = StateSettler(registry, bus, prepare)
        registry.create("fn", SETTINGS, CODE)
        await settler.drain()
        failed = registry.get("fn")
        assert (failed.state, failed.state_reason_code) == ("Failed", FAILURE_CODE)
        assert failed.state_reason == "Lambda could not prepare the function's code: disk full"

    asyncio.run(scenario())


def test_a_restart_takes_up_what_was_left_pending_and_skips_stale_revisions(tmp_path: Path) -> None:
    registry, _ = registry_at(tmp_path / "db")
    created = registry.create("fn", SETTINGS, CODE)  # no settler: stays Pending
    registry.settle("fn", "$LATEST", "not-the-current-revision")
    assert registry.get("fn").state == "Pending"

    async def prepare(config: FunctionConfig) -> None:
        return None

    async def scenario() -> None:
        again, bus = registry_at(tmp_path / "db")
        assert again.get("fn").revision_id == created.revision_id
        settler = StateSettler(again, bus, prepare)  # inside a loop: resumes at once
        await settler.drain()
        assert again.get("fn").state == "Active"

    asyncio.run(scenario())
