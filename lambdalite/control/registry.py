"""The function registry: the authority on which functions exist and what they are.

It keeps every function's ``$LATEST`` snapshot in memory (the invoke path reads
it without touching SQLite) and writes through to the store before a change
becomes visible. Listeners hear about every change so the data plane can
retire environments running an older revision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import MappingProxyType

from lambdalite.control.validation import FunctionSettings
from lambdalite.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from lambdalite.models import LATEST, FunctionConfig, aws_timestamp, new_revision_id
from lambdalite.store.code import StoredCode
from lambdalite.store.functions import FunctionStore

ChangeListener = Callable[[str, FunctionConfig | None], None]
"""Called with (function name, new $LATEST snapshot or None when deleted)."""

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


class FunctionRegistry:
    def __init__(self, store: FunctionStore, arn_prefix: str) -> None:
        self._store = store
        self._arn_prefix = arn_prefix
        self._latest: dict[str, FunctionConfig] = {
            config.name: config for config in store.all_versions() if config.version == LATEST
        }
        self._listeners: list[ChangeListener] = []

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def _notify(self, name: str, config: FunctionConfig | None) -> None:
        for listener in self._listeners:
            listener(name, config)

    # -- reads --------------------------------------------------------------
    def get(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """The snapshot a name (and qualifier) designates, or ResourceNotFound
        with AWS's message."""
        config = self._latest.get(name)
        if config is None or (qualifier is not None and qualifier != LATEST):
            suffix = f":{qualifier}" if qualifier is not None and config is not None else ""
            raise ResourceNotFound(f"Function not found: {self._arn_prefix}{name}{suffix}")
        return config

    def find(self, name: str) -> FunctionConfig | None:
        """The hot-path lookup: ``$LATEST`` or None, no exceptions."""
        return self._latest.get(name)

    def list(self, marker: str | None, max_items: int) -> tuple[list[FunctionConfig], str | None]:
        """Functions ordered by name, starting after ``marker`` (the last name of
        the previous page); returns the page and the next marker, if any."""
        names = sorted(self._latest)
        if marker is not None:
            names = [name for name in names if name > marker]
        page = names[:max_items]
        next_marker = page[-1] if len(names) > max_items else None
        return [self._latest[name] for name in page], next_marker

    # -- writes -------------------------------------------------------------
    def ensure_absent(self, name: str) -> None:
        """ResourceConflict when ``name`` exists: checked before expensive work."""
        if name in self._latest:
            raise ResourceConflict(f"Function already exist: {name}")

    def create(self, name: str, settings: FunctionSettings, code: StoredCode) -> FunctionConfig:
        self.ensure_absent(name)
        values = _settings_values(settings)
        config = FunctionConfig(
            name=name,
            code_sha256=code.sha256_hex,
            code_size=code.size,
            **values,  # type: ignore[arg-type]
        )
        self._commit(config)
        return config

    def update_code(self, name: str, code: StoredCode, revision_id: str | None) -> FunctionConfig:
        current = self._checked(name, revision_id)
        return self._commit(_next_revision(current, code_sha256=code.sha256_hex, code_size=code.size))

    def update_configuration(
        self, name: str, settings: FunctionSettings, revision_id: str | None
    ) -> FunctionConfig:
        current = self._checked(name, revision_id)
        return self._commit(_next_revision(current, **_settings_values(settings)))

    def delete(self, name: str) -> FunctionConfig:
        config = self.get(name)
        self._store.delete_function(name)
        del self._latest[name]
        self._notify(name, None)
        return config

    def _checked(self, name: str, revision_id: str | None) -> FunctionConfig:
        current = self.get(name)
        if revision_id is not None and revision_id != current.revision_id:
            raise PreconditionFailed(REVISION_MISMATCH)
        return current

    def _commit(self, config: FunctionConfig) -> FunctionConfig:
        self._store.put(config)  # durable first; only then visible
        self._latest[config.name] = config
        self._notify(config.name, config)
        return config


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
