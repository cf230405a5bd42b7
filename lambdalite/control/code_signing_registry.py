"""The code signing registry: configs, the config each function uses, and the
deployment check, in memory and written through to a ``CodeSigningStore``.

A function's config is a setting of the function, not of a snapshot: changing
it creates no revision. It goes with its function (``FunctionDeleted``); an
association left by a crash with no function behind it is dropped when the
registry is built. The check (``check_package``) runs at deployment, before any
code is stored: CreateFunction with a CodeSigningConfigArn, UpdateFunctionCode of
a function that has one. As on AWS, code already deployed keeps running when a
config is attached later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import unquote

from lambdalite.control import code_signing as rules
from lambdalite.control import code_signing_package as package
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import FunctionDeleted
from lambdalite.control.code_signing import CodeSigningConfig
from lambdalite.control.paging import page
from lambdalite.control.registry import FunctionRegistry
from lambdalite.errors import LambdaError
from lambdalite.store.code_signing import CodeSigningStore

log = logging.getLogger("lambdalite.codesigning")


class CodeSigningRegistry:
    def __init__(
        self,
        store: CodeSigningStore,
        functions: FunctionRegistry,
        bus: EventBus,
        region: str,
        account: str,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._functions = functions
        # Wall-clock seconds: a signature's validity window is in epoch seconds.
        self._now = now
        self._prefix = rules.arn_prefix(region, account)
        self._function_arn_prefix = f"arn:aws:lambda:{region}:{account}:function:"
        self._configs: dict[str, CodeSigningConfig] = {config.arn: config for config in store.all_configs()}
        self._by_function: dict[str, str] = {}
        for name, arn in store.function_configs().items():
            if functions.exists(name) and arn in self._configs:
                self._by_function[name] = arn
            else:
                store.put_function_config(name, None)
        bus.subscribe(FunctionDeleted, self._function_deleted)

    # -- configs ----------------------------------------------------------------
    def create(self, body: dict[str, object]) -> CodeSigningConfig:
        config = rules.parse_create(body, rules.new_config_id(), self._prefix)
        self._store.put_config(config)
        self._configs[config.arn] = config
        return config

    def get(self, raw_arn: str) -> CodeSigningConfig:
        """The config a path's ARN names, or AWS's ResourceNotFoundException."""
        return self._lookup(raw_arn, rules.CodeSigningConfigMissing)

    def update(self, raw_arn: str, body: dict[str, object]) -> CodeSigningConfig:
        current = self.get(raw_arn)
        config = rules.parse_update(body, current)
        if config is not current:
            self._store.put_config(config)
            self._configs[config.arn] = config
        return config

    def delete(self, raw_arn: str) -> None:
        """Delete a config no function uses (ResourceConflict otherwise)."""
        config = self.get(raw_arn)
        if config.arn in self._by_function.values():
            raise rules.config_in_use(config.arn)
        self._store.delete_config(config.arn)
        del self._configs[config.arn]

    def list_configs(self, marker: str | None, max_items: int) -> tuple[list[CodeSigningConfig], str | None]:
        # In creation order, as AWS lists them (the dict keeps it; the store loads it).
        return page(list(self._configs), marker, max_items, self._configs.__getitem__)

    def functions_using(
        self, raw_arn: str, marker: str | None, max_items: int
    ) -> tuple[list[str], str | None]:
        """The ARNs of the functions that use a config, a page at a time."""
        config = self.get(raw_arn)
        names = sorted(name for name, arn in self._by_function.items() if arn == config.arn)
        return page(names, marker, max_items, lambda name: self._function_arn_prefix + name)

    # -- functions ----------------------------------------------------------------
    def existing(self, raw_arn: str) -> CodeSigningConfig:
        """The config a function is asked to use, or CodeSigningConfigNotFoundException."""
        return self._lookup(raw_arn, rules.CodeSigningConfigNotFound)

    def _lookup(self, raw_arn: str, missing: Callable[[str], LambdaError]) -> CodeSigningConfig:
        """The config a (possibly percent-encoded) ARN names; ``missing(arn)`` is raised if none."""
        arn = unquote(raw_arn)
        rules.validate_arn(arn)
        config = self._configs.get(arn)
        if config is None:
            raise missing(arn)
        return config

    def put_function_config(self, name: str, raw_arn: str) -> CodeSigningConfig:
        config = self.existing(raw_arn)
        self._functions.require(name)
        self._store.put_function_config(name, config.arn)
        self._by_function[name] = config.arn
        return config

    def function_config(self, name: str) -> CodeSigningConfig | None:
        """The config the function uses (None: it has none); ResourceNotFound if it does not exist."""
        self._functions.require(name)
        arn = self._by_function.get(name)
        return None if arn is None else self._configs.get(arn)

    def delete_function_config(self, name: str) -> None:
        self._functions.require(name)
        if self._by_function.pop(name, None) is not None:
            self._store.put_function_config(name, None)

    def attach_new(self, name: str, config: CodeSigningConfig | None) -> None:
        """Record the config CreateFunction named, once the function exists."""
        if config is not None:
            self._store.put_function_config(name, config.arn)
            self._by_function[name] = config.arn

    # -- the deployment check -------------------------------------------------------
    def check_package(self, function_name: str, zip_bytes: bytes, config: CodeSigningConfig | None) -> None:
        """Check a package about to be deployed to ``function_name`` under ``config``
        (None: no check). An integrity failure is refused whatever the policy
        (InvalidCodeSignatureException); any other failure is refused under Enforce
        (CodeVerificationFailedException) and logged as a warning under Warn."""
        if config is None:
            return
        check = package.verify(zip_bytes, config.allowed_profiles, self._store.profile_key, self._now())
        if check.verdict is package.Verdict.VALID:
            return
        if check.verdict is package.Verdict.INTEGRITY:
            raise rules.InvalidCodeSignature(function_name, check.detail)
        reason = check.detail or "the package is not signed"
        if config.policy == rules.ENFORCE:
            raise rules.CodeVerificationFailed(function_name)
        log.warning(
            "SignatureValidationErrors: deploying %s under %s (Warn): %s",
            function_name,
            config.arn,
            reason,
        )

    def deployment_config(self, name: str, requested_arn: str | None = None) -> CodeSigningConfig | None:
        """The config a deployment to ``name`` is checked against: the one CreateFunction
        names (CodeSigningConfigNotFoundException if it does not exist), else the
        function's own (None: no check)."""
        if requested_arn is not None:
            return self.existing(requested_arn)
        arn = self._by_function.get(name)
        return None if arn is None else self._configs.get(arn)

    def _function_deleted(self, event: FunctionDeleted) -> None:
        if self._by_function.pop(event.name, None) is not None:
            self._store.put_function_config(event.name, None)
