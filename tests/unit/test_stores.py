"""Every store through its protocol only: the contract a second implementation
(PostgreSQL for cluster mode) must pass too. Add it to ``BACKENDS``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from lambdalite.models import (
    LATEST,
    Alias,
    FunctionConfig,
    FunctionUrlConfig,
    LayerRef,
    LayerVersion,
    ProvisionedConfig,
    ResourcePolicy,
)
from lambdalite.store.stores import Stores, open_sqlite

Opener = Callable[[], Stores]
"""Opens the stores of one backend over the same data: a second call sees what
the first one's completed writes left (a restart)."""

BACKENDS: dict[str, Callable[[Path], Opener]] = {
    "sqlite": lambda tmp: lambda: open_sqlite(tmp / "lambdalite.db"),
}


@pytest.fixture(params=sorted(BACKENDS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[Stores] = []

    def open_stores() -> Stores:
        stores = BACKENDS[request.param](tmp_path)()
        opened.append(stores)
        return stores

    yield open_stores
    for stores in opened:
        stores.close()


@pytest.fixture
def stores(opener: Opener) -> Stores:
    return opener()


def config(name: str, version: str = LATEST, **changes: object) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.11",
        role="arn:aws:iam::000000000000:role/r",
        handler="app.handler",
        code_sha256="aa" * 32,
        code_size=10,
        version=version,
        **changes,  # type: ignore[arg-type]
    )


class Unencodable:
    """A value no store can encode: the write that carries it must fail as a whole."""


# -- FunctionStore -------------------------------------------------------------------------------


def test_function_versions_aliases_and_counters_survive_a_restart(opener: Opener, stores: Stores) -> None:
    latest = config(
        "fn",
        environment=MappingProxyType({"A": "1"}),
        layers=(LayerRef("arn:aws:lambda:us-east-1:000000000000:layer:l:1", 5, "bb" * 32, 9),),
    )
    v1 = config("fn", "1", published_from=latest.revision_id)
    alias = Alias("fn", "live", "1", "d", MappingProxyType({"2": 0.25}))
    stores.functions.save(configs=(latest, v1), aliases=(alias,), last_version=("fn", 1))
    other = config("other")
    stores.functions.save(configs=(other,))
    again = opener().functions
    assert again.all_versions() == [latest, v1, other]
    assert again.all_aliases() == [alias]
    assert again.version_counters() == {"fn": 1}


def test_deleting_a_version_an_alias_or_a_function_leaves_the_others(stores: Stores) -> None:
    functions = stores.functions
    a, a1, a2, b = config("a"), config("a", "1"), config("a", "2"), config("b")
    live, beta, b_live = Alias("a", "live", "1"), Alias("a", "beta", "2"), Alias("b", "live", LATEST)
    functions.save(configs=(a, a1, a2, b), aliases=(live, beta, b_live), last_version=("a", 2))
    functions.save(last_version=("b", 7))
    functions.delete_version("a", "1")
    functions.delete_alias("a", "live")
    functions.delete_version("a", "9")  # absent: fine
    assert functions.all_versions() == [a, a2, b]
    assert [x.name for x in functions.all_aliases() if x.function_name == "a"] == ["beta"]
    functions.delete_function("a")
    assert functions.all_versions() == [b]
    assert functions.all_aliases() == [b_live]
    assert functions.version_counters() == {"b": 7}


def test_a_failed_function_write_leaves_what_was_stored(opener: Opener, stores: Stores) -> None:
    before = config("fn")
    stores.functions.save(configs=(before,), last_version=("fn", 1))
    broken = config("fn", "2", environment=MappingProxyType({"A": Unencodable()}))
    with pytest.raises(Exception):  # noqa: B017 - any failure, as long as nothing is half-written
        stores.functions.save(configs=(config("fn", "3"), broken), last_version=("fn", 3))
    for functions in (stores.functions, opener().functions):
        assert functions.all_versions() == [before]
        assert functions.version_counters() == {"fn": 1}


# -- TagStore ------------------------------------------------------------------------------------


def test_tags_are_replaced_whole_and_no_tags_removes_them(opener: Opener, stores: Stores) -> None:
    stores.tags.put_tags("fn", {"a": "1", "b": "2"})
    stores.tags.put_tags("other", {"c": "3"})
    stores.tags.put_tags("fn", {"b": "2"})
    assert opener().tags.all_tags() == {"fn": {"b": "2"}, "other": {"c": "3"}}
    stores.tags.put_tags("fn", {})
    assert opener().tags.all_tags() == {"other": {"c": "3"}}


def test_a_failed_tag_write_leaves_the_previous_tags(stores: Stores) -> None:
    stores.tags.put_tags("fn", {"a": "1"})
    with pytest.raises(Exception):  # noqa: B017
        stores.tags.put_tags("fn", {"a": Unencodable()})  # type: ignore[dict-item]
    assert stores.tags.all_tags() == {"fn": {"a": "1"}}


# -- PolicyStore ---------------------------------------------------------------------------------


def policy(name: str, qualifier: str, *sids: str) -> ResourcePolicy:
    statements = tuple(MappingProxyType({"Sid": sid, "Effect": "Allow"}) for sid in sids)
    return ResourcePolicy(name, qualifier, statements)


def test_policies_per_qualifier_and_their_removal(opener: Opener, stores: Stores) -> None:
    policies = stores.policies
    unqualified, v1 = policy("fn", LATEST, "s1", "s2"), policy("fn", "1", "s1")
    live, other = policy("fn", "live", "s1"), policy("other", LATEST, "s1")
    for p in (unqualified, v1, live, other):
        policies.put_policy(p)
    assert opener().policies.all_policies() == [unqualified, v1, live, other]
    policies.put_policy(policy("fn", "1"))  # no statements: removed
    policies.delete_policies("fn", "live")
    assert policies.all_policies() == [unqualified, other]
    policies.delete_policies("fn")
    assert opener().policies.all_policies() == [other]


# -- UrlStore ------------------------------------------------------------------------------------


def url(name: str, qualifier: str, url_id: str) -> FunctionUrlConfig:
    return FunctionUrlConfig(name, qualifier, url_id, "NONE", cors=MappingProxyType({"AllowOrigins": ["*"]}))


def test_url_configs_per_qualifier_and_their_removal(opener: Opener, stores: Stores) -> None:
    urls = stores.urls
    plain, live = url("fn", LATEST, "a" * 32), url("fn", "live", "b" * 32)
    other = url("other", LATEST, "c" * 32)
    for u in (plain, live, other):
        urls.put_url(u)
    assert opener().urls.all_urls() == [plain, live, other]
    urls.delete_urls("fn", "live")
    assert urls.all_urls() == [plain, other]
    urls.delete_urls("fn")
    assert opener().urls.all_urls() == [other]


# -- ConcurrencyStore ----------------------------------------------------------------------------


def test_reserved_and_provisioned_concurrency(opener: Opener, stores: Stores) -> None:
    concurrency = stores.concurrency
    concurrency.put_reserved("fn", 5)
    concurrency.put_reserved("other", 0)
    one = ProvisionedConfig("fn", "1", 2, "2024-01-01T00:00:00.000+0000")
    live = ProvisionedConfig("fn", "live", 1, "2024-01-01T00:00:00.000+0000")
    kept = ProvisionedConfig("other", "2", 3, "2024-01-01T00:00:00.000+0000")
    for c in (one, live, kept):
        concurrency.put_provisioned(c)
    again = opener().concurrency
    assert again.reserved() == {"fn": 5, "other": 0}
    assert again.all_provisioned() == [one, live, kept]
    concurrency.put_reserved("other", None)
    concurrency.delete_provisioned("fn", "live")
    concurrency.delete_provisioned("fn", "nope")  # absent: fine
    assert concurrency.all_provisioned() == [one, kept]
    concurrency.delete_function("fn")
    again = opener().concurrency
    assert (again.reserved(), again.all_provisioned()) == ({}, [kept])


# -- LayerStore ----------------------------------------------------------------------------------


def layer(name: str, version: int, **changes: object) -> LayerVersion:
    return LayerVersion(name, version, "cc" * 32, 10, 20, **changes)  # type: ignore[arg-type]


def test_layer_versions_and_their_counters(opener: Opener, stores: Stores) -> None:
    layers = stores.layers
    first = layer("l", 1, compatible_runtimes=("python3.11",), license_info="MIT")
    second = layer("l", 2)
    layers.put_layer_version(first, new=True)
    layers.put_layer_version(second, new=True)
    changed = dataclasses.replace(first, statements=(MappingProxyType({"Sid": "s"}),), policy_revision="r1")
    layers.put_layer_version(changed)  # not new: the counter stays
    layers.delete_layer_version("l", 2)
    again = opener().layers
    assert again.all_layer_versions() == [changed]
    assert again.layer_counters() == {"l": 2}
