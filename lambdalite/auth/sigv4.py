"""AWS Signature Version 4, verified: ``Verifier.verify(request) -> Principal``.

Both forms AWS accepts: the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
Signature=...`` header, and presigned URLs (``X-Amz-Algorithm``, ``X-Amz-Credential``,
``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature`` in the query).
The canonical request is built from the request as it arrived, exactly as botocore's
``SigV4Auth``/``SigV4QueryAuth`` build it on the client's side:

- the path as sent, dot segments and empty segments removed, then percent-encoded once
  more (``safe='/~'``); S3 signs the path as sent (no normalising, no second encoding);
- the query's pairs decoded and re-encoded (``safe='-_.~'``), sorted by key then value;
- each signed header's values, whitespace runs folded to one space, repeats joined by ``,``;
- the payload hash: ``x-amz-content-sha256`` when the client sent it (``UNSIGNED-PAYLOAD``,
  or the body's SHA-256, which is checked against the body), else the body's SHA-256.

A request signed longer ago (or further ahead) than its service allows (5 minutes; S3 15) is
refused, as is a presigned URL past ``X-Amz-Expires``. Derived signing keys are cached per
(key, secret, date, region, service), and the warm path keeps one entry per Authorization
scope part (``_Bound``: the prepared canonical request, the key, its HMAC states), used
only while the credential source answers that same key; so a verification costs two
SHA-256 digests and one HMAC of short strings, every time. Every refusal is an
``AuthFailure`` carrying AWS's code and text.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import operator
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_tz
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from lambdalite.auth.credentials import Credential, CredentialSource, Principal
from lambdalite.auth.errors import (
    AuthFailure,
    ExpiredToken,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    WrongRegion,
)
from lambdalite.auth.sigv2_query import is_sigv2_query, verify_sigv2_query
from lambdalite.http.message import HttpRequest

__all__ = [
    "ALGORITHM",
    "SKEW_S",
    "Scope",
    "SignedParts",
    "Verifier",
    "canonical_path",
    "canonical_query",
    "scope_of",
]

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DEFAULT_SKEW_S = 300
SKEW_S = {"s3": 900}
"""How far a signature's time may be from the server's, per service (AWS: 5 minutes, S3 15)."""
MAX_EXPIRES_S = 604_800
RAW_PATH_SERVICES = frozenset({"s3", "s3-object-lambda"})
"""Services whose canonical path is the path as sent (botocore's ``S3SigV4Auth``)."""
UNSIGNED_PRESIGN_SERVICES = frozenset({"s3", "s3-object-lambda"})
"""Services whose presigned URLs sign ``UNSIGNED-PAYLOAD`` instead of the body's hash."""
GLOBAL_SERVICES = frozenset({"iam", "sts"})
"""Services whose global endpoint AWS signs in ``GLOBAL_REGION`` whatever the caller's region."""
GLOBAL_REGION = "us-east-1"
_SIGNING_KEYS_MAX = 4096
_BOUND_MAX = 1024
_TIMES_MAX = 64
_PATHS_MAX = 256
_SHA256 = hashlib.sha256()
"""Copied rather than constructed: a copy skips OpenSSL's digest lookup (about half the cost
of hashing a short string)."""
EMPTY_SHA256 = _SHA256.hexdigest()
SMALL_HASH_BYTES = 1024
"""The warm path hashes up to this many bytes with CPython's own SHA-256, OpenSSL's above:
measured inside the server (caches cold between requests), CPython's hashed a 2-byte body
in 3.2 us against OpenSSL 3's 4.9, and a 176-byte canonical request in 1.3 against 1.7
(OpenSSL's setup and copies cost more than its faster rounds save; a warm loop says the
opposite). The HMAC's keyed states are CPython's too (one SHA-256 implementation's code in
the caches instead of two): with them and ``_Bound``, the warm path's median in the server
under 16 clients went from 21.2 to 15.4 us (same run, a loaded machine)."""
try:
    from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found]
