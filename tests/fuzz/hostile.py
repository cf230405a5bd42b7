"""Hostile requests, driven by botocore's service models.

``requests(services)`` is a hypothesis strategy of raw HTTP requests for every
operation of the given services: the operation's input is generated from its
model shape (types right, constraints often not: lengths, ranges, enums, patterns,
required members dropped, unknown members added), serialized by botocore's own
serializer for the service's protocol, then damaged on the wire (members swapped
for values of another type, bodies truncated or replaced by garbage, paths and
query strings mangled, routing headers wrong). A share of requests is raw noise on
lambdalite's own paths. Every one of them must get an answer below 500.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

import botocore.session
from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer
from hypothesis import strategies as st

SERVICES = ("lambda", "sqs", "sns", "events", "logs", "scheduler")
MAX_DEPTH = 3


@dataclass(frozen=True, slots=True)
class RawRequest:
    service: str
    operation: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def summary(self) -> str:
        return f"{self.service}:{self.operation} {self.method} {self.path[:120]!r} body={self.body[:200]!r}"


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def operations(service: str) -> tuple[OperationModel, ...]:
    model = _session().get_service_model(service)
    return tuple(model.operation_model(name) for name in model.operation_names)


# Strings that have broken parsers before: empty, separators, escapes, control and
# non-BMP characters, ARN-like and path-like text, numbers as text, very long ones.
NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "/",
        "..",
        "../../etc/passwd",
        "%",
        "%00",
        "%ZZ",
        "\x00",
        "\r\n",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "😀",
        "null",
        "true",
        "-1",
        "1e309",
        "NaN",
        "$LATEST",
        ":",
        "::::::",
        "arn:aws:lambda:us-east-1:000000000000:function:",
        "arn:aws:lambda:us-east-1:000000000000:function:x:y:z",
        "arn:aws:sqs:us-east-1:000000000000:",
        "arn:aws:sns:us-east-1:000000000000:t",
        "arn:aws:events:us-east-1:000000000000:rule/",
        "arn:::::",
        "http://127.0.0.1/000000000000/q",
        "{",
        "[]",
        '{"a": ',
        "a" * 300,
        "a" * 70_000,
    ]
)
TEXT = st.one_of(st.text(max_size=40), NASTY_TEXT)
JUNK: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**63 - 2, max_value=2**70),
        st.floats(),
        TEXT,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)


def _string(shape: Shape) -> st.SearchStrategy[Any]:
    enum = shape.metadata.get("enum")
    choices = [TEXT]
    if enum:
        choices.insert(0, st.sampled_from(enum))
    if 0 < int(shape.metadata.get("max", 0)) <= 2048:  # one past the limit
        choices.append(st.text(min_size=int(shape.metadata["max"]), max_size=int(shape.metadata["max"]) + 2))
    return st.one_of(choices)


def _number(shape: Shape) -> st.SearchStrategy[Any]:
    low = int(shape.metadata.get("min", -(2**31)))
    high = int(shape.metadata.get("max", 2**31))
    return st.one_of(
        st.integers(min_value=low - 2, max_value=high + 2),
        st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63)]),
    )


def value_for(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value of ``shape``'s type (constraints not respected)."""
    kind = shape.type_name
    if kind == "structure":
        if depth >= MAX_DEPTH:
            return st.just({})
        members = {name: value_for(member, depth + 1) for name, member in shape.members.items()}
        return st.fixed_dictionaries({}, optional=members)
    if kind == "list":
        return st.lists(value_for(shape.member, depth + 1), max_size=3) if depth < MAX_DEPTH else st.just([])
    if kind == "map":
        if depth >= MAX_DEPTH:
            return st.just({})
        return st.dictionaries(_string(shape.key), value_for(shape.value, depth + 1), max_size=3)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return _number(shape)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.binary(max_size=64)
    if kind == "timestamp":
        return st.datetimes(
            min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2200, 1, 1)
        ).map(lambda moment: moment.replace(tzinfo=datetime.UTC))
    return JUNK


@cache
def _all_operations(services: tuple[str, ...]) -> tuple[tuple[str, OperationModel], ...]:
    return tuple((service, operation) for service in services for operation in operations(service))


_LEAST = {
    "string": "x",
    "integer": 1,
    "long": 1,
    "boolean": True,
    "blob": b"x",
    "list": [],
    "map": {},
    "structure": {},
}


def _least(operation: OperationModel) -> dict[str, Any]:
    """The required members of ``operation``, each the simplest value of its type."""
    shape = operation.input_shape
    if shape is None:
        return {}
    return {name: _LEAST.get(shape.members[name].type_name, "x") for name in shape.required_members}


