"""Registries over real SQLite stores, opened (and reopened) the way the server does."""

from __future__ import annotations

from pathlib import Path

from lambdalite.config import Settings
from lambdalite.control.registries import Registries
from lambdalite.store.stores import Stores, open_sqlite

PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


def open_registries(db: Path, limit: int = 1000) -> tuple[Registries, Stores]:
    """Every registry over the SQLite database ``db``; close the stores when done."""
    stores = open_sqlite(db)
    return Registries.build(stores, Settings(data_dir=db.parent, max_concurrency=limit)), stores