except ImportError:  # a Python built without its own SHA-256
    _builtin_sha256 = hashlib.sha256
_SHA256_BLOCK = 64
_PAD_INNER = bytes(x ^ 0x36 for x in range(256))
_PAD_OUTER = bytes(x ^ 0x5C for x in range(256))
_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """A signature's credential scope and signed headers: the part of a signature that a
    client repeats from request to request (only its time and signature change), so it
    is parsed and checked once (``scope_of``) and reused."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: str
    """As sent: lower-case names joined by ``;``."""
    text: str
    """``DATE/REGION/SERVICE/aws4_request``, as the string to sign holds it."""
    names: tuple[tuple[str, bytes], ...]
    """Each signed header's name, and its key in ``HttpRequest.headers``."""
    path_as_sent: bool
    """The canonical path is the path as sent (S3)."""
    skew_s: int


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What a request claims about its signature, parsed but not yet checked."""

    scope: Scope
    signature: str
    timestamp: str
    """The signing time, ISO 8601 basic (``20260101T120000Z``)."""
    signed_at: int
    """``timestamp`` in epoch seconds."""
    presigned: bool = False
    expires_s: int | None = None
    security_token: str | None = None
    query: tuple[tuple[bytes, bytes], ...] = ()
    """A presigned URL's decoded query pairs without ``X-Amz-Signature``."""