@st.composite
def model_request(draw: st.DrawFn, services: tuple[str, ...] = SERVICES) -> RawRequest:
    """A request for one operation of one of ``services``, generated then damaged."""
    # Every operation equally likely, whichever service it belongs to.
    service, operation = draw(st.sampled_from(_all_operations(services)))
    model = operation.service_model
    params: dict[str, Any] = {}
    if operation.input_shape is not None:
        params = draw(value_for(operation.input_shape))
        for name in operation.input_shape.required_members:
            # Mostly present (to get past the first check), sometimes missing.
            if name not in params and draw(st.integers(0, 4)):
                params[name] = draw(value_for(operation.input_shape.members[name], 1))
    try:
        serialized = create_serializer(model.protocol, include_validation=False).serialize_to_request(
            params, operation
        )
    except Exception:  # botocore refuses some of what we generated: send the least it takes
        serialized = create_serializer(model.protocol, include_validation=False).serialize_to_request(
            _least(operation), operation
        )
    headers = {str(k): str(v) for k, v in serialized["headers"].items()}
    body = serialized["body"]
    if isinstance(body, dict):  # the query protocol's form
        body = urlencode(body, doseq=True)
    if isinstance(body, str):
        body = body.encode()
    body = body or b""
    path = serialized["url_path"]
    query = serialized["query_string"]
    query_text = urlencode(query, doseq=True) if isinstance(query, dict) else str(query or "")
    damage = draw(st.sampled_from(_DAMAGE))
    method, path, query_text, headers, body = damage(
        draw, serialized["method"], path, query_text, headers, body
    )
    signing = model.signing_name or service
    auth = draw(st.sampled_from(("signed", "signed", "signed", "none", "garbage")))
    if auth == "signed":
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=AKIDFUZZ/20260101/us-east-1/{signing}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        )
        headers["X-Amz-Date"] = "20260101T000000Z"
    elif auth == "garbage":
        headers["Authorization"] = draw(
            st.sampled_from(["AWS4-HMAC-SHA256 Credential=", "Credential=////", "x"])
        )
    full_path = path + ("?" + query_text if query_text else "")
    return RawRequest(service, operation.name, method, full_path, tuple(headers.items()), body)


def _containers(value: Any) -> list[Any]:
    """Every dict and list in a JSON document, the document first."""
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


def _mutate_json(draw: st.DrawFn, body: bytes) -> bytes:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = {}
    if isinstance(document, dict):
        action = draw(st.sampled_from(("replace", "deep", "drop", "add", "wrap")))
        containers = _containers(document)
        if action == "deep" and len(containers) > 1:
            # A member or element anywhere below the top gets a value of another type.
            inner = draw(st.sampled_from(containers[1:]))
            if isinstance(inner, dict) and inner:
                inner[draw(st.sampled_from(sorted(inner)))] = draw(JUNK)
            elif isinstance(inner, list) and inner:
                inner[draw(st.integers(0, len(inner) - 1))] = draw(JUNK)
        keys = sorted(document)
        if action == "replace" and keys:
            document[draw(st.sampled_from(keys))] = draw(JUNK)
        elif action == "drop" and keys:
            document.pop(draw(st.sampled_from(keys)))
        elif action == "add":
            document[draw(TEXT)] = draw(JUNK)
        else:
            document = draw(st.sampled_from([[document], "text", 3, None, [[[[[]]]]] * 3]))
    return json.dumps(document).encode()


def _mutate_form(draw: st.DrawFn, body: bytes) -> bytes:
    pairs = [pair.split("=", 1) for pair in body.decode("latin-1").split("&") if pair]
    action = draw(st.sampled_from(("value", "drop", "add", "index")))
    if action == "value" and pairs:
        index = draw(st.integers(0, len(pairs) - 1))
        pairs[index] = [pairs[index][0], quote(str(draw(JUNK)))]
    elif action == "drop" and len(pairs) > 1:
        pairs.pop(draw(st.integers(1, len(pairs) - 1)))
    elif action == "index":
        pairs.append(
            [
                draw(
                    st.sampled_from(
                        [
                            "Attributes.entry.0.key",
                            "MessageAttributes.entry.999999.Name",
                            "Tags.member.-1.Key",
                            "Attributes.entry.1.value",
                        ]
                    )
                ),
                quote(draw(TEXT)),
            ]
        )
    else:
        pairs.append([quote(draw(TEXT)) or "x", quote(draw(TEXT))])
    return "&".join("=".join(pair) for pair in pairs).encode()


