"""The registries split out of the function registry (tags, policies, URL configs,
concurrency settings): what they hear on the bus, what they publish, and how a
crash between a deletion's writes is repaired at the next start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.control import provisioned
from lambdalite.control.aliases import AliasInput
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import FunctionDeleted, ProvisionedChanged, ReservedConcurrencyChanged
from lambdalite.control.function_urls import UrlInput
from lambdalite.control.registries import Registries
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.tag_registry import TagRegistry
from lambdalite.control.validation import FunctionSettings
from lambdalite.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound, StoreError
from lambdalite.models import LATEST
from lambdalite.store.stores import Stores, open_sqlite
from tests.unit.control_plane import CODE, PREFIX, SETTINGS, open_registries, permission

NONE_AUTH = UrlInput(auth_type="NONE", invoke_mode=None, cors=None)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lambdalite.db"


@pytest.fixture
def registries(db: Path) -> Iterator[Registries]:
    registries, stores = open_registries(db, limit=100)
    yield registries
    stores.close()


def everything(registries: Registries) -> None:
    """fn with versions 1 and 2, alias live -> 1, and something in every registry."""
    functions = registries.functions
    with registries.tags.tagging_new("fn", {"team": "a"}):
        functions.create("fn", SETTINGS, CODE, publish=True)
    functions.update_configuration("fn", FunctionSettings(timeout_s=9), None)
    functions.publish_version("fn")
    functions.create_alias("fn", AliasInput(name="live", function_version="1"))
    for qualifier in (None, "1", "2", "live"):
        registries.policies.add_permission("fn", qualifier, permission("s1"))
    registries.urls.create_url_config("fn", LATEST, NONE_AUTH)
    registries.urls.create_url_config("fn", "live", NONE_AUTH)
    registries.concurrency.put_reserved_concurrency("fn", 10)
    registries.concurrency.put_provisioned("fn", "live", 2)
    registries.concurrency.put_provisioned("fn", "2", 1)


def rows(stores: Stores) -> dict[str, list[str]]:
    """What the dependent stores hold, as (function:qualifier) keys."""
    return {
        "tags": sorted(stores.tags.all_tags()),
        "policies": [f"{p.function_name}:{p.qualifier}" for p in stores.policies.all_policies()],
        "urls": [f"{u.function_name}:{u.qualifier}" for u in stores.urls.all_urls()],
        "reserved": sorted(stores.concurrency.reserved()),
        "provisioned": [c.key for c in stores.concurrency.all_provisioned()],
    }


def test_a_crash_after_a_function_was_deleted_leaves_no_settings_behind(db: Path) -> None:
    registries, stores = open_registries(db, limit=100)
    everything(registries)
    stores.functions.delete_function("fn")  # the deletion's first write, then the crash
    stores.close()
    again, stores = open_registries(db, limit=100)
    assert rows(stores) == {"tags": [], "policies": [], "urls": [], "reserved": [], "provisioned": []}
    with again.tags.tagging_new("fn", None):
        again.functions.create("fn", SETTINGS, CODE)
    assert again.tags.tags("fn") == {}
    assert again.concurrency.reserved_concurrency("fn") is None
    assert again.concurrency.account_concurrency() == (100, 100)
    stores.close()


def test_a_crash_after_an_alias_or_version_was_deleted_keeps_the_rest(db: Path) -> None:
    registries, stores = open_registries(db, limit=100)
    everything(registries)
    stores.functions.delete_alias("fn", "live")
    stores.functions.delete_version("fn", "2")
    stores.close()
    again, stores = open_registries(db, limit=100)
    assert rows(stores) == {
        "tags": ["fn"],
        "policies": ["fn:$LATEST", "fn:1"],
        "urls": ["fn:$LATEST"],
        "reserved": ["fn"],
        "provisioned": [],
    }
    assert again.concurrency.provisioned_targets() == []
    stores.close()


def test_deleting_through_the_registry_removes_every_setting_now_and_after_restart(db: Path) -> None:
    registries, stores = open_registries(db, limit=100)
    everything(registries)
    registries.functions.delete_alias("fn", "live")
    assert [u.qualifier for u in registries.urls.list_url_configs("fn", None, 50)[0]] == [LATEST]
    with pytest.raises(ResourceNotFound):
        registries.policies.policy("fn", "live")
    registries.functions.delete("fn", "2")
    assert registries.concurrency.list_provisioned("fn", None, 50) == ([], None)
    registries.functions.delete("fn")
    assert rows(stores) == {"tags": [], "policies": [], "urls": [], "reserved": [], "provisioned": []}
    stores.close()


def test_new_tags_go_again_when_the_function_is_not_created(registries: Registries, db: Path) -> None:
    registries.functions.create("fn", SETTINGS, CODE)
    with pytest.raises(ResourceConflict), registries.tags.tagging_new("other", {"a": "1"}):
        registries.functions.create("fn", SETTINGS, CODE)  # fails after the tags were written
    registries.functions.create("other", SETTINGS, CODE)
    assert registries.tags.tags("other") == {}
    reopened = open_sqlite(db)
    assert reopened.tags.all_tags() == {}
    reopened.close()


def test_a_crash_between_new_tags_and_their_function_leaves_no_tags(db: Path) -> None:
    stores = open_sqlite(db)
    stores.tags.put_tags("fn", {"a": "1"})  # tagging_new's first write, then the crash
    stores.close()
    again, stores = open_registries(db)
    again.functions.create("fn", SETTINGS, CODE)
    assert again.tags.tags("fn") == {}
    assert stores.tags.all_tags() == {}
    stores.close()


def test_a_failing_subscriber_does_not_keep_the_tags_of_a_deleted_function(db: Path) -> None:
    stores = open_sqlite(db)
    bus = EventBus()

    def broken(event: FunctionDeleted) -> None:
        raise StoreError("a subscriber that fails first")

    bus.subscribe(FunctionDeleted, broken)
    functions = FunctionRegistry(stores.functions, PREFIX, bus)
    tags = TagRegistry(stores.tags, functions, bus)
    with tags.tagging_new("fn", {"a": "1"}):
        functions.create("fn", SETTINGS, CODE)
    functions.delete("fn")  # the failure is logged, not raised
    functions.create("fn", SETTINGS, CODE)
    assert tags.tags("fn") == {}
    assert stores.tags.all_tags() == {}
    stores.close()


def test_concurrency_changes_are_published_for_the_data_plane(registries: Registries) -> None:
    heard: list[tuple[str, str | None]] = []
    bus = registries.bus
    bus.subscribe(ReservedConcurrencyChanged, lambda e: heard.append((f"reserved {e.name}", str(e.reserved))))
    bus.subscribe(
        ProvisionedChanged,
        lambda e: heard.append(
            (f"provisioned {e.config.key}={e.config.requested}", e.target and e.target.version)
        ),
    )
    everything(registries)
    assert heard == [("reserved fn", "10"), ("provisioned fn:live=2", "1"), ("provisioned fn:2=1", "2")]
    functions = registries.functions
    heard.clear()
    functions.update_alias("fn", "live", AliasInput(description="only the description"))
    assert heard == []  # same version: its environments stay
    functions.update_alias("fn", "live", AliasInput(function_version=LATEST))
    assert heard == [("provisioned fn:live=2", LATEST)]  # its environments follow the alias
    heard.clear()
    registries.concurrency.delete_provisioned("fn", "live")
    registries.concurrency.delete_provisioned("fn", "live")  # none is fine, and says nothing
    assert heard == [("provisioned fn:live=2", None)]
    heard.clear()
    functions.delete("fn")
    assert heard == [("provisioned fn:2=1", None), ("reserved fn", "None")]


def test_provisioned_limits_with_awss_words(registries: Registries) -> None:
    functions, concurrency = registries.functions, registries.concurrency
    functions.create("fn", SETTINGS, CODE, publish=True)
    functions.create_alias("fn", AliasInput(name="live", function_version="1"))
    with pytest.raises(InvalidParameterValue) as err:
        concurrency.put_provisioned("fn", LATEST, 1)
    assert err.value.message == provisioned.LATEST_NOT_PROVISIONABLE
    with pytest.raises(InvalidParameterValue) as err:
        concurrency.put_provisioned("fn", "1", 91)  # 100 - 91 < the floor of 10
    assert err.value.message == provisioned.below_minimum(10).message
    concurrency.put_provisioned("fn", "1", 5)
    with pytest.raises(ResourceConflict) as conflict:
        concurrency.put_provisioned("fn", "live", 1)
    assert conflict.value.message == provisioned.ALIAS_ON_PROVISIONED_VERSION
    assert concurrency.account_concurrency() == (100, 95)
    concurrency.put_reserved_concurrency("fn", 4)
    with pytest.raises(InvalidParameterValue) as err:
        concurrency.put_provisioned("fn", "1", 5)
    assert err.value.message == provisioned.ABOVE_RESERVED
    with pytest.raises(ResourceNotFound) as missing:
        concurrency.put_provisioned("fn", "nope", 1)
    assert missing.value.message == f"Cannot find alias arn: {PREFIX}fn:nope"


def test_find_policy_answers_none_where_policy_raises(registries: Registries) -> None:
    everything(registries)
    functions = registries.functions
    functions.create("bare", SETTINGS, CODE)
    policies = registries.policies
    for qualifier in (None, LATEST, "1", "live"):
        assert policies.find_policy("fn", qualifier) == policies.policy("fn", qualifier)
    assert policies.find_policy("fn", "3") is None
    assert policies.find_policy("bare", None) is None
    assert policies.find_policy("missing", None) is None
    functions.delete_alias("fn", "live")
    assert policies.find_policy("fn", "live") is None
    functions.delete("fn")
    assert policies.find_policy("fn", None) is None