class Verifier:
    """Checks SigV4 signatures against the keys of a ``CredentialSource``.

    ``clock`` returns epoch seconds (``time.time`` unless a test fakes it).
    """

    def __init__(
        self, credentials: CredentialSource, clock: Callable[[], float] = time.time, region: str | None = None
    ) -> None:
        """``region``: the server's; a signature scoped to another is refused (WrongRegion),
        except ``us-east-1`` for IAM and STS, whose global endpoints AWS signs there.
        None accepts any region."""
        self._credentials = credentials
        self._clock = clock
        self._region = region
        self._credential = credentials.credential
        self._signing_keys: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._bound: dict[bytes, _Bound] = {}

    def verify(self, request: HttpRequest, services: Collection[str] = ()) -> Principal:
        """The principal that signed ``request``, or raise an ``AuthFailure``.
        ``services``: the credential-scope service names the receiving service answers
        to (empty: any).

        The warm path, here, is for the request almost every SDK sends: an Authorization
        header whose scope part (before ``Signature=``) was seen before, ``X-Amz-Date``,
        a long-term key, no repeated headers, the body's own hash, ASCII signed values
        that need no folding. It makes the same checks as the long way (``_verify_long``)
        in one pass, on bytes: one dict lookup finds the scope's ``_Bound`` entry (the
        prepared canonical request and string to sign, the key and its derived signing
        key); the key is looked up again (a deleted key verifies nobody) and must be the
        entry's; then the time, the signed values, and the HMAC of this request's
        canonical request. Any other shape, and any failed check, goes the long way,
        which says what is wrong. Inside the server each Python call on this path costs
        several times what it costs in a loop (caches are cold after the function's round
        trip), so it is written out here without helpers."""
        headers = request.headers
        authorization = headers.get(b"authorization")
        amz_date = headers.get(b"x-amz-date")
        if (
            authorization is not None
            and amz_date is not None
            and request.repeated is None
            and b"x-amz-security-token" not in headers
            and b"x-amz-content-sha256" not in headers
        ):
            head, _, signature = authorization.rpartition(b"Signature=")
            bound = self._bound.get(head)
            if bound is None or self._credential(bound.access_key_id) is not bound.credential:
                bound = self._bind(head)  # a new scope, or its key was deleted or replaced
            if bound is not None and (not services or bound.service in services):
                signed = bound.times.get(amz_date)
                if signed is None:
                    signed = bound.time(amz_date)
                now = self._clock()
                try:
                    values = bound.values(headers)
                except KeyError:
                    values = None  # a signed header the request lacks: the long way signs it empty
                if (
                    signed is not None
                    and now - bound.skew_s <= signed[0] <= now + bound.skew_s
                    and values is not None
                    and bound.plain.fullmatch(b"\n".join(values)) is not None
                ):
                    body = request.body
                    path = bound.paths.get(request.raw_path)
                    if path is None or path[0] != request.method or path[1] != request.query:
                        path = bound.path(request.method, request.raw_path, request.query)
                    canonical = path[2] % (
                        *values,
                        (_builtin_sha256 if len(body) <= SMALL_HASH_BYTES else hashlib.sha256)(body)
                        .hexdigest()
                        .encode(),
                    )
                    inner = signed[1].copy()
                    inner.update(_builtin_sha256(canonical).hexdigest().encode())
                    outer = bound.outer.copy()
                    outer.update(inner.digest())
                    if hmac.compare_digest(outer.hexdigest().encode(), signature):
                        return bound.principal
        return self._verify_long(request, services)

    def _bind(self, head: bytes) -> _Bound | None:
        """The warm path's entry for an Authorization header's part before ``Signature=``
        (kept in ``_bound``), or None (none kept) when the warm path cannot take it: not
        the usual shape (``_usual_form``), another region, an unknown key, or temporary
        credentials (their token is checked the long way)."""
        self._bound.pop(head, None)
        form = _usual_form(head)
        if form is None or not self._in_region(form.scope):
            return None
        scope = form.scope
        credential = self._credential(scope.access_key_id)
        if credential is None or credential.session_token is not None:
            return None
        inner, outer = self._signing_key(credential, scope)
        bound = _Bound(
            scope.access_key_id,
            credential,
            credential.principal,
            scope.service,
            form.date,
            float(scope.skew_s),
            scope.path_as_sent,
            form.values,
            form.plain,
            form.template,
            form.to_sign,
            inner,
            outer,
        )
        if len(self._bound) >= _BOUND_MAX:
            self._bound.clear()  # heads are the callers': bounded, and a full clear is rare
        self._bound[head] = bound
        return bound

    def _verify_long(self, request: HttpRequest, services: Collection[str]) -> Principal:
        """``verify`` for every request, step by step, each refusal with AWS's words."""
        if (not services or "s3" in services) and is_sigv2_query(request):
            return verify_sigv2_query(request, self._credentials, self._clock())
        parts = parse(request)
        if services and parts.scope.service not in services:
            expected = next(iter(services))
            raise InvalidSignature(f"Credential should be scoped to correct service: '{expected}'. ")
        if not self._in_region(parts.scope):
            assert self._region is not None
            raise WrongRegion(parts.scope.region, self._region, parts.presigned)
        credential = self._credentials.credential(parts.scope.access_key_id)
        if credential is None:
            raise UnrecognizedClient()
        now = self._clock()
        _check_token(credential, parts.security_token, now)
        _check_time(parts, now)
        payload = _payload_hash(request, parts)
        if self._matches(request, parts, credential, payload):
            return credential.principal
        # A presigned URL commits to no body: a client may have signed UNSIGNED-PAYLOAD
        # (botocore does over HTTPS when payload signing is off) instead of the body's hash.
        if (
            parts.presigned
            and payload != UNSIGNED_PAYLOAD
            and self._matches(request, parts, credential, UNSIGNED_PAYLOAD)
        ):
            return credential.principal
        raise InvalidSignature()

    def _in_region(self, scope: Scope) -> bool:
        region = self._region
        return (
            region is None
            or scope.region == region
            or (scope.region == GLOBAL_REGION and scope.service in GLOBAL_SERVICES)
        )

    def _matches(
        self, request: HttpRequest, parts: SignedParts, credential: Credential, payload: str
    ) -> bool:
        query = canonical_query(parts.query) if parts.presigned else canonical_query_bytes(request.query)
        canonical = canonical_request(request, parts.scope, query, payload)
        return hmac.compare_digest(
            self.signature(credential, parts.scope, parts.timestamp, canonical), parts.signature
        )

    def signature(self, credential: Credential, scope: Scope, timestamp: str, canonical: str) -> str:
        """The hex signature of the canonical request ``canonical`` signed at ``timestamp``."""
        string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope.text}\n{sha256_hex(canonical.encode('utf-8'))}"
        inner, outer = self._signing_key(credential, scope)
        inner = inner.copy()
        inner.update(string_to_sign.encode("utf-8"))
        outer = outer.copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())

    def _signing_key(self, credential: Credential, scope: Scope) -> tuple[Any, Any]:
        """HMAC-SHA256 under the derived signing key, as its two keyed SHA-256 states
        (RFC 2104's inner and outer pads, CPython's own SHA-256: ``SMALL_HASH_BYTES``),
        copied for each signature: no re-keying and no digest lookup per request."""
        cache_key = (credential.access_key_id, credential.secret_access_key, scope.text)
        key = self._signing_keys.get(cache_key)
        if key is None:
            derived = derive_signing_key(
                credential.secret_access_key, scope.date, scope.region, scope.service
            )
            block = derived.ljust(_SHA256_BLOCK, b"\0")  # a derived key (32 bytes) is shorter than a block
            key = (_builtin_sha256(block.translate(_PAD_INNER)), _builtin_sha256(block.translate(_PAD_OUTER)))
            if len(self._signing_keys) >= _SIGNING_KEYS_MAX:
                self._signing_keys.clear()  # days roll over; a full clear is rare and cheap
            self._signing_keys[cache_key] = key
        return key


