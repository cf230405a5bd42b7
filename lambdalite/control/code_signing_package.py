"""How a code package is signed for lambdalite, and how a signature is checked.

AWS Signer is not available locally, so lambdalite defines its own signed
package, with the checks AWS documents for Signer's (integrity, expiry,
mismatch with the allowed profiles):

- A **signing profile version** is an Ed25519 key pair. Its public key is
  registered under a profile version ARN shaped like Signer's,
  ``arn:aws:signer:<region>:<account>:/signing-profiles/<name>/<version>``
  (``lambdalite signing create-profile``); the private key stays with the signer.
- A **signed package** is the ordinary .zip with one more entry,
  ``SIGNATURE_ENTRY``, a JSON object::

      {"format": "lambdalite-signature-v1", "profileVersionArn": ..., "digest": <hex>,
       "signedAt": <epoch s>, "expiresAt": <epoch s>, "signature": <base64>}

  ``digest`` is the SHA-256 of the package's content (``content_digest``: every
  other entry's name and bytes, in name order), so adding the entry does not
  change what was signed and re-zipping the same files keeps the signature valid.
  ``signature`` is the profile key's Ed25519 signature over ``signed_message``,
  which binds the digest, the profile version ARN and the validity window.

``verify`` answers one ``Verdict``: a code signing config's policy decides what
a failed check does (see ``control.code_signing_registry``).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_ENTRY = ".lambdalite-signature.json"
FORMAT = "lambdalite-signature-v1"
DEFAULT_VALIDITY_S = 135 * 30 * 24 * 3600
"""Signer's default signature validity: 135 months."""
PROFILE_VERSION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):signer:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"/signing-profiles/(?P<name>[a-zA-Z0-9_]{2,64})/(?P<version>[a-zA-Z0-9]{10})$"
)


class Verdict(enum.Enum):
    """The outcome of checking a package against the allowed profiles."""

    VALID = "valid"
    UNSIGNED = "unsigned"
    """No signature entry."""
    MISMATCH = "mismatch"
    """Signed by a profile the config does not allow, or one lambdalite does not know."""
    EXPIRED = "expired"
    """The signature's validity window is over (or has not begun)."""
    INTEGRITY = "integrity"
    """The entry is malformed, the content changed since signing, or the signature
    does not verify with the profile's key."""


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    profile_version_arn: str | None = None
    detail: str = ""


def profile_arn(profile_version_arn: str) -> str:
    """The profile ARN a profile version ARN belongs to (its last path segment dropped)."""
    return profile_version_arn.rsplit("/", 1)[0]


def content_digest(zip_bytes: bytes) -> str:
    """SHA-256 (hex) over every file entry but ``SIGNATURE_ENTRY``, in name order:
    each as its name's length, name, and the SHA-256 of its bytes. Raises
    zipfile.BadZipFile for something that is not a zip."""
    outer = hashlib.sha256()
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            if info.is_dir() or info.filename == SIGNATURE_ENTRY:
                continue
            name = info.filename.encode()
            outer.update(len(name).to_bytes(4, "big") + name)
            outer.update(hashlib.sha256(archive.read(info)).digest())
    return outer.hexdigest()


def signed_message(digest: str, profile_version_arn: str, signed_at: int, expires_at: int) -> bytes:
    """The bytes the Ed25519 signature covers."""
    return f"{FORMAT}\n{profile_version_arn}\n{digest}\n{signed_at}\n{expires_at}\n".encode()


def sign(
    zip_bytes: bytes,
    private_key: Ed25519PrivateKey,
    profile_version_arn: str,
    now: float,
    validity_s: int = DEFAULT_VALIDITY_S,
) -> bytes:
    """``zip_bytes`` with a signature entry (an existing one is replaced)."""
    digest = content_digest(zip_bytes)
    signed_at = int(now)
    expires_at = signed_at + validity_s
    entry = {
        "format": FORMAT,
        "profileVersionArn": profile_version_arn,
        "digest": digest,
        "signedAt": signed_at,
        "expiresAt": expires_at,
        "signature": base64.b64encode(
            private_key.sign(signed_message(digest, profile_version_arn, signed_at, expires_at))
        ).decode(),
    }
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(zip_bytes)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if info.filename != SIGNATURE_ENTRY:
                target.writestr(info, source.read(info))
        target.writestr(SIGNATURE_ENTRY, orjson.dumps(entry, option=orjson.OPT_INDENT_2))
    return out.getvalue()


def verify(
    zip_bytes: bytes,
    allowed: tuple[str, ...],
    public_key: Callable[[str], bytes | None],
    now: float,
) -> Check:
    """Check ``zip_bytes``'s signature. ``allowed`` holds profile version ARNs or
    profile ARNs (any version of the profile then counts); ``public_key`` returns
    a profile version's registered raw public key, None when it is unknown."""
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            if SIGNATURE_ENTRY not in archive.namelist():
                return Check(Verdict.UNSIGNED)
            raw = archive.read(SIGNATURE_ENTRY)
        entry = orjson.loads(raw)
        arn = entry["profileVersionArn"]
        digest = entry["digest"]
        signed_at = int(entry["signedAt"])
        expires_at = int(entry["expiresAt"])
        signature = base64.b64decode(entry["signature"], validate=True)
        if entry.get("format") != FORMAT or not isinstance(arn, str) or not isinstance(digest, str):
            raise ValueError("unknown signature format")
    except (zipfile.BadZipFile, orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
        return Check(Verdict.INTEGRITY, detail="the signature entry is malformed")
    if digest != content_digest(zip_bytes):
        return Check(Verdict.INTEGRITY, arn, "the package was modified after it was signed")
    if arn not in allowed and profile_arn(arn) not in allowed:
        return Check(Verdict.MISMATCH, arn, "the signing profile is not an allowed publisher")
    key = public_key(arn)
    if key is None:
        return Check(Verdict.MISMATCH, arn, "the signing profile version is not registered")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(
            signature, signed_message(digest, arn, signed_at, expires_at)
        )
    except (InvalidSignature, ValueError):
        return Check(Verdict.INTEGRITY, arn, "the signature does not match the signing profile's key")
    if not signed_at <= now < expires_at:
        return Check(Verdict.EXPIRED, arn, "the signature has expired")
    return Check(Verdict.VALID, arn)


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_pem(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM; ValueError for anything else."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 private key")
    return key
