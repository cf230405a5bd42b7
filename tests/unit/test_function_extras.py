"""Tags, resource policies and reserved concurrency in the registry, over a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.control.aliases import AliasInput
from lambdalite.control.changes import ReservedConcurrencyChanged
from lambdalite.control.registries import Registries
from lambdalite.control.validation import FunctionSettings
from lambdalite.dataplane import limiter
from lambdalite.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from tests.unit.control_plane import CODE, PREFIX, SETTINGS, open_registries, permission


def create_tagged(registries: Registries, name: str, tags: dict[str, str], publish: bool = False) -> None:
    """CreateFunction with Tags, as the API does it."""
    with registries.tags.tagging_new(name, tags):
        registries.functions.create(name, SETTINGS, CODE, publish=publish)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lambdalite.db"


@pytest.fixture
def registry(db: Path) -> Iterator[Registries]:
    registries, stores = open_registries(db, limit=50)
    yield registries
    stores.close()


def reopened(db: Path) -> Registries:
    return open_registries(db, limit=50)[0]


@pytest.mark.parametrize(("limit", "floor"), [(1, 1), (10, 1), (20, 2), (55, 6), (1000, 100), (5000, 100)])
def test_the_unreserved_floor_scales_with_the_node_up_to_awss_100(limit: int, floor: int) -> None:
    assert limiter.minimum_unreserved(limit) == floor


def test_everything_persists_and_goes_with_the_function(registry: Registries, db: Path) -> None:
    create_tagged(registry, "fn", {"a": "1"}, publish=True)
    registry.functions.create_alias("fn", AliasInput(name="live", function_version="1"))
    registry.tags.tag("fn", {"b": "2"})
    registry.policies.add_permission(
        "fn", None, permission("s1", SourceArn="arn:aws:sns:us-east-1:000000000000:t")
    )
    registry.policies.add_permission("fn", "1", permission("s1"))
    registry.policies.add_permission("fn", "live", permission("s1"))
    registry.concurrency.put_reserved_concurrency("fn", 7)

    again = reopened(db)
    assert again.tags.tags("fn") == {"a": "1", "b": "2"}
    assert again.policies.policy("fn", None) == registry.policies.policy("fn", None)
    assert again.policies.policy("fn", "$LATEST") == registry.policies.policy("fn", None)
    assert again.policies.policy("fn", "1").statements[0]["Resource"] == f"{PREFIX}fn:1"
    assert again.policies.policy("fn", "live").statements[0]["Resource"] == f"{PREFIX}fn:live"
    assert json.loads(json.dumps(again.policies.policy("fn", None).document()))["Statement"][0][
        "Condition"
    ] == {"ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:000000000000:t"}}
    assert again.concurrency.reserved_concurrency("fn") == 7

    heard: list[tuple[str, int | None]] = []
    again.bus.subscribe(ReservedConcurrencyChanged, lambda event: heard.append((event.name, event.reserved)))
    again.functions.delete("fn")
    assert heard == [("fn", None)]
    again.functions.create("fn", SETTINGS, CODE, publish=True)
    third = reopened(db)
    assert third.tags.tags("fn") == {}
    assert third.concurrency.reserved_concurrency("fn") is None
    assert third.concurrency.account_concurrency() == (50, 50)
    for qualifier in (None, "1"):
        with pytest.raises(ResourceNotFound):
            third.policies.policy("fn", qualifier)


def test_deleting_a_version_deletes_its_policy(registry: Registries, db: Path) -> None:
    registry.functions.create("fn", SETTINGS, CODE, publish=True)
    registry.policies.add_permission("fn", "1", permission("s1"))
    registry.functions.delete("fn", "1")
    registry.functions.update_configuration("fn", FunctionSettings(timeout_s=9), None)
    registry.functions.publish_version("fn")  # version 2: a new number, never the deleted one's policy
    for r in (registry, reopened(db)):
        with pytest.raises(ResourceNotFound):
            r.policies.policy("fn", "1")


def test_rejected_changes_write_nothing(registry: Registries, db: Path) -> None:
    create_tagged(registry, "fn", {f"k{i}": "v" for i in range(50)})
    registry.policies.add_permission("fn", None, permission("s1"))
    registry.concurrency.put_reserved_concurrency("fn", 10)
    with pytest.raises(InvalidParameterValue):
        registry.tags.tag("fn", {"one-more": "v"})
    with pytest.raises(ResourceConflict):
        registry.policies.add_permission("fn", None, permission("s1"))
    with pytest.raises(PreconditionFailed):
        registry.policies.remove_permission("fn", None, "s1", "not-the-revision")
    with pytest.raises(InvalidParameterValue):
        registry.concurrency.put_reserved_concurrency("fn", 50 - 4)  # the floor on 50 is 5
    with pytest.raises(InvalidParameterValue):
        create_tagged(registry, "other", {f"k{i}": "v" for i in range(51)})
    again = reopened(db)
    assert len(again.tags.tags("fn")) == 50
    assert [s["Sid"] for s in again.policies.policy("fn", None).statements] == ["s1"]
    assert again.concurrency.reserved_concurrency("fn") == 10
    assert again.functions.find("other") is None
    registry.concurrency.put_reserved_concurrency("fn", 50 - 5)
    assert registry.concurrency.account_concurrency() == (50, 5)