def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode("utf-8"), "sha256")
    key = hmac.digest(key, region.encode("utf-8"), "sha256")
    key = hmac.digest(key, service.encode("utf-8"), "sha256")
    return hmac.digest(key, b"aws4_request", "sha256")


# ---- parsing --------------------------------------------------------------------------


def parse(request: HttpRequest) -> SignedParts:
    """The signature a request carries (header or presigned query); raises
    MissingAuthenticationToken when it carries none, IncompleteSignature when one is malformed."""
    authorization = request.headers.get(b"authorization")
    if authorization is not None:
        return _parse_header(request, authorization.decode("latin-1"))
    if b"X-Amz-" in request.query:
        pairs = query_pairs(request.query)
        if any(key == b"X-Amz-Signature" or key == b"X-Amz-Credential" for key, _ in pairs):
            return _parse_presigned(request, pairs)
    raise MissingAuthenticationToken()


def _parse_header(request: HttpRequest, raw: str) -> SignedParts:
    token = request.headers.get(b"x-amz-security-token")
    security_token = None if token is None else token.decode("latin-1")
    # The usual case: a client's Credential and SignedHeaders repeat from request to request
    # (only the signature changes), so their parse is cached.
    head, found, signature = raw.rpartition("Signature=")
    if found and signature and "," not in signature:
        usual = _usual_scope(head)
        timestamp = _request_timestamp(request)
        if usual is not None and timestamp is not None:
            return _signed(usual, timestamp, signature.strip(), security_token=security_token)
    params = _authorization_params(raw)
    timestamp = _request_timestamp(request)
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in params
    ]
    if timestamp is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise IncompleteSignature(f"{' '.join(missing)} Authorization={raw}")
    assert timestamp is not None
    scope = scope_of(params["Credential"], params["SignedHeaders"])
    return _signed(scope, timestamp, params["Signature"], security_token=security_token)


def _authorization_params(raw: str) -> dict[str, str]:
    """The ``name=value`` pairs of an ``AWS4-HMAC-SHA256`` Authorization header (none for
    another scheme); IncompleteSignature for a pair without ``=``."""
    scheme, _, rest = raw.partition(" ")
    params: dict[str, str] = {}
    if scheme == ALGORITHM:
        for item in rest.split(","):
            item = item.strip()
            if not item:
                continue
            name, equals, value = item.partition("=")
            if not equals:
                raise IncompleteSignature(
                    f"'{item}' not a valid key=value pair (missing equal-sign) "
                    f"in Authorization header: '{raw}'."
                )
            params[name] = value
    return params


