"""Event source mappings (Create/Get/Update/Delete/ListEventSourceMappings and
their tags): in memory, written through to a ``MappingStore``.

A change leaves the mapping in a transitional state (Creating, Updating,
Enabling, Disabling, Deleting) and tells the listeners (the poller manager,
``esm.pollers``), which start or stop the mapping's poller and then ``settle``
it (Enabled, Disabled, or gone). ``source_check`` (set by the composition
root) checks the event source itself: it exists, and its settings suit the
function (AWS's visibility-timeout rule for queues).

Mappings outlive their function, as on AWS: the poller reports the missing
function in ``LastProcessingResult`` until it comes back or the mapping goes.
"""

from __future__ import annotations

import dataclasses
import time
import uuid as uuids
from collections.abc import Callable, Mapping
from typing import Protocol

from lambdalite.control import tags as tag_rules
from lambdalite.control.naming import parse_function_ref
from lambdalite.control.paging import page
from lambdalite.control.registry import FunctionRegistry
from lambdalite.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambdalite.esm import requests
from lambdalite.esm.model import SETTLED, EventSourceMapping, MappingState
from lambdalite.esm.requests import CreateRequest, MappingSettings
from lambdalite.models import FunctionConfig
from lambdalite.store.mappings import MappingStore

NOT_FOUND = "The resource you requested does not exist."
NO_FUNCTION = "Function does not exist"
STREAM_REASON = "User action"
"""AWS's StateTransitionReason for a stream mapping changed by a caller."""
_S = MappingState


class SourceCheck(Protocol):
    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        """Raise InvalidParameterValue (AWS's words) when the source cannot feed this
        function with these settings; return when it can."""
        ...


class SourceChecks:
    """The source check of each source kind, by the source ARN's service."""

    def __init__(self, checks: Mapping[str, SourceCheck]) -> None:
        self._checks = dict(checks)

    def __call__(self, source_arn: str, function: FunctionConfig, mapping: EventSourceMapping) -> None:
        check = self._checks.get(requests.source_service(source_arn) or "")
        if check is None:
            raise InvalidParameterValue(requests.UNRECOGNIZED_SOURCE)
        check(source_arn, function, mapping)


Listener = Callable[[EventSourceMapping], None]
"""Told of every mapping whose state is transitional, after it is stored."""


