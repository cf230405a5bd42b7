"""Our SigV4 verifier against botocore's signers, on thousands of generated requests,
and every refusal with AWS's code and text."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Collection
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambdalite.auth.credentials import Credential, Principal
from lambdalite.auth.errors import (
    AuthFailure,
    ExpiredToken,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
    WrongRegion,
    failure_response,
)
from lambdalite.auth.sigv4 import Verifier, canonical_path, canonical_request, parse, sha256_hex
from lambdalite.http.message import HttpRequest
from tests.unit.sigv4_requests import KEY_ID, SECRET, SIGNED_AT, TOKEN, as_received, fixed_time, generate

NOW = SIGNED_AT.timestamp()
PRINCIPAL = Principal("arn:aws:iam::000000000000:user/admin", "000000000000", KEY_ID)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


class Keys:
    def __init__(self, *credentials: Credential) -> None:
        self.by_id = {credential.access_key_id: credential for credential in credentials}

    def credential(self, access_key_id: str) -> Credential | None:
        return self.by_id.get(access_key_id)


def verifier(
    token: str | None = None, secret: str = SECRET, now: float = NOW, expires_at: float | None = None
) -> Verifier:
    return Verifier(Keys(Credential(KEY_ID, secret, PRINCIPAL, token, expires_at)), clock=lambda: now)


def signed(
    method: str = "POST",
    url: str = "http://127.0.0.1:9001/2015-03-31/functions/hello/invocations",
    body: bytes = b'{"a": 1}',
    *,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    service: str = "lambda",
    presign_expires: int | None = None,
) -> HttpRequest:
    request = AWSRequest(method=method, url=url, data=body)
    credentials = Credentials(key_id, secret, token)
    signer = (
        SigV4QueryAuth(credentials, service, "us-east-1", expires=presign_expires)
        if presign_expires is not None
        else SigV4Auth(credentials, service, "us-east-1")
    )
    with fixed_time():
        signer.add_auth(request)
    return as_received(request)


def warm_path(ours: Verifier, request: HttpRequest, services: Collection[str]) -> Principal | None:
    """What ``verify``'s warm path decides on its own: the principal, or None when it
    hands the request to the long way."""
    with mock.patch.object(ours, "_verify_long", return_value=None):
        return ours.verify(request, services)


# ---- equivalence with botocore ---------------------------------------------------------


def test_accepts_every_request_botocore_signs() -> None:
    rng = random.Random(20260314)
    kinds: dict[str, int] = {}
    for _ in range(3000):
        case = generate(rng)
        ours = verifier(token=case.token)
        assert ours.verify(case.request, (case.service,)) == PRINCIPAL, case
        kind = f"{case.service}/{'presigned' if case.presigned else 'header'}"
        kinds[kind] = kinds.get(kind, 0) + 1
    # every service and both forms were exercised
    assert len(kinds) == 8 and min(kinds.values()) > 100, kinds


def _tampered(request: HttpRequest, rng: random.Random) -> HttpRequest | None:
    """One change botocore would have signed differently, or None if this request has no such part."""
    choice = rng.randrange(5)
    if choice == 0:
        return dataclasses.replace(request, method="PUT" if request.method != "PUT" else "POST")
    if choice == 1:
        return dataclasses.replace(request, raw_path=request.raw_path + b"x")
    if choice == 2:
        return dataclasses.replace(
            request, query=request.query + (b"&" if request.query else b"") + b"extra=1"
        )
    if choice == 3:
        if request.headers.get(b"x-amz-content-sha256") == b"UNSIGNED-PAYLOAD" or (
            b"X-Amz-Signature" in request.query
        ):
            return None
        return dataclasses.replace(request, body=request.body + b"!")
    headers = dict(request.headers)
    headers[b"host"] = b"other.test"
    return dataclasses.replace(request, headers=headers)


def test_refuses_every_tampered_request() -> None:
    rng = random.Random(7)
    refused = 0
    while refused < 1000:
        case = generate(rng)
        tampered = _tampered(case.request, rng)
        if tampered is None:
            continue
        with pytest.raises(InvalidSignature) as caught:
            verifier(token=case.token).verify(tampered, (case.service,))
        assert caught.value.message in (
            MISMATCH,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
        refused += 1


def test_refuses_every_request_signed_with_another_secret() -> None:
    rng = random.Random(11)
    for _ in range(500):
        case = generate(rng)
        with pytest.raises(InvalidSignature, match="does not match"):
            verifier(token=case.token, secret=SECRET + "x").verify(case.request, (case.service,))


def test_the_warm_path_accepts_what_botocore_signs_and_nothing_tampered() -> None:
    """``verify``'s warm path (the one-pass check most requests take) decides the usual shape on
    its own, agrees with the long way everywhere, and never accepts a tampered request."""
    rng = random.Random(20260315)
    warm = 0
    for _ in range(2000):
        case = generate(rng)
        ours = verifier(token=case.token)
        fast = warm_path(ours, case.request, (case.service,))
        assert fast in (None, PRINCIPAL), case
        if fast is not None:
            warm += 1
        headers = case.request.headers
        usual = case.token is None and case.request.repeated is None and b"x-amz-date" in headers
        usual = usual and b"x-amz-content-sha256" not in headers
        values = b"".join(headers.values())
        if usual and values.isascii() and b"  " not in values and b"\t" not in values:
            assert fast == PRINCIPAL, case
        tampered = _tampered(case.request, rng)
        if tampered is not None:
            assert warm_path(ours, tampered, (case.service,)) is None, case
    assert warm > 100, warm  # the generator mixes shapes: presigned, S3, tokens, odd values


def test_a_scope_naming_another_region_is_refused_but_iams_global_one() -> None:
    def in_region(region: str, service: str = "lambda") -> HttpRequest:
        request = AWSRequest(method="POST", url="http://127.0.0.1:9001/", data=b"{}")
        with fixed_time():
            SigV4Auth(Credentials(KEY_ID, SECRET), service, region).add_auth(request)
        return as_received(request)

    here = Verifier(Keys(Credential(KEY_ID, SECRET, PRINCIPAL)), clock=lambda: NOW, region="eu-west-1")
    assert here.verify(in_region("eu-west-1")) == PRINCIPAL
    for service in ("iam", "sts"):  # their global endpoints sign in us-east-1
        assert here.verify(in_region("us-east-1", service), (service,)) == PRINCIPAL
    with pytest.raises(WrongRegion) as caught:
        here.verify(in_region("us-east-1"))
    assert caught.value.message == "Credential should be scoped to a valid region, not 'us-east-1'. "
    assert (
        caught.value.code == "InvalidSignatureException"
        and caught.value.query_code == "SignatureDoesNotMatch"
    )
    assert warm_path(here, in_region("us-east-1"), ()) is None
    s3 = failure_response(WrongRegion("us-east-1", "eu-west-1"), "rest-xml")
    assert s3.status == 400 and b"<Code>AuthorizationHeaderMalformed</Code>" in s3.body
    assert (
        b"the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region>"
        in s3.body
    )
    presigned = failure_response(WrongRegion("us-east-1", "eu-west-1", presigned=True), "rest-xml")
    assert b"<Code>AuthorizationQueryParametersError</Code>" in presigned.body


def test_canonical_path_is_normalised_and_encoded_once_more_except_for_s3() -> None:
    assert canonical_path(b"/a/./b/../c//d/") == "/a/c/d/"
    assert canonical_path(b"/fn%3Aalias/invocations") == "/fn%253Aalias/invocations"
    assert canonical_path(b"/a/./b%20c", as_sent=True) == "/a/./b%20c"
    assert canonical_path(b"") == "/"


# ---- refusals, with AWS's codes and texts ----------------------------------------------


def _refusal(request: HttpRequest, **options: object) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        verifier(**options).verify(request, ("lambda",))  # type: ignore[arg-type]
    return caught.value


def test_unsigned_request_is_missing_the_token() -> None:
    request = dataclasses.replace(signed(), headers={b"host": b"127.0.0.1:9001"})
    failure = _refusal(request)
    assert isinstance(failure, MissingAuthenticationToken)
    assert (failure.code, failure.status, failure.message) == (
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
    )


def test_unknown_key_is_an_unrecognized_client() -> None:
    failure = _refusal(signed(key_id="AKIANOSUCHKEY0000000"))
    assert isinstance(failure, UnrecognizedClient)
    assert (failure.code, failure.message) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_wrong_secret_is_an_invalid_signature() -> None:
    failure = _refusal(signed(secret="not-the-secret"))
    assert (failure.code, failure.status, failure.message) == ("InvalidSignatureException", 403, MISMATCH)


def test_signed_too_long_ago_or_ahead() -> None:
    failure = _refusal(signed(), now=NOW + 301)
    assert failure.code == "InvalidSignatureException"
    assert failure.message == (
        "Signature expired: 20260314T150926Z is now earlier than 20260314T150927Z (20260314T151427Z - 5 min.)"
    )
    assert verifier(now=NOW + 300).verify(signed()) == PRINCIPAL
    failure = _refusal(signed(), now=NOW - 301)
    assert failure.message == (
        "Signature not yet current: 20260314T150926Z is still later than 20260314T150925Z "
        "(20260314T150425Z + 5 min.)"
    )


def test_s3_allows_fifteen_minutes() -> None:
    request = signed(service="s3")
    assert verifier(now=NOW + 899).verify(request) == PRINCIPAL
    with pytest.raises(InvalidSignature, match=r"- 15 min\.\)$"):
        verifier(now=NOW + 901).verify(request)


def test_presigned_url_until_it_expires() -> None:
    request = signed("GET", "http://127.0.0.1:9001/2015-03-31/functions?MaxItems=5", b"", presign_expires=60)
    assert b"X-Amz-Signature=" in request.query and b"authorization" not in request.headers
    assert verifier(now=NOW + 60).verify(request, ("lambda",)) == PRINCIPAL
    failure = _refusal(request, now=NOW + 61)
    assert (failure.code, failure.message) == (
        "InvalidSignatureException",
        "Signature expired: 20260314T150926Z is now earlier than 20260314T150927Z "
        "(20260314T151027Z - 60 sec.)",
    )


def test_presigned_url_missing_a_parameter() -> None:
    request = signed("GET", "http://127.0.0.1:9001/2015-03-31/functions", b"", presign_expires=60)
    query = b"&".join(pair for pair in request.query.split(b"&") if not pair.startswith(b"X-Amz-Date"))
    failure = _refusal(dataclasses.replace(request, query=query))
    assert isinstance(failure, IncompleteSignature)
    assert failure.message == (
        "AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."
    )


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        (b"soon", "X-Amz-Expires should be a number"),
        (b"-1", "X-Amz-Expires must be non-negative"),
        (b"604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ],
)
def test_presigned_url_with_a_bad_expiry(expires: bytes, message: str) -> None:
    request = signed("GET", "http://127.0.0.1:9001/2015-03-31/functions", b"", presign_expires=60)
    query = request.query.replace(b"X-Amz-Expires=60", b"X-Amz-Expires=" + expires)
    failure = _refusal(dataclasses.replace(request, query=query))
    assert (failure.code, failure.message) == ("IncompleteSignatureException", message)


def test_authorization_header_without_its_parts() -> None:
    request = signed()
    headers = {b"host": b"127.0.0.1:9001", b"authorization": b"Bearer abc"}
    failure = _refusal(dataclasses.replace(request, headers=headers))
    assert (failure.code, failure.message) == (
        "IncompleteSignatureException",
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
        "parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires "
        "existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer abc",
    )


@pytest.mark.parametrize(
    ("name", "value"), [(b"x-amz-date", b"2026-03-14T15:09:26Z"), (b"date", b"yesterday")]
)
def test_an_unreadable_signing_time(name: bytes, value: bytes) -> None:
    request = signed()
    headers = {key: item for key, item in request.headers.items() if key != b"x-amz-date"}
    headers[name] = value
    failure = _refusal(dataclasses.replace(request, headers=headers))
    assert failure.code == "IncompleteSignatureException"
    assert failure.message.startswith(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        "Authorization=AWS4-HMAC-SHA256 Credential="
    )


def test_authorization_pair_without_equal_sign() -> None:
    request = signed()
    headers = dict(request.headers)
    headers[b"authorization"] = b"AWS4-HMAC-SHA256 Credential AKIA/20260314/us-east-1/lambda/aws4_request"
    failure = _refusal(dataclasses.replace(request, headers=headers))
    assert (failure.code, failure.message) == (
        "IncompleteSignatureException",
        "'Credential AKIA/20260314/us-east-1/lambda/aws4_request' not a valid key=value pair (missing "
        "equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential "
        "AKIA/20260314/us-east-1/lambda/aws4_request'.",
    )


def _with_authorization(request: HttpRequest, old: bytes, new: bytes) -> HttpRequest:
    headers = dict(request.headers)
    headers[b"authorization"] = headers[b"authorization"].replace(old, new)
    return dataclasses.replace(request, headers=headers)


def test_credential_scope_errors() -> None:
    request = signed()
    failure = _refusal(_with_authorization(request, b"/lambda/aws4_request", b"/lambda"))
    assert (failure.code, failure.message) == (
        "IncompleteSignatureException",
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        f"got '{KEY_ID}/20260314/us-east-1/lambda'",
    )
    failure = _refusal(_with_authorization(request, b"aws4_request", b"aws5_request"))
    assert (failure.code, failure.message) == (
        "InvalidSignatureException",
        "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. ",
    )
    failure = _refusal(_with_authorization(request, b"/20260314/", b"/20260313/"))
    assert failure.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        "'20260313' != '20260314', from '20260314T150926Z'."
    )
    failure = _refusal(signed(service="logs"))
    assert (failure.code, failure.message) == (
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'lambda'. ",
    )
    failure = _refusal(_with_authorization(request, b"SignedHeaders=host;", b"SignedHeaders="))
    assert (failure.code, failure.message) == (
        "IncompleteSignatureException",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    )


def test_declared_payload_hash_must_be_the_bodys() -> None:
    request = AWSRequest(method="POST", url="http://127.0.0.1:9001/x", data=b"body")
    request.headers["X-Amz-Content-SHA256"] = "0" * 64
    with fixed_time():
        SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", "us-east-1").add_auth(request)
    failure = _refusal(as_received(request))
    assert (failure.code, failure.message) == (
        "InvalidSignatureException",
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )


def test_temporary_credentials() -> None:
    with_token = signed(token=TOKEN)
    assert verifier(token=TOKEN, expires_at=NOW + 1).verify(with_token) == PRINCIPAL
    failure = _refusal(with_token, token=TOKEN, expires_at=NOW)
    assert isinstance(failure, ExpiredToken)
    assert (failure.code, failure.message) == (
        "ExpiredTokenException",
        "The security token included in the request is expired",
    )
    assert isinstance(_refusal(signed(), token=TOKEN), UnrecognizedClient)  # token required
    assert isinstance(_refusal(signed(token="other"), token=TOKEN), UnrecognizedClient)
    assert isinstance(_refusal(with_token), UnrecognizedClient)  # long-term key given a token


def test_the_warm_path_reads_one_signed_header_or_a_missing_one_the_long_way() -> None:
    """A signature over ``host`` alone (a hand-written client) is checked on the warm path
    as well; a signed header the request lacks sends it the long way, which signs it empty."""
    sent = AWSRequest(
        method="POST",
        url="http://127.0.0.1:9001/2015-03-31/functions/hello/invocations",
        data=b"{}",
        headers={"X-Amz-Invocation-Type": "RequestResponse"},
    )
    with fixed_time():
        SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", "us-east-1").add_auth(sent)
    request = as_received(sent)
    ours = verifier()
    assert warm_path(ours, request, ("lambda",)) == PRINCIPAL
    # Re-sign over "host" alone, with lambdalite's own long-way signature of the request.
    authorization = request.headers[b"authorization"]
    head, _, _ = authorization.partition(b"SignedHeaders=")
    host_only = dataclasses.replace(
        request, headers={**request.headers, b"authorization": head + b"SignedHeaders=host, Signature=0"}
    )
    parts = parse(host_only)
    canonical = canonical_request(host_only, parts.scope, "", sha256_hex(host_only.body))
    credential = Credential(KEY_ID, SECRET, PRINCIPAL)
    signature = ours.signature(credential, parts.scope, parts.timestamp, canonical).encode()
    host_only.headers[b"authorization"] = head + b"SignedHeaders=host, Signature=" + signature
    assert warm_path(ours, host_only, ("lambda",)) == PRINCIPAL
    assert ours.verify(host_only, ("lambda",)) == PRINCIPAL
    # x-amz-date stays (the warm path needs it), but another signed header goes: the
    # warm path steps aside and the long way refuses the mismatch.
    missing = dataclasses.replace(request, headers=dict(request.headers))
    signed_names = authorization.split(b"SignedHeaders=")[1].split(b",")[0].split(b";")
    dropped = next(name for name in signed_names if name not in (b"host", b"x-amz-date"))
    del missing.headers[dropped]
    assert warm_path(ours, missing, ("lambda",)) is None
    with pytest.raises(InvalidSignature):
        ours.verify(missing, ("lambda",))


def test_the_warm_path_follows_the_key_as_the_source_answers_it_now() -> None:
    """The warm path keeps a scope's key and derived signing key, but only while the
    credential source still answers that same key: a deleted key is unrecognised at the
    next request, a key replaced under the same id verifies only its own signatures, and
    the time is checked on every request."""
    keys = Keys(Credential(KEY_ID, SECRET, PRINCIPAL))
    now = [NOW]
    ours = Verifier(keys, clock=lambda: now[0])
    request = signed()
    assert warm_path(ours, request, ("lambda",)) == PRINCIPAL
    assert ours.verify(request, ("lambda",)) == PRINCIPAL

    del keys.by_id[KEY_ID]
    assert warm_path(ours, request, ("lambda",)) is None
    with pytest.raises(UnrecognizedClient):
        ours.verify(request, ("lambda",))

    other = Principal("arn:aws:iam::000000000000:user/other", "000000000000", KEY_ID)
    keys.by_id[KEY_ID] = Credential(KEY_ID, SECRET + "x", other)
    assert warm_path(ours, request, ("lambda",)) is None
    with pytest.raises(InvalidSignature, match="does not match"):
        ours.verify(request, ("lambda",))
    assert ours.verify(signed(secret=SECRET + "x"), ("lambda",)) == other

    keys.by_id[KEY_ID] = Credential(KEY_ID, SECRET, PRINCIPAL)
    assert ours.verify(request, ("lambda",)) == PRINCIPAL
    now[0] = NOW + 301
    assert warm_path(ours, request, ("lambda",)) is None
    with pytest.raises(InvalidSignature, match=r"^Signature expired: "):
        ours.verify(request, ("lambda",))


def test_the_warm_path_refuses_temporary_credentials_and_other_services() -> None:
    """A scope whose key is temporary is left to the long way (its token is checked
    there), and so is a scope of a service the route does not answer to."""
    ours = verifier(token=TOKEN, expires_at=NOW + 60)
    with_token = signed(token=TOKEN)
    assert warm_path(ours, with_token, ("lambda",)) is None
    assert ours.verify(with_token, ("lambda",)) == PRINCIPAL
    plain = verifier()
    request = signed()
    assert warm_path(plain, request, ("lambda",)) == PRINCIPAL
    assert warm_path(plain, request, ("logs",)) is None
    with pytest.raises(InvalidSignature, match="scoped to correct service: 'logs'"):
        plain.verify(request, ("logs",))
