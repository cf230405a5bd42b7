"""Why a request's signature was refused, and how each AWS protocol says so.

AuthFailure                      a request that is not authenticated (AWS's front door refuses it)
├── MissingAuthenticationToken   MissingAuthenticationTokenException: no signature at all
├── IncompleteSignature          IncompleteSignatureException: a signature lacking a part
├── InvalidSignature             InvalidSignatureException: wrong signature, scope or time
│   └── WrongRegion              ... a credential scope naming another region than the server's
├── UnrecognizedClient           UnrecognizedClientException: unknown key, or a token that is not its own
└── ExpiredToken                 ExpiredTokenException: temporary credentials past their expiry

``failure_response(failure, protocol)`` is the one place that turns them into a wire
answer, per protocol: rest-json (Lambda: 403, ``x-amzn-ErrorType``, ``{"message"}``),
json (Logs: 400, ``{"__type", "message"}``), query (SQS, IAM, STS: an XML
``ErrorResponse`` with the query protocol's codes) and json-query (SQS's awsJson with
``awsQueryCompatible``: the json body, the query status, and ``x-amzn-query-error``
carrying the query code, which is what botocore reports).
"""

from __future__ import annotations

import uuid
from typing import ClassVar
from xml.sax.saxutils import escape

import orjson

from lambdalite.errors import AwsError
from lambdalite.http.message import Response

MISSING_TOKEN_REST = "Missing Authentication Token"
MISSING_TOKEN_JSON = "Request is missing Authentication Token"
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class AuthFailure(AwsError):
    """A request refused before any service sees it."""

    status = 403
    query_code: ClassVar[str] = "AccessDenied"
    """The code the query protocol (SQS, IAM, STS) uses for the same failure."""


class MissingAuthenticationToken(AuthFailure):
    code = "MissingAuthenticationTokenException"
    query_code = "MissingAuthenticationToken"

    def __init__(self, message: str = MISSING_TOKEN_REST) -> None:
        super().__init__(message)


class IncompleteSignature(AuthFailure):
    code = "IncompleteSignatureException"
    query_code = "IncompleteSignature"


class InvalidSignature(AuthFailure):
    code = "InvalidSignatureException"
    query_code = "SignatureDoesNotMatch"

    def __init__(self, message: str = SIGNATURE_MISMATCH) -> None:
        super().__init__(message)


class WrongRegion(InvalidSignature):
    """A signature scoped to another region than the server's. S3 says so its own way
    (400 AuthorizationHeaderMalformed, or AuthorizationQueryParametersError for a
    presigned URL, naming the region it expects)."""

    def __init__(self, region: str, expected: str, presigned: bool = False) -> None:
        super().__init__(f"Credential should be scoped to a valid region, not '{region}'. ")
        self.region = region
        self.expected = expected
        self.presigned = presigned


class UnrecognizedClient(AuthFailure):
    code = "UnrecognizedClientException"
    query_code = "InvalidClientTokenId"

    def __init__(self, message: str = INVALID_TOKEN) -> None:
        super().__init__(message)


class ExpiredToken(AuthFailure):
    code = "ExpiredTokenException"
    query_code = "ExpiredToken"

    def __init__(self, message: str = EXPIRED_TOKEN) -> None:
        super().__init__(message)


PROTOCOLS = ("rest-json", "json", "query", "json-query", "rest-xml")

_S3_REFUSALS: dict[type, tuple[int, str, str]] = {}
"""S3 (rest-xml) words its refusals its own way: failure class -> (status, code, message)."""


def failure_response(failure: AuthFailure, protocol: str = "rest-json") -> Response:
    """``failure`` as AWS's front door answers it for a service of ``protocol``."""
    request_id = str(uuid.uuid4())
    query_status = 400 if isinstance(failure, IncompleteSignature) else failure.status
    if protocol in ("json", "json-query"):
        message = failure.message
        if isinstance(failure, MissingAuthenticationToken) and message == MISSING_TOKEN_REST:
            message = MISSING_TOKEN_JSON
        body = orjson.dumps({"__type": failure.code, "message": message})
        headers = [(b"x-amzn-requestid", request_id.encode())]
        if protocol == "json":
            return Response(400, body, headers, content_type=b"application/x-amz-json-1.1")
        headers.append((b"x-amzn-query-error", f"{failure.query_code};Sender".encode()))
        return Response(query_status, body, headers, content_type=b"application/x-amz-json-1.0")
    if protocol == "rest-xml":
        status, code, message = _s3_refusal(failure)
        region = f"<Region>{escape(failure.expected)}</Region>" if isinstance(failure, WrongRegion) else ""
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message>{region}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
        headers = [(b"x-amz-request-id", request_id.encode())]
        return Response(status, xml.encode(), headers, content_type=b"application/xml")
    if protocol == "query":
        status = query_status
        xml = (
            '<?xml version="1.0"?>\n<ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{failure.query_code}</Code><Message>{escape(failure.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(
            status, xml.encode(), [(b"x-amzn-requestid", request_id.encode())], content_type=b"text/xml"
        )
    headers = [(b"x-amzn-errortype", failure.code.encode()), (b"x-amzn-requestid", request_id.encode())]
    return Response(failure.status, orjson.dumps({"message": failure.message}), headers)


def _s3_refusal(failure: AuthFailure) -> tuple[int, str, str]:
    if isinstance(failure, WrongRegion):
        wrong = f"the region '{failure.region}' is wrong; expecting '{failure.expected}'"
        if failure.presigned:
            return (
                400,
                "AuthorizationQueryParametersError",
                f"Error parsing the X-Amz-Credential parameter; {wrong}",
            )
        return 400, "AuthorizationHeaderMalformed", f"The authorization header is malformed; {wrong}"
    for kind, answer in _S3_REFUSALS.items():
        if isinstance(failure, kind):
            return answer
    return failure.status, failure.query_code, failure.message


_S3_REFUSALS.update(
    {
        MissingAuthenticationToken: (403, "AccessDenied", "Access Denied"),
        IncompleteSignature: (400, "AuthorizationHeaderMalformed", "The authorization header is malformed."),
        InvalidSignature: (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        ),
        UnrecognizedClient: (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        ExpiredToken: (403, "AccessDenied", "Request has expired"),
    }
)
