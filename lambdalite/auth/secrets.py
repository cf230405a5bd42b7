"""Secrets at rest: AES-256-GCM with a key kept in a file only its owner can read.

``SecretBox.open(path)`` reads the key file, or creates it (0600, written once, never
replaced) when it is missing. ``seal``/``unseal`` bind each ciphertext to a context
string (the access key id), so a ciphertext moved to another row does not decrypt.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class SecretBoxError(Exception):
    """The key file is unusable, or a ciphertext does not decrypt under it."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretBoxError(f"a secret key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    @classmethod
    def open(cls, path: Path) -> SecretBox:
        """The box whose key is in ``path``, creating the file (owner-only) if it is missing.
        Refuses a key file that others may read or write."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecretBoxError(
                    f"{path} is readable or writable by others (mode {stat.filemode(mode)}): "
                    f"run `chmod 600 {path}`"
                ) from None
            return cls(path.read_bytes())
        with os.fdopen(fd, "wb") as out:
            key = secrets.token_bytes(KEY_BYTES)
            out.write(key)
            out.flush()
            os.fsync(out.fileno())
        return cls(key)

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """The box of a key an operator gives as text: base64 (or hex) of 32 bytes."""
        raw = text.strip()
        try:
            key = bytes.fromhex(raw) if len(raw) == 2 * KEY_BYTES else base64.b64decode(raw, validate=True)
        except ValueError as exc:
            raise SecretBoxError(f"the key is neither base64 nor hex of {KEY_BYTES} bytes") from exc
        return cls(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, context.encode("utf-8"))

    def unseal(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, ValueError) as exc:
            raise SecretBoxError(
                f"the secret of {context} does not decrypt with this data directory's key"
            ) from exc
