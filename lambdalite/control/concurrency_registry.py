"""The concurrency registry: reserved concurrency per function and provisioned
concurrency configs per version or alias, in memory and written through to a
``ConcurrencyStore``.

The rules are ``dataplane.limiter``'s (the unreserved floor, kept beside the
limit it protects) and ``control.provisioned`` (provisioned limits and
conflicts). Both settings are carved out of the node's limit
(``Settings.max_concurrency``), so one registry keeps both: a provisioned
config of a function without a reservation comes out of the unreserved pool.

Changes are published on the bus for the data plane, which enforces them
without asking on every invoke: ``ReservedConcurrencyChanged`` (None when the
reservation was removed or the function deleted) and ``ProvisionedChanged``
(put, removed - target None -, or its alias now points to another version).
Settings go with their function (``FunctionDeleted``), a provisioned config
with its version or alias; settings whose target no longer exists (left by a
crash between the two writes) are removed when the registry is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from lambdalite.control import aliases as alias_rules
from lambdalite.control import provisioned as provisioned_rules
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import (
    AliasDeleted,
    AliasUpdated,
    FunctionDeleted,
    ProvisionedChanged,
    ReservedConcurrencyChanged,
    VersionRemoved,
)
from lambdalite.control.paging import page
from lambdalite.control.registry import FunctionRegistry
from lambdalite.dataplane import limiter as concurrency_rules
from lambdalite.errors import InvalidParameterValue, ResourceNotFound
from lambdalite.models import LATEST, FunctionConfig, ProvisionedConfig, aws_timestamp
from lambdalite.store.concurrency import ConcurrencyStore


class ConcurrencyRegistry:
    def __init__(
        self, store: ConcurrencyStore, functions: FunctionRegistry, bus: EventBus, limit: int = 1000
    ) -> None:
        """``limit`` is the node's (Settings.max_concurrency): the account limit
        reservations are carved out of."""
        self._store = store
        self._functions = functions
        self._bus = bus
        self._limit = limit
        self._reserved: dict[str, int] = {}
        for name, reserved in store.reserved().items():
            if functions.exists(name):
                self._reserved[name] = reserved
            else:
                store.put_reserved(name, None)
        self._provisioned: dict[str, dict[str, ProvisionedConfig]] = {}
        """name -> qualifier (a version number or an alias) -> provisioned concurrency config."""
        for config in store.all_provisioned():
            if functions.exists(config.function_name, config.qualifier):
                self._provisioned.setdefault(config.function_name, {})[config.qualifier] = config
            else:
                store.delete_provisioned(config.function_name, config.qualifier)
        bus.subscribe(FunctionDeleted, self._function_deleted)
        bus.subscribe(VersionRemoved, lambda event: self._drop(event.config.name, event.config.version))
        bus.subscribe(AliasDeleted, lambda event: self._drop(event.alias.function_name, event.alias.name))
        bus.subscribe(AliasUpdated, self._alias_updated)

    # -- reserved concurrency ---------------------------------------------------
    def reserved_concurrency(self, name: str) -> int | None:
        self._functions.require(name)
        return self._reserved.get(name)

    def reservations(self) -> Mapping[str, int]:
        """Every function's reserved concurrency, by name (a read-only view)."""
        return MappingProxyType(self._reserved)

    def put_reserved_concurrency(self, name: str, reserved: int) -> int:
        """Reserve ``reserved`` executions for the function, keeping the unreserved
        pool at its minimum (``concurrency.minimum_unreserved``)."""
        if not self._functions.exists(name):
            # AWS names the function's $LATEST here (and only here).
            raise ResourceNotFound(f"Function not found: {self._functions.arn_prefix}{name}:{LATEST}")
        minimum = concurrency_rules.minimum_unreserved(self._limit)
        others = sum(self._reserved.values()) - self._reserved.get(name, 0)
        if self._limit - others - reserved < minimum:
            # AWS answers this one without Type (its recorded answers).
            raise InvalidParameterValue(concurrency_rules.below_minimum(minimum)).without_type()
        self._store.put_reserved(name, reserved)
        self._reserved[name] = reserved
        self._bus.publish(ReservedConcurrencyChanged(name, reserved))
        return reserved

    def delete_reserved_concurrency(self, name: str) -> None:
        self._functions.require(name)
        if name not in self._reserved:
            return
        self._store.put_reserved(name, None)
        del self._reserved[name]
        self._bus.publish(ReservedConcurrencyChanged(name, None))

    def account_concurrency(self) -> tuple[int, int]:
        """(the node's limit, what is left of it unreserved - never below 0). Provisioned
        concurrency of functions without a reservation comes out of the unreserved pool."""
        unreserved = self._limit - sum(self._reserved.values()) - self._provisioned_unreserved()
        return self._limit, max(0, unreserved)

    # -- provisioned concurrency --------------------------------------------------
    def provisioned_targets(self) -> Sequence[tuple[ProvisionedConfig, FunctionConfig]]:
        """Every config with the snapshot its environments run (for the data plane at start)."""
        targets = []
        for name, configs in self._provisioned.items():
            for qualifier, config in configs.items():
                target = self._functions.designated(name, qualifier)
                if target is not None:
                    targets.append((config, target))
        return targets

    def provisioned_config(self, name: str, qualifier: str | None) -> ProvisionedConfig:
        """The config of a version or an alias, or AWS's 404s."""
        if qualifier is None or qualifier == LATEST:
            raise InvalidParameterValue(provisioned_rules.NOT_A_VERSION_OR_ALIAS)
        self._provisioned_target(name, qualifier)
        config = self._provisioned.get(name, {}).get(qualifier)
        if config is None:
            raise provisioned_rules.ProvisionedConfigNotFound(provisioned_rules.CONFIG_NOT_FOUND)
        return config

    def list_provisioned(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[Sequence[ProvisionedConfig], str | None]:
        """The function's configs, versions (in number order) before aliases, paged
        like ``FunctionRegistry.list``."""
        self._functions.require(name)
        configs = self._provisioned.get(name, {})
        ordered = sorted(configs, key=lambda q: (0, int(q), "") if q.isdigit() else (1, 0, q))
        return page(ordered, marker, max_items, configs.__getitem__)

    def put_provisioned(
        self, name: str, qualifier: str | None, requested: int
    ) -> tuple[ProvisionedConfig, FunctionConfig]:
        """Provision ``requested`` environments for a version or an alias; returns
        the config and the snapshot its environments run."""
        if qualifier is None or qualifier == LATEST:
            raise InvalidParameterValue(provisioned_rules.LATEST_NOT_PROVISIONABLE)
        target = self._provisioned_target(name, qualifier)
        if target.version == LATEST:
            raise InvalidParameterValue(provisioned_rules.LATEST_NOT_PROVISIONABLE)
        configs = self._provisioned.get(name, {})
        others = sum(config.requested for q, config in configs.items() if q != qualifier)
        reserved = self._reserved.get(name)
        if reserved is not None:
            if others + requested > reserved:
                raise InvalidParameterValue(provisioned_rules.ABOVE_RESERVED)
        else:
            current = configs.get(qualifier)
            unreserved = (
                self._limit
                - sum(self._reserved.values())
                - self._provisioned_unreserved()
                + (current.requested if current is not None else 0)
            )
            if requested > unreserved:
                raise provisioned_rules.above_unreserved(unreserved)
            minimum = concurrency_rules.minimum_unreserved(self._limit)
            if unreserved - requested < minimum:
                raise provisioned_rules.below_minimum(minimum)
        alias = self._functions.find_alias(name, qualifier)
        if alias is not None:
            if target.version in configs:
                raise provisioned_rules.alias_conflict()
        elif any(
            (other := self._functions.find_alias(name, q)) is not None and other.function_version == qualifier
            for q in configs
        ):
            raise provisioned_rules.version_conflict()
        config = ProvisionedConfig(name, qualifier, requested, aws_timestamp())
        self._store.put_provisioned(config)
        self._provisioned.setdefault(name, {})[qualifier] = config
        self._bus.publish(ProvisionedChanged(config, target))
        return config, target

    def delete_provisioned(self, name: str, qualifier: str | None) -> None:
        """Remove a version's or alias's config (none is fine, as on AWS)."""
        if qualifier is None or qualifier == LATEST:
            raise InvalidParameterValue(provisioned_rules.NOT_A_VERSION_OR_ALIAS)
        self._provisioned_target(name, qualifier)
        if qualifier in self._provisioned.get(name, {}):
            self._store.delete_provisioned(name, qualifier)
            config = self._forget(name, qualifier)
            assert config is not None
            self._bus.publish(ProvisionedChanged(config, None))

    def _provisioned_target(self, name: str, qualifier: str) -> FunctionConfig:
        """The snapshot a version number or alias designates, or AWS's 404."""
        prefix = self._functions.arn_prefix
        if alias_rules.is_version_number(qualifier):
            version = self._functions.find_version(name, qualifier)
            if version is None:
                raise ResourceNotFound(f"Function not found: {prefix}{name}:{qualifier}")
            return version
        alias = self._functions.find_alias(name, qualifier)
        target = self._functions.designated(name, qualifier) if alias is not None else None
        if target is None:
            raise ResourceNotFound(f"Cannot find alias arn: {prefix}{name}:{qualifier}")
        return target

    def _provisioned_unreserved(self) -> int:
        """Provisioned concurrency of functions without a reservation: it uses the unreserved pool."""
        return sum(
            config.requested
            for name, configs in self._provisioned.items()
            if name not in self._reserved
            for config in configs.values()
        )

    # -- what the function registry's changes mean here -------------------------
    def _forget(self, name: str, qualifier: str) -> ProvisionedConfig | None:
        """Remove one config from memory (not from the store); returns it, if there was one."""
        configs = self._provisioned.get(name)
        config = configs.pop(qualifier, None) if configs else None
        if configs is not None and not configs:
            del self._provisioned[name]
        return config

    def _drop(self, name: str, qualifier: str) -> None:
        """The config's version or alias is gone: remove the config (if there is one)
        and tell the data plane. Forget first: if the store write fails, the orphan
        row goes at the next start."""
        config = self._forget(name, qualifier)
        if config is not None:
            self._store.delete_provisioned(name, qualifier)
            self._bus.publish(ProvisionedChanged(config, None))

    def _function_deleted(self, event: FunctionDeleted) -> None:
        had_reservation = self._reserved.pop(event.name, None) is not None
        configs = self._provisioned.pop(event.name, {})
        if had_reservation or configs:
            self._store.delete_function(event.name)
        for config in configs.values():
            self._bus.publish(ProvisionedChanged(config, None))
        if had_reservation:
            self._bus.publish(ReservedConcurrencyChanged(event.name, None))

    def _alias_updated(self, event: AliasUpdated) -> None:
        alias = event.current
        config = self._provisioned.get(alias.function_name, {}).get(alias.name)
        if config is not None and alias.function_version != event.previous.function_version:
            # Its environments follow the alias to its new version.
            target = self._functions.designated(alias.function_name, alias.name)
            self._bus.publish(ProvisionedChanged(config, target))