@lru_cache(maxsize=512)
def _usual_scope(head: str) -> Scope | None:
    """The scope of an Authorization header's part before ``Signature=`` when it holds
    exactly Credential and SignedHeaders, well formed; None sends the header the long
    way (which says what is wrong)."""
    try:
        params = _authorization_params(head)
        if params.keys() != {"Credential", "SignedHeaders"}:
            return None
        return scope_of(params["Credential"], params["SignedHeaders"])
    except AuthFailure:
        return None


@dataclass(frozen=True, slots=True)
class _UsualForm:
    """An Authorization header's scope part (before ``Signature=``), prepared for the
    warm path: a client repeats it from request to request."""

    scope: Scope
    date: bytes
    """The scope's date, to compare with ``X-Amz-Date``'s first 8 bytes."""
    values: Callable[[Mapping[bytes, bytes]], tuple[bytes, ...]]
    """The signed headers' values from ``HttpRequest.headers``, in signing order, in one
    C call (``operator.itemgetter``); raises KeyError when one is missing."""
    plain: re.Pattern[bytes]
    """Matches those values joined by newlines when each is printable ASCII that
    ``_trimmed`` leaves as it is (no whitespace but single inner spaces, no newline):
    then each is its own canonical form."""
    template: bytes
    """The canonical request with ``%s`` for its first three lines (``_canonical_head``),
    each signed header's value and the payload hash; it starts with ``%s\n``."""
    to_sign: bytes
    """The string to sign up to the canonical request's hash, with ``%s`` for the signing time."""


@dataclass(frozen=True, slots=True)
class _Bound:
    """The warm path's entry for one Authorization scope part: its ``_UsualForm``
    flattened (one attribute load each) with the key it names as the credential source
    answered when the entry was made, and that key's HMAC states under the derived
    signing key. Used only while the source still answers that same ``Credential``."""

    access_key_id: str
    credential: Credential
    principal: Principal
    service: str
    date: bytes
    skew_s: float
    path_as_sent: bool
    values: Callable[[Mapping[bytes, bytes]], tuple[bytes, ...]]
    plain: re.Pattern[bytes]
    template: bytes
    to_sign: bytes
    inner: Any
    outer: Any
    paths: dict[bytes, tuple[str, bytes, bytes]] = field(default_factory=dict)
    """Per path as sent: (method, query, ``template`` with its first three lines filled
    in), the last seen of each (a client calls the same few operations over and over)."""
    times: dict[bytes, tuple[float, Any]] = field(default_factory=dict)
    """Per ``X-Amz-Date`` as sent (``time``): the signing time, and the HMAC's inner
    state with the string to sign absorbed up to the canonical request's hash (its
    algorithm, time and scope lines: the same for every request signed in that second)."""

    def path(self, method: str, raw_path: bytes, query: bytes) -> tuple[str, bytes, bytes]:
        """``paths``' entry for this request's method, path and query, made and kept."""
        head = _canonical_head(method, raw_path, query, self.path_as_sent).replace(b"%", b"%%")
        found = self.paths[raw_path] = (method, query, head + self.template[2:])
        if len(self.paths) > _PATHS_MAX:
            self.paths.clear()  # paths are the callers': bounded, and a full clear is rare
        return found

    def time(self, amz_date: bytes) -> tuple[float, Any] | None:
        """``times``' entry for an ``X-Amz-Date``, made and kept; None when it is not of
        this scope's day or not a time. A float: the warm path compares it with the clock's
        float and a float skew (CPython's fast comparison; the mixed int-float one measured
        1.2 against 0.6 us in the server). Epoch seconds are exact in a float."""
        epoch = _epoch(amz_date.decode("latin-1")) if amz_date[:8] == self.date else None
        if epoch is None:
            return None
        inner = self.inner.copy()
        inner.update(self.to_sign % amz_date)
        if len(self.times) >= _TIMES_MAX:
            self.times.clear()  # one entry per second signed in: a clear now and then
        found = self.times[amz_date] = (float(epoch), inner)
        return found


