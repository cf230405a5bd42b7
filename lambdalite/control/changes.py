"""The events the control plane publishes on its ``EventBus`` (``control.bus``).

Each is published once the change is durable and visible in its registry.
Subscribers: the data plane (retire environments, enforce concurrency), the
registries that keep state per function, version or alias (tags, policies,
URL configs, concurrency settings drop theirs), and later every service that
points at functions (queues, mappings, topics) through ``FunctionDeleted``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalite.models import Alias, FunctionConfig, ProvisionedConfig


@dataclass(frozen=True, slots=True)
class LatestChanged:
    """A function's ``$LATEST`` snapshot is new: the function was created, or its
    code or configuration changed. Publishing a version is not a ``$LATEST`` change."""

    config: FunctionConfig


@dataclass(frozen=True, slots=True)
class VersionPublished:
    """A new version exists (PublishVersion, or Publish on a create or code update);
    one published together with a new ``$LATEST`` is Pending like it until its code
    is prepared."""

    config: FunctionConfig


@dataclass(frozen=True, slots=True)
class FunctionDeleted:
    """A function is gone with its versions and aliases (each removed version is
    also announced with ``VersionRemoved``, after this event)."""

    name: str
    latest: FunctionConfig
    """Its last ``$LATEST`` snapshot."""


@dataclass(frozen=True, slots=True)
class VersionRemoved:
    """A published version no longer exists (deleted alone or with its function)."""

    config: FunctionConfig


@dataclass(frozen=True, slots=True)
class AliasUpdated:
    """An alias changed (its version, routing or description)."""

    previous: Alias
    current: Alias


@dataclass(frozen=True, slots=True)
class AliasDeleted:
    """DeleteAlias removed one alias (aliases deleted with their function are
    covered by ``FunctionDeleted``)."""

    alias: Alias


@dataclass(frozen=True, slots=True)
class ReservedConcurrencyChanged:
    """A function's reserved concurrency is ``reserved`` now (None: it has none,
    because it was removed or the function was deleted)."""

    name: str
    reserved: int | None


@dataclass(frozen=True, slots=True)
class ProvisionedChanged:
    """A provisioned concurrency config was put, removed, or its alias now points
    to another version. ``target`` is the snapshot its environments run, None when
    the config is gone."""

    config: ProvisionedConfig
    target: FunctionConfig | None
