"""The function registry: the authority on which functions, versions and aliases
exist and what they are.

It keeps every function's ``$LATEST`` snapshot, its published versions and its
aliases in memory (the invoke path reads them without touching the store) and
writes through to its ``FunctionStore`` before a change becomes visible; a
request that is refused writes nothing.

A snapshot includes the layer versions the function uses (``LayerRef``s,
resolved by ``control.layers``), so changing a function's Layers is a new
revision with new environments, and a published version keeps its layers.

Versions are immutable snapshots of ``$LATEST`` numbered 1, 2, ... per
function; a number is never given out twice, even after its version was
deleted. Each version has its own revision id, so its environments are never
shared with ``$LATEST``'s.

Changes are published on the ``EventBus`` (events in ``control.changes``) once
they are durable and visible: ``LatestChanged`` for every new ``$LATEST``
snapshot (publishing a version is not a ``$LATEST`` change),
``FunctionDeleted`` then ``VersionRemoved`` for each of its versions when a
function is deleted, ``VersionRemoved`` when one version is, ``AliasUpdated``
and ``AliasDeleted``. What else belongs to a function lives in registries of
its own that hear these events: tags (``control.tag_registry``), resource
policies (``control.policy_registry``), URL configs (``control.url_registry``)
and concurrency settings (``control.concurrency_registry``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypedDict

from lambdalite.control import aliases as alias_rules
from lambdalite.control import snapstart
from lambdalite.control.aliases import AliasInput
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import (
    AliasDeleted,
    AliasUpdated,
    FunctionDeleted,
    LatestChanged,
    VersionPublished,
    VersionRemoved,
)
from lambdalite.control.logging_config import check_logging
from lambdalite.control.paging import page
from lambdalite.control.validation import FunctionSettings
from lambdalite.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambdalite.events import dead_letter
from lambdalite.models import (
    ACTIVE,
    BEING_CREATED,
    CREATING,
    FAILED,
    IN_PROGRESS,
    LATEST,
    PENDING,
    SUCCESSFUL,
    Alias,
    FunctionConfig,
    aws_timestamp,
    new_revision_id,
    sha256_b64,
)
from lambdalite.store.code import StoredCode
from lambdalite.store.functions import FunctionStore

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
LATEST_NOT_DELETABLE = "$LATEST version cannot be deleted without deleting the function."
ALIAS_NOT_DELETABLE = "Deletion of aliases is not currently supported."
NOT_READY = "The operation cannot be performed at this time."


class _UpdateStatus(TypedDict):
    last_update_status: str
    last_update_status_reason: str
    last_update_status_reason_code: str


def _update_status(status: str, reason: str = "", code: str = "") -> _UpdateStatus:
    """FunctionConfig values for a LastUpdateStatus with its reason and reason code."""
    return {
        "last_update_status": status,
        "last_update_status_reason": reason,
        "last_update_status_reason_code": code,
    }


def _pending(config: FunctionConfig) -> FunctionConfig:
    """``config`` as a function (or version) whose code is still being prepared:
    AWS shows no LastUpdateStatus until it is."""
    return dataclasses.replace(
        config, state=PENDING, state_reason=BEING_CREATED, state_reason_code=CREATING, **_update_status("")
    )


def _in_progress(config: FunctionConfig) -> FunctionConfig:
    """``config`` as an update being applied to an active function."""
    return dataclasses.replace(config, **_update_status(IN_PROGRESS, BEING_CREATED, CREATING))


def _settled(config: FunctionConfig, failure: tuple[str, str] | None) -> FunctionConfig:
    """The snapshot after its creation or update was applied (``failure``: (code, reason)
    when it could not be), under a new revision id as on AWS."""
    code, reason = failure or ("", "")
    settled = dataclasses.replace(
        config,
        revision_id=new_revision_id(),
        **_update_status(FAILED if failure else SUCCESSFUL, reason, code),
    )
    if config.state != PENDING:
        return settled
    return dataclasses.replace(
        settled, state=FAILED if failure else ACTIVE, state_reason=reason, state_reason_code=code
    )


class FunctionRegistry:
    def __init__(self, store: FunctionStore, arn_prefix: str, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self.arn_prefix = arn_prefix
        self._latest: dict[str, FunctionConfig] = {}
        self._versions: dict[str, dict[str, FunctionConfig]] = {}
        """name -> version number -> published snapshot."""
        for config in store.all_versions():
            if config.version == LATEST:
                self._latest[config.name] = config
            else:
                self._versions.setdefault(config.name, {})[config.version] = config
        self._aliases: dict[str, dict[str, Alias]] = {}
        for alias in store.all_aliases():
            self._aliases.setdefault(alias.function_name, {})[alias.name] = alias
        self._last_version: dict[str, int] = store.version_counters()
        self.dead_letter_check: Callable[[str], None] | None = None
        """Refuses a DeadLetterConfig target lambdalite cannot deliver to (AWS's error);
        set by the composition root once the targets exist (None: every one is refused)."""

    # -- reads --------------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """The snapshot a name and qualifier designate (an alias designates its
        main version), or ResourceNotFound with AWS's message."""
        latest = self._latest.get(name)
        if latest is not None:
            if qualifier is None or qualifier == LATEST:
                return latest
            config = self._qualified(name, qualifier)
            if config is not None:
                return config
        raise self._not_found(name, qualifier)

    def resolve(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """What one invocation runs: like ``get``, but an alias with a routing
        configuration picks its extra version with its weight."""
        if qualifier is None:
            latest = self._latest.get(name)
            if latest is not None:
                return latest
        else:
            alias = self._aliases.get(name, {}).get(qualifier)
            if alias is not None and alias.routing:
                picked = self._qualified(name, alias_rules.pick_version(alias))
                if picked is not None:
                    return picked
        return self.get(name, qualifier)

    def latest_configs(self) -> Mapping[str, FunctionConfig]:
        """Every function's ``$LATEST`` snapshot, by name (a read-only view)."""
        return MappingProxyType(self._latest)

    def find(self, name: str) -> FunctionConfig | None:
        """The hot-path lookup: ``$LATEST`` or None, no exceptions."""
        return self._latest.get(name)

    def find_version(self, name: str, version: str) -> FunctionConfig | None:
        """A published version (by number) of an existing function, or None."""
        return self._versions.get(name, {}).get(version) if name in self._latest else None

    def find_alias(self, name: str, alias_name: str) -> Alias | None:
        """An alias of an existing function, or None."""
        return self._aliases.get(name, {}).get(alias_name) if name in self._latest else None

    def designated(self, name: str, qualifier: str) -> FunctionConfig | None:
        """The snapshot ``qualifier`` designates (a version number, ``$LATEST`` or
        an alias's main version), or None; no exceptions."""
        return self._qualified(name, qualifier) if name in self._latest else None

    def exists(self, name: str, qualifier: str | None = None) -> bool:
        """Does the function exist (and the version or alias ``qualifier`` names)?"""
        if name not in self._latest:
            return False
        if qualifier is None or qualifier == LATEST:
            return True
        return qualifier in self._versions.get(name, {}) or qualifier in self._aliases.get(name, {})

    def require(self, name: str) -> FunctionConfig:
        """``$LATEST`` of an existing function, or ResourceNotFound with AWS's message."""
        return self._function(name)

    def list(self, marker: str | None, max_items: int) -> tuple[Sequence[FunctionConfig], str | None]:
        """Functions ordered by name, starting after ``marker`` (the last name of
        the previous page); returns the page and the next marker, if any."""
        return page(sorted(self._latest), marker, max_items, self._latest.__getitem__)

    def list_all_versions(
        self, marker: str | None, max_items: int
    ) -> tuple[Sequence[FunctionConfig], str | None]:
        """Every function's ``$LATEST`` then its published versions, functions by name
        (ListFunctions with FunctionVersion ALL); the marker is ``name:version``."""
        keys: list[str] = []
        for name in sorted(self._latest):
            keys.append(f"{name}:{LATEST}")
            keys.extend(f"{name}:{number}" for number in sorted(self._versions.get(name, {}), key=int))

        def value(key: str) -> FunctionConfig:
            name, version = key.rsplit(":", 1)
            return self._latest[name] if version == LATEST else self._versions[name][version]

        if marker is not None and marker not in keys:
            keys = [key for key in keys if key.rsplit(":", 1)[0] > marker.rsplit(":", 1)[0]]
            marker = None
        return page(keys, marker, max_items, value)

    def list_versions(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[Sequence[FunctionConfig], str | None]:
        """``$LATEST`` then the published versions in order, paged like ``list``."""
        latest = self._function(name)
        versions = self._versions.get(name, {})
        ordered = [LATEST, *sorted(versions, key=int)]
        return page(ordered, marker, max_items, lambda v: latest if v == LATEST else versions[v])

    def get_alias(self, name: str, alias_name: str) -> Alias:
        self._function(name)
        alias = self._aliases.get(name, {}).get(alias_name)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self.arn_prefix}{name}:{alias_name}")
        return alias

    def list_aliases(
        self, name: str, function_version: str | None, marker: str | None, max_items: int
    ) -> tuple[Sequence[Alias], str | None]:
        """Aliases ordered by name (only those whose main version is
        ``function_version``, if given), paged like ``list``."""
        self._function(name)
        aliases = self._aliases.get(name, {})
        names = sorted(
            alias
            for alias, value in aliases.items()
            if function_version is None or value.function_version == function_version
        )
        return page(names, marker, max_items, aliases.__getitem__)

    # -- writes: functions and versions -------------------------------------
    def ensure_absent(self, name: str) -> None:
        """ResourceConflict when ``name`` exists: checked before expensive work."""
        if name in self._latest:
            raise ResourceConflict(f"Function already exist: {name}")

    def create(
        self,
        name: str,
        settings: FunctionSettings,
        code: StoredCode,
        publish: bool = False,
    ) -> FunctionConfig:
        """Create ``$LATEST`` (and version 1 with ``publish``) in one write; returns
        version 1 when published, else ``$LATEST``."""
        self.ensure_absent(name)
        self._check_dead_letter(settings.dead_letter_arn, creating=True)
        values = _settings_values(settings)
        config = FunctionConfig(
            name=name,
            code_sha256=code.sha256_hex,
            code_size=code.size,
            update_id=new_revision_id(),
            **values,  # type: ignore[arg-type]
        )
        check_logging(config)
        return self._commit(_pending(config), publish)

    def update_code(
        self, name: str, code: StoredCode, revision_id: str | None, publish: bool = False
    ) -> FunctionConfig:
        """New code for ``$LATEST`` (and a version of it with ``publish``); returns
        the published version when one was published, else ``$LATEST``."""
        current = self._updatable(name, revision_id)
        changed = _next_revision(current, code_sha256=code.sha256_hex, code_size=code.size)
        return self._commit(_in_progress(changed), publish)

    def update_configuration(
        self, name: str, settings: FunctionSettings, revision_id: str | None
    ) -> FunctionConfig:
        current = self._updatable(name, revision_id)
        self._check_dead_letter(settings.dead_letter_arn, creating=False)
        changed = _in_progress(_next_revision(current, **_settings_values(settings)))
        check_logging(changed)
        return self._commit(changed)

    def _check_dead_letter(self, arn: str | None, *, creating: bool) -> None:
        """An update may give "" to remove the dead-letter queue; a creation may not."""
        if arn is None or (arn == "" and not creating):
            return
        if self.dead_letter_check is None:
            raise InvalidParameterValue(f"{dead_letter.NOT_AN_ARN}{arn}")
        self.dead_letter_check(arn)

    def renew_revision(self, name: str) -> FunctionConfig:
        """A new RevisionId for ``$LATEST`` and nothing else changed: what AWS does when
        a function's tags change (its recorded answers show a new RevisionId after each
        TagResource and UntagResource; LastModified is not part of that)."""
        current = self._function(name)
        return self._commit(dataclasses.replace(current, revision_id=new_revision_id()))

    def publish_version(
        self,
        name: str,
        code_sha256: str | None = None,
        description: str | None = None,
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """Snapshot ``$LATEST`` as the next version. ``code_sha256`` (base64, as
        the API shows it) and ``revision_id`` are preconditions on ``$LATEST``.
        An unchanged ``$LATEST`` returns the version already published from it."""
        latest = self._checked(name, revision_id)
        current_sha = sha256_b64(latest.code_sha256)
        if code_sha256 and code_sha256 != current_sha:
            raise InvalidParameterValue(
                f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({current_sha}). Please try again with the CodeSHA256 in $LATEST."
            )
        versions = self._versions.get(name, {})
        if versions:
            newest = versions[max(versions, key=int)]
            if newest.published_from == latest.content_id:
                return newest
        if latest.settling:
            raise self._not_ready(latest)
        version = self._snapshot(latest, description)
        # AWS gives $LATEST a new RevisionId when a version is published from it.
        republished = dataclasses.replace(latest, revision_id=new_revision_id())
        self._store.save(configs=(republished, version), last_version=(name, int(version.version)))
        self._versions.setdefault(name, {})[version.version] = version
        self._last_version[name] = int(version.version)
        self._latest[name] = republished
        self._bus.publish(LatestChanged(republished))
        self._bus.publish(VersionPublished(version))
        return version

    def settle(
        self, name: str, version: str, revision_id: str, failure: tuple[str, str] | None = None
    ) -> None:
        """The creation or update that made revision ``revision_id`` of ``name:version``
        has been applied (``failure``: (StateReasonCode, StateReason) when it could not
        be): Pending becomes Active, InProgress becomes Successful, under a new revision.
        Nothing happens when that revision is no longer current or already settled."""
        current = self._latest.get(name) if version == LATEST else self._versions.get(name, {}).get(version)
        if current is None or current.revision_id != revision_id or not current.settling:
            return
        settled = _settled(current, failure)
        self._store.save(configs=(settled,))
        if version == LATEST:
            self._latest[name] = settled
            self._bus.publish(LatestChanged(settled))
        else:
            self._versions[name][version] = settled

    def settling(self) -> tuple[FunctionConfig, ...]:
        """Every snapshot whose creation or update has not been applied yet."""
        versions = (config for by_number in self._versions.values() for config in by_number.values())
        return tuple(config for config in (*self._latest.values(), *versions) if config.settling)

    def delete(self, name: str, qualifier: str | None = None) -> None:
        """Delete the function with everything it has, or (``qualifier``) one
        published version. A version an alias uses cannot be deleted."""
        if qualifier is not None and qualifier != LATEST and not alias_rules.is_version_number(qualifier):
            raise InvalidParameterValue(ALIAS_NOT_DELETABLE)
        if qualifier == LATEST:
            raise InvalidParameterValue(LATEST_NOT_DELETABLE)
        self._function(name)
        if qualifier is None:
            self._store.delete_function(name)
            latest = self._latest.pop(name)
            removed = list(self._versions.pop(name, {}).values())
            self._aliases.pop(name, None)
            self._last_version.pop(name, None)
            self._bus.publish(FunctionDeleted(name, latest))
            for config in removed:
                self._bus.publish(VersionRemoved(config))
            return
        version = self._versions.get(name, {}).get(qualifier)
        if version is None:
            return  # AWS answers 204 for a version that does not exist
        users = sorted(
            alias.name
            for alias in self._aliases.get(name, {}).values()
            if alias.function_version == qualifier or qualifier in alias.routing
        )
        if users:
            raise ResourceConflict(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
            )
        self._store.delete_version(name, qualifier)
        del self._versions[name][qualifier]
        self._bus.publish(VersionRemoved(version))

    # -- writes: aliases -----------------------------------------------------
    def create_alias(self, name: str, request: AliasInput) -> Alias:
        assert request.name is not None and request.function_version is not None
        self._existing_version(name, request.function_version)
        existing = self._aliases.get(name, {}).get(request.name)
        if existing is not None:
            raise ResourceConflict(f"Alias already exists: {self.arn_prefix}{name}:{request.name}")
        routing = request.routing or MappingProxyType({})
        self._check_routing(name, request.function_version, routing)
        alias = Alias(
            function_name=name,
            name=request.name,
            function_version=request.function_version,
            description=request.description or "",
            routing=routing,
        )
        return self._commit_alias(alias)

    def update_alias(self, name: str, alias_name: str, request: AliasInput) -> Alias:
        self._function(name)
        current = self._aliases.get(name, {}).get(alias_name)
        if current is None:  # UpdateAlias words it differently from GetAlias
            raise ResourceNotFound(f"Alias not found: {self.arn_prefix}{name}:{alias_name}")
        if request.revision_id is not None and request.revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        function_version = request.function_version or current.function_version
        if request.function_version is not None:
            self._existing_version(name, function_version)
        routing = current.routing if request.routing is None else request.routing
        self._check_routing(name, function_version, routing)
        alias = dataclasses.replace(
            current,
            function_version=function_version,
            description=current.description if request.description is None else request.description,
            routing=routing,
            revision_id=new_revision_id(),
        )
        committed = self._commit_alias(alias)
        self._bus.publish(AliasUpdated(current, committed))
        return committed

    def delete_alias(self, name: str, alias_name: str) -> None:
        """Delete an alias; one that does not exist is already deleted (204, as on AWS)."""
        self._function(name)
        alias = self._aliases.get(name, {}).get(alias_name)
        if alias is None:
            return
        self._store.delete_alias(name, alias_name)
        del self._aliases[name][alias_name]
        self._bus.publish(AliasDeleted(alias))

    def put_recursion(self, name: str, recursive_loop: str) -> str:
        """Set the function's recursive loop detection (not a new revision: it is no
        code or configuration of an environment)."""
        latest = self._function(name)
        changed = dataclasses.replace(latest, recursive_loop=recursive_loop)
        self._store.save(configs=(changed,))
        self._latest[name] = changed
        return recursive_loop

    def account_usage(self) -> tuple[int, int]:
        """(number of functions, bytes of code stored for all their versions)."""
        size = sum(config.code_size for config in self._latest.values())
        size += sum(config.code_size for versions in self._versions.values() for config in versions.values())
        return len(self._latest), size

    # -- helpers ---------------------------------------------------------------
    def _function(self, name: str) -> FunctionConfig:
        latest = self._latest.get(name)
        if latest is None:
            raise ResourceNotFound(f"Function not found: {self.arn_prefix}{name}")
        return latest

    def _qualified(self, name: str, qualifier: str) -> FunctionConfig | None:
        """The version ``qualifier`` names (a number, ``$LATEST`` or an alias's main version)."""
        if qualifier == LATEST:
            return self._latest.get(name)
        version = self._versions.get(name, {}).get(qualifier)
        if version is not None:
            return version
        alias = self._aliases.get(name, {}).get(qualifier)
        if alias is None:
            return None
        if alias.function_version == LATEST:
            return self._latest.get(name)
        return self._versions.get(name, {}).get(alias.function_version)

    def _existing_version(self, name: str, version: str) -> FunctionConfig:
        """A version (number or ``$LATEST``) an alias may point to, or AWS's 404."""
        config = self._latest.get(name) if version == LATEST else self._versions.get(name, {}).get(version)
        if config is None or name not in self._latest:
            raise ResourceNotFound(f"Function not found: {self.arn_prefix}{name}:{version}")
        return config

    def _check_routing(self, name: str, main_version: str, routing: Mapping[str, float]) -> None:
        alias_rules.check_routing(main_version, routing)
        for version in routing:
            self._existing_version(name, version)

    def _not_found(self, name: str, qualifier: str | None) -> ResourceNotFound:
        suffix = f":{qualifier}" if qualifier is not None else ""
        return ResourceNotFound(f"Function not found: {self.arn_prefix}{name}{suffix}")

    def _checked(self, name: str, revision_id: str | None) -> FunctionConfig:
        current = self._function(name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        return current

    def _updatable(self, name: str, revision_id: str | None) -> FunctionConfig:
        """``$LATEST`` of a function that may be updated now: AWS refuses an update while
        the function is Pending or another update is InProgress."""
        current = self._checked(name, revision_id)
        if current.settling:
            raise self._not_ready(current)
        return current

    def _not_ready(self, current: FunctionConfig) -> ResourceConflict:
        if current.state == PENDING:
            return ResourceConflict(
                f"{NOT_READY} The function is currently in the following state: {PENDING}"
            )
        return ResourceConflict(
            f"{NOT_READY} An update is in progress for resource: {self.arn_prefix}{current.name}"
        )

    def _snapshot(self, latest: FunctionConfig, description: str | None) -> FunctionConfig:
        """The next version of ``latest``; one published from a $LATEST whose code is
        still being prepared is itself Pending until it is (as AWS shows it)."""
        number = self._last_version.get(latest.name, 0) + 1
        if latest.settling:
            latest = _pending(latest)
        return dataclasses.replace(
            latest,
            version=str(number),
            description=latest.description if description is None else description,
            last_modified=aws_timestamp(),
            revision_id=new_revision_id(),
            published_from=latest.content_id,
        )

    def _commit(self, config: FunctionConfig, publish: bool = False) -> FunctionConfig:
        """Make ``config`` the new ``$LATEST`` (and publish it) - durable first, only then visible."""
        snapstart.check(config.runtime, config.snap_start)
        version = self._snapshot(config, None) if publish else None
        if version is None:
            self._store.save(configs=(config,))
        else:
            self._store.save(configs=(config, version), last_version=(config.name, int(version.version)))
            self._versions.setdefault(config.name, {})[version.version] = version
            self._last_version[config.name] = int(version.version)
        self._latest[config.name] = config
        self._bus.publish(LatestChanged(config))
        if version is not None:
            self._bus.publish(VersionPublished(version))
        return version or config

    def _commit_alias(self, alias: Alias) -> Alias:
        self._store.save(aliases=(alias,))
        self._aliases.setdefault(alias.function_name, {})[alias.name] = alias
        return alias


def _settings_values(settings: FunctionSettings) -> dict[str, object]:
    """The settings that were given, as FunctionConfig field values."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is None:
            continue
        if field.name == "environment":
            value = MappingProxyType(dict(value))
            values["environment_given"] = True
        values[field.name] = value
    return values


def _next_revision(current: FunctionConfig, **changes: object) -> FunctionConfig:
    """``current`` changed by an update: new content, new revision."""
    return dataclasses.replace(
        current,
        last_modified=aws_timestamp(),
        revision_id=new_revision_id(),
        update_id=new_revision_id(),
        **changes,  # type: ignore[arg-type]
    )