class MappingRegistry:
    def __init__(
        self,
        store: MappingStore,
        functions: FunctionRegistry,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._functions = functions
        self._region = region
        self._account = account
        self._clock = clock
        self._function_prefix = f"arn:aws:lambda:{region}:{account}:function:"
        self.arn_prefix = f"arn:aws:lambda:{region}:{account}:event-source-mapping:"
        self._mappings: dict[str, EventSourceMapping] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self.listeners: list[Listener] = []
        self.source_check: SourceCheck | None = None
        for document, tags in store.all_mappings():
            mapping = EventSourceMapping.from_document(document)
            self._mappings[mapping.uuid] = mapping
            self._tags[mapping.uuid] = tags

    # -- reads --------------------------------------------------------------
    def get(self, uuid: str) -> EventSourceMapping:
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise ResourceNotFound(NOT_FOUND)
        return mapping

    def find(self, uuid: str) -> EventSourceMapping | None:
        return self._mappings.get(uuid)

    def all(self) -> list[EventSourceMapping]:
        return list(self._mappings.values())

    def list(
        self, function_name: str | None, source_arn: str | None, marker: str | None, max_items: int
    ) -> tuple[list[EventSourceMapping], str | None]:
        """Mappings of the function (any qualifier, unless the name carries one) and
        the source, when given; ordered by UUID. AWS does not check that either exists."""
        wanted: tuple[str, str | None] | None = None
        if function_name is not None:
            ref = parse_function_ref(function_name)
            wanted = (ref.name, ref.qualifier)

        def chosen(mapping: EventSourceMapping) -> bool:
            if source_arn is not None and mapping.source_arn != source_arn:
                return False
            if wanted is None:
                return True
            name, qualifier = wanted
            return mapping.function_name == name and (qualifier is None or mapping.qualifier == qualifier)

        keys = sorted(uuid for uuid, mapping in self._mappings.items() if chosen(mapping))
        return page(keys, marker, max_items, self._mappings.__getitem__)

    # -- changes ------------------------------------------------------------
    def create(self, request: CreateRequest) -> EventSourceMapping:
        name, qualifier, function = self._function(request.function_name)
        function_arn = self._function_prefix + name + (f":{qualifier}" if qualifier else "")
        stream = request.starting_position is not None
        for existing in self._mappings.values():
            if existing.source_arn == request.source_arn and existing.function_arn == function_arn:
                if stream:
                    raise ResourceConflict(
                        f'The event source arn (" {request.source_arn} ") and function (" {name} ") '
                        "provided mapping already exists. Please update or delete the existing "
                        f"mapping with UUID {existing.uuid}"
                    )
                raise ResourceConflict(
                    f'An event source mapping with SQS arn (" {request.source_arn} ") and function '
                    f'(" {name} ") already exists. Please update or delete the existing mapping '
                    f"with UUID {existing.uuid}"
                )
        settings = request.settings
        uuid = str(uuids.uuid4())
        now = self._clock()
        default_batch = requests.DEFAULT_STREAM_BATCH_SIZE if stream else requests.DEFAULT_BATCH_SIZE
        if request.queues is not None:
            default_batch = requests.DEFAULT_BROKER_BATCH_SIZE
        mapping = EventSourceMapping(
            uuid=uuid,
            arn=self.arn_prefix + uuid,
            source_arn=request.source_arn,
            function_name=name,
            qualifier=qualifier,
            function_arn=function_arn,
            enabled=True if settings.enabled is None else settings.enabled,
            state=_S.CREATING,
            reason=STREAM_REASON if stream else "USER_INITIATED",
            last_modified=now,
            batch_size=settings.batch_size or default_batch,
            window_s=settings.window_s or 0,
            filters=settings.filters,
            report_item_failures=bool(settings.report_item_failures),
            max_concurrency=settings.max_concurrency,
            starting_position=request.starting_position,
            starting_timestamp=request.starting_timestamp if request.starting_timestamp is not None else now,
            bisect=bool(settings.bisect),
            max_retries=-1 if settings.max_retries is None else settings.max_retries,
            max_age_s=-1 if settings.max_age_s is None else settings.max_age_s,
            parallelization=settings.parallelization or 1,
            on_failure=settings.on_failure,
            queues=request.queues,
            source_access=request.source_access,
        )
        self._check(mapping, function)
        tag_rules.check_count(request.tags)
        self._save(mapping, dict(request.tags))
        return mapping

    def update(self, uuid: str, function_name: str | None, settings: MappingSettings) -> EventSourceMapping:
        mapping = self.get(uuid)
        if mapping.state is _S.DELETING:
            raise ResourceNotFound(NOT_FOUND)
        changes: dict[str, object] = {}
        if function_name is not None:
            name, qualifier, _ = self._function(function_name)
            changes.update(
                function_name=name,
                qualifier=qualifier,
                function_arn=self._function_prefix + name + (f":{qualifier}" if qualifier else ""),
            )
        for field, value in (
            ("enabled", settings.enabled),
            ("batch_size", settings.batch_size),
            ("window_s", settings.window_s),
            ("report_item_failures", settings.report_item_failures),
            ("max_concurrency", settings.max_concurrency),
            ("bisect", settings.bisect),
            ("max_retries", settings.max_retries),
            ("max_age_s", settings.max_age_s),
            ("parallelization", settings.parallelization),
            ("on_failure", settings.on_failure),
        ):
            if value is not None:
                changes[field] = value
        if settings.filters is not None:
            # An empty Filters list removes the criteria, as on AWS.
            changes["filters"] = settings.filters or None
        updated = dataclasses.replace(mapping, **changes)  # type: ignore[arg-type]
        function = (
            self._functions.get(updated.function_name, updated.qualifier) if self._exists(updated) else None
        )
        if function is not None:
            self._check(updated, function)
        only_enabled = set(changes) == {"enabled"}
        if only_enabled and updated.enabled != mapping.enabled:
            target = _S.ENABLING if updated.enabled else _S.DISABLING
        else:
            target = _S.UPDATING
        reason = STREAM_REASON if updated.is_stream else "USER_INITIATED"
        updated = updated.moved(target, self._clock(), reason)
        self._save(updated, self._tags.get(uuid, {}))
        return updated

    def delete(self, uuid: str) -> EventSourceMapping:
        mapping = self.get(uuid)
        if mapping.state is _S.DELETING:
            return mapping
        deleting = mapping.moved(_S.DELETING, self._clock())
        self._save(deleting, self._tags.get(uuid, {}))
        return deleting

    def settle(self, uuid: str) -> EventSourceMapping | None:
        """Finish a transitional state once the pollers applied it: Enabled or
        Disabled as the mapping says, or gone after Deleting. None when gone."""
        mapping = self._mappings.get(uuid)
        if mapping is None:
            return None
        if mapping.state is _S.DELETING:
            self._store.delete_mapping(uuid)
            del self._mappings[uuid]
            self._tags.pop(uuid, None)
            return None
        if mapping.state in SETTLED:
            return mapping
        settled = mapping.moved(_S.ENABLED if mapping.enabled else _S.DISABLED, self._clock(), mapping.reason)
        self._put(settled)
        return settled

    def report(self, uuid: str, result: str | None) -> None:
        """Record the poller's LastProcessingResult (None clears it)."""
        mapping = self._mappings.get(uuid)
        if mapping is not None and mapping.last_result != result:
            self._put(dataclasses.replace(mapping, last_result=result))

    # -- tags ---------------------------------------------------------------
    def tags(self, arn: str) -> dict[str, str]:
        return dict(self._tags.get(self._tagged(arn), {}))

    def tag(self, arn: str, tags: Mapping[str, str]) -> None:
        uuid = self._tagged(arn)
        merged = {**self._tags.get(uuid, {}), **tags}
        tag_rules.check_count(merged)
        self._store.put_mapping(uuid, self._mappings[uuid].to_document(), merged)
        self._tags[uuid] = merged

    def untag(self, arn: str, keys: tuple[str, ...]) -> None:
        uuid = self._tagged(arn)
        kept = {key: value for key, value in self._tags.get(uuid, {}).items() if key not in keys}
        self._store.put_mapping(uuid, self._mappings[uuid].to_document(), kept)
        self._tags[uuid] = kept

    def _tagged(self, arn: str) -> str:
        uuid = arn[len(self.arn_prefix) :] if arn.startswith(self.arn_prefix) else ""
        if uuid not in self._mappings:
            raise ResourceNotFound(f"Event source mapping not found: {arn}")
        return uuid

    # -- helpers ------------------------------------------------------------
    def _function(self, raw: str) -> tuple[str, str | None, FunctionConfig]:
        ref = parse_function_ref(raw)
        foreign = (ref.region and ref.region != self._region) or (
            ref.account and ref.account != self._account
        )
        if foreign or not self._functions.exists(ref.name, ref.qualifier):
            raise InvalidParameterValue(NO_FUNCTION)
        return ref.name, ref.qualifier, self._functions.get(ref.name, ref.qualifier)

    def _exists(self, mapping: EventSourceMapping) -> bool:
        return self._functions.exists(mapping.function_name, mapping.qualifier)

    def _check(self, mapping: EventSourceMapping, function: FunctionConfig) -> None:
        if self.source_check is None:
            raise InvalidParameterValue(requests.UNRECOGNIZED_SOURCE)
        self.source_check(mapping.source_arn, function, mapping)

    def _save(self, mapping: EventSourceMapping, tags: dict[str, str]) -> None:
        self._store.put_mapping(mapping.uuid, mapping.to_document(), tags)
        self._mappings[mapping.uuid] = mapping
        self._tags[mapping.uuid] = tags
        for listener in self.listeners:
            listener(mapping)

    def _put(self, mapping: EventSourceMapping) -> None:
        self._store.put_mapping(mapping.uuid, mapping.to_document(), self._tags.get(mapping.uuid, {}))
        self._mappings[mapping.uuid] = mapping
