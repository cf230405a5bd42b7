"""The front router: every request on lambdalite's port goes to the service that
serves it, picked from the request as AWS's endpoints would, in this order:

1. Host: a function URL's host (``<id>.lambda-url.<region>.localhost``);
2. ``X-Amz-Target``'s prefix (json-protocol services: ``Logs_20140328.PutLogEvents``);
3. lambdalite's own paths, ``/_lambdalite/<surface>/...`` (function URLs without DNS,
   code downloads);
4. the SigV4 credential scope's service name: ``Credential=AKID/DATE/REGION/SERVICE/aws4_request``
   in the Authorization header, or ``X-Amz-Credential`` in a presigned URL's query;
5. REST path prefixes, for requests that are not signed (curl on the Lambda API);
6. the ``Action`` of an unsigned query-protocol request (a form post or a query string:
   ``Action=SendMessage``), when one service claims that action.

A request no service claims gets AWS's UnknownOperationException, never a 5xx.

Under ``--auth sigv4`` (a ``Verifier`` given) every request a route marks ``verify`` is
checked before its service sees it; a refusal is answered in the route's ``protocol``
(``auth.errors.failure_response``). Function URLs (their AuthType NONE is public, as on
AWS) and code downloads (GetFunction's Code.Location, which carries its own signature:
``api.code_links``) are not verified.

Adding a service is one module (a class with ``async def handle(request) -> Response``)
and one line in ``SERVICES``.

``Router.handle`` never raises: LambdaErrors become AWS-shaped responses
through ``wire.error_response``; anything else is logged and answered as a
ServiceException.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson

from lambdalite.api.event_invoke_api import BacklogService
from lambdalite.api.function_urls import URL_HOST_MARK, FunctionUrlApi
from lambdalite.api.lambda_api import LambdaApi
from lambdalite.api.lambda_routes import MAX_BODY, PATHS, LambdaService
from lambdalite.api.surfaces import LOGS_TARGET, CodeDownloads, FunctionUrlService, LogsService
from lambdalite.api.topic_bus_routes import build_events, build_scheduler, build_sns
from lambdalite.api.wire import Response, error_body, error_response
from lambdalite.auth.admin_api import KeysService
from lambdalite.auth.authorize import AccessDenied
from lambdalite.auth.authorize_context import begin_acting, end_acting
from lambdalite.auth.authorize_routes import LambdaAuthorization, authorize_service_request
from lambdalite.auth.errors import AuthFailure, MissingAuthenticationToken, failure_response
from lambdalite.auth.keys import AccessKeys
from lambdalite.auth.sigv4 import Verifier
from lambdalite.errors import LambdaError, ServiceError, UnknownOperation
from lambdalite.events import lineage
from lambdalite.http import HttpRequest, StreamingResponse
from lambdalite.models import FunctionUrlConfig, ResourcePolicy
from lambdalite.observe.logs import LogStore
from lambdalite.services.access import ResourceAccess
from lambdalite.services.iam import IamFront
from lambdalite.services.s3 import HOST_MARK as S3_HOST_MARK
from lambdalite.services.s3 import SIGNING_NAME as S3_SIGNING_NAME
from lambdalite.services.s3 import S3Front
from lambdalite.services.secretsmanager import SecretsManagerFront
from lambdalite.services.sns import URL_ACTIONS as SNS_URL_ACTIONS
from lambdalite.services.sqs import ACTIONS as SQS_ACTIONS
from lambdalite.services.sqs import SIGNING_NAME as SQS_SIGNING_NAME
from lambdalite.services.sqs import TARGET_PREFIX as SQS_TARGET
from lambdalite.services.sqs import SqsFront
from lambdalite.services.sts import Security, StsFront
from lambdalite.store.buses import BusStore
from lambdalite.store.code import CodePackages
from lambdalite.store.objects import ObjectStore
from lambdalite.store.queues import QueueStore
from lambdalite.store.scheduler_docs import SchedulerStore
from lambdalite.store.schedules import ScheduleStore
from lambdalite.store.secrets import SecretStore
from lambdalite.store.topics import TopicStore

__all__ = ["MAX_BODY", "SERVICES", "Router", "ServiceContext", "layer_error", "signing_service"]

log = logging.getLogger("lambdalite.api")

OWN_PREFIX = "/_lambdalite/"
QUERY_OR_JSON = "query-or-json"


class Service(Protocol):
    def handle(self, request: HttpRequest) -> Awaitable[Response | StreamingResponse]:
        """Answer one request (an ``async def``, or a plain method returning what to
        await); raise LambdaError for the one error table."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """What services are built from (the composition root's pieces)."""

    api: LambdaApi
    urls: FunctionUrlApi
    code: CodePackages
    logs: LogStore
    region: str
    account_id: str
    queues: QueueStore | None = None
    """The SQS queue store (None: the SQS service is not built)."""
    topics: TopicStore | None = None
    """The SNS topic store (None: the SNS service is not built)."""
    buses: BusStore | None = None
    """The EventBridge bus store (None: the events service is not built)."""
    schedules: ScheduleStore | None = None
    """Schedule timers (None: scheduled rules are stored but never fire)."""
    scheduler: SchedulerStore | None = None
    """EventBridge Scheduler's schedules (None: the scheduler service is not built)."""
    keys: AccessKeys | None = None
    """lambdalite's access keys (the /_lambdalite/keys surface)."""
    security: Security | None = None
    """IAM, temporary credentials and the authorizer (None: the IAM and STS services are not built)."""
    service_invoke_check: Callable[[str, str | None], None] | None = None
    """Under sigv4: may the service invoking a function (an SNS delivery, a rule) do so?"""
    resource_access: ResourceAccess | None = None
    """Under sigv4: how queues and topics authorize requests with their own policies."""
    objects: ObjectStore | None = None
    """The S3 object store (None: the S3 service is not built)."""
    secrets: SecretStore | None = None
    """Secrets Manager's store (None: the Secrets Manager service is not built)."""
    built: dict[str, Service] = field(default_factory=dict)
    """The services built so far, by route name: how one service reaches a sibling
    (SNS delivering to SQS) once everything is built."""


@dataclass(frozen=True, slots=True)
class ServiceRoute:
    """How to recognise one service's requests, and how to build it."""

    name: str
    build: Callable[[ServiceContext], Service | None]
    """The service, or None when the context lacks what it needs (it is then not routed)."""
    signing_names: tuple[str, ...] = ()
    """SigV4 credential-scope service names."""
    targets: tuple[bytes, ...] = ()
    """``X-Amz-Target`` prefixes (the part before the dot)."""
    own_paths: tuple[str, ...] = ()
    """Surfaces under ``/_lambdalite/`` (the path segment after it)."""
    paths: tuple[str, ...] = ()
    """REST path prefixes, for unsigned requests."""
    hosts: tuple[bytes, ...] = ()
    """Marks in the Host header."""
    configured_hosts: Callable[[ServiceContext], tuple[bytes, ...]] = lambda _context: ()
    """Marks in the Host header that come from the configuration (an operator's domain)."""
    actions: frozenset[str] = frozenset()
    """Query-protocol ``Action`` names, for unsigned form posts."""
    fallback: bool = False
    """Serves the unsigned requests nothing else claims (S3: any path is a bucket's)."""
    verify: bool = True
    """Under ``--auth sigv4``, check the request's signature before the service sees it."""
    protocol: str = "rest-json"
    """The AWS protocol a signature refusal is answered in (``auth.errors.PROTOCOLS``);
    ``QUERY_OR_JSON``: json-query when the request has ``X-Amz-Target``, else query."""
    public_actions: frozenset[str] = frozenset()
    """Query ``Action`` names AWS serves without a signature when the request is unsigned
    (SNS's SubscribeURL and UnsubscribeURL links)."""


SERVICES: tuple[ServiceRoute, ...] = (
    ServiceRoute(
        "function-urls",
        lambda c: FunctionUrlService(c.urls, c.region),
        hosts=(URL_HOST_MARK,),
        configured_hosts=lambda c: c.urls.host_marks(),
        own_paths=("url",),
        verify=False,
    ),
    ServiceRoute(
        "code", lambda c: CodeDownloads(c.code, c.api.code_links), own_paths=("code",), verify=False
    ),
    ServiceRoute("async-backlog", lambda c: BacklogService(c.api), own_paths=("async",)),
    ServiceRoute("keys", lambda c: KeysService(c.keys), own_paths=("keys",)),
    ServiceRoute(
        "logs",
        lambda c: LogsService(c.logs, c.region, c.account_id),
        signing_names=("logs",),
        targets=(LOGS_TARGET,),
        protocol="json",
    ),
    ServiceRoute(
        "sqs",
        lambda c: (
            SqsFront(c.queues, c.region, c.account_id, access=c.resource_access)
            if c.queues is not None
            else None
        ),
        signing_names=(SQS_SIGNING_NAME,),
        targets=(SQS_TARGET,),
        actions=SQS_ACTIONS,
        protocol=QUERY_OR_JSON,
    ),
    ServiceRoute(
        "sns",
        build_sns,
        signing_names=("sns",),
        actions=SNS_URL_ACTIONS,
        protocol="query",
        public_actions=SNS_URL_ACTIONS,
    ),
    ServiceRoute("events", build_events, signing_names=("events",), targets=(b"AWSEvents",), protocol="json"),
    ServiceRoute("scheduler", build_scheduler, signing_names=("scheduler",)),
    ServiceRoute(
        "iam",
        lambda c: IamFront(c.security.directory, c.keys) if c.security is not None else None,
        signing_names=("iam",),
        protocol="query",
    ),
    ServiceRoute(
        "sts",
        lambda c: StsFront(c.security) if c.security is not None else None,
        signing_names=("sts",),
        protocol="query",
    ),
    ServiceRoute(
        "secretsmanager",
        lambda c: SecretsManagerFront(c.secrets, c.region, c.account_id) if c.secrets is not None else None,
        signing_names=("secretsmanager",),
        targets=(b"secretsmanager",),
        protocol="json",
    ),
    ServiceRoute("lambda", lambda c: LambdaService(c.api, c.urls), signing_names=("lambda",), paths=PATHS),
    # An unsigned request that no other service claims is a bucket's.
    ServiceRoute(
        "s3",
        lambda c: S3Front(c.objects, c.region) if c.objects is not None else None,
        signing_names=(S3_SIGNING_NAME,),
        hosts=(S3_HOST_MARK,),
        fallback=True,
        protocol="rest-xml",
    ),
)


class UnknownService(UnknownOperation):
    """A signed request for a service lambdalite does not serve (boto3 in a function
    reaches every service at AWS_ENDPOINT_URL): ``__type`` too, which the json
    protocols' clients read the code from."""

    def extra_body(self) -> dict[str, str]:
        return {"__type": self.code}


def signing_service(request: HttpRequest) -> str | None:
    """The service name of the request's SigV4 credential scope, if it is signed."""
    authorization = request.headers.get(b"authorization")
    if authorization is not None:
        at = authorization.find(b"Credential=")
        if at < 0:
            return None
        scope = authorization[at + 11 :].split(b",", 1)[0].split(b"/")
        return scope[3].decode("latin-1").strip() if len(scope) >= 5 else None
    if b"X-Amz-Credential" in request.query:
        for key, value in parse_qsl(request.query.decode("latin-1")):
            if key == "X-Amz-Credential":
                parts = value.split("/")
                return parts[3] if len(parts) >= 5 else None
    return None


def query_action(request: HttpRequest) -> str:
    """The ``Action`` parameter of a query-protocol request (form body or query string), or ""."""
    form = b"form-urlencoded" in request.headers.get(b"content-type", b"")
    for raw in (request.body if form else b"", request.query):
        if b"Action=" in raw:
            for key, value in parse_qsl(raw.decode("latin-1")):
                if key == "Action":
                    return value
    return ""


class Router:
    """``await router.handle(request)`` -> Response, for every HTTP surface."""

    def __init__(
        self,
        api: LambdaApi,
        code: CodePackages,
        logs: LogStore,
        region: str,
        account_id: str,
        services: tuple[ServiceRoute, ...] = SERVICES,
        queues: QueueStore | None = None,
        topics: TopicStore | None = None,
        buses: BusStore | None = None,
        schedules: ScheduleStore | None = None,
        scheduler: SchedulerStore | None = None,
        objects: ObjectStore | None = None,
        *,
        keys: AccessKeys | None = None,
        verifier: Verifier | None = None,
        security: Security | None = None,
        secrets: SecretStore | None = None,
    ) -> None:
        urls = FunctionUrlApi(api)
        authorizer = security.authorizer if security is not None and verifier is not None else None
        self._authorizer = authorizer
        self._lambda_authorization: LambdaAuthorization | None = None
        if authorizer is not None:
            self._lambda_authorization = LambdaAuthorization(
                authorizer, region, account_id, _policy_or_none(api)
            )
        if verifier is not None:
            check = self._lambda_authorization
            prefix = api.settings.arn_prefix()
            urls.refuse_unsigned = lambda request, url: url_refusal(verifier, request, url, check, prefix)
        context = ServiceContext(
            api,
            urls,
            code,
            logs,
            region,
            account_id,
            queues,
            topics,
            buses,
            schedules,
            scheduler,
            keys,
            security,
            self._lambda_authorization.check_service_invoke if self._lambda_authorization else None,
            objects=objects,
            secrets=secrets,
            resource_access=ResourceAccess(authorizer) if authorizer is not None else None,
        )
        self.services = context.built
        self._region = region
        self._account_id = account_id
        self._verifier = verifier
        self.verifier = verifier
        """The signature verifier every surface uses (None under ``--auth none``): the audit
        log names principals with it, temporary credentials included."""
        self._route_of: dict[int, tuple[ServiceRoute, bool]] = {}
        """id(service) -> its route, and whether its requests carry a lineage on."""
        self.function_urls = context.urls
        """Function URLs' config operations and serving (its ``base`` is the FunctionUrl form)."""
        self._hosts: list[tuple[bytes, Service]] = []
        self._targets: dict[bytes, Service] = {}
        self._own: dict[str, Service] = {}
        self._signed: dict[str, Service] = {}
        self._paths: list[tuple[str, Service]] = []
        self._actions: dict[str, Service] = {}
        self._fallback: Service | None = None
        self._services: list[Service] = []
        for route in services:
            service = route.build(context)
            if service is None:
                continue
            if isinstance(service, LambdaService):
                service.authorization = self._lambda_authorization
            context.built[route.name] = service
            marks = dict.fromkeys((*route.hosts, *route.configured_hosts(context)))
            self._hosts.extend((mark, service) for mark in marks)
            self._services.append(service)
            self._route_of[id(service)] = (route, route.name in lineage.CARRIERS)
            self._targets.update(dict.fromkeys(route.targets, service))
            self._own.update(dict.fromkeys(route.own_paths, service))
            self._signed.update(dict.fromkeys(route.signing_names, service))
            self._paths.extend((prefix, service) for prefix in route.paths)
            for action in route.actions:
                self._actions.setdefault(action, service)
            if route.fallback and self._fallback is None:
                self._fallback = service

        self._host_marks = (
            re.compile(b"|".join(re.escape(mark) for mark, _ in self._hosts)) if self._hosts else None
        )
        """Matches a Host header that holds any mark of ``_hosts``."""

    def quiesce(self) -> None:
        """The server is stopping: every service that holds requests open (long polls)
        answers them now, so that they do not hold the shutdown's grace period."""
        for service in self._services:
            quiesce = getattr(service, "quiesce", None)
            if quiesce is not None:
                quiesce()

    async def handle(self, request: HttpRequest) -> Response | StreamingResponse:
        try:
            service = self.service_for(request)
        except UnknownOperation as error:
            if self._verifier is not None:  # tell an unsigned caller nothing about what exists
                try:
                    self._verifier.verify(request)
                except AuthFailure as failure:
                    return failure_response(failure)
            return error_response(error)
        route, carries = self._route_of[id(service)]
        # The caller's X-Ray header: its Lineage travels on with what this request stores
        # (through the services AWS counts a loop through, and no others). Context
        # variables are set and reset by token: this runs on every request, and a
        # generator-based context manager costs more than the rest of the routing.
        header = request.headers.get(b"x-amzn-trace-id") if carries else None
        carried = lineage.incoming.set(None if header is None else header.decode("latin-1") or None)
        acting = None
        try:
            if (
                self._verifier is not None
                and route.verify
                and not (route.public_actions and _public(route, request))  # no call for most routes
            ):
                acting = begin_acting(self._verifier.verify(request, route.signing_names))
                if self._authorizer is not None and route.name != "lambda":
                    authorize_service_request(
                        self._authorizer, route.name, request, self._region, self._account_id
                    )
            return await service.handle(request)
        except AuthFailure as failure:
            protocol = route.protocol
            if protocol == QUERY_OR_JSON:
                protocol = "json-query" if b"x-amz-target" in request.headers else "query"
            return failure_response(failure, protocol)
        except LambdaError as error:
            return error_response(error)
        except Exception:
            log.exception("unhandled error serving %s %s", request.method, request.path)
            return error_response(ServiceError("An internal error occurred."))
        finally:
            if acting is not None:
                end_acting(acting)
            lineage.incoming.reset(carried)

    def stream_route(self, request: HttpRequest) -> Callable[[HttpRequest], Any] | None:
        """The HTTP layer's StreamRoute: ``handle`` for a request whose service reads
        its body as a stream (``streams_body``), None to buffer it as usual."""
        try:
            service = self.service_for(request)
        except LambdaError:
            return None
        if (
            service is self._fallback
            and b"form-urlencoded" in request.headers.get(b"content-type", b"")
            and signing_service(request) is None
        ):
            return None  # an unsigned form post may name its Action in the body: buffer it, then route
        return self.handle if getattr(service, "streams_body", False) else None

    def service_for(self, request: HttpRequest) -> Service:
        """The service that serves ``request``; raises UnknownOperation when none does.
        A decision that does not depend on the body is kept in ``request.route``: the
        HTTP layer asks at the head (``stream_route``), the audit hook and ``handle``
        after it, and the request is routed once."""
        routed = request.route
        if routed is not None:
            return routed  # type: ignore[return-value]
        service = self._head_service(request)
        if service is not None:
            request.route = service
            return service
        # Unsigned, unclaimed by its head: an Action in a form body, or the fallback.
        action = self._actions.get(query_action(request)) if self._actions else None
        if action is not None:
            return action
        if self._fallback is not None:
            return self._fallback
        raise UnknownOperation("Unknown operation")

    def _head_service(self, request: HttpRequest) -> Service | None:
        """The service ``request``'s head names (Host, target, path, signature), or None."""
        headers = request.headers
        if self._host_marks is not None:
            host = headers.get(b"host")
            # One search for any mark (most hosts carry none), then the marks in their order.
            if host is not None and self._host_marks.search(host) is not None:
                for mark, service in self._hosts:
                    if mark in host:
                        return service
        target = headers.get(b"x-amz-target")
        if target is not None:
            by_target = self._targets.get(target.split(b".", 1)[0])
            if by_target is not None:
                return by_target
        path = request.path
        if path.startswith(OWN_PREFIX):
            own = self._own.get(path[len(OWN_PREFIX) :].split("/", 1)[0])
            if own is not None:
                return own
            # No bucket is named "_lambdalite": never the object store's fallback (the
            # audit surface, for one, is served in front of the router).
            raise UnknownOperation("Unknown operation")
        name = signing_service(request)
        if name is not None:
            signed = self._signed.get(name)
            if signed is not None:
                return signed
            raise UnknownService(f"Unknown service: {name}")
        for prefix, service in self._paths:
            if path.startswith(prefix):
                return service
        return None


def _policy_or_none(api: LambdaApi) -> Callable[[str, str], ResourcePolicy | None]:
    return api.registries.policies.find_policy


def _public(route: ServiceRoute, request: HttpRequest) -> bool:
    """Is ``request`` an unsigned call of one of the route's public actions? Every
    ``Action`` it carries (form body and query) must be that one public action, so that
    a second ``Action`` cannot slip a signed-only operation past the check."""
    if not route.public_actions or b"authorization" in request.headers or b"X-Amz-" in request.query:
        return False
    form = b"form-urlencoded" in request.headers.get(b"content-type", b"")
    actions = {
        value
        for raw in (request.body if form else b"", request.query)
        for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        if key == "Action"
    }
    return len(actions) == 1 and actions <= route.public_actions


URL_FORBIDDEN = (
    "Forbidden. For troubleshooting Function URL authorization issues, "
    "see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)


def url_refusal(
    verifier: Verifier,
    request: HttpRequest,
    url: FunctionUrlConfig | None = None,
    authorization: LambdaAuthorization | None = None,
    arn_prefix: str = "",
) -> Response | None:
    """How an AuthType AWS_IAM function URL refuses a request without a valid signature
    or whose signer's policies (or the function's) do not allow lambda:InvokeFunctionUrl
    (None: allowed): AWS's "Forbidden" for an unsigned or unauthorized one, the
    signature's own refusal otherwise, all 403 AccessDeniedException."""
    try:
        principal = verifier.verify(request, ("lambda",))
        if authorization is not None and url is not None:
            authorization.check_url(principal, url.function_arn(arn_prefix))
    except (MissingAuthenticationToken, AccessDenied):
        message = URL_FORBIDDEN
    except AuthFailure as failure:
        message = failure.message
    else:
        return None
    headers = [
        (b"x-amzn-errortype", b"AccessDeniedException"),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
    ]
    return Response(403, orjson.dumps({"Message": message}), headers)


_LAYER_ERRORS = {
    400: "BadRequestException",
    408: "RequestTimeoutException",
    431: "RequestHeaderFieldsTooLargeException",
    503: "ServiceUnavailableException",
}


def layer_error(status: int, message: str) -> Response:
    """An answer the HTTP layer gives itself (malformed request, timeout, bounds), AWS-shaped."""
    code = _LAYER_ERRORS.get(status, "ServiceException")
    headers = [(b"x-amzn-errortype", code.encode()), (b"x-amzn-requestid", str(uuid.uuid4()).encode())]
    body = orjson.dumps(error_body(code, message, "User" if status < 500 else "Service"))
    return Response(status, body, headers)
