"""The policy registry: every function's resource policies, in memory and written
through to a ``PolicyStore``.

One policy per qualifier (see ``control.permissions`` for the statements and
the RevisionId rules): ``$LATEST`` for the unqualified function, a version or
an alias. Policies are not part of a snapshot. A policy goes with its version
(``VersionRemoved``), its alias (``AliasDeleted``) or its function
(``FunctionDeleted``); policies whose function, version or alias no longer
exists (left by a crash between the two writes) are removed when the registry
is built.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from lambdalite.control import aliases as alias_rules
from lambdalite.control import permissions, service_model
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import AliasDeleted, FunctionDeleted, VersionRemoved
from lambdalite.control.permissions import PermissionInput
from lambdalite.control.registry import REVISION_MISMATCH, FunctionRegistry
from lambdalite.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict, ResourceNotFound
from lambdalite.models import LATEST, ResourcePolicy, new_revision_id
from lambdalite.store.policies import PolicyStore


class PolicyRegistry:
    def __init__(self, store: PolicyStore, functions: FunctionRegistry, bus: EventBus) -> None:
        self._store = store
        self._functions = functions
        self._policies: dict[str, dict[str, ResourcePolicy]] = {}
        """name -> qualifier ($LATEST for the unqualified function) -> policy."""
        for policy in store.all_policies():
            if functions.exists(policy.function_name, policy.qualifier):
                self._policies.setdefault(policy.function_name, {})[policy.qualifier] = policy
            else:
                store.delete_policies(policy.function_name, policy.qualifier)
        bus.subscribe(FunctionDeleted, lambda event: self._forget(event.name, None))
        bus.subscribe(VersionRemoved, lambda event: self._forget(event.config.name, event.config.version))
        bus.subscribe(AliasDeleted, lambda event: self._forget(event.alias.function_name, event.alias.name))

    def policy(self, name: str, qualifier: str | None) -> ResourcePolicy:
        """The policy of the function (no qualifier or ``$LATEST``), a version or an alias."""
        self._functions.require(name)
        policy = self._policies.get(name, {}).get(qualifier or LATEST)
        if policy is None:
            raise ResourceNotFound(permissions.POLICY_NOT_FOUND)
        return policy

    def find_policy(self, name: str, qualifier: str | None) -> ResourcePolicy | None:
        """The policy of the function, a version or an alias, or None when it has none
        (or the function does not exist). Never raises: the authorization check asks
        this on every invoke by a non-admin caller, and most functions have no policy."""
        policies = self._policies.get(name)
        return None if policies is None else policies.get(qualifier or LATEST)

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
        if not self._functions.exists(name):
            raise ResourceNotFound(permissions.no_policy_for(f"{self._functions.arn_prefix}{name}"))
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
        latest = self._functions.require(name)
        arn = f"{self._functions.arn_prefix}{name}"
        if qualifier is None:
            return LATEST, arn, latest.revision_id
        qualified = f"{arn}:{qualifier}"
        if qualifier == LATEST:
            return LATEST, qualified, latest.revision_id
        if alias_rules.is_version_number(qualifier) or not service_model.matches("Alias", qualifier):
            # A qualifier that cannot be an alias name (``valid-with-$``, which passes the
            # qualifier pattern) gets AWS's "Function not found", as a missing version does.
            version = self._functions.find_version(name, qualifier)
            if version is None:
                raise ResourceNotFound(f"Function not found: {qualified}")
            return qualifier, qualified, version.revision_id
        alias = self._functions.find_alias(name, qualifier)
        if alias is None:
            raise ResourceNotFound(f"Cannot find alias arn: {qualified}")
        return qualifier, qualified, alias.revision_id

    def _forget(self, name: str, qualifier: str | None) -> None:
        """Drop the function's policies (or one qualifier's) whose target is gone.
        Forget first: if the store write fails, the orphan row goes at the next start."""
        policies = self._policies.get(name)
        if not policies or (qualifier is not None and qualifier not in policies):
            return
        if qualifier is None:
            del self._policies[name]
        else:
            del policies[qualifier]
        self._store.delete_policies(name, qualifier)