@lru_cache(maxsize=512)
def _usual_form(head: bytes) -> _UsualForm | None:
    """The prepared form of an Authorization header's part before ``Signature=``, or
    None when ``_usual_scope`` refuses it or it is not ASCII (then the long way
    encodes it exactly as the client did)."""
    if not head.isascii():
        return None
    scope = _usual_scope(head.decode("ascii"))
    if scope is None:
        return None

    def literal(text: str) -> bytes:
        return text.encode("ascii").replace(b"%", b"%%")

    lines = b"".join(literal(name) + b":%s\n" for name, _ in scope.names)
    keys = tuple(key for _, key in scope.names)
    return _UsualForm(
        scope,
        scope.date.encode("ascii"),
        _values_getter(keys),
        _plain_values(len(keys)),
        b"%s\n" + lines + b"\n" + literal(scope.signed_headers) + b"\n%s",
        literal(f"{ALGORITHM}\n") + b"%s\n" + literal(scope.text) + b"\n",
    )


def _values_getter(keys: tuple[bytes, ...]) -> Callable[[Mapping[bytes, bytes]], tuple[bytes, ...]]:
    """``headers -> (headers[key] for key in keys)`` as one C call; a tuple even for one key
    (``itemgetter`` of one key answers the value itself)."""
    if len(keys) == 1:
        (key,) = keys

        def one(headers: Mapping[bytes, bytes]) -> tuple[bytes, ...]:
            return (headers[key],)

        return one
    getter: Callable[[Mapping[bytes, bytes]], tuple[bytes, ...]] = operator.itemgetter(*keys)
    return getter


_PLAIN_VALUE = rb"(?:[!-~]++(?: [!-~]++)*+)?+"
"""A header value ``_trimmed`` leaves as it is: printable ASCII words separated by single
spaces (possessive: the match never backtracks). Stricter than necessary (a control
character needs no folding either): what it refuses goes the long way, which is exact."""


@lru_cache(maxsize=64)
def _plain_values(count: int) -> re.Pattern[bytes]:
    """``_PLAIN_VALUE`` for ``count`` values joined by newlines."""
    return re.compile(_PLAIN_VALUE + rb"(?:\n" + _PLAIN_VALUE + rb")" + b"{%d}" % (count - 1))


@lru_cache(maxsize=1024)
def _canonical_head(method: str, raw_path: bytes, query: bytes, as_sent: bool) -> bytes:
    """The canonical request's first three lines (method, path, query) without the last
    newline, in one cached call: a client calls the same few operations over and over,
    and inside the server each call on this path costs a microsecond (caches are cold
    after the function's round trip)."""
    path = canonical_path(raw_path, as_sent)
    return f"{method.upper()}\n{path}\n{canonical_query_bytes(query)}".encode()


