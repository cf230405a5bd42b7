"""Tags, resource policies and reserved concurrency in the registry, over a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.control import permissions
from lambdalite.control.aliases import AliasInput
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.validation import FunctionSettings
from lambdalite.dataplane import limiter
from lambdalite.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from lambdalite.store.code import StoredCode
from lambdalite.store.functions import FunctionStore

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
SETTINGS = FunctionSettings(
    runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler"
)
CODE = StoredCode(sha256_hex="aa" * 32, size=10, unzipped_size=20)


def permission(sid: str, **members: str) -> permissions.PermissionInput:
    return permissions.parse_add_permission(
        {"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com", **members}
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lambdalite.db"


@pytest.fixture
def registry(db: Path) -> Iterator[FunctionRegistry]:
    store = FunctionStore(db)
    yield FunctionRegistry(store, PREFIX, concurrency_limit=50)
    store.close()


def reopened(db: Path) -> FunctionRegistry:
    return FunctionRegistry(FunctionStore(db), PREFIX, concurrency_limit=50)


@pytest.mark.parametrize(("limit", "floor"), [(1, 1), (10, 1), (20, 2), (55, 6), (1000, 100), (5000, 100)])
def test_the_unreserved_floor_scales_with_the_node_up_to_awss_100(limit: int, floor: int) -> None:
    assert limiter.minimum_unreserved(limit) == floor


def test_everything_persists_and_goes_with_the_function(registry: FunctionRegistry, db: Path) -> None:
    registry.create("fn", SETTINGS, CODE, publish=True, tags={"a": "1"})
    registry.create_alias("fn", AliasInput(name="live", function_version="1"))
    registry.tag("fn", {"b": "2"})
    registry.add_permission("fn", None, permission("s1", SourceArn="arn:aws:sns:us-east-1:000000000000:t"))
    registry.add_permission("fn", "1", permission("s1"))
    registry.add_permission("fn", "live", permission("s1"))
    registry.put_reserved_concurrency("fn", 7)

    again = reopened(db)
    assert again.tags("fn") == {"a": "1", "b": "2"}
    assert again.policy("fn", None) == registry.policy("fn", None)
    assert again.policy("fn", "$LATEST") == registry.policy("fn", None)
    assert again.policy("fn", "1").statements[0]["Resource"] == f"{PREFIX}fn:1"
    assert again.policy("fn", "live").statements[0]["Resource"] == f"{PREFIX}fn:live"
    assert json.loads(json.dumps(again.policy("fn", None).document()))["Statement"][0]["Condition"] == {
        "ArnLike": {"AWS:SourceArn": "arn:aws:sns:us-east-1:000000000000:t"}
    }
    assert again.reserved_concurrency("fn") == 7

    heard: list[tuple[str, int | None]] = []
    again.subscribe_concurrency(lambda name, reserved: heard.append((name, reserved)))
    again.delete("fn")
    assert heard == [("fn", None)]
    again.create("fn", SETTINGS, CODE, publish=True)
    third = reopened(db)
    assert third.tags("fn") == {}
    assert third.reserved_concurrency("fn") is None
    assert third.account_concurrency() == (50, 50)
    for qualifier in (None, "1"):
        with pytest.raises(ResourceNotFound):
            third.policy("fn", qualifier)


def test_deleting_a_version_deletes_its_policy(registry: FunctionRegistry, db: Path) -> None:
    registry.create("fn", SETTINGS, CODE, publish=True)
    registry.add_permission("fn", "1", permission("s1"))
    registry.delete("fn", "1")
    registry.update_configuration("fn", FunctionSettings(timeout_s=9), None)
    registry.publish_version("fn")  # version 2: a new number, never the deleted one's policy
    for r in (registry, reopened(db)):
        with pytest.raises(ResourceNotFound):
            r.policy("fn", "1")


def test_rejected_changes_write_nothing(registry: FunctionRegistry, db: Path) -> None:
    registry.create("fn", SETTINGS, CODE, tags={f"k{i}": "v" for i in range(50)})
    registry.add_permission("fn", None, permission("s1"))
    registry.put_reserved_concurrency("fn", 10)
    with pytest.raises(InvalidParameterValue):
        registry.tag("fn", {"one-more": "v"})
    with pytest.raises(ResourceConflict):
        registry.add_permission("fn", None, permission("s1"))
    with pytest.raises(PreconditionFailed):
        registry.remove_permission("fn", None, "s1", "not-the-revision")
    with pytest.raises(InvalidParameterValue):
        registry.put_reserved_concurrency("fn", 50 - 4)  # the floor on 50 is 5
    with pytest.raises(InvalidParameterValue):
        registry.create("other", SETTINGS, CODE, tags={f"k{i}": "v" for i in range(51)})
    again = reopened(db)
    assert len(again.tags("fn")) == 50
    assert [s["Sid"] for s in again.policy("fn", None).statements] == ["s1"]
    assert again.reserved_concurrency("fn") == 10
    assert again.find("other") is None
    registry.put_reserved_concurrency("fn", 50 - 5)
    assert registry.account_concurrency() == (50, 5)
