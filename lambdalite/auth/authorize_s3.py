"""How an S3 request is named for authorization: the operation (found in botocore's
model by method, path and query, as the S3 front finds it), the IAM action S3's
documentation gives it (``ListObjectsV2`` is ``s3:ListBucket``, ``HeadObject``
``s3:GetObject``...), and the bucket's or object's ARN."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl

from lambdalite.http.message import HttpRequest
from lambdalite.protocol.model import load_model
from lambdalite.protocol.rest_xml import RestRoutes, split_path

__all__ = ["s3_action_and_resource"]

HOST_MARK = b".s3.localhost"
"""Virtual-hosted addressing: ``BUCKET.s3.localhost[:PORT]`` (``services.s3.front``)."""
_ACTIONS = {
    "ListBuckets": "s3:ListAllMyBuckets",
    "ListObjects": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "HeadObject": "s3:GetObject",
    "CopyObject": "s3:PutObject",
    "DeleteObjects": "s3:DeleteObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "UploadPartCopy": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "ListParts": "s3:ListMultipartUploadParts",
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}


@lru_cache(maxsize=1)
def _routes() -> RestRoutes:
    model = load_model("s3")
    return RestRoutes(model, model.operation_names)


def _segments(request: HttpRequest) -> list[str]:
    host = request.headers.get(b"host", b"")
    at = host.find(HOST_MARK)
    if at > 0:
        return [host[:at].decode("latin-1"), *split_path(b"/x" + request.raw_path)[1:]]
    return split_path(request.raw_path)


def s3_action_and_resource(request: HttpRequest) -> tuple[str, str]:
    """(``s3:<Action>``, ARN) of an S3 request; ("", "") when it names no operation
    (the S3 front then answers S3's own error)."""
    segments = _segments(request)
    query = dict(parse_qsl(request.query.decode("utf-8", "replace"), keep_blank_values=True))
    matched = _routes().match(request.method, segments, query, request.headers)
    if matched is None:
        return "", ""
    name = matched[0].name
    action = _ACTIONS.get(name, f"s3:{name}")
    if not segments:
        return action, "*"
    return action, f"arn:aws:s3:::{'/'.join(segments)}"
