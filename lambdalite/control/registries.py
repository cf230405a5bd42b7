"""Every registry of the control plane over one event bus: what the API handlers use.

``FunctionRegistry`` is built first: the others read which functions, versions
and aliases exist from it, and subscribe to its events (``control.changes``)
to drop what goes with a deleted function, version or alias. Subscribers from
outside the control plane (the data plane, later queues and mappings) use
``bus``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalite.config import Settings
from lambdalite.control.bus import EventBus
from lambdalite.control.code_signing_registry import CodeSigningRegistry
from lambdalite.control.concurrency_registry import ConcurrencyRegistry
from lambdalite.control.event_invoke_registry import EventInvokeRegistry
from lambdalite.control.layers import LayerRegistry
from lambdalite.control.policy_registry import PolicyRegistry
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.tag_registry import TagRegistry
from lambdalite.control.url_registry import UrlRegistry
from lambdalite.esm.registry import MappingRegistry
from lambdalite.store.stores import Stores


@dataclass(frozen=True, slots=True)
class Registries:
    bus: EventBus
    functions: FunctionRegistry
    tags: TagRegistry
    policies: PolicyRegistry
    urls: UrlRegistry
    concurrency: ConcurrencyRegistry
    layers: LayerRegistry
    code_signing: CodeSigningRegistry
    event_invoke: EventInvokeRegistry
    mappings: MappingRegistry

    @classmethod
    def build(cls, stores: Stores, settings: Settings) -> Registries:
        """Load every registry from ``stores``; reservations are carved out of the
        node's ``settings.max_concurrency``."""
        bus = EventBus()
        functions = FunctionRegistry(stores.functions, settings.arn_prefix(), bus)
        return cls(
            bus=bus,
            functions=functions,
            tags=TagRegistry(stores.tags, functions, bus),
            policies=PolicyRegistry(stores.policies, functions, bus),
            urls=UrlRegistry(stores.urls, functions, bus),
            concurrency=ConcurrencyRegistry(stores.concurrency, functions, bus, settings.max_concurrency),
            layers=LayerRegistry(stores.layers, settings.region, settings.account_id),
            code_signing=CodeSigningRegistry(
                stores.code_signing, functions, bus, settings.region, settings.account_id
            ),
            event_invoke=EventInvokeRegistry(stores.event_invoke_configs, functions, bus),
            mappings=MappingRegistry(stores.mappings, functions, settings.region, settings.account_id),
        )