def _parse_presigned(request: HttpRequest, pairs: list[tuple[bytes, bytes]]) -> SignedParts:
    params = {key.decode("latin-1"): value.decode("latin-1") for key, value in pairs}
    for name in _PRESIGN_PARAMS:
        if name not in params:
            raise IncompleteSignature(
                f"AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
            )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignature(
            f"X-Amz-Algorithm only supports '{ALGORITHM}', not '{params['X-Amz-Algorithm']}'."
        )
    timestamp = params["X-Amz-Date"]
    if _epoch(timestamp) is None:
        raise IncompleteSignature(
            f"X-Amz-Date must be in the ISO8601 Long Format (yyyyMMdd'T'HHmmss'Z'), got '{timestamp}'."
        )
    expires: int | None = None
    if "X-Amz-Expires" in params:
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise IncompleteSignature("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise IncompleteSignature("X-Amz-Expires must be non-negative")
        if expires > MAX_EXPIRES_S:
            raise IncompleteSignature(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_S}"
            )
    return _signed(
        scope_of(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"]),
        timestamp,
        params["X-Amz-Signature"],
        presigned=True,
        expires_s=expires,
        security_token=params.get("X-Amz-Security-Token"),
        query=tuple(pair for pair in pairs if pair[0] != b"X-Amz-Signature"),
    )


def _signed(
    scope: Scope,
    timestamp: str,
    signature: str,
    *,
    presigned: bool = False,
    expires_s: int | None = None,
    security_token: str | None = None,
    query: tuple[tuple[bytes, bytes], ...] = (),
) -> SignedParts:
    if scope.date != timestamp[:8]:
        raise InvalidSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    signed_at = _epoch(timestamp)
    assert signed_at is not None  # the caller checked its form
    return SignedParts(scope, signature, timestamp, signed_at, presigned, expires_s, security_token, query)


@lru_cache(maxsize=512)
def scope_of(credential: str, signed_headers: str) -> Scope:
    """The checked scope of ``Credential=...`` and ``SignedHeaders=...``; raises
    IncompleteSignature or InvalidSignature with AWS's text."""
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignature(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise InvalidSignature(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )
    names = tuple((name, name.encode("latin-1")) for name in signed_headers.split(";"))
    if not any(name == "host" for name, _ in names):
        raise IncompleteSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return Scope(
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        credential.partition("/")[2],
        names,
        service in RAW_PATH_SERVICES,
        SKEW_S.get(service, DEFAULT_SKEW_S),
    )


def _request_timestamp(request: HttpRequest) -> str | None:
    """The signing time, from ``X-Amz-Date`` or else ``Date`` (as botocore picks it), ISO basic."""
    amz_date = request.headers.get(b"x-amz-date")
    if amz_date is not None:
        text = amz_date.decode("latin-1")
        return text if _epoch(text) is not None else None
    date = request.headers.get(b"date")
    if date is None:
        return None
    parsed = parsedate_tz(date.decode("latin-1"))
    if parsed is None:
        return None
    epoch = calendar.timegm((*parsed[:6], 0, 0, 0)) - (parsed[9] or 0)
    return _iso(epoch)


@lru_cache(maxsize=64)
def _epoch(timestamp: str) -> int | None:
    """``20260101T120000Z`` -> epoch seconds; None when it is not that form."""
    if len(timestamp) != 16 or timestamp[8] != "T" or timestamp[15] != "Z":
        return None
    digits = timestamp[:8] + timestamp[9:15]
    if not digits.isascii() or not digits.isdigit():
        return None
    fields = (
        int(digits[0:4]),
        int(digits[4:6]),
        int(digits[6:8]),
        int(digits[8:10]),
        int(digits[10:12]),
        int(digits[12:14]),
    )
    if not (
        1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] < 24 and fields[4] < 60 and fields[5] < 62
    ):
        return None
    return calendar.timegm((*fields, 0, 0, 0))


def _iso(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


# ---- checks ---------------------------------------------------------------------------


def _check_token(credential: Credential, token: str | None, now: float) -> None:
    if credential.session_token is None:
        if token is not None:
            raise UnrecognizedClient()
        return
    if token is None or not hmac.compare_digest(
        token.encode("utf-8"), credential.session_token.encode("utf-8")
    ):
        raise UnrecognizedClient()
    if credential.expires_at is not None and now >= credential.expires_at:
        raise ExpiredToken()


def _check_time(parts: SignedParts, now: float) -> None:
    signed_at = parts.signed_at
    skew = parts.scope.skew_s
    if parts.presigned and parts.expires_s is not None:
        if now > signed_at + parts.expires_s:
            raise InvalidSignature(
                f"Signature expired: {parts.timestamp} is now earlier than {_iso(now - parts.expires_s)} "
                f"({_iso(now)} - {parts.expires_s} sec.)"
            )
    elif signed_at < now - skew:
        raise InvalidSignature(
            f"Signature expired: {parts.timestamp} is now earlier than {_iso(now - skew)} "
            f"({_iso(now)} - {skew // 60} min.)"
        )
    if signed_at > now + skew:
        raise InvalidSignature(
            f"Signature not yet current: {parts.timestamp} is still later than {_iso(now + skew)} "
            f"({_iso(now)} + {skew // 60} min.)"
        )


def _payload_hash(request: HttpRequest, parts: SignedParts) -> str:
    """The payload line of the canonical request. A declared hash must be the body's."""
    declared = request.headers.get(b"x-amz-content-sha256")
    if declared is not None:
        value = declared.decode("latin-1")
        # A streamed body (S3's objects) is not here yet: its consumer checks the declared hash.
        if value != UNSIGNED_PAYLOAD and request.stream is None and value != sha256_hex(request.body):
            raise InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        return value
    if parts.presigned and parts.scope.service in UNSIGNED_PRESIGN_SERVICES:
        return UNSIGNED_PAYLOAD
    return sha256_hex(request.body)


def sha256_hex(data: bytes) -> str:
    if not data:
        return EMPTY_SHA256
    digest = _SHA256.copy()
    digest.update(data)
    return digest.hexdigest()


# ---- the canonical request ------------------------------------------------------------


def canonical_request(request: HttpRequest, scope: Scope, query: str, payload_hash: str) -> str:
    """The canonical request of ``request`` under ``scope``, with its canonical ``query``."""
    return (
        f"{request.method.upper()}\n"
        f"{canonical_path(request.raw_path, scope.path_as_sent)}\n"
        f"{query}\n"
        f"{canonical_headers(request, scope.names)}\n\n"
        f"{scope.signed_headers}\n"
        f"{payload_hash}"
    )


@lru_cache(maxsize=1024)
def canonical_path(raw_path: bytes, as_sent: bool = False) -> str:
    """The canonical URI of a path as sent (still percent-encoded)."""
    path = raw_path.decode("latin-1")
    if as_sent:
        return path or "/"
    return quote(_remove_dot_segments(path), safe="/~")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, and empty segments dropped as AWS does; the leading slash and a
    trailing one (after a kept segment) stay."""
    if not path:
        return "/"
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    lead = "/" if path.startswith("/") else ""
    trail = "/" if path.endswith("/") and kept else ""
    return lead + "/".join(kept) + trail


def query_pairs(query: bytes) -> list[tuple[bytes, bytes]]:
    """The decoded (key, value) pairs of a raw query string, in order (``+`` is a plus)."""
    pairs: list[tuple[bytes, bytes]] = []
    for item in query.split(b"&"):
        if not item:
            continue
        key, _, value = item.partition(b"=")
        pairs.append((unquote_to_bytes(key), unquote_to_bytes(value)))
    return pairs


@lru_cache(maxsize=1024)
def canonical_query_bytes(query: bytes) -> str:
    return canonical_query(query_pairs(query)) if query else ""


def canonical_query(pairs: Iterable[tuple[bytes, bytes]]) -> str:
    """Pairs encoded (``safe='-_.~'``), sorted by encoded key then value, joined by ``&``."""
    encoded = sorted((quote(key, safe="-_.~"), quote(value, safe="-_.~")) for key, value in pairs)
    return "&".join(f"{key}={value}" for key, value in encoded)


def canonical_headers(request: HttpRequest, names: tuple[tuple[str, bytes], ...]) -> str:
    """The canonical header lines of the signed headers ``names`` (``Scope.names``)."""
    headers = request.headers
    repeated = request.repeated
    if repeated is None:  # the usual case: one value per header
        return "\n".join([f"{name}:{_trimmed(headers.get(key, b''))}" for name, key in names])
    lines = []
    for name, key in names:
        values = [earlier for earlier_key, earlier in repeated if earlier_key == key]
        last = headers.get(key)
        if last is not None:
            values.append(last)
        lines.append(f"{name}:{','.join(_trimmed(one) for one in values)}")
    return "\n".join(lines)


def _trimmed(raw: bytes) -> str:
    """A header value with whitespace runs folded to one space and its ends trimmed, as
    botocore's ``' '.join(value.split())`` (str whitespace: latin-1's \\x85 and \\xa0 too)."""
    text = raw.decode("latin-1")
    # isprintable() is False for every whitespace character but the ASCII space.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())
