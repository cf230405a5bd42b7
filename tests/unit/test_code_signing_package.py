"""lambdalite's signed code packages: every verdict ``verify`` can give."""

from __future__ import annotations

import io
import zipfile

import orjson

from lambdalite.control import code_signing_package as package
from lambdalite.control.code_signing_package import Verdict
from tests.conftest import zip_files

ARN = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/team/AbCdEf1234"
NOW = 1_700_000_000.0
KEY = package.new_key()
KEYS = {ARN: package.public_bytes(KEY)}
CODE = zip_files({"app.py": "def handler(e, c):\n    return 1\n", "lib/util.py": "X = 1\n"})


def verdict(zip_bytes: bytes, allowed: tuple[str, ...] = (ARN,), now: float = NOW) -> Verdict:
    return package.verify(zip_bytes, allowed, KEYS.get, now).verdict


def test_a_signed_package_is_valid_for_its_version_or_its_profile() -> None:
    signed = package.sign(CODE, KEY, ARN, NOW)
    assert verdict(signed) is Verdict.VALID
    assert verdict(signed, (package.profile_arn(ARN),)) is Verdict.VALID
    # Signing twice replaces the entry rather than adding a second one.
    again = package.sign(signed, KEY, ARN, NOW)
    assert zipfile.ZipFile(io.BytesIO(again)).namelist().count(package.SIGNATURE_ENTRY) == 1


def test_the_digest_covers_content_not_zip_layout() -> None:
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("lib/util.py", "X = 1\n")
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
    assert package.content_digest(stored.getvalue()) == package.content_digest(CODE)


def test_unsigned_foreign_unknown_and_expired_signatures() -> None:
    assert verdict(CODE) is Verdict.UNSIGNED
    signed = package.sign(CODE, KEY, ARN, NOW, validity_s=60)
    other = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/other/AbCdEf1234"
    assert verdict(signed, (other,)) is Verdict.MISMATCH
    unknown = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/team/ZZZZZZZZZZ"
    assert verdict(package.sign(CODE, KEY, unknown, NOW), (unknown,)) is Verdict.MISMATCH
    assert verdict(signed, now=NOW + 61) is Verdict.EXPIRED
    assert verdict(signed, now=NOW - 1) is Verdict.EXPIRED


def test_changed_content_forged_and_malformed_signatures_fail_integrity() -> None:
    signed = package.sign(CODE, KEY, ARN, NOW)
    changed = io.BytesIO(signed)
    with zipfile.ZipFile(changed, "a") as archive:
        archive.writestr("evil.py", "import os\n")
    assert verdict(changed.getvalue()) is Verdict.INTEGRITY

    forged = package.sign(CODE, package.new_key(), ARN, NOW)
    check = package.verify(forged, (ARN,), KEYS.get, NOW)
    assert check.verdict is Verdict.INTEGRITY
    assert check.detail == "the signature does not match the signing profile's key"

    # A later expiry written into the entry breaks the signature too.
    with zipfile.ZipFile(io.BytesIO(signed)) as archive:
        entry = orjson.loads(archive.read(package.SIGNATURE_ENTRY))
    entry["expiresAt"] += 1
    assert verdict(_with_entry(CODE, orjson.dumps(entry))) is Verdict.INTEGRITY
    assert verdict(_with_entry(CODE, b"not json")) is Verdict.INTEGRITY


def _with_entry(zip_bytes: bytes, entry: bytes) -> bytes:
    out = io.BytesIO(zip_bytes)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(package.SIGNATURE_ENTRY, entry)
    return out.getvalue()
