"""The protocol layer's round trip, proven by botocore itself: every operation's
input serialized by botocore's own serializer is parsed back by ours into the same
values, and every output we serialize is parsed by botocore's own parser into the
values the handler returned, in the json and the query protocol, for SQS (both),
EventBridge and CloudWatch Logs (json 1.0/1.1), STS and SNS (query). Errors likewise."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore import parsers, serialize
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

from lambdalite.http.message import HttpRequest
from lambdalite.protocol import ProtocolFront, ServiceFault
from lambdalite.protocol.front import current_call
from lambdalite.protocol.model import QueryTraits, load_model, raw_model
from lambdalite.services.sqs.traits import SQS_QUERY_TRAITS


def sample(shape: Shape, depth: int = 0, name: str = "v") -> Any:
    """A value of every member of ``shape``, made up (two items per list and map;
    members nested deeper than 4 levels left out)."""
    if isinstance(shape, StructureShape):
        if shape.is_tagged_union:
            member = next(iter(shape.members))
            return {member: sample(shape.members[member], depth + 1, member)}
        return {
            member: sample(member_shape, depth + 1, member)
            for member, member_shape in shape.members.items()
            if not member_shape.serialization.get("location")
            and (depth < 4 or member_shape.type_name not in ("structure", "list", "map"))
        }
    if isinstance(shape, ListShape):
        return [sample(shape.member, depth + 1, f"{name}{i}") for i in range(2)]
    if isinstance(shape, MapShape):
        return {f"k{i}": sample(shape.value, depth + 1, f"{name}{i}") for i in range(2)}
    kind = shape.type_name
    if kind == "string":
        choices = shape.enum
        return choices[0] if choices else f"{name} <&> é"
    if kind in ("integer", "long"):
        return 7
    if kind in ("float", "double"):
        return 1.5
    if kind == "boolean":
        return True
    if kind == "blob":
        return b"\x00\xffbin"
    if kind == "timestamp":
        return dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    raise AssertionError(kind)


def query_model(service: str, traits: QueryTraits | None) -> ServiceModel:
    """The model as an older SDK saw it: protocol query."""
    data = raw_model(service, traits)
    data["metadata"]["protocol"] = "query"
    data["metadata"]["protocols"] = ["query"]
    return ServiceModel(data, service_name=service)


class Recorder:
    """Handlers for every operation: record the input, answer ``answers[operation]``."""

    def __init__(self, model: ServiceModel, fail: ServiceFault | None = None) -> None:
        self.seen: dict[str, Any] = {}
        self.answers = {
            name: sample(model.operation_model(name).output_shape)
            if model.operation_model(name).output_shape is not None
            else {}
            for name in model.operation_names
        }
        self.fail = fail
        for name in model.operation_names:
            setattr(self, _snake(name), self._handler(name))

    def _handler(self, name: str) -> Any:
        async def handle(request: dict[str, Any]) -> dict[str, Any]:
            assert current_call().operation == name
            self.seen[name] = request
            if self.fail is not None:
                raise self.fail
            return dict(self.answers[name])

        return handle


def _snake(name: str) -> str:
    from botocore import xform_name

    return xform_name(name)


def run(
    front: ProtocolFront, method: str, headers: dict[bytes, bytes], body: bytes, query: bytes = b""
) -> Any:
    request = HttpRequest(method, "/", query, headers, body, len(body))
    return asyncio.run(front.handle(request))


def botocore_request(protocol: str, model: ServiceModel, op: OperationModel, params: dict[str, Any]) -> Any:
    request = serialize.create_serializer(protocol, include_validation=False).serialize_to_request(params, op)
    headers = {key.lower().encode(): str(value).encode() for key, value in request["headers"].items()}
    headers[b"host"] = b"127.0.0.1:9001"
    body = request["body"]
    if isinstance(body, dict):
        headers[b"content-type"] = b"application/x-www-form-urlencoded; charset=utf-8"
        body = urlencode(body)
    return headers, body.encode() if isinstance(body, str) else body


def botocore_parse(protocol: str, op: OperationModel, response: Any) -> dict[str, Any]:
    headers = {name.decode(): value.decode() for name, value in response.headers}
    parsed: dict[str, Any] = parsers.create_parser(protocol).parse(
        {"body": response.body, "headers": headers, "status_code": response.status}, op.output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


CASES = [
    ("sqs", SQS_QUERY_TRAITS, "json"),
    ("sqs", SQS_QUERY_TRAITS, "query"),
    ("events", None, "json"),
    ("logs", None, "json"),
    ("sts", None, "query"),
    ("sns", None, "query"),
]


def _operations(service: str, traits: QueryTraits | None) -> list[str]:
    return list(load_model(service, traits).operation_names)


@pytest.mark.parametrize(("service", "traits", "protocol"), CASES)
def test_every_operation_round_trips_through_botocore(
    service: str, traits: QueryTraits | None, protocol: str
) -> None:
    model = load_model(service, traits)
    # Current SDKs speak json with the model as botocore ships it (no query traits);
    # a query-only model (sts, sns) is its own client model.
    native = load_model(service)
    client_model = native if protocol == native.protocol else query_model(service, traits)
    recorder = Recorder(model)
    front = ProtocolFront(model, recorder)
    for name in model.operation_names:
        op = client_model.operation_model(name)
        if op.has_event_stream_output:
            continue  # event streams (Logs' StartLiveTail) are not served by the protocol layer
        params = sample(op.input_shape) if op.input_shape is not None else {}
        headers, body = botocore_request(protocol, client_model, op, params)
        response = run(front, "POST", headers, body)
        assert response.status == 200, (name, response.body)
        assert recorder.seen[name] == params, name
        assert botocore_parse(protocol, op, response) == recorder.answers[name], name


def _error(protocol: str, fault: ServiceFault) -> dict[str, Any]:
    model = load_model("sqs", SQS_QUERY_TRAITS)
    client_model = load_model("sqs") if protocol == "json" else query_model("sqs", SQS_QUERY_TRAITS)
    front = ProtocolFront(model, Recorder(model, fail=fault))
    op = client_model.operation_model("GetQueueUrl")
    headers, body = botocore_request(protocol, client_model, op, {"QueueName": "q"})
    response = run(front, "POST", headers, body)
    parsed = botocore_parse(protocol, op, response)
    parsed["status"] = response.status
    return parsed


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_a_fault_reaches_botocore_with_the_query_compatible_code(protocol: str) -> None:
    fault = ServiceFault("QueueDoesNotExist", "The specified queue does not exist.", query_code="AWS.X.Gone")
    parsed = _error(protocol, fault)
    assert parsed["status"] == 400
    assert parsed["Error"]["Code"] == "AWS.X.Gone"
    assert parsed["Error"]["Message"] == "The specified queue does not exist."
    assert parsed["Error"]["Type"] == "Sender"


def test_a_receiver_fault_is_typed_so() -> None:
    fault = ServiceFault("InternalFailure", "boom", 500, sender_fault=False)
    assert _error("query", fault)["Error"]["Type"] == "Receiver"
    assert _error("json", fault)["status"] == 500


def test_unknown_operations_and_bad_input_are_answered_in_the_protocol() -> None:
    model = load_model("sqs", SQS_QUERY_TRAITS)
    recorder = Recorder(model)
    front = ProtocolFront(model, recorder)
    json_headers = {b"x-amz-target": b"AmazonSQS.Nope", b"content-type": b"application/x-amz-json-1.0"}
    response = run(front, "POST", json_headers, b"{}")
    assert response.status == 400
    assert b"UnknownOperationException" in response.body
    json_headers[b"x-amz-target"] = b"AmazonSQS.GetQueueUrl"
    assert b"SerializationException" in run(front, "POST", json_headers, b"[1]").body
    assert b"SerializationException" in run(front, "POST", json_headers, b'{"QueueName": 5}').body
    missing = run(front, "POST", json_headers, b"{}")
    assert b"MissingParameter" in missing.body
    assert b"The request must contain the parameter QueueName." in missing.body
    form = {b"content-type": b"application/x-www-form-urlencoded"}
    invalid = run(front, "POST", form, b"Action=Nope&Version=2012-11-05")
    assert b"<Code>InvalidAction</Code>" in invalid.body
    assert b"The action Nope is not valid for this web service." in invalid.body
    bad_number = run(front, "POST", form, b"Action=ReceiveMessage&QueueUrl=q&MaxNumberOfMessages=ten")
    assert b"<Code>MalformedQueryString</Code>" in bad_number.body
    # A member sent under its own name instead of its query name (Java SDK v1's TagQueue).
    tagged = run(front, "POST", form, b"Action=TagQueue&QueueUrl=q&Tags.1.Key=k&Tags.1.Value=v")
    assert tagged.status == 200
    assert recorder.seen["TagQueue"] == {"QueueUrl": "q", "Tags": {"k": "v"}}
    # A GET with the parameters in the query string is a query request too.
    got = run(front, "GET", {}, b"", b"Action=GetQueueUrl&QueueName=q")
    assert got.status == 200
    assert b"<GetQueueUrlResponse" in got.body
