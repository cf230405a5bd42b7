"""The access keys a server accepts: stored ones (encrypted at rest) and the one the
operator may give in the environment. ``AccessKeys`` is the verifier's ``CredentialSource``:
it holds every active key in memory, so a verification never touches the database.

On a server's first start under ``--auth sigv4`` an administrator key is created and
written, owner-only, to ``<data-dir>/admin-key.json`` (``ensure_admin_key``), unless
``LAMBDALITE_ACCESS_KEY_ID`` and ``LAMBDALITE_SECRET_ACCESS_KEY`` give one.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from lambdalite.auth.client_credentials import ADMIN_KEY_FILE, ENV_KEY_ID, ENV_SECRET, read_key_file
from lambdalite.auth.credentials import Credential, Principal
from lambdalite.auth.secrets import SecretBox
from lambdalite.store.access_keys import AccessKeyStore, StoredKey

__all__ = ["ADMIN_KEY_FILE", "ENV_KEY_ID", "ENV_SECRET", "AccessKeys", "ensure_admin_key", "read_key_file"]

ADMIN_USER = "admin"
USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed: everything but the secret."""

    access_key_id: str
    user_name: str
    created_at: float
    from_environment: bool = False


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: the only time its secret is shown."""

    access_key_id: str
    secret_access_key: str
    user_name: str
    created_at: float


class KeyNotFound(Exception):
    pass


class KeyNotDeletable(Exception):
    pass


class AccessKeys:
    """Create, list and delete access keys; answer ``credential(id)`` from memory."""

    def __init__(
        self,
        store: AccessKeyStore,
        box: SecretBox,
        account_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._box = box
        self._account_id = account_id
        self._clock = clock
        self._active: dict[str, Credential] = {}
        self._info: dict[str, KeyInfo] = {}
        for stored in store.all_keys():
            secret = box.unseal(stored.encrypted_secret, stored.access_key_id).decode("utf-8")
            self._remember(stored.access_key_id, secret, stored.user_name, stored.created_at, False)

    def credential(self, access_key_id: str) -> Credential | None:
        return self._active.get(access_key_id)

    def create(self, user_name: str = ADMIN_USER) -> NewKey:
        """A new key for ``user_name``, stored (secret sealed) before it is returned."""
        if not USER_NAME.match(user_name):
            raise ValueError(f"invalid user name {user_name!r}")
        access_key_id = "AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)
        created = self._clock()
        sealed = self._box.seal(secret.encode("utf-8"), access_key_id)
        self._store.put_key(StoredKey(access_key_id, user_name, sealed, created))
        self._remember(access_key_id, secret, user_name, created, False)
        return NewKey(access_key_id, secret, user_name, created)

    def add_environment_key(self, access_key_id: str, secret: str) -> None:
        """Accept the operator's key (held in memory only, never stored)."""
        self._remember(access_key_id, secret, ADMIN_USER, self._clock(), True)

    def delete(self, access_key_id: str) -> None:
        info = self._info.get(access_key_id)
        if info is None:
            raise KeyNotFound(access_key_id)
        if info.from_environment:
            raise KeyNotDeletable(access_key_id)
        self._store.delete_key(access_key_id)
        del self._active[access_key_id], self._info[access_key_id]

    def list(self) -> list[KeyInfo]:
        return sorted(self._info.values(), key=lambda info: (info.created_at, info.access_key_id))

    def _remember(self, access_key_id: str, secret: str, user: str, created: float, from_env: bool) -> None:
        principal = Principal(f"arn:aws:iam::{self._account_id}:user/{user}", self._account_id, access_key_id)
        self._active[access_key_id] = Credential(access_key_id, secret, principal)
        self._info[access_key_id] = KeyInfo(access_key_id, user, created, from_env)


def ensure_admin_key(keys: AccessKeys, data_dir: Path, environ: Mapping[str, str]) -> str:
    """Make sure an administrator key exists; return one line saying where it is.

    The environment's key when both variables are set; else the key recorded in
    ``admin-key.json`` when it is still active; else a new key written there (0600)."""
    key_id, secret = environ.get(ENV_KEY_ID), environ.get(ENV_SECRET)
    if key_id and secret:
        keys.add_environment_key(key_id, secret)
        return f"admin access key: {key_id} (from {ENV_KEY_ID})"
    path = data_dir / ADMIN_KEY_FILE
    recorded = read_key_file(path)
    if recorded is not None and keys.credential(recorded[0]) is not None:
        return f"admin access key: {recorded[0]} (in {path})"
    new = keys.create(ADMIN_USER)
    write_key_file(path, new.access_key_id, new.secret_access_key)
    return f"created an admin access key {new.access_key_id}; written to {path} (readable only by you)"


def write_key_file(path: Path, access_key_id: str, secret: str) -> None:
    """Write the key, owner-only, replacing any previous file atomically."""
    body = orjson.dumps(
        {"AccessKeyId": access_key_id, "SecretAccessKey": secret, "UserName": ADMIN_USER},
        option=orjson.OPT_INDENT_2,
    )
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(body + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
