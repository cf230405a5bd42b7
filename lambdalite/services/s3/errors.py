"""S3's errors, with AWS's codes, statuses and messages, and the further elements
(``BucketName``, ``Key``...) its ``<Error>`` bodies carry."""

from __future__ import annotations

from lambdalite.protocol.errors import ServiceFault

__all__ = ["S3Fault"]

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * 1024
MAX_KEY_BYTES = 1024


class S3Fault(ServiceFault):
    """An S3 error; ``details`` are the extra ``<Error>`` elements, in order."""

    def __init__(self, code: str, message: str, status: int = 400, **details: object) -> None:
        super().__init__(code, message, status)
        self.details = {name: str(value) for name, value in details.items()}


def no_such_bucket(bucket: str) -> S3Fault:
    return S3Fault("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> S3Fault:
    return S3Fault("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def already_owned(bucket: str) -> S3Fault:
    return S3Fault(
        "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you already own it.",
        409,
        BucketName=bucket,
    )


def not_empty(bucket: str) -> S3Fault:
    return S3Fault("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=bucket)


def invalid_bucket_name(bucket: str) -> S3Fault:
    return S3Fault("InvalidBucketName", "The specified bucket is not valid.", 400, BucketName=bucket)


def invalid_range(requested: str, size: int) -> S3Fault:
    return S3Fault(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested=requested,
        ActualObjectSize=size,
    )


def precondition_failed(condition: str) -> S3Fault:
    return S3Fault(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        Condition=condition,
    )


def key_too_long(size: int) -> S3Fault:
    return S3Fault("KeyTooLongError", "Your key is too long", 400, MaxSizeAllowed=MAX_KEY_BYTES, Size=size)


def entity_too_large(size: int) -> S3Fault:
    return S3Fault(
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        400,
        ProposedSize=size,
        MaxSizeAllowed=MAX_OBJECT_SIZE,
    )


def entity_too_small(size: int, number: int, etag: str) -> S3Fault:
    return S3Fault(
        "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed size",
        400,
        ProposedSize=size,
        MinSizeAllowed=MIN_PART_SIZE,
        PartNumber=number,
        ETag=etag.strip('"'),
    )


def invalid_part(upload_id: str, number: int, etag: str) -> S3Fault:
    return S3Fault(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been uploaded, "
        "or the specified entity tag may not match the part's entity tag.",
        400,
        UploadId=upload_id,
        PartNumber=number,
        ETag=etag,
    )


def invalid_part_order(upload_id: str) -> S3Fault:
    return S3Fault(
        "InvalidPartOrder",
        "The list of parts was not in ascending order. Parts must be ordered by part number.",
        400,
        UploadId=upload_id,
    )


def no_such_upload(upload_id: str) -> S3Fault:
    return S3Fault(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        UploadId=upload_id,
    )


def bad_digest(expected: str, calculated: str) -> S3Fault:
    return S3Fault(
        "BadDigest",
        "The Content-MD5 you specified did not match what we received.",
        400,
        ExpectedDigest=expected,
        CalculatedDigest=calculated,
    )


def invalid_digest(value: str) -> S3Fault:
    return S3Fault(
        "InvalidDigest", "The Content-MD5 you specified is not valid.", 400, **{"Content-MD5": value}
    )


def checksum_mismatch(algorithm: str) -> S3Fault:
    return S3Fault("BadDigest", f"The {algorithm} you specified did not match the calculated checksum.", 400)


def malformed_xml() -> S3Fault:
    return S3Fault(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
        400,
    )


def no_such_tag_set(bucket: str) -> S3Fault:
    return S3Fault("NoSuchTagSet", "The TagSet does not exist", 404, BucketName=bucket)


def invalid_argument(message: str, name: str, value: str) -> S3Fault:
    return S3Fault("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def internal_error() -> S3Fault:
    return S3Fault("InternalError", "We encountered an internal error. Please try again.", 500)


def insufficient_storage() -> S3Fault:
    """The disk is full: a 507 with nothing partial left (S3 itself never says this)."""
    return S3Fault("InsufficientStorage", "There is not enough space on the server to store the object.", 507)


def not_implemented() -> S3Fault:
    return S3Fault(
        "NotImplemented", "A header you provided implies functionality that is not implemented", 501
    )
