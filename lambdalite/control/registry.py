"""The function registry: the authority on which functions, versions and aliases
exist and what they are.

It keeps every function's ``$LATEST`` snapshot, its published versions and its
aliases in memory (the invoke path reads them without touching SQLite) and
writes through to the store before a change becomes visible; a request that is
refused writes nothing.

A snapshot includes the layer versions the function uses (``LayerRef``s,
resolved by ``control.layers``), so changing a function's Layers is a new
revision with new environments, and a published version keeps its layers.

Versions are immutable snapshots of ``$LATEST`` numbered 1, 2, ... per
function; a number is never given out twice, even after its version was
deleted. Each version has its own revision id, so its environments are never
shared with ``$LATEST``'s.

Listeners: ``subscribe`` hears about every ``$LATEST`` change (with the new
snapshot, or None when the function was deleted), so the data plane can retire
environments of an older ``$LATEST`` revision; publishing a version is not a
``$LATEST`` change. ``subscribe_removed_versions`` hears about every published
version that was deleted (alone or with its function), so environments of that
version can be retired too. ``subscribe_concurrency`` hears about every change
of a function's reserved concurrency (None when it was removed, or the function
deleted), so the data plane can enforce it without asking on every invoke.
``subscribe_provisioned`` hears about every provisioned concurrency config that
was put, removed, or whose alias now points to another version, with the
snapshot its environments run (None when the config is gone).

Besides snapshots, the registry keeps each function's tags, its resource
policies (one per qualifier, see ``control.permissions``) and its reserved
concurrency (see ``control.concurrency``) and its function URL configs (one
per qualifier, see ``control.function_urls``). They are not part of a snapshot:
changing them creates no revision and retires no environment. Deleting a
function deletes them with it; deleting a version or an alias deletes its
policy, deleting an alias its URL config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeVar

from lambdalite.control import aliases as alias_rules
from lambdalite.control import function_urls as url_rules
from lambdalite.control import permissions
from lambdalite.control import provisioned as provisioned_rules
from lambdalite.control import tags as tag_rules
from lambdalite.control.aliases import AliasInput
from lambdalite.control.function_urls import UrlInput
from lambdalite.control.permissions import PermissionInput
from lambdalite.control.provisioned import ProvisionedConfig
from lambdalite.control.validation import FunctionSettings
from lambdalite.dataplane import limiter as concurrency_rules
from lambdalite.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambdalite.models import (
    LATEST,
    Alias,
    FunctionConfig,
    FunctionUrlConfig,
    ResourcePolicy,
    aws_timestamp,
    new_revision_id,
    sha256_b64,
    url_timestamp,
)
from lambdalite.store.code import StoredCode
from lambdalite.store.functions import FunctionStore

ChangeListener = Callable[[str, FunctionConfig | None], None]
"""Called with (function name, new $LATEST snapshot or None when deleted)."""
RemovedVersionListener = Callable[[FunctionConfig], None]
"""Called with the snapshot of a published version that no longer exists."""
ConcurrencyListener = Callable[[str, int | None], None]
"""Called with (function name, reserved concurrency or None when it has none)."""
ProvisionedListener = Callable[[ProvisionedConfig, FunctionConfig | None], None]
"""Called with (a provisioned concurrency config, the snapshot to keep environments
of, or None when the config was removed)."""

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
LATEST_NOT_DELETABLE = "$LATEST version cannot be deleted without deleting the function."
ALIAS_NOT_DELETABLE = "Deletion of aliases is not currently supported."

_T = TypeVar("_T")


class FunctionRegistry:
    def __init__(self, store: FunctionStore, arn_prefix: str, concurrency_limit: int = 1000) -> None:
        """``concurrency_limit`` is the node's (Settings.max_concurrency): the
        account limit reservations are carved out of."""
        self._store = store
        self._arn_prefix = arn_prefix
        self._concurrency_limit = concurrency_limit
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
        self._tags: dict[str, Mapping[str, str]] = {
            name: MappingProxyType(tags) for name, tags in store.all_tags().items()
        }
        self._policies: dict[str, dict[str, ResourcePolicy]] = {}
        """name -> qualifier ($LATEST for the unqualified function) -> policy."""
        for policy in store.all_policies():
            self._policies.setdefault(policy.function_name, {})[policy.qualifier] = policy
        self._reserved: dict[str, int] = store.reserved_concurrency()
        self._urls: dict[str, dict[str, FunctionUrlConfig]] = {}
        """name -> qualifier ($LATEST for the unqualified function) -> URL config."""
        self._url_ids: dict[str, FunctionUrlConfig] = {}
        """url-id -> URL config: what serving a request on a function URL looks up."""
        for url in store.all_urls():
            self._urls.setdefault(url.function_name, {})[url.qualifier] = url
            self._url_ids[url.url_id] = url
        self._provisioned: dict[str, dict[str, ProvisionedConfig]] = {}
        """name -> qualifier (a version number or an alias) -> provisioned concurrency config."""
        for name, qualifier, requested, last_modified in store.all_provisioned():
            provisioned = ProvisionedConfig(name, qualifier, requested, last_modified)
            self._provisioned.setdefault(name, {})[qualifier] = provisioned
        self._listeners: list[ChangeListener] = []
        self._removed_listeners: list[RemovedVersionListener] = []
        self._concurrency_listeners: list[ConcurrencyListener] = []
        self._provisioned_listeners: list[ProvisionedListener] = []

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def subscribe_removed_versions(self, listener: RemovedVersionListener) -> None:
        self._removed_listeners.append(listener)

    def subscribe_concurrency(self, listener: ConcurrencyListener) -> None:
        """``listener`` hears every reservation change from now on; the current
        reservations are in ``reservations()``."""
        self._concurrency_listeners.append(listener)

    def subscribe_provisioned(self, listener: ProvisionedListener) -> None:
        """``listener`` hears every provisioned concurrency change from now on; the
        current configs are in ``provisioned_targets()``."""
        self._provisioned_listeners.append(listener)

    def _notify_provisioned(self, config: ProvisionedConfig, target: FunctionConfig | None) -> None:
        for listener in self._provisioned_listeners:
            listener(config, target)

    def _notify_concurrency(self, name: str, reserved: int | None) -> None:
        for listener in self._concurrency_listeners:
            listener(name, reserved)

    def _notify(self, name: str, config: FunctionConfig | None) -> None:
        for listener in self._listeners:
            listener(name, config)

    def _notify_removed(self, versions: list[FunctionConfig]) -> None:
        for config in versions:
            for listener in self._removed_listeners:
                listener(config)

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

    def list(self, marker: str | None, max_items: int) -> tuple[Sequence[FunctionConfig], str | None]:
        """Functions ordered by name, starting after ``marker`` (the last name of
        the previous page); returns the page and the next marker, if any."""
        return _page(sorted(self._latest), marker, max_items, self._latest.__getitem__)

    def list_versions(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[Sequence[FunctionConfig], str | None]:
        """``$LATEST`` then the published versions in order, paged like ``list``."""
        latest = self._function(name)
        versions = self._versions.get(name, {})
        ordered = [LATEST, *sorted(versions, key=int)]
        return _page(ordered, marker, max_items, lambda v: latest if v == LATEST else versions[v])

    def get_alias(self, name: str, alias_name: str) -> Alias:
        self._function(name)
        alias = self._aliases.get(name, {}).get(alias_name)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {self._arn_prefix}{name}:{alias_name}")
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
        return _page(names, marker, max_items, aliases.__getitem__)

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
        tags: Mapping[str, str] | None = None,
    ) -> FunctionConfig:
        """Create ``$LATEST`` with its ``tags`` (and version 1 with ``publish``),
        in one transaction; returns version 1 when published, else ``$LATEST``."""
        self.ensure_absent(name)
        if tags:
            tag_rules.check_count(tags)
        values = _settings_values(settings)
        config = FunctionConfig(
            name=name,
            code_sha256=code.sha256_hex,
            code_size=code.size,
            **values,  # type: ignore[arg-type]
        )
        return self._commit(config, publish, tags=tags or None)

    def update_code(
        self, name: str, code: StoredCode, revision_id: str | None, publish: bool = False
    ) -> FunctionConfig:
        """New code for ``$LATEST`` (and a version of it with ``publish``); returns
        the published version when one was published, else ``$LATEST``."""
        current = self._checked(name, revision_id)
        changed = _next_revision(current, code_sha256=code.sha256_hex, code_size=code.size)
        return self._commit(changed, publish)

    def update_configuration(
        self, name: str, settings: FunctionSettings, revision_id: str | None
    ) -> FunctionConfig:
        current = self._checked(name, revision_id)
        return self._commit(_next_revision(current, **_settings_values(settings)))

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
            if newest.published_from == latest.revision_id:
                return newest
        version = self._snapshot(latest, description)
        self._store.save(configs=(version,), last_version=(name, int(version.version)))
        self._versions.setdefault(name, {})[version.version] = version
        self._last_version[name] = int(version.version)
        return version

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
            del self._latest[name]
            removed = list(self._versions.pop(name, {}).values())
            self._aliases.pop(name, None)
            self._last_version.pop(name, None)
            self._tags.pop(name, None)
            self._policies.pop(name, None)
            had_reservation = self._reserved.pop(name, None) is not None
            for config in self._provisioned.pop(name, {}).values():
                self._notify_provisioned(config, None)
            for url in self._urls.pop(name, {}).values():
                self._url_ids.pop(url.url_id, None)
            self._notify(name, None)
            self._notify_removed(removed)
            if had_reservation:
                self._notify_concurrency(name, None)
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
        self._policies.get(name, {}).pop(qualifier, None)
        self._drop_provisioned(name, qualifier)
        self._notify_removed([version])

    # -- writes: aliases -----------------------------------------------------
    def create_alias(self, name: str, request: AliasInput) -> Alias:
        assert request.name is not None and request.function_version is not None
        self._existing_version(name, request.function_version)
        existing = self._aliases.get(name, {}).get(request.name)
        if existing is not None:
            raise ResourceConflict(f"Alias already exists: {self._arn_prefix}{name}:{request.name}")
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
        current = self.get_alias(name, alias_name)
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
        provisioned = self._provisioned.get(name, {}).get(alias_name)
        if provisioned is not None and alias.function_version != current.function_version:
            # Its environments follow the alias to its new version.
            self._notify_provisioned(provisioned, self._qualified(name, alias_name))
        return committed

    def delete_alias(self, name: str, alias_name: str) -> None:
        self.get_alias(name, alias_name)
        self._store.delete_alias(name, alias_name)
        del self._aliases[name][alias_name]
        self._policies.get(name, {}).pop(alias_name, None)
        self._drop_provisioned(name, alias_name)
        url = self._urls.get(name, {}).pop(alias_name, None)
        if url is not None:
            self._url_ids.pop(url.url_id, None)

    # -- tags ------------------------------------------------------------------
    def tags(self, name: str) -> Mapping[str, str]:
        """The function's tags ({} when it has none); ResourceNotFound if it does not exist."""
        self._function(name)
        return self._tags.get(name, MappingProxyType({}))

    def tag(self, name: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite ``tags``; at most MAX_TAGS in all."""
        merged = {**self.tags(name), **tags}
        tag_rules.check_count(merged)
        self._store.put_tags(name, merged)
        self._tags[name] = MappingProxyType(merged)

    def untag(self, name: str, keys: Sequence[str]) -> None:
        """Remove ``keys`` (keys the function does not have are ignored)."""
        remaining = {key: value for key, value in self.tags(name).items() if key not in keys}
        self._store.put_tags(name, remaining)
        if remaining:
            self._tags[name] = MappingProxyType(remaining)
        else:
            self._tags.pop(name, None)

    # -- resource policies -------------------------------------------------------
    def policy(self, name: str, qualifier: str | None) -> ResourcePolicy:
        """The policy of the function (no qualifier or ``$LATEST``), a version or an alias."""
        self._function(name)
        policy = self._policies.get(name, {}).get(qualifier or LATEST)
        if policy is None:
            raise ResourceNotFound(permissions.POLICY_NOT_FOUND)
        return policy

    def add_permission(self, name: str, qualifier: str | None, request: PermissionInput) -> dict[str, object]:
        """Add one statement to the qualifier's policy; returns the statement."""
        if qualifier == LATEST:
            raise InvalidParameterValue(permissions.LATEST_POLICY)
        key, arn, target_revision = self._policy_target(name, qualifier)
        current = self._policies.get(name, {}).get(key)
        expected = current.revision_id if current is not None else target_revision
        if request.revision_id is not None and request.revision_id != expected:
            raise PreconditionFailed(REVISION_MISMATCH)
        existing = current.statements if current is not None else ()
        if any(statement["Sid"] == request.statement_id for statement in existing):
            raise ResourceConflict(permissions.statement_exists(request.statement_id))
        statement = permissions.build_statement(request, arn)
        policy = ResourcePolicy(name, key, (*existing, MappingProxyType(statement)))
        self._store.put_policy(policy)
        self._policies.setdefault(name, {})[key] = policy
        return statement

    def remove_permission(
        self, name: str, qualifier: str | None, statement_id: str, revision_id: str | None
    ) -> None:
        """Remove one statement; the policy goes with its last statement."""
        if name not in self._latest:
            raise ResourceNotFound(permissions.no_policy_for(f"{self._arn_prefix}{name}"))
        key, _, _ = self._policy_target(name, qualifier)
        current = self._policies.get(name, {}).get(key)
        if current is None:
            raise ResourceNotFound(permissions.NO_POLICY)
        kept = tuple(s for s in current.statements if s["Sid"] != statement_id)
        if len(kept) == len(current.statements):
            raise ResourceNotFound(permissions.statement_not_found(statement_id))
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        policy = dataclasses.replace(current, statements=kept, revision_id=new_revision_id())
        self._store.put_policy(policy)
        if kept:
            self._policies[name][key] = policy
        else:
            del self._policies[name][key]

    def _policy_target(self, name: str, qualifier: str | None) -> tuple[str, str, str]:
        """(policy key, the statement's Resource ARN, the target's RevisionId) for a
        qualifier, or AWS's 404 for a function, version or alias that does not exist."""
        latest = self._function(name)
        arn = f"{self._arn_prefix}{name}"
        if qualifier is None:
            return LATEST, arn, latest.revision_id
        qualified = f"{arn}:{qualifier}"
        if qualifier == LATEST:
            return LATEST, qualified, latest.revision_id
        if alias_rules.is_version_number(qualifier):
            version = self._versions.get(name, {}).get(qualifier)
            if version is None:
                raise ResourceNotFound(f"Function not found: {qualified}")
            return qualifier, qualified, version.revision_id
        alias = self._aliases.get(name, {}).get(qualifier)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {qualified}")
        return qualifier, qualified, alias.revision_id

    # -- function URLs -----------------------------------------------------------
    def url_by_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The hot-path lookup of a function URL request: the config or None."""
        return self._url_ids.get(url_id)

    def url_config(self, name: str, qualifier: str) -> FunctionUrlConfig:
        """The URL config of the function (``qualifier`` ``$LATEST``) or an alias."""
        if name not in self._latest:
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        url = self._urls.get(name, {}).get(qualifier)
        if url is None:
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        return url

    def list_url_configs(
        self, name: str, marker: str | None, max_items: int
    ) -> tuple[Sequence[FunctionUrlConfig], str | None]:
        """The function's URL configs ordered by qualifier (the function's first), paged like ``list``."""
        if name not in self._latest:
            raise ResourceNotFound(url_rules.FUNCTION_NOT_FOUND)
        urls = self._urls.get(name, {})
        return _page(sorted(urls), marker, max_items, urls.__getitem__)

    def create_url_config(self, name: str, qualifier: str, request: UrlInput) -> FunctionUrlConfig:
        self._url_target(name, qualifier)
        existing = self._urls.get(name, {}).get(qualifier)
        if existing is not None:
            raise url_rules.exists(existing.function_arn(self._arn_prefix))
        assert request.auth_type is not None  # required by the model, checked at the edge
        now = url_timestamp()
        url_id = url_rules.new_url_id()
        while url_id in self._url_ids:
            url_id = url_rules.new_url_id()
        url = FunctionUrlConfig(
            function_name=name,
            qualifier=qualifier,
            url_id=url_id,
            auth_type=request.auth_type,
            invoke_mode=request.invoke_mode or "BUFFERED",
            cors=request.cors or MappingProxyType({}),
            creation_time=now,
            last_modified_time=now,
        )
        return self._commit_url(url)

    def update_url_config(self, name: str, qualifier: str, request: UrlInput) -> FunctionUrlConfig:
        self._url_target(name, qualifier)
        current = self._urls.get(name, {}).get(qualifier)
        if current is None:
            raise ResourceNotFound(url_rules.CONFIG_NOT_FOUND)
        url = dataclasses.replace(
            current,
            auth_type=request.auth_type or current.auth_type,
            invoke_mode=request.invoke_mode or current.invoke_mode,
            cors=current.cors if request.cors is None else request.cors,
            last_modified_time=url_timestamp(),
        )
        return self._commit_url(url)

    def delete_url_config(self, name: str, qualifier: str) -> None:
        url = self.url_config(name, qualifier)
        self._store.delete_url(name, qualifier)
        del self._urls[name][qualifier]
        self._url_ids.pop(url.url_id, None)

    def _url_target(self, name: str, qualifier: str) -> None:
        """AWS's 404 when the function, or the alias a URL is for, does not exist."""
        if name not in self._latest or (qualifier != LATEST and qualifier not in self._aliases.get(name, {})):
            raise ResourceNotFound(url_rules.FUNCTION_NOT_FOUND)

    def _commit_url(self, url: FunctionUrlConfig) -> FunctionUrlConfig:
        self._store.put_url(url)
        self._urls.setdefault(url.function_name, {})[url.qualifier] = url
        self._url_ids[url.url_id] = url
        return url

    # -- reserved concurrency ---------------------------------------------------
    def reserved_concurrency(self, name: str) -> int | None:
        self._function(name)
        return self._reserved.get(name)

    def reservations(self) -> Mapping[str, int]:
        """Every function's reserved concurrency, by name (a read-only view)."""
        return MappingProxyType(self._reserved)

    def put_reserved_concurrency(self, name: str, reserved: int) -> int:
        """Reserve ``reserved`` executions for the function, keeping the unreserved
        pool at its minimum (``concurrency.minimum_unreserved``)."""
        if name not in self._latest:
            # AWS names the function's $LATEST here (and only here).
            raise ResourceNotFound(f"Function not found: {self._arn_prefix}{name}:{LATEST}")
        minimum = concurrency_rules.minimum_unreserved(self._concurrency_limit)
        others = sum(self._reserved.values()) - self._reserved.get(name, 0)
        if self._concurrency_limit - others - reserved < minimum:
            raise InvalidParameterValue(concurrency_rules.below_minimum(minimum))
        self._store.put_reserved_concurrency(name, reserved)
        self._reserved[name] = reserved
        self._notify_concurrency(name, reserved)
        return reserved

    def delete_reserved_concurrency(self, name: str) -> None:
        self._function(name)
        if name not in self._reserved:
            return
        self._store.put_reserved_concurrency(name, None)
        del self._reserved[name]
        self._notify_concurrency(name, None)

    def account_concurrency(self) -> tuple[int, int]:
        """(the node's limit, what is left of it unreserved - never below 0). Provisioned
        concurrency of functions without a reservation comes out of the unreserved pool."""
        unreserved = self._concurrency_limit - sum(self._reserved.values()) - self._provisioned_unreserved()
        return self._concurrency_limit, max(0, unreserved)

    # -- provisioned concurrency --------------------------------------------------
    def provisioned_targets(self) -> Sequence[tuple[ProvisionedConfig, FunctionConfig]]:
        """Every config with the snapshot its environments run (for the data plane at start)."""
        targets = []
        for name, configs in self._provisioned.items():
            for qualifier, config in configs.items():
                target = self._qualified(name, qualifier)
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
        """The function's configs, versions (in number order) before aliases, paged like ``list``."""
        self._function(name)
        configs = self._provisioned.get(name, {})
        ordered = sorted(configs, key=lambda q: (0, int(q), "") if q.isdigit() else (1, 0, q))
        return _page(ordered, marker, max_items, configs.__getitem__)

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
                self._concurrency_limit
                - sum(self._reserved.values())
                - self._provisioned_unreserved()
                + (current.requested if current is not None else 0)
            )
            if requested > unreserved:
                raise provisioned_rules.above_unreserved(unreserved)
            minimum = concurrency_rules.minimum_unreserved(self._concurrency_limit)
            if unreserved - requested < minimum:
                raise provisioned_rules.below_minimum(minimum)
        aliases = self._aliases.get(name, {})
        if qualifier in aliases:
            if target.version in configs:
                raise provisioned_rules.alias_conflict()
        elif any(q in aliases and aliases[q].function_version == qualifier for q in configs):
            raise provisioned_rules.version_conflict()
        config = ProvisionedConfig(name, qualifier, requested, aws_timestamp())
        self._store.put_provisioned(name, qualifier, requested, config.last_modified)
        self._provisioned.setdefault(name, {})[qualifier] = config
        self._notify_provisioned(config, target)
        return config, target

    def delete_provisioned(self, name: str, qualifier: str | None) -> None:
        """Remove a version's or alias's config (none is fine, as on AWS)."""
        if qualifier is None or qualifier == LATEST:
            raise InvalidParameterValue(provisioned_rules.NOT_A_VERSION_OR_ALIAS)
        self._provisioned_target(name, qualifier)
        if qualifier in self._provisioned.get(name, {}):
            self._store.put_provisioned(name, qualifier, None)
            self._drop_provisioned(name, qualifier)

    def _drop_provisioned(self, name: str, qualifier: str) -> None:
        """Forget a config already removed from the store, and tell the data plane."""
        configs = self._provisioned.get(name)
        config = configs.pop(qualifier, None) if configs else None
        if configs is not None and not configs:
            del self._provisioned[name]
        if config is not None:
            self._notify_provisioned(config, None)

    def _provisioned_target(self, name: str, qualifier: str) -> FunctionConfig:
        """The snapshot a version number or alias designates, or AWS's 404."""
        if alias_rules.is_version_number(qualifier):
            version = self._versions.get(name, {}).get(qualifier) if name in self._latest else None
            if version is None:
                raise ResourceNotFound(f"Function not found: {self._arn_prefix}{name}:{qualifier}")
            return version
        target = self._qualified(name, qualifier) if qualifier in self._aliases.get(name, {}) else None
        if target is None or name not in self._latest:
            raise ResourceNotFound(f"Cannot find alias arn: {self._arn_prefix}{name}:{qualifier}")
        return target

    def _provisioned_unreserved(self) -> int:
        """Provisioned concurrency of functions without a reservation: it uses the unreserved pool."""
        return sum(
            config.requested
            for name, configs in self._provisioned.items()
            if name not in self._reserved
            for config in configs.values()
        )

    def account_usage(self) -> tuple[int, int]:
        """(number of functions, bytes of code stored for all their versions)."""
        size = sum(config.code_size for config in self._latest.values())
        size += sum(config.code_size for versions in self._versions.values() for config in versions.values())
        return len(self._latest), size

    # -- helpers ---------------------------------------------------------------
    def _function(self, name: str) -> FunctionConfig:
        latest = self._latest.get(name)
        if latest is None:
            raise ResourceNotFound(f"Function not found: {self._arn_prefix}{name}")
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
            raise ResourceNotFound(f"Function not found: {self._arn_prefix}{name}:{version}")
        return config

    def _check_routing(self, name: str, main_version: str, routing: Mapping[str, float]) -> None:
        alias_rules.check_routing(main_version, routing)
        for version in routing:
            self._existing_version(name, version)

    def _not_found(self, name: str, qualifier: str | None) -> ResourceNotFound:
        suffix = f":{qualifier}" if qualifier is not None else ""
        return ResourceNotFound(f"Function not found: {self._arn_prefix}{name}{suffix}")

    def _checked(self, name: str, revision_id: str | None) -> FunctionConfig:
        current = self._function(name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        return current

    def _snapshot(self, latest: FunctionConfig, description: str | None) -> FunctionConfig:
        number = self._last_version.get(latest.name, 0) + 1
        return dataclasses.replace(
            latest,
            version=str(number),
            description=latest.description if description is None else description,
            last_modified=aws_timestamp(),
            revision_id=new_revision_id(),
            published_from=latest.revision_id,
        )

    def _commit(
        self, config: FunctionConfig, publish: bool = False, tags: Mapping[str, str] | None = None
    ) -> FunctionConfig:
        """Make ``config`` the new ``$LATEST`` (and publish it, and set the
        function's ``tags``) - durable first, only then visible."""
        version = self._snapshot(config, None) if publish else None
        tagged = None if tags is None else (config.name, tags)
        if version is None:
            self._store.save(configs=(config,), tags=tagged)
        else:
            self._store.save(
                configs=(config, version), last_version=(config.name, int(version.version)), tags=tagged
            )
            self._versions.setdefault(config.name, {})[version.version] = version
            self._last_version[config.name] = int(version.version)
        if tags is not None:
            self._tags[config.name] = MappingProxyType(dict(tags))
        self._latest[config.name] = config
        self._notify(config.name, config)
        return version or config

    def _commit_alias(self, alias: Alias) -> Alias:
        self._store.save(aliases=(alias,))
        self._aliases.setdefault(alias.function_name, {})[alias.name] = alias
        return alias


def _page(
    keys: list[str], marker: str | None, max_items: int, value: Callable[[str], _T]
) -> tuple[list[_T], str | None]:
    """One page of ``keys`` (already in order) after ``marker`` (a key of the
    previous page's end); returns the values and the next marker, if any."""
    if marker is not None:
        keys = keys[keys.index(marker) + 1 :] if marker in keys else [k for k in keys if _after(k, marker)]
    page = keys[:max_items]
    next_marker = page[-1] if len(keys) > max_items else None
    return [value(key) for key in page], next_marker


def _after(key: str, marker: str) -> bool:
    """Order of a key against a marker that is no longer a key (it was deleted):
    numbers numerically (``$LATEST`` first), names alphabetically."""
    if key.isdigit() and marker.isdigit():
        return int(key) > int(marker)
    if marker == LATEST:
        return True
    return key > marker


def _settings_values(settings: FunctionSettings) -> dict[str, object]:
    """The settings that were given, as FunctionConfig field values."""
    values: dict[str, object] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is None:
            continue
        if field.name == "environment":
            value = MappingProxyType(dict(value))
        values[field.name] = value
    return values


def _next_revision(current: FunctionConfig, **changes: object) -> FunctionConfig:
    return dataclasses.replace(
        current,
        last_modified=aws_timestamp(),
        revision_id=new_revision_id(),
        **changes,  # type: ignore[arg-type]
    )
