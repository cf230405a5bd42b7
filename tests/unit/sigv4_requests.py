"""A seeded generator of requests signed by botocore's own signers, as our HTTP layer
would hand them to a service (shared by the equivalence tests and bench/sigv4_bench.py)."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdalite.http.message import HttpRequest

SIGNED_AT = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.UTC)
KEY_ID = "AKIAEXAMPLEEXAMPLE01"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN//+=="
METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH")
SERVICES = ("lambda", "logs", "sqs", "s3")
_ODD = " !\"#$&'()*+,/:;<=>?@[\\]^`{|}~%é☃\t-_.~"
_WORD = "abcXYZ019"


@dataclass
class Case:
    request: HttpRequest
    service: str
    region: str
    token: str | None
    presigned: bool
    expires: int | None


@contextmanager
def fixed_time(when: datetime.datetime = SIGNED_AT) -> Iterator[None]:
    with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
        yield


def _text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(_ODD if rng.random() < 0.3 else _WORD) for _ in range(size))


def _path(rng: random.Random) -> str:
    segments = []
    for _ in range(rng.randint(0, 5)):
        kind = rng.random()
        if kind < 0.1:
            segments.append(rng.choice([".", "..", ""]))
        else:
            segments.append(
                quote(_text(rng, rng.randint(1, 8)), safe=rng.choice(["", "~", "-_.~", ":@!$'()*+,;="]))
            )
    path = "/" + "/".join(segments)
    if rng.random() < 0.2:
        path += "/"
    return path


def _query(rng: random.Random) -> str:
    pairs = []
    for _ in range(rng.choice([0, 0, 1, 2, 4])):
        key = _text(rng, rng.randint(1, 6)) if rng.random() < 0.8 else "k"
        value = _text(rng, rng.randint(0, 8))
        form = rng.random()
        if form < 0.1:
            pairs.append(quote(key, safe="-_.~"))  # a key without '='
        else:
            pairs.append(f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}")
    if pairs and rng.random() < 0.3:
        pairs.append(pairs[0])  # a repeated parameter
    return "&".join(pairs)


def _headers(rng: random.Random) -> list[tuple[str, str]]:
    headers = []
    for index in range(rng.randint(0, 5)):
        name = rng.choice(["X-Custom-", "x-amz-meta-", "Content-", "X-Amz-Invocation-"]) + f"H{index}"
        spaced = rng.choice([" a  b ", "\tx\t y", "plain", "", "v,w", "  lead", "trail  ", "é ünï"])
        headers.append((name, spaced))
        if rng.random() < 0.2:
            headers.append(
                (name.upper() if rng.random() < 0.5 else name, rng.choice(["again", " two  spaces "]))
            )
    return headers


def generate(rng: random.Random) -> Case:
    """One request, signed by botocore as a client would sign it."""
    service = rng.choice(SERVICES)
    region = rng.choice(["us-east-1", "eu-west-3", "ap-southeast-2"])
    method = rng.choice(METHODS)
    scheme = "https" if rng.random() < 0.3 else "http"
    port = rng.choice(["", ":9001", ":443"])
    query = _query(rng)
    url = f"{scheme}://lambdalite.test{port}{_path(rng)}" + (f"?{query}" if query else "")
    presigned = rng.random() < 0.3
    body: bytes | dict[str, str] = b""
    if presigned:
        # a presigner moves form parameters (query protocol) into the URL
        body = {_text(rng, 4): _text(rng, 6)} if rng.random() < 0.3 else b""
    elif method not in {"GET", "HEAD"}:
        body = rng.randbytes(rng.choice([0, 0, 3, 200]))
    request = AWSRequest(method=method, url=url, data=body)
    for name, value in _headers(rng):
        request.headers[name] = value  # assignment appends: a name may repeat
    if rng.random() < 0.15:
        request.headers["Date"] = "Thu, 01 Jan 1970 00:00:00 GMT"  # botocore then signs with Date
    if rng.random() < 0.2:
        request.context["payload_signing_enabled"] = False
    token = TOKEN if rng.random() < 0.2 else None
    credentials = Credentials(KEY_ID, SECRET, token)
    expires: int | None = None
    signer: Any
    if presigned:
        expires = rng.choice([1, 60, 3600, 604800])
        signer_class = S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth
        signer = signer_class(credentials, service, region, expires=expires)
    else:
        signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(credentials, service, region)
    with fixed_time():
        signer.add_auth(request)
    return Case(as_received(request), service, region, token, presigned, expires)


def as_received(request: AWSRequest) -> HttpRequest:
    """``request`` as our HTTP layer hands it to a service: lower-cased names, the last
    value of a repeated header in ``headers`` and the earlier ones in ``repeated``."""
    parts = urlsplit(request.url)
    headers: dict[bytes, bytes] = {}
    repeated: list[tuple[bytes, bytes]] = []
    for name, value in request.headers.items():
        key = name.lower().encode("latin-1")
        raw = value.encode("latin-1") if isinstance(value, str) else value
        if key in headers:
            repeated.append((key, headers[key]))
        headers[key] = raw
    if b"host" not in headers:
        default = {"http": 80, "https": 443}[parts.scheme]
        host = parts.hostname or ""
        headers[b"host"] = (host if parts.port in (None, default) else f"{host}:{parts.port}").encode()
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(
        method=request.method,
        path=parts.path,
        query=parts.query.encode("latin-1"),
        headers=headers,
        body=body,
        body_size=len(body),
        raw_path=(parts.path or "/").encode("latin-1"),
        repeated=repeated or None,
    )
