"""Event invoke configs (Put/Update/Get/Delete/ListFunctionEventInvokeConfigs):
in memory, written through to an ``EventInvokeConfigStore``.

A config belongs to ``$LATEST``, a version or an alias; an unqualified request
means ``$LATEST``. The checks and their order are AWS's: the body against the
model (in the API), a qualifier in the name that contradicts ``Qualifier``,
"at least one setting", the function (and version or alias) exists, then each
destination (``destination_check``: the target registry says whether
lambdalite can deliver there). Configs go with their function, version or alias.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from lambdalite.control.bus import EventBus
from lambdalite.control.changes import AliasDeleted, FunctionDeleted, VersionRemoved
from lambdalite.control.paging import page
from lambdalite.control.registry import FunctionRegistry
from lambdalite.errors import InvalidParameterValue, ResourceNotFound
from lambdalite.models import LATEST
from lambdalite.store.event_invoke_configs import EventInvokeConfig, EventInvokeConfigStore

NOTHING_TO_SET = "You must specify at least one of error handling or destination setting."
NO_FUNCTION = "The function doesn't exist."
_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")

DestinationCheck = Callable[[str, str, Mapping[str, Any]], None]
"""(destination ARN, the function's name, the request's DestinationConfig) -> None,
or InvalidParameterValue with AWS's message."""


class EventInvokeRegistry:
    def __init__(
        self,
        store: EventInvokeConfigStore,
        functions: FunctionRegistry,
        bus: EventBus,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._functions = functions
        self._now = now
        self.destination_check: DestinationCheck | None = None
        """Set by the composition root once the targets exist (None: every ARN is refused)."""
        self._configs: dict[str, dict[str, EventInvokeConfig]] = {}
        for config in store.all():
            if functions.exists(config.function_name, config.qualifier):
                self._configs.setdefault(config.function_name, {})[config.qualifier] = config
            else:
                store.delete(config.function_name, config.qualifier)
        bus.subscribe(FunctionDeleted, self._function_deleted)
        bus.subscribe(VersionRemoved, lambda e: self._drop(e.config.name, e.config.version))
        bus.subscribe(AliasDeleted, lambda e: self._drop(e.alias.function_name, e.alias.name))

    # -- reads ----------------------------------------------------------------
    def effective(self, name: str, qualifier: str | None) -> EventInvokeConfig | None:
        """The config an asynchronous invocation of (name, qualifier) follows, if any."""
        return self._configs.get(name, {}).get(qualifier or LATEST)

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        config = self.effective(name, qualifier)
        if config is None:
            raise self._missing(name, qualifier)
        return config

    def list(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[list[EventInvokeConfig], str | None]:
        if not self._functions.exists(name):
            raise ResourceNotFound(NO_FUNCTION)
        configs = self._configs.get(name, {})
        return page(sorted(configs, key=_qualifier_order), marker, max_items, configs.__getitem__)

    # -- writes ---------------------------------------------------------------
    def put(self, name: str, qualifier: str | None, body: Mapping[str, Any]) -> EventInvokeConfig:
        """Replace the config with exactly the settings in ``body`` (a checked request body)."""
        qualifier = self._checked(name, qualifier, body)
        config = EventInvokeConfig(
            name,
            qualifier,
            body.get("MaximumRetryAttempts"),
            body.get("MaximumEventAgeInSeconds"),
            *_destinations(body.get("DestinationConfig")),
            last_modified=self._now(),
        )
        return self._save(config)

    def update(self, name: str, qualifier: str | None, body: Mapping[str, Any]) -> EventInvokeConfig:
        """Change only the settings ``body`` names; the config must exist."""
        qualifier = self._checked(name, qualifier, body)
        current = self.get(name, qualifier)
        changes: dict[str, Any] = {"last_modified": self._now()}
        if "MaximumRetryAttempts" in body:
            changes["max_retry_attempts"] = body["MaximumRetryAttempts"]
        if "MaximumEventAgeInSeconds" in body:
            changes["max_event_age_s"] = body["MaximumEventAgeInSeconds"]
        destinations = body.get("DestinationConfig")
        if isinstance(destinations, Mapping):
            on_success, on_failure = _destinations(destinations)
            if "OnSuccess" in destinations:
                changes["on_success"] = on_success
            if "OnFailure" in destinations:
                changes["on_failure"] = on_failure
        return self._save(dataclasses.replace(current, **changes))

    def delete(self, name: str, qualifier: str | None) -> None:
        config = self.get(name, qualifier)
        self._store.delete(name, config.qualifier)
        del self._configs[name][config.qualifier]

    # -- internals ------------------------------------------------------------
    def _checked(self, name: str, qualifier: str | None, body: Mapping[str, Any]) -> str:
        if not any(key in body for key in _SETTINGS):
            raise InvalidParameterValue(NOTHING_TO_SET)
        if not self._functions.exists(name, qualifier):
            raise ResourceNotFound(NO_FUNCTION)
        destinations = body.get("DestinationConfig")
        if isinstance(destinations, Mapping):
            for arn in _destinations(destinations):
                if arn is None:
                    continue
                if self.destination_check is None:
                    raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
                self.destination_check(arn, name, destinations)
        return qualifier or LATEST

    def _save(self, config: EventInvokeConfig) -> EventInvokeConfig:
        self._store.put(config)
        self._configs.setdefault(config.function_name, {})[config.qualifier] = config
        return config

    def _missing(self, name: str, qualifier: str | None) -> ResourceNotFound:
        return ResourceNotFound(
            f"The function {self._functions.arn_prefix}{name}:{qualifier or LATEST} "
            "doesn't have an EventInvokeConfig"
        )

    def _function_deleted(self, event: FunctionDeleted) -> None:
        if self._configs.pop(event.name, None) is not None:
            self._store.delete_function(event.name)

    def _drop(self, name: str, qualifier: str) -> None:
        if self._configs.get(name, {}).pop(qualifier, None) is not None:
            self._store.delete(name, qualifier)


def _destinations(config: object) -> tuple[str | None, str | None]:
    """(OnSuccess ARN, OnFailure ARN) of a DestinationConfig; an empty ARN is none."""
    if not isinstance(config, Mapping):
        return None, None

    def arn(key: str) -> str | None:
        value = config.get(key)
        destination = value.get("Destination") if isinstance(value, Mapping) else None
        return destination or None

    return arn("OnSuccess"), arn("OnFailure")


def _qualifier_order(qualifier: str) -> tuple[int, int, str]:
    """$LATEST, then versions by number, then aliases by name."""
    if qualifier == LATEST:
        return (0, 0, "")
    if qualifier.isdigit():
        return (1, int(qualifier), "")
    return (2, 0, qualifier)
