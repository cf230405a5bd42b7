"""Lambda code from the object store: what CreateFunction, UpdateFunctionCode and
PublishLayerVersion read when they are given ``S3Bucket``/``S3Key``."""

from __future__ import annotations

from lambdalite.control.validation import S3Code
from lambdalite.errors import InvalidParameterValue
from lambdalite.store.code import ObjectStoreZip
from lambdalite.store.objects import ObjectStore

__all__ = ["code_reader"]


def _get_object_error(code: str, message: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
    )


def code_reader(store: ObjectStore) -> S3Code:
    """A ``control.validation.S3Code`` over ``store``."""

    def read(bucket: str, key: str, version: str | None) -> bytes:
        if store.bucket(bucket) is None:
            raise _get_object_error("NoSuchBucket", "The specified bucket does not exist")
        record = store.get_object(bucket, key)
        if record is None:
            raise _get_object_error("NoSuchKey", "The specified key does not exist.")
        try:
            return ObjectStoreZip(store.object_path(record).read_bytes())
        except FileNotFoundError:
            raise _get_object_error("NoSuchKey", "The specified key does not exist.") from None

    return read
