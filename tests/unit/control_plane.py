"""Registries over real SQLite stores, opened (and reopened) the way the server does,
and the values the control-plane tests share."""

from __future__ import annotations

from pathlib import Path

from lambdalite.config import Settings
from lambdalite.control import permissions
from lambdalite.control.bus import EventBus
from lambdalite.control.changes import LatestChanged, VersionPublished
from lambdalite.control.registries import Registries
from lambdalite.control.registry import FunctionRegistry
from lambdalite.control.validation import FunctionSettings
from lambdalite.models import FunctionConfig
from lambdalite.store.code import StoredCode
from lambdalite.store.stores import Stores, open_sqlite

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
SETTINGS = FunctionSettings(
    runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler"
)
CODE = StoredCode(sha256_hex="aa" * 32, size=10, unzipped_size=20)


def open_registries(db: Path, limit: int = 1000) -> tuple[Registries, Stores]:
    """Every registry over the SQLite database ``db``; close the stores when done.
    Creations and updates settle at once (see ``settle_at_once``)."""
    stores = open_sqlite(db)
    registries = Registries.build(stores, Settings(data_dir=db.parent, max_concurrency=limit))
    settle_at_once(registries.functions, registries.bus)
    return registries, stores


def settle_at_once(registry: FunctionRegistry, bus: EventBus) -> None:
    """Settle every Pending/InProgress snapshot as soon as it is announced, as the
    server's ``StateSettler`` does once the code is prepared (the call still answers
    with the Pending snapshot, as AWS does)."""

    def settle(config: FunctionConfig) -> None:
        registry.settle(config.name, config.version, config.revision_id)

    bus.subscribe(LatestChanged, lambda event: settle(event.config))
    bus.subscribe(VersionPublished, lambda event: settle(event.config))


def permission(sid: str, **members: str) -> permissions.PermissionInput:
    """An AddPermission request for SNS, with extra members (SourceArn, ...)."""
    return permissions.parse_add_permission(
        {"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com", **members}
    )
