"""Function URLs: the config operations (2021-10-31) and serving the URLs themselves.

lambdalite serves every function URL on its own port, in two forms:

    http://<url-id>.lambda-url.<region>.localhost:<port>/<path>   (routed by Host)
    http://127.0.0.1:<port>/_lambdalite/url/<url-id>/<path>        (needs no DNS)

The FunctionUrl the API returns is the Host form where the system resolver
answers for it, else the path form, or the operator's wildcard domain
(``--url-base``, see ``api.url_base``).

Any method, path and query on a URL invokes the function (or the alias the URL
belongs to) through the same path as Invoke, with the Function URL event
(payload format 2.0), and maps the result to an HTTP response as AWS does:

- a JSON object with ``statusCode``: that status, its ``headers``, ``cookies``
  (one Set-Cookie each) and ``body`` (base64-decoded with ``isBase64Encoded``);
  Content-Type defaults to application/json;
- any other JSON value (an object without ``statusCode`` too): 200,
  application/json, the JSON as the body;
- a function error, or a result that cannot be mapped: 502 ``Internal Server Error``;
- an unknown url-id: 403 ``{"Message":null}`` with x-amzn-ErrorType
  AccessDeniedException (AWS's answer, recorded by LocalStack's
  ``test_lambda_url_non_existing_url``).

Request bodies are passed as text for textual content types (``text/*``, JSON,
XML, JavaScript) and base64-encoded otherwise (forms, multipart, binary, or no
Content-Type), with ``isBase64Encoded`` saying which.

CORS: with a Cors config, an OPTIONS preflight (Origin and
Access-Control-Request-Method) is answered by lambdalite without invoking the
function, and responses get the Access-Control-* headers of the config in
place of any the function set. Without one, OPTIONS goes to the function.

AuthType AWS_IAM: under ``--auth sigv4`` a request must carry a valid signature
(``refuse_unsigned``, set by the front router, answers 403 AccessDeniedException
otherwise); whether the signer's policies allow the invoke is not checked yet
(IAM-style policies).
Under ``--auth none`` it is served like NONE.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from lambdalite.api.lambda_api import MAX_SYNC_PAYLOAD, ApiRequest, LambdaApi
from lambdalite.api.url_base import URL_PATH, UrlBase, choose
from lambdalite.api.wire import Headers, Response, json_response
from lambdalite.control import function_urls as url_rules
from lambdalite.errors import LambdaError, TooManyRequests, Validation
from lambdalite.http import HttpRequest
from lambdalite.models import LATEST, FunctionUrlConfig, new_request_id

__all__ = ["URL_HOST_MARK", "URL_PATH", "FunctionUrlApi"]

URL_HOST_MARK = b".lambda-url."
_SHAPE = "FunctionUrlFunctionName"
_MAX_URL_ITEMS = 50
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml")
_DROPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})
_INTERNAL_ERROR = b"Internal Server Error"


class FunctionUrlApi:
    """The five URL config operations and ``serve`` for requests on a URL."""

    def __init__(self, api: LambdaApi, base: UrlBase | None = None) -> None:
        """``base``: where returned FunctionUrls point; by default chosen from
        ``settings.url_base`` (which may probe the system resolver once)."""
        self._api = api
        self._registry = api.registry
        self._urls = api.registries.urls
        settings = api.settings
        self._arn_prefix = settings.arn_prefix()
        self._port = settings.port
        self.base = base or choose(
            settings.url_base, settings.host, settings.port, settings.region, scheme=settings.scheme
        )
        self.refuse_unsigned: Callable[[HttpRequest], Response | None] | None = None
        """Under ``--auth sigv4``: the refusal of a request without a valid signature, or None."""

    def url_of(self, url: FunctionUrlConfig) -> str:
        return self.base.url(url.url_id)

    def host_marks(self) -> tuple[bytes, ...]:
        """What a request's Host contains when it is addressed to a function URL:
        the local ``.lambda-url.`` form, and the operator's domain if one is set."""
        mark = self.base.host_mark
        return (URL_HOST_MARK,) if mark is None or URL_HOST_MARK in mark else (URL_HOST_MARK, mark)

    def _target(self, request: ApiRequest) -> tuple[str, str]:
        name, qualifier = self._api.resolve_name(request, _SHAPE)
        return name, url_rules.check_qualifier(qualifier)

    # -- config operations ------------------------------------------------------
    async def create(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        parsed = url_rules.parse_url_config(request.json(), "CreateFunctionUrlConfig")
        url = self._urls.create_url_config(name, qualifier, parsed)
        body = url.configuration(self._arn_prefix, self.url_of(url))
        del body["LastModifiedTime"]
        return json_response(201, _echoing_invoke_mode(body, parsed))

    async def get(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        url = self._urls.url_config(name, qualifier)
        return json_response(200, url.configuration(self._arn_prefix, self.url_of(url)))

    async def update(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        parsed = url_rules.parse_url_config(request.json(), "UpdateFunctionUrlConfig")
        url = self._urls.update_url_config(name, qualifier, parsed)
        body = url.configuration(self._arn_prefix, self.url_of(url))
        return json_response(200, _echoing_invoke_mode(body, parsed))

    async def delete(self, request: ApiRequest) -> Response:
        name, qualifier = self._target(request)
        self._urls.delete_url_config(name, qualifier)
        return Response(204)

    async def list(self, request: ApiRequest) -> Response:
        name, _ = self._api.resolve_name(request, _SHAPE)
        max_items = _max_items(request.query_value("MaxItems"))
        marker = request.query_value("Marker")
        urls, next_marker = self._urls.list_url_configs(name, marker, max_items)
        body: dict[str, Any] = {
            "FunctionUrlConfigs": [url.configuration(self._arn_prefix, self.url_of(url)) for url in urls]
        }
        if next_marker is not None:
            body["NextMarker"] = next_marker
        return json_response(200, body)

    # -- serving ----------------------------------------------------------------
    async def serve(self, request: HttpRequest, url_id: str, raw_path: bytes, domain: str) -> Response:
        """Answer one request on a function URL; never raises a LambdaError."""
        url = self._urls.url_by_id(url_id)
        if url is None:
            return Response(403, b'{"Message":null}', [(b"x-amzn-errortype", b"AccessDeniedException")])
        if url.auth_type == "AWS_IAM" and self.refuse_unsigned is not None:
            refusal = self.refuse_unsigned(request)
            if refusal is not None:
                return refusal
        headers = request.headers
        origin = headers.get(b"origin")
        cors = url.cors if url.cors.get("AllowOrigins") else None
        if (
            cors is not None
            and request.method == "OPTIONS"
            and origin is not None
            and b"access-control-request-method" in headers
        ):
            preflight = url_rules.preflight_headers(cors, origin.decode("latin-1"))
            return Response(200, b"", _encoded(preflight))
        if request.body_size > MAX_SYNC_PAYLOAD:
            return Response(413, b'{"Message":"Request Entity Too Large"}')
        request_id = new_request_id()
        event = _event(request, url, raw_path, domain, request_id, self._port)
        try:
            qualifier = None if url.qualifier == LATEST else url.qualifier
            function = self._registry.resolve(url.function_name, qualifier)
            result = await self._api.invoker.invoke(
                function,
                orjson.dumps(event),
                invoked_arn=url.function_arn(self._arn_prefix),
                request_id=request_id,
            )
        except TooManyRequests:
            response = Response(429, b'{"Message":"Rate Exceeded."}')
        except LambdaError:
            response = Response(502, _INTERNAL_ERROR)
        else:
            mapped = _response(result.payload) if result.function_error is None else None
            response = mapped or Response(502, _INTERNAL_ERROR)
        response.headers.append((b"x-amzn-requestid", request_id.encode()))
        if cors is not None and origin is not None:
            response.headers = [
                h for h in response.headers if not h[0].lower().startswith(b"access-control-")
            ]
            response.headers.extend(_encoded(url_rules.response_headers(cors, origin.decode("latin-1"))))
        return response


def _max_items(raw: str | None) -> int:
    if raw is None:
        return _MAX_URL_ITEMS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or value > _MAX_URL_ITEMS:
        bound = "greater than or equal to 1" if value < 1 else f"less than or equal to {_MAX_URL_ITEMS}"
        raise Validation(
            f"1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return value


def _encoded(headers: list[tuple[str, str]]) -> Headers:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def trace_id(now: float) -> str:
    """A new X-Ray trace header as AWS puts it on a Function URL request:
    ``Root=1-<epoch seconds, 8 hex digits>-<96 random bits, 24 hex digits>``."""
    return f"Root=1-{int(now) & 0xFFFFFFFF:08x}-{secrets.token_hex(12)}"


def _event(
    request: HttpRequest, url: FunctionUrlConfig, raw_path: bytes, domain: str, request_id: str, port: int
) -> dict[str, Any]:
    """The Function URL event (payload format 2.0) for ``request``. Like AWS's front end,
    it adds the x-forwarded-* headers and an x-amzn-trace-id unless the client sent one."""
    values: dict[str, list[str]] = {}
    for name, value in request.repeated or ():
        values.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    for name, value in request.headers.items():
        values.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    cookies = [
        cookie.strip() for line in values.pop("cookie", ()) for cookie in line.split(";") if cookie.strip()
    ]
    headers = {name: ",".join(items) for name, items in values.items()}
    now = time.time()
    headers.setdefault("x-amzn-trace-id", trace_id(now))
    headers.setdefault("x-forwarded-for", request.client)
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-forwarded-port", str(port))
    path = raw_path.decode("latin-1") or "/"
    query = request.query.decode("latin-1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        parameters: dict[str, str] = {}
        for key, item in parse_qsl(query, keep_blank_values=True):
            parameters[key] = f"{parameters[key]},{item}" if key in parameters else item
        event["queryStringParameters"] = parameters
    event["requestContext"] = {
        "accountId": "anonymous",
        "apiId": url.url_id,
        "domainName": domain,
        "domainPrefix": url.url_id,
        "http": {
            "method": request.method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.client,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    body = request.body
    if body:
        content_type = request.headers.get(b"content-type", b"").decode("latin-1").lower()
        text = _is_text(content_type)
        if text:
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                text = False
        if not text:
            event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = not text
    else:
        event["isBase64Encoded"] = False
    return event


def _is_text(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip()
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)


def _response(payload: bytes) -> Response | None:
    """The HTTP response for a function's result, or None when it cannot be mapped."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "statusCode" not in value:
        return Response(200, payload)
    status = value["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers: Headers = []
    content_type = b"application/json"
    raw_headers = value.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        return None
    for name, header_value in raw_headers.items():
        lowered = str(name).lower()
        text = header_value if isinstance(header_value, str) else orjson.dumps(header_value).decode()
        if lowered == "content-type":
            content_type = text.encode("latin-1", "replace")
        elif lowered not in _DROPPED_RESPONSE_HEADERS:
            headers.append((str(name).encode("latin-1", "replace"), text.encode("latin-1", "replace")))
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list):
        return None
    headers.extend((b"set-cookie", str(cookie).encode("latin-1", "replace")) for cookie in cookies)
    body = value.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = orjson.dumps(body)
    elif value.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    else:
        data = body.encode("utf-8")
    return Response(status, data, headers, content_type=content_type)


def _echoing_invoke_mode(body: dict[str, Any], request: url_rules.UrlInput) -> dict[str, Any]:
    """Create and Update answer with InvokeMode only when the request set it (AWS's
    recorded answers); Get and List always show it."""
    if request.invoke_mode is None:
        body.pop("InvokeMode", None)
    return body
