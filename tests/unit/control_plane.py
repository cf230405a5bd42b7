"""Registries over real SQLite stores, opened (and reopened) the way the server does,
and the values the control-plane tests share."""

from __future__ import annotations

from pathlib import Path

from lambdalite.config import Settings
from lambdalite.control import permissions
from lambdalite.control.registries import Registries
from lambdalite.control.validation import FunctionSettings
from lambdalite.store.code import StoredCode
from lambdalite.store.stores import Stores, open_sqlite

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
SETTINGS = FunctionSettings(
    runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler"
)
CODE = StoredCode(sha256_hex="aa" * 32, size=10, unzipped_size=20)


def open_registries(db: Path, limit: int = 1000) -> tuple[Registries, Stores]:
    """Every registry over the SQLite database ``db``; close the stores when done."""
    stores = open_sqlite(db)
    return Registries.build(stores, Settings(data_dir=db.parent, max_concurrency=limit)), stores


def permission(sid: str, **members: str) -> permissions.PermissionInput:
    """An AddPermission request for SNS, with extra members (SourceArn, ...)."""
    return permissions.parse_add_permission(
        {"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "sns.amazonaws.com", **members}
    )
