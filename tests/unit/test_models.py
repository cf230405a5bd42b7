"""Value objects: AWS's formats for ids, timestamps and hashes."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid

from lambdalite.models import aws_timestamp, new_request_id, sha256_b64


def test_request_ids_are_distinct_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    for value in list(ids)[:500]:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, value)


def test_last_modified_has_awss_shape() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", aws_timestamp())


def test_code_sha256_is_base64_of_the_raw_digest() -> None:
    digest = hashlib.sha256(b"zip").hexdigest()
    assert sha256_b64(digest) == base64.b64encode(hashlib.sha256(b"zip").digest()).decode()
