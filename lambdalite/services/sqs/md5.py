"""The MD5 digests SQS returns and the SDKs check (boto3 refuses an answer whose
digest does not match): of the body, and of the message (system) attributes in
SQS's binary encoding.

Attributes encoding, per attribute in name order: the name, the data type (each as a
4-byte big-endian length and UTF-8 bytes), one transport byte (1 for String and
Number, 2 for Binary) and the value (4-byte length and bytes).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from typing import Any


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type: str = value["DataType"]
        digest.update(_sized(name.encode("utf-8")))
        digest.update(_sized(data_type.encode("utf-8")))
        if data_type.startswith("Binary"):
            digest.update(b"\x02")
            digest.update(_sized(bytes(value["BinaryValue"])))
        else:
            digest.update(b"\x01")
            digest.update(_sized(str(value["StringValue"]).encode("utf-8")))
    return digest.hexdigest()


def _sized(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data
