"""The registry's versions, aliases and routing, over a real SQLite store."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.control import aliases
from lambdalite.control.aliases import AliasInput
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import (
    AliasDeleted,
    AliasUpdated,
    FunctionDeleted,
    LatestChanged,
    VersionRemoved,
)
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.validation import FunctionSettings
from lambdalite.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    Validation,
)
from lambdalite.models import LATEST
from lambdalite.store.code import StoredCode
from lambdalite.store.functions import SqliteFunctionStore
from lambdalite.store.sqlite import SqliteDatabase
from tests.unit.control_plane import settle_at_once

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
SETTINGS = FunctionSettings(
    runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler"
)
CODE_A = StoredCode(sha256_hex="aa" * 32, size=10, unzipped_size=20)
CODE_B = StoredCode(sha256_hex="bb" * 32, size=11, unzipped_size=21)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lambdalite.db"


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def registry(db: Path, bus: EventBus) -> Iterator[FunctionRegistry]:
    database = SqliteDatabase(db)
    opened = FunctionRegistry(SqliteFunctionStore(database), PREFIX, bus)
    settle_at_once(opened, bus)
    yield opened
    database.close()


def reopened(db: Path) -> FunctionRegistry:
    bus = EventBus()
    opened = FunctionRegistry(SqliteFunctionStore(SqliteDatabase(db)), PREFIX, bus)
    settle_at_once(opened, bus)
    return opened


def alias(name: str, version: str, routing: dict[str, float] | None = None) -> AliasInput:
    return AliasInput(name=name, function_version=version, routing=routing)


def test_versions_are_numbered_snapshots_with_their_own_revision(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A)
    latest = registry.get("fn")
    v1 = registry.publish_version("fn", description="one")
    assert (v1.version, v1.description, v1.code_sha256) == ("1", "one", CODE_A.sha256_hex)
    assert v1.revision_id != latest.revision_id
    republished = registry.get("fn")  # publishing gives $LATEST a new revision, nothing else
    assert republished.revision_id not in {latest.revision_id, v1.revision_id}
    assert dataclasses.replace(republished, revision_id=latest.revision_id) == latest
    registry.update_code("fn", CODE_B, None)
    v2 = registry.publish_version("fn")
    assert (v2.version, v2.code_sha256) == ("2", CODE_B.sha256_hex)
    assert registry.get("fn", "1") == v1
    assert registry.get("fn", LATEST).code_sha256 == CODE_B.sha256_hex


def test_publishing_unchanged_latest_returns_the_newest_version(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A)
    first = registry.publish_version("fn")
    assert registry.publish_version("fn", description="other") is first
    registry.update_configuration("fn", FunctionSettings(timeout_s=9), None)
    assert registry.publish_version("fn").version == "2"


def test_publish_preconditions(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A)
    latest = registry.get("fn")
    with pytest.raises(PreconditionFailed):
        registry.publish_version("fn", revision_id="nope")
    with pytest.raises(InvalidParameterValue, match=r"^CodeSHA256 \(x\) is different"):
        registry.publish_version("fn", code_sha256="x")
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {PREFIX}missing$"):
        registry.publish_version("missing")
    assert registry.list_versions("fn", None, 50)[0] == [latest]


def test_version_numbers_survive_deletion_and_restart(registry: FunctionRegistry, db: Path) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    registry.update_code("fn", CODE_B, None, publish=True)
    registry.delete("fn", "2")
    again = reopened(db)
    assert [c.version for c in again.list_versions("fn", None, 50)[0]] == [LATEST, "1"]
    again.update_code("fn", CODE_A, None)
    assert again.publish_version("fn").version == "3"


def test_create_and_update_with_publish_return_the_version(registry: FunctionRegistry) -> None:
    created = registry.create("fn", SETTINGS, CODE_A, publish=True)
    assert created.version == "1"
    assert registry.get("fn").version == LATEST
    updated = registry.update_code("fn", CODE_B, None, publish=True)
    assert (updated.version, updated.code_sha256) == ("2", CODE_B.sha256_hex)


def test_listeners_hear_latest_changes_and_removed_versions(
    registry: FunctionRegistry, bus: EventBus
) -> None:
    changes: list[tuple[str, str | None]] = []
    removed: list[str] = []
    bus.subscribe(LatestChanged, lambda event: changes.append((event.config.name, event.config.revision_id)))
    bus.subscribe(FunctionDeleted, lambda event: changes.append((event.name, None)))
    bus.subscribe(VersionRemoved, lambda event: removed.append(event.config.version))
    created = registry.create("fn", SETTINGS, CODE_A)
    latest = registry.get("fn")  # settled: Active under a new revision
    registry.publish_version("fn")
    # Creating is two $LATEST revisions (Pending, then Active), publishing one more.
    # (This test's listener hears the first two in reverse: the settling listener came first.)
    republished = registry.get("fn").revision_id
    assert sorted(changes[:2]) == sorted([("fn", created.revision_id), ("fn", latest.revision_id)])
    assert changes[2:] == [("fn", republished)]
    updated = registry.update_code("fn", CODE_B, None, publish=True)
    assert ("fn", registry.get("fn").revision_id) in changes[-2:]
    assert registry.get("fn").revision_id != updated.revision_id
    registry.delete("fn", "1")
    assert removed == ["1"]
    registry.delete("fn")
    assert changes[-1] == ("fn", None)
    assert removed == ["1", "2"]


def test_the_bus_hears_alias_updates_and_deletions(registry: FunctionRegistry, bus: EventBus) -> None:
    heard: list[str] = []
    bus.subscribe(
        AliasUpdated,
        lambda e: heard.append(
            f"{e.previous.name}: {e.previous.function_version} -> {e.current.function_version}"
        ),
    )
    bus.subscribe(AliasDeleted, lambda e: heard.append(f"{e.alias.name} deleted"))
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    registry.create_alias("fn", alias("live", "1"))
    registry.update_alias("fn", "live", AliasInput(function_version=LATEST))
    registry.delete_alias("fn", "live")
    registry.create_alias("fn", alias("other", "1"))
    registry.delete("fn")  # aliases go with their function: FunctionDeleted says it
    assert heard == ["live: 1 -> $LATEST", "live deleted"]


def test_qualifiers_resolve_versions_latest_and_aliases(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    registry.update_code("fn", CODE_B, None, publish=True)
    registry.create_alias("fn", alias("always-two", "1", {"2": 1.0}))
    registry.create_alias("fn", alias("never-two", "1", {"2": 0.0}))
    registry.create_alias("fn", alias("edge", LATEST))
    assert registry.get("fn", "always-two").version == "1"  # reads show the main version
    assert registry.resolve("fn", "always-two").version == "2"
    assert registry.resolve("fn", "never-two").version == "1"
    assert registry.resolve("fn", "edge") is registry.get("fn")
    for qualifier in ("7", "nope"):
        with pytest.raises(ResourceNotFound, match=f"^Function not found: {PREFIX}fn:{qualifier}$"):
            registry.resolve("fn", qualifier)
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {PREFIX}gone:1$"):
        registry.get("gone", "1")


def test_alias_routing_rules(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    registry.update_code("fn", CODE_B, None, publish=True)
    with pytest.raises(InvalidParameterValue, match="cannot be greater than 1"):
        registry.create_alias("fn", alias("a", "1", {"2": 0.1, "3": 0.1}))
    with pytest.raises(InvalidParameterValue, match="already included in routing configuration"):
        registry.create_alias("fn", alias("a", "1", {"1": 0.1}))
    with pytest.raises(InvalidParameterValue, match=r"^\$LATEST is not supported"):
        registry.create_alias("fn", alias("a", LATEST, {"2": 0.1}))
    with pytest.raises(ResourceNotFound, match=f"^Function not found: {PREFIX}fn:9$"):
        registry.create_alias("fn", alias("a", "1", {"9": 0.1}))
    registry.create_alias("fn", alias("a", "1"))
    with pytest.raises(ResourceConflict, match=f"^Alias already exists: {PREFIX}fn:a$"):
        registry.create_alias("fn", alias("a", "2"))


def test_refused_alias_and_version_changes_write_nothing(registry: FunctionRegistry, db: Path) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    created = registry.create_alias("fn", alias("live", "1"))
    with pytest.raises(PreconditionFailed):
        registry.update_alias("fn", "live", AliasInput(function_version=LATEST, revision_id="old"))
    with pytest.raises(InvalidParameterValue):
        registry.update_alias("fn", "live", AliasInput(routing={"1": 0.5}))
    with pytest.raises(ResourceConflict, match=r"reference it: \[live\]$"):
        registry.delete("fn", "1")
    again = reopened(db)
    assert again.get_alias("fn", "live") == created
    assert again.get("fn", "1").version == "1"


def test_alias_updates_keep_what_was_not_given(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    registry.update_code("fn", CODE_B, None, publish=True)
    created = registry.create_alias(
        "fn", AliasInput(name="live", function_version="1", description="d", routing={"2": 0.5})
    )
    updated = registry.update_alias("fn", "live", AliasInput(revision_id=created.revision_id))
    assert (updated.function_version, updated.description, dict(updated.routing)) == ("1", "d", {"2": 0.5})
    assert updated.revision_id != created.revision_id
    cleared = registry.update_alias("fn", "live", AliasInput(function_version="2", routing={}))
    assert (cleared.function_version, dict(cleared.routing)) == ("2", {})


def test_delete_rules(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    with pytest.raises(InvalidParameterValue, match=r"^\$LATEST version cannot be deleted"):
        registry.delete("fn", LATEST)
    with pytest.raises(InvalidParameterValue, match=r"^Deletion of aliases is not currently supported\.$"):
        registry.delete("fn", "live")
    registry.delete("fn", "5")  # AWS answers 204 for a version that does not exist
    registry.create_alias("fn", alias("live", "1"))
    registry.delete("fn")
    with pytest.raises(ResourceNotFound):
        registry.get_alias("fn", "live")
    registry.create("fn", SETTINGS, CODE_A)
    assert registry.list_aliases("fn", None, None, 50) == ([], None)
    assert registry.publish_version("fn").version == "1"


def test_lists_page_after_a_marker_even_when_it_was_deleted(registry: FunctionRegistry) -> None:
    registry.create("fn", SETTINGS, CODE_A, publish=True)
    for timeout in (4, 5, 6):
        registry.update_configuration("fn", FunctionSettings(timeout_s=timeout), None)
        registry.publish_version("fn")
    page, marker = registry.list_versions("fn", None, 2)
    assert ([c.version for c in page], marker) == ([LATEST, "1"], "1")
    registry.delete("fn", "1")
    page, marker = registry.list_versions("fn", "1", 2)
    assert ([c.version for c in page], marker) == (["2", "3"], "3")
    assert registry.list_versions("fn", "3", 2) == ([registry.get("fn", "4")], None)
    for name, version in (("b", "2"), ("a", "3"), ("c", "2")):
        registry.create_alias("fn", alias(name, version))
    found, marker = registry.list_aliases("fn", "2", None, 1)
    assert ([a.name for a in found], marker) == (["b"], "b")
    assert [a.name for a in registry.list_aliases("fn", "2", "b", 1)[0]] == ["c"]


def test_routing_config_is_validated_with_awss_words() -> None:
    parsed = aliases.parse_create_alias(
        {"Name": "live", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 1}}}
    )
    assert (parsed.name, dict(parsed.routing or {})) == ("live", {"2": 1.0})
    with pytest.raises(Validation) as err:
        aliases.parse_update_alias({"RoutingConfig": {"AdditionalVersionWeights": {"x": 0.00001}}})
    assert err.value.message.startswith(
        "1 validation error detected: Value '{x=1.0E-5}' at 'routingConfig.additionalVersionWeights' "
        "failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length"
    )
    with pytest.raises(Validation, match=r"^2 validation errors detected: "):
        aliases.parse_update_alias({"RoutingConfig": {"AdditionalVersionWeights": {"x": 3}}})
    with pytest.raises(InvalidRequestContent):
        aliases.parse_update_alias({"RoutingConfig": {"AdditionalVersionWeights": {"2": "half"}}})
    assert aliases.parse_update_alias({"RoutingConfig": {}}).routing == {}
    assert aliases.parse_update_alias({}).routing is None
