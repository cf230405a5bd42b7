"""Which key the command line signs with (light: no cryptography, no server imports).

In order: ``LAMBDALITE_ACCESS_KEY_ID``/``LAMBDALITE_SECRET_ACCESS_KEY``; the administrator
key a local server wrote (``$LAMBDALITE_DATA_DIR/admin-key.json``, else ``./data/``);
None otherwise (the caller then uses boto3's own chain, or dummy credentials that a
server under ``--auth none`` accepts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import orjson

ADMIN_KEY_FILE = "admin-key.json"
ENV_KEY_ID = "LAMBDALITE_ACCESS_KEY_ID"
ENV_SECRET = "LAMBDALITE_SECRET_ACCESS_KEY"


def read_key_file(path: Path) -> tuple[str, str] | None:
    """(access key id, secret) from a key file, or None when it is missing or unreadable."""
    try:
        value = orjson.loads(path.read_bytes())
        return str(value["AccessKeyId"]), str(value["SecretAccessKey"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None


def find(environ: Mapping[str, str]) -> tuple[str, str] | None:
    key_id, secret = environ.get(ENV_KEY_ID), environ.get(ENV_SECRET)
    if key_id and secret:
        return key_id, secret
    return read_key_file(Path(environ.get("LAMBDALITE_DATA_DIR") or "data") / ADMIN_KEY_FILE)
