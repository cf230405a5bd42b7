"""S3's SigV2 query authentication: the presigned URLs boto3 still makes by default for
S3 in us-east-1 (``?AWSAccessKeyId=...&Expires=...&Signature=...``).

The string to sign is S3's: ``METHOD\\nContent-MD5\\nContent-Type\\nExpires\\n``, the
``x-amz-*`` values, then the resource (the path as sent, with the sub-resources S3 signs,
such as ``uploadId`` or ``response-content-type``). A presigning client moves the
``Content-MD5``, ``Content-Type`` and ``x-amz-*`` values it signed into the query, so
they are read from there first. The signature is base64(HMAC-SHA1(secret, string)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, unquote_plus

from lambdalite.auth.credentials import CredentialSource, Principal
from lambdalite.auth.errors import ExpiredToken, InvalidSignature, UnrecognizedClient
from lambdalite.http import HttpRequest

__all__ = ["is_sigv2_query", "verify_sigv2_query"]

SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "cors", "defaultObjectAcl", "location", "logging", "partNumber", "policy",
        "requestPayment", "torrent", "versioning", "versionId", "versions", "website", "uploads", "uploadId",
        "response-content-type", "response-content-language", "response-expires", "response-cache-control",
        "response-content-disposition", "response-content-encoding", "delete", "lifecycle", "tagging",
        "restore", "storageClass", "notification", "replication", "analytics", "metrics", "inventory",
        "select", "select-type", "object-lock",
    }
)  # fmt: skip
"""The query parameters S3's SigV2 signs as part of the resource."""


def is_sigv2_query(request: HttpRequest) -> bool:
    query = request.query
    return b"AWSAccessKeyId=" in query and b"Signature=" in query and b"Expires=" in query


def verify_sigv2_query(request: HttpRequest, credentials: CredentialSource, now: float) -> Principal:
    """The principal that presigned ``request``, or raise an AuthFailure."""
    pairs = parse_qsl(request.query.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    credential = credentials.credential(params["AWSAccessKeyId"])
    if credential is None or credential.session_token is not None:
        raise UnrecognizedClient()
    try:
        expires = int(params["Expires"])
    except ValueError as exc:
        raise InvalidSignature() from exc
    if now > expires:
        raise ExpiredToken("Request has expired")
    headers = request.headers
    amz = sorted((key.lower(), value) for key, value in params.items() if key.lower().startswith("x-amz-"))
    lines = [
        request.method,
        params.get("content-md5", headers.get(b"content-md5", b"").decode("latin-1")),
        params.get("content-type", headers.get(b"content-type", b"").decode("latin-1")),
        str(expires),
        *(f"{key}:{value}" for key, value in amz),
        _resource(request),
    ]
    string_to_sign = "\n".join(lines)
    expected = base64.b64encode(
        hmac.new(credential.secret_access_key.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    if not hmac.compare_digest(expected, params["Signature"]):
        raise InvalidSignature()
    return credential.principal


def _resource(request: HttpRequest) -> str:
    path = request.raw_path.decode("latin-1")
    host = request.headers.get(b"host", b"")
    at = host.find(b".s3.localhost")
    if at > 0:  # virtual-hosted: the resource names the bucket all the same
        path = f"/{host[:at].decode('latin-1')}{path}"
    signed = []
    for item in request.query.decode("latin-1").split("&"):
        name, eq, value = item.partition("=")
        if name in SUBRESOURCES:
            signed.append((name, f"{name}={unquote_plus(value)}" if eq else name))
    if signed:
        path += "?" + "&".join(text for _, text in sorted(signed))
    return path
