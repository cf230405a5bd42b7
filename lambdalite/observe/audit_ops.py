"""Which operation a request is, and what it names: read from botocore's models.

``Operations.identify(service, request)`` -> ``Identified`` (``service:Operation`` and
the resource) for the front router's route name of the request, or None for a
data-plane call, which the audit log does not record:

- Lambda: Invoke, InvokeAsync, InvokeWithResponseStream; function URLs; code downloads;
- SQS: sending, receiving and deleting messages, changing their visibility;
- SNS: Publish, PublishBatch; EventBridge: PutEvents;
- CloudWatch Logs: PutLogEvents, GetLogEvents, FilterLogEvents.

These run at thousands a second; every other call (creating, changing, deleting,
listing and reading the configuration of anything) is control plane and recorded.
REST operations (Lambda, Scheduler) are matched by method and URI template, JSON ones
by ``X-Amz-Target``, query ones by ``Action``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

import orjson

from lambdalite.http import HttpRequest
from lambdalite.protocol.model import load_model

DATA_PLANE = frozenset(
    {
        "lambda:Invoke",
        "lambda:InvokeAsync",
        "lambda:InvokeWithResponseStream",
        "sqs:SendMessage",
        "sqs:SendMessageBatch",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:DeleteMessageBatch",
        "sqs:ChangeMessageVisibility",
        "sqs:ChangeMessageVisibilityBatch",
        "sns:Publish",
        "sns:PublishBatch",
        "events:PutEvents",
        "logs:PutLogEvents",
        "logs:GetLogEvents",
        "logs:FilterLogEvents",
    }
)
UNAUDITED_ROUTES = frozenset({"function-urls", "code"})
"""Routes that serve only data-plane traffic (a function URL is an invocation)."""
OWN_OPERATIONS = {
    ("keys", "GET"): "ListAccessKeys",
    ("keys", "POST"): "CreateAccessKey",
    ("keys", "DELETE"): "DeleteAccessKey",
}
_MODELED = {
    "lambda": "lambda",
    "sqs": "sqs",
    "sns": "sns",
    "events": "events",
    "logs": "logs",
    "scheduler": "scheduler",
}
"""Front-router route name -> botocore service name."""
RESOURCE_MEMBERS = (
    "FunctionName",
    "QueueUrl",
    "QueueName",
    "TopicArn",
    "SubscriptionArn",
    "ResourceArn",
    "Name",
    "EventBusName",
    "Rule",
    "logGroupName",
    "Arn",
)
"""Body members that name what a JSON or query call acts on, the first present wins."""
MAX_RESOURCE = 256


@dataclass(frozen=True, slots=True)
class Identified:
    operation: str
    resource: str


@dataclass(frozen=True, slots=True)
class _Template:
    method: str
    pattern: re.Pattern[str]
    operation: str
    literal: int
    """Characters outside the parameters: the more, the more specific the template."""


@functools.cache
def _templates(service: str) -> tuple[_Template, ...]:
    model = load_model(service)
    templates = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http.get("requestUri", "/").split("?", 1)[0]
        literal = len(re.sub(r"\{[^}]+\}", "", uri))
        regex = re.sub(r"\\\{[A-Za-z0-9]+\\\+\\\}", "(.+)", re.escape(uri))
        regex = re.sub(r"\\\{[A-Za-z0-9]+\\\}", "([^/]+)", regex)
        templates.append(_Template(http.get("method", "POST"), re.compile(regex + "/?$"), name, literal))
    return tuple(sorted(templates, key=lambda template: -template.literal))


def _rest(service: str, request: HttpRequest) -> Identified:
    for template in _templates(service):
        if template.method != request.method:
            continue
        match = template.pattern.match(request.path)
        if match is not None:
            resource = match.group(1) if match.groups() else _named_resource(_body_members(request))
            return Identified(f"{service}:{template.operation}", resource)
    return Identified(f"{service}:unknown", request.path)


def _body_members(request: HttpRequest) -> dict[str, object]:
    form = b"form-urlencoded" in request.headers.get(b"content-type", b"")
    if form or not request.body:
        return dict(parse_qsl((request.body if form else request.query).decode("latin-1")))
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _rpc(service: str, request: HttpRequest) -> Identified:
    members = _body_members(request)
    target = request.headers.get(b"x-amz-target")
    if target is not None:
        name = target.decode("latin-1").rpartition(".")[2]
    else:
        name = str(members.get("Action", ""))
    return Identified(f"{service}:{name or 'unknown'}", _named_resource(members))


def _named_resource(members: dict[str, object]) -> str:
    return str(next((members[key] for key in RESOURCE_MEMBERS if isinstance(members.get(key), str)), ""))


def _is_invocation(request: HttpRequest) -> bool:
    # The hot path: decided without a template search.
    path = request.path
    return request.method == "POST" and (
        path.endswith(("/invocations", "/invoke-async", "/invoke-async/", "/response-streaming-invocations"))
    )


def identify(route: str, request: HttpRequest) -> Identified | None:
    """The operation and resource of a request the front router gave to ``route``
    (``None``: data plane, not audited; route "" means no service claimed it)."""
    if route in UNAUDITED_ROUTES or (route == "lambda" and _is_invocation(request)):
        return None
    service = _MODELED.get(route)
    if service is None:
        head = request.path.removeprefix("/_lambdalite/").split("/", 1)
        own = OWN_OPERATIONS.get((route, request.method), f"{request.method} {request.path}")
        found = Identified(f"lambdalite:{own}", head[1] if len(head) > 1 else "")
        if not route:
            found = Identified("unknown", request.path)
    elif load_model(service).protocol.startswith("rest"):
        found = _rest(service, request)
    else:
        found = _rpc(service, request)
    if found.operation in DATA_PLANE:
        return None
    return Identified(found.operation, found.resource[:MAX_RESOURCE])