def _damage_body(
    draw: st.DrawFn, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Any:
    kind = headers.get("Content-Type", "")
    if "form-urlencoded" in kind:
        body = _mutate_form(draw, body)
    elif body.startswith(b"{") or "json" in kind:
        body = _mutate_json(draw, body)
    else:
        body = draw(st.binary(max_size=64))
    return method, path, query, headers, body


def _garbage_body(
    draw: st.DrawFn, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Any:
    choice = draw(st.sampled_from(("truncate", "bytes", "utf8", "deep", "empty", "huge-number")))
    if choice == "truncate":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif choice == "bytes":
        body = draw(st.binary(max_size=128))
    elif choice == "utf8":
        body = b'{"FunctionName": "\xff\xfe", "Name": "\xc3"}'
    elif choice == "deep":
        body = b"[" * 5000 + b"]" * 5000
    elif choice == "huge-number":
        body = b'{"Timeout": 1' + b"0" * 400 + b', "MaxItems": -1e999}'
    else:
        body = b""
    return method, path, query, headers, body


def _damage_path(
    draw: st.DrawFn, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Any:
    segments = path.split("/")
    if len(segments) > 2:
        segments[draw(st.integers(2, len(segments) - 1))] = draw(
            st.one_of(NASTY_TEXT.map(lambda text: quote(text, safe="%:$")), st.just("%"), st.just("%E9"))
        )
    path = "/".join(segments)
    query = draw(
        st.sampled_from(
            [
                query,
                query + "&" + query,
                "Qualifier=%ZZ",
                "Marker=&MaxItems=abc",
                "=&&=",
                "MaxItems=999999999999999999999",
                "Qualifier=",
            ]
        )
    )
    return method, path, query, headers, body


def _damage_headers(
    draw: st.DrawFn, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> Any:
    choice = draw(st.sampled_from(("target", "type", "method", "invocation", "encoding")))
    if choice == "target":
        headers["X-Amz-Target"] = draw(
            st.sampled_from(
                [
                    "AmazonSQS.",
                    "AmazonSQS",
                    "AWSEvents.Nope",
                    "Logs_20140328.",
                    ".",
                    "AmazonSQS.SendMessage.x",
                    "AWSEvents.PutRule",
                ]
            )
        )
    elif choice == "type":
        headers["Content-Type"] = draw(
            st.sampled_from(
                [
                    "",
                    "text/plain",
                    "application/x-amz-json-1.0; charset=%%",
                    "multipart/form-data; boundary=",
                    "application/x-www-form-urlencoded",
                ]
            )
        )
    elif choice == "method":
        method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "POST"]))
    elif choice == "invocation":
        headers["X-Amz-Invocation-Type"] = draw(st.sampled_from(["Event", "DryRun", "Nope", ""]))
        headers["X-Amz-Client-Context"] = draw(st.sampled_from(["!!!", "e30=", "bm90IGpzb24=", ""]))
        headers["X-Amz-Log-Type"] = draw(st.sampled_from(["Tail", "None", "x"]))
    else:
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "br", "x"]))
    return method, path, query, headers, body


def _intact(draw: st.DrawFn, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Any:
    # The generated values already break the model's constraints.
    return method, path, query, headers, body


_DAMAGE = (_intact, _intact, _damage_body, _damage_body, _garbage_body, _damage_path, _damage_headers)

OWN_PATHS = st.sampled_from(
    [
        "/_lambdalite/url/",
        "/_lambdalite/url/abc/x?y=%ZZ",
        "/_lambdalite/code/",
        "/_lambdalite/code/../../etc/passwd",
        "/_lambdalite/code/%00.zip",
        "/_lambdalite/keys",
        "/_lambdalite/keys/AKIA%",
        "/_lambdalite/async",
        "/_lambdalite/async/x",
        "/_lambdalite/",
        "/",
        "//",
        "*",
        "/2015-03-31/functions/%/invocations",
        "/2015-03-31/functions//configuration",
        "/2018-10-31/layers/%ZZ/versions/x",
        "/2017-03-31/tags/",
        "/?Action=SendMessage&QueueUrl=%ZZ",
        "/?Action=Publish",
        "/000000000000/%",
    ]
)


@st.composite
def raw_noise(draw: st.DrawFn) -> RawRequest:
    """A request on lambdalite's own paths and the odd corners of the routing rules."""
    headers = {
        "Content-Type": draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"])
        )
    }
    if draw(st.booleans()):
        headers["Host"] = draw(
            st.sampled_from(["abc.lambda-url.us-east-1.localhost", "x.lambda-url.", "%", ""])
        )
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    body = draw(st.one_of(st.binary(max_size=64), JUNK.map(lambda value: json.dumps(value).encode())))
    return RawRequest("raw", "noise", method, draw(OWN_PATHS), tuple(headers.items()), body)


def requests(services: tuple[str, ...] = SERVICES) -> st.SearchStrategy[RawRequest]:
    return st.one_of(model_request(services), model_request(services), model_request(services), raw_noise())
