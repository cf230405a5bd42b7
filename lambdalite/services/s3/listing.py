"""Listing a bucket as S3 does: keys in UTF-8 byte order, rolled up into common
prefixes at a delimiter, in pages of ``max_keys`` entries (a key or a prefix each)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from lambdalite.services.s3 import errors
from lambdalite.store.objects import ObjectRecord, ObjectStore

__all__ = ["Page", "decode_token", "encode_token", "list_page"]

_PAST = "\U0010ffff"
"""Appended to a common prefix: a cursor past every key that starts with it."""


@dataclass(slots=True)
class Page:
    objects: list[ObjectRecord] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str = ""
    """The last key or common prefix of the page (S3's NextMarker)."""
    cursor: str = ""
    """Where the next page starts (after this)."""


def list_page(
    store: ObjectStore, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Page:
    page = Page()
    cursor = after
    if (
        delimiter
        and after.startswith(prefix)
        and after.endswith(delimiter)
        and delimiter in after[len(prefix) :]
    ):
        cursor = after + _PAST
    count = 0
    while True:
        batch = store.list_objects(bucket, prefix, cursor, max(max_keys - count + 1, 1) + 16)
        if not batch:
            return page
        for record in batch:
            rolled = None
            if delimiter:
                at = record.key.find(delimiter, len(prefix))
                if at >= 0:
                    rolled = record.key[: at + len(delimiter)]
            if count >= max_keys:
                page.truncated = True
                return page
            if rolled is not None:
                page.prefixes.append(rolled)
                page.last = rolled
                cursor = page.cursor = rolled + _PAST
                count += 1
                break  # fetch again past the prefix
            page.objects.append(record)
            page.last = cursor = page.cursor = record.key
            count += 1


def encode_token(cursor: str) -> str:
    return base64.urlsafe_b64encode(cursor.encode()).decode()


def decode_token(token: str) -> str:
    try:
        cursor = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
        if not cursor:
            raise ValueError("an empty cursor")
        return cursor
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise errors.invalid_argument(
            "The continuation token provided is incorrect", "continuation-token", token
        ) from exc
