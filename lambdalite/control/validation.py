"""Lambda API requests parsed at the edge into typed values; the core never sees raw JSON.

A request body (the decoded JSON of the REST call) goes through three gates, in
the order AWS's front end applies them:

1. JSON types against the service model. A value of the wrong JSON type for a
   member the model knows is refused with ``InvalidRequestContentException``
   "Could not parse request body into json: ..." (the code and prefix Lambda
   uses when it cannot bind a request; the rest of the text is ours). JSON
   ``null`` reads as absent. Members the model does not know are ignored, as
   AWS's JSON front end ignores them; members it knows but lambdalite does not
   implement (VpcConfig, ...) are type- and constraint-checked,
   then reported in ``ignored_members`` for the caller to decide on.
2. The model's constraints (required, length, pattern, enum, range), every
   violation at once, as one ``ValidationException`` worded like AWS's:
   ``2 validation errors detected: Value '0' at 'timeout' failed to satisfy
   constraint: Member must have value greater than or equal to 1; ...``.
   Timeout, MemorySize and EphemeralStorage use AWS's standard-function limits
   (see ``service_model.SERVICE_LIMITS``).
3. Lambda's own rules, the first failure wins, as ``InvalidParameterValueException``
   with AWS's texts: runtime, Runtime/Handler required for a .zip package,
   the code source, reserved and oversized environment variables.

Runtimes: a value outside the model's enum gets AWS's enum message. A runtime
in the enum that lambdalite cannot run gets AWS's deprecation message if AWS
itself blocks it (``AWS_BLOCKED_RUNTIMES``), and otherwise (java21, dotnet8,
ruby3.3, ...) the same shape of message saying lambdalite does not run it,
because telling someone their current AWS runtime is "no longer supported"
would send them looking for the wrong problem.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lambdalite.control import service_model as model
from lambdalite.control.logging_config import logging_fields, tracing_mode
from lambdalite.control.naming import parse_function_ref
from lambdalite.control.network import network_mode_problem
from lambdalite.errors import InvalidParameterValue, InvalidRequestContent, Validation
from lambdalite.models import LayerRef

RUNNABLE_RUNTIMES: frozenset[str] = frozenset(
    {
        *(f"python3.{minor}" for minor in range(9, 15)),
        "nodejs18.x",
        "nodejs20.x",
        "nodejs22.x",
        "provided",
        "provided.al2",
        "provided.al2023",
    }
)
"""The runtimes lambdalite has bootstraps for."""

AWS_LISTED_RUNTIMES: tuple[str, ...] = (
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java25",
    "python3.10",
    "python3.11",
    "java21",
    "ruby3.3",
    "ruby3.4",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "java17",
    "nodejs16.x",
    "dotnet10",
    "dotnet8",
    "java11",
    "dotnet6",
    "nodejs18.x",
    "provided.al2",
    "java8.al2",
)
"""The runtimes AWS lists, in its order, when it refuses an unknown one (recorded January
2026): its own set, not the model's enum, which also holds long-removed runtimes."""

AWS_BLOCKED_RUNTIMES: frozenset[str] = frozenset(
    {
        # AWS refuses to create or update functions on these (docs: "Deprecated runtimes").
        # Some of them (python3.8, nodejs16.x) lambdalite could run, but a function that AWS
        # would refuse should be refused here too.
        "nodejs",
        "nodejs4.3",
        "nodejs4.3-edge",
        "nodejs6.10",
        "nodejs8.10",
        "nodejs10.x",
        "nodejs12.x",
        "nodejs14.x",
        "nodejs16.x",
        "python2.7",
        "python3.6",
        "python3.7",
        "python3.8",
        "provided",  # blocked since the Amazon Linux 1 runtimes were (recorded January 2026)
        "java8",
        "dotnetcore1.0",
        "dotnetcore2.0",
        "dotnetcore2.1",
        "dotnetcore3.1",
        "dotnet6",
        "go1.x",
        "ruby2.5",
        "ruby2.7",
    }
)

RESERVED_ENV_KEYS: frozenset[str] = frozenset(
    {
        # Set by Lambda in every environment; AWS refuses them in a function's configuration
        # (docs: "Defined runtime environment variables"). _HANDLER and _X_AMZN_TRACE_ID are
        # listed too, but the model's name pattern already refuses a leading underscore.
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

ENV_LIMIT_BYTES = 4096
"""4 KB: all of a function's environment variables, measured as AWS does (compact JSON, UTF-8)."""
FUNCTION_NAME_MAX = 64
_NAME_TOO_LONG = f"Member must have length less than or equal to {FUNCTION_NAME_MAX}"
"""The model allows 140 characters for a full ARN; the name part is limited to 64."""
LIST_PAGE_MAX = 50
"""ListFunctions returns at most 50 functions a page, whatever MaxItems says."""

_MANDATORY = "Runtime and Handler are mandatory parameters for functions created with deployment packages."
_NO_SOURCE = "Please provide a source for function code."
_NOT_JSON = "Could not parse request body into json: "


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    """Everything CreateFunction/UpdateFunctionConfiguration set; None means "not given"."""

    runtime: str | None = None
    role: str | None = None
    handler: str | None = None
    description: str | None = None
    timeout_s: int | None = None
    memory_mb: int | None = None
    environment: Mapping[str, str] | None = None
    ephemeral_storage_mb: int | None = None
    architectures: tuple[str, ...] | None = None
    layers: tuple[LayerRef, ...] | None = None
    """Never set by parsing: the API resolves ``layer_arns`` (``control.layers``) into it."""
    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group_name: str | None = None
    """LoggingConfig's members, as ``control.logging_config.logging_fields`` reads them."""
    tracing_mode: str | None = None
    snap_start: str | None = None
    """SnapStart.ApplyOn (``control.snapstart``)."""
    kms_key_arn: str | None = None
    """KMSKeyArn as given ("" clears it): stored and returned, never used (there is no KMS)."""
    dead_letter_arn: str | None = None
    """DeadLetterConfig.TargetArn; "" removes it on an update."""


@dataclass(frozen=True, slots=True)
class CreateFunctionInput:
    name: str
    """The function's name; the name part when the request gave an ARN."""
    settings: FunctionSettings
    """runtime, role and handler are always set."""
    zip_bytes: bytes
    publish: bool
    ignored_members: tuple[str, ...] = ()
    """Members the request set that the model knows and lambdalite does not implement."""
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The function's Tags (type- and constraint-checked; the count is the registry's rule)."""
    layer_arns: tuple[str, ...] | None = None
    """The Layers member as given (model-checked), None when absent."""
    region: str | None = None
    """The region of a FunctionName given as an ARN (the API refuses another one)."""
    account: str | None = None
    """The account of a FunctionName given as a (partial) ARN."""


@dataclass(frozen=True, slots=True)
class UpdateCodeInput:
    zip_bytes: bytes
    revision_id: str | None
    publish: bool
    architectures: tuple[str, ...] | None = None
    dry_run: bool = False
    ignored_members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateConfigurationInput:
    settings: FunctionSettings
    revision_id: str | None
    ignored_members: tuple[str, ...] = ()
    layer_arns: tuple[str, ...] | None = None
    """The Layers member as given (model-checked), None when absent ([] removes all layers)."""


_SETTINGS_MEMBERS = frozenset(
    {
        "Runtime",
        "Role",
        "Handler",
        "Description",
        "Timeout",
        "MemorySize",
        "Environment",
        "EphemeralStorage",
        "LoggingConfig",
        "TracingConfig",
        "SnapStart",
        "KMSKeyArn",
        "DeadLetterConfig",
    }
)
_CODE_SOURCES = ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")


def parse_create_function(body: Mapping[str, Any]) -> CreateFunctionInput:
    """Parse a CreateFunction body. Raises InvalidRequestContent, Validation or
    InvalidParameterValue exactly as AWS words them."""
    request = _checked_request(body, "CreateFunction")
    ref = parse_function_ref(request["FunctionName"])
    if len(ref.name) > FUNCTION_NAME_MAX:
        # The model allows 140 characters (an ARN); AWS refuses a longer name with this code.
        violations = _Violations()
        violations.add(request["FunctionName"], "functionName", _NAME_TOO_LONG)
        raise InvalidParameterValue(violations.message())
    package_type = request.get("PackageType", "Zip")
    if package_type != "Zip":
        raise InvalidParameterValue(
            f"PackageType {package_type} is not supported by lambdalite: "
            "deploy the function as a .zip file archive (PackageType Zip)."
        )
    settings = _settings(request, architectures=request.get("Architectures"))
    if not settings.runtime or not settings.handler:
        raise InvalidParameterValue(_MANDATORY)
    zip_bytes = zip_bytes_of(request["Code"], "code.")
    _check_settings(settings)
    handled = {
        "FunctionName",
        "Code",
        "Publish",
        "PackageType",
        "Architectures",
        "Tags",
        "Layers",
        *_SETTINGS_MEMBERS,
    }
    return CreateFunctionInput(
        name=ref.name,
        region=ref.region,
        account=ref.account,
        settings=settings,
        zip_bytes=zip_bytes,
        publish=bool(request.get("Publish", False)),
        ignored_members=_ignored(request, handled),
        tags=MappingProxyType(dict(request.get("Tags") or {})),
        layer_arns=_layer_arns(request),
    )


def parse_update_function_code(body: Mapping[str, Any]) -> UpdateCodeInput:
    """Parse an UpdateFunctionCode body (FunctionName comes from the path)."""
    request = _checked_request(body, "UpdateFunctionCode")
    zip_bytes = zip_bytes_of(request, "")
    architectures = request.get("Architectures")
    handled = {"Architectures", "Publish", "DryRun", "RevisionId", *_CODE_SOURCES}
    return UpdateCodeInput(
        zip_bytes=zip_bytes,
        revision_id=request.get("RevisionId"),
        publish=bool(request.get("Publish", False)),
        architectures=None if architectures is None else tuple(architectures),
        dry_run=bool(request.get("DryRun", False)),
        ignored_members=_ignored(request, handled),
    )


def parse_update_function_configuration(body: Mapping[str, Any]) -> UpdateConfigurationInput:
    """Parse an UpdateFunctionConfiguration body (FunctionName comes from the path)."""
    request = _checked_request(body, "UpdateFunctionConfiguration")
    settings = _settings(request, architectures=None)
    _check_settings(settings)
    return UpdateConfigurationInput(
        settings=settings,
        revision_id=request.get("RevisionId"),
        ignored_members=_ignored(request, {"RevisionId", "Layers", *_SETTINGS_MEMBERS}),
        layer_arns=_layer_arns(request),
    )


def _layer_arns(request: Mapping[str, Any]) -> tuple[str, ...] | None:
    layers = request.get("Layers")
    return None if layers is None else tuple(layers)


def validate_function_name(
    name: str, shape: str = "FunctionName", qualifier: str | None = None, qualifier_shape: str = "Qualifier"
) -> None:
    """Check a FunctionName path parameter (a name, partial ARN or ARN, optionally qualified)
    against ``shape``: ``FunctionName``, or ``NamespacedFunctionName`` for the operations
    whose model uses it (GetFunction, Invoke, ...), and the Qualifier query parameter if
    given, in one ValidationException as AWS reports them. A name part longer than 64 is
    not refused here: AWS answers that no such function exists."""
    violations = _Violations()
    if qualifier is not None:
        _check(violations, qualifier, qualifier_shape, "qualifier")
    _check(violations, name, shape, "functionName")
    violations.raise_if_any()


def validate_list_functions(max_items: str | None, marker: str | None) -> tuple[int, str | None]:
    """ListFunctions' query string: the page size (at most 50, as AWS pages) and the marker."""
    if max_items is None or max_items == "":
        return LIST_PAGE_MAX, marker or None
    try:
        count = int(max_items)
    except ValueError:
        # The model's MaxItems is an integer; AWS's wording for a non-number is not recorded,
        # so this one is ours, in AWS's validation format.
        raise Validation(
            f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to satisfy "
            "constraint: Member must be an integer"
        ) from None
    violations = _Violations()
    _check(violations, count, model.member_shape("ListFunctionsRequest", "MaxItems").name, "maxItems")
    violations.raise_if_any()
    return min(count, LIST_PAGE_MAX), marker or None


def checked_body(body: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """Gates 1 and 2 for any operation's JSON body: the members that travel in the body,
    nulls dropped, JSON types and model constraints checked (InvalidRequestContent, Validation)."""
    return _checked_request(body, operation)


def validate_value(value: str, shape: str, path: str) -> None:
    """Check one string parameter (a path segment or query value) against a model shape;
    raise Validation worded as AWS words it (``Value 'x' at 'qualifier' failed ...``)."""
    violations = _Violations()
    _check(violations, value, shape, path)
    violations.raise_if_any()


# --- gate 1 and 2: JSON types and model constraints -------------------------------------------------

_ExtraCheck = Callable[["_Violations", Any, str], None]


class _Violations:
    """Model-constraint violations, raised together as one ValidationException in AWS's words."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def __len__(self) -> int:
        return len(self._items)

    def add(self, value: Any, path: str, constraint: str, *, sensitive: bool = False) -> None:
        # AWS quotes the value Java-style, says null for a missing one and leaves out sensitive ones.
        if value is None:
            shown = "Value null"
        elif sensitive:
            shown = "Value"
        else:
            shown = f"Value '{_java_str(value)}'"
        self._items.append(f"{shown} at '{path}' failed to satisfy constraint: {constraint}")

    def message(self) -> str:
        count = len(self._items)
        noun = "error" if count == 1 else "errors"
        return f"{count} validation {noun} detected: " + "; ".join(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise Validation(self.message())


def _checked_request(
    body: Mapping[str, Any], operation: str, extra: Mapping[str, _ExtraCheck] | None = None
) -> dict[str, Any]:
    """The body's members that travel in JSON for ``operation``, nulls dropped, types and model
    constraints checked. ``extra`` adds a check for a member that passed the model's."""
    if not isinstance(body, Mapping):
        raise InvalidRequestContent(
            _NOT_JSON + f"the request body must be a JSON object, not {_a(_json_type(body))}"
        )
    request_shape = model.input_shape(operation)
    body_members = request_shape.body_members()
    request = {key: value for key, value in body.items() if key in body_members and value is not None}
    for key, value in request.items():
        _check_type(value, body_members[key], _camel(key))
    violations = _Violations()
    for member, shape_name in body_members.items():
        path = _camel(member)
        if member not in request:
            if member in request_shape.required:
                violations.add(None, path, "Member must not be null")
            continue
        before = len(violations)
        _check(violations, request[member], shape_name, path)
        if extra and member in extra and len(violations) == before:
            extra[member](violations, request[member], path)
    violations.raise_if_any()
    return request


def _check_type(value: Any, shape_name: str, path: str) -> None:
    """Raise InvalidRequestContent if ``value`` is not the JSON type the model's shape needs."""
    shape = model.shape(shape_name)
    expected = _EXPECTED_JSON[shape.type]
    actual = _json_type(value)
    ok = actual == expected or (expected == "number" and actual == "integer")
    if not ok:
        raise InvalidRequestContent(_NOT_JSON + f"Value at '{path}' must be {_a(expected)}, not {_a(actual)}")
    if shape.type == "structure":
        for key, member_value in value.items():
            if key in shape.members and member_value is not None:
                _check_type(member_value, shape.members[key], f"{path}.{_camel(key)}")
    elif shape.type == "list" and shape.member is not None:
        for index, item in enumerate(value, start=1):
            _check_type(item, shape.member, f"{path}.{index}.member")
    elif shape.type == "map" and shape.value is not None:
        for item in value.values():
            _check_type(item, shape.value, path)


_EXPECTED_JSON = {
    "structure": "object",
    "map": "object",
    "list": "array",
    "string": "string",
    "blob": "string",
    "timestamp": "string",
    "boolean": "boolean",
    "integer": "integer",
    "long": "integer",
    "float": "number",
    "double": "number",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


def _a(json_type: str) -> str:
    return f"an {json_type}" if json_type[0] in "aeiou" else f"a {json_type}"


def _check(violations: _Violations, value: Any, shape_name: str, path: str) -> None:
    """Add the violations of a type-checked, non-null ``value`` against its shape's constraints."""
    shape = model.shape(shape_name)
    for constraint in _scalar_failures(value, shape):
        violations.add(value, path, constraint, sensitive=shape.sensitive)
    if shape.type == "list" and shape.member is not None:
        member_shape = model.shape(shape.member)
        failed = [c for item in value for c in _scalar_failures(item, member_shape)]
        if member_shape.type == "structure":
            for index, item in enumerate(value, start=1):
                _check(violations, item, shape.member, f"{path}.{index}.member")
        elif failed:
            if member_shape.enum:
                # AWS adds this to an enum member's constraint (Architectures, as recorded).
                failed.append("Member must not be null")
            joined = ", ".join(dict.fromkeys(failed))
            violations.add(
                value, path, f"Member must satisfy constraint: [{joined}]", sensitive=shape.sensitive
            )
    elif shape.type == "map" and shape.key is not None and shape.value is not None:
        key_shape, value_shape = model.shape(shape.key), model.shape(shape.value)
        for label, shape_of, items in (
            ("Map keys", key_shape, value.keys()),
            ("Map value", value_shape, value.values()),
        ):
            failed = [c for item in items for c in _scalar_failures(item, shape_of)]
            if failed:
                joined = ", ".join(dict.fromkeys(failed))
                violations.add(
                    value, path, f"{label} must satisfy constraint: [{joined}]", sensitive=shape.sensitive
                )
    elif shape.type == "structure":
        for member, member_shape_name in shape.members.items():
            member_path = f"{path}.{_camel(member)}"
            member_value = value.get(member)
            if member_value is None:
                if member in shape.required:
                    violations.add(None, member_path, "Member must not be null")
            else:
                _check(violations, member_value, member_shape_name, member_path)


def _scalar_failures(value: Any, shape: model.Shape) -> list[str]:
    """The constraint texts a value fails, in the order AWS lists them: max, min, pattern, enum."""
    failures: list[str] = []
    if shape.type in ("string", "list", "map", "blob"):
        size = len(value)
        if shape.max is not None and size > shape.max:
            failures.append(f"Member must have length less than or equal to {shape.max}")
        if shape.min is not None and size < shape.min:
            failures.append(f"Member must have length greater than or equal to {shape.min}")
    if shape.type in ("integer", "long"):
        if shape.max is not None and value > shape.max:
            failures.append(f"Member must have value less than or equal to {shape.max}")
        if shape.min is not None and value < shape.min:
            failures.append(f"Member must have value greater than or equal to {shape.min}")
    if shape.type == "string":
        if not model.matches(shape.name, value):
            failures.append(f"Member must satisfy regular expression pattern: {shape.pattern}")
        # Runtime's enum is Lambda's own check (gate 3), with its own words.
        if shape.enum and shape.name != "Runtime" and value not in shape.enum:
            failures.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    return failures


def _camel(member: str) -> str:
    """AWS names a member in messages lower-camel: MemorySize -> memorySize."""
    return member[:1].lower() + member[1:]


def _java_str(value: Any) -> str:
    """A value as AWS's messages print it (Java toString): lists [a, b], maps {k=v}."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_java_str(k)}={_java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_str(item) for item in value) + "]"
    return str(value)


# --- gate 3: Lambda's own rules -------------------------------------------------------------------


def _settings(request: Mapping[str, Any], architectures: Sequence[str] | None) -> FunctionSettings:
    logging = logging_fields(request.get("LoggingConfig"))
    environment = request.get("Environment")
    storage = request.get("EphemeralStorage")
    return FunctionSettings(
        runtime=request.get("Runtime"),
        role=request.get("Role"),
        handler=request.get("Handler"),
        description=request.get("Description"),
        timeout_s=request.get("Timeout"),
        memory_mb=request.get("MemorySize"),
        environment=None
        if environment is None
        else MappingProxyType(dict(environment.get("Variables") or {})),
        ephemeral_storage_mb=None if storage is None else storage["Size"],
        architectures=None if architectures is None else tuple(architectures),
        tracing_mode=tracing_mode(request.get("TracingConfig")),
        log_format=logging.get("log_format"),
        application_log_level=logging.get("application_log_level"),
        system_log_level=logging.get("system_log_level"),
        log_group_name=logging.get("log_group_name"),
        snap_start=(request.get("SnapStart") or {}).get("ApplyOn"),
        kms_key_arn=request.get("KMSKeyArn"),
        dead_letter_arn=_dead_letter_arn(request.get("DeadLetterConfig")),
    )


def _dead_letter_arn(config: Mapping[str, Any] | None) -> str | None:
    """DeadLetterConfig's TargetArn, None when it is not given (``{}`` changes nothing)."""
    target = (config or {}).get("TargetArn")
    return None if target is None else str(target)


def _check_settings(settings: FunctionSettings) -> None:
    if settings.runtime is not None:
        _check_runtime(settings.runtime)
    if settings.environment:
        _check_environment(settings.environment)


def _check_runtime(runtime: str) -> None:
    if runtime not in model.shape("Runtime").enum:
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(AWS_LISTED_RUNTIMES)}] or be a valid ARN"
        )
    if runtime in AWS_BLOCKED_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )
    if runtime not in RUNNABLE_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is not supported by lambdalite. We recommend you use a "
            f"supported runtime while creating or updating functions: {', '.join(_runnable_in_order())}."
        )


def _runnable_in_order() -> list[str]:
    return [runtime for runtime in model.shape("Runtime").enum if runtime in RUNNABLE_RUNTIMES]


def _check_environment(variables: Mapping[str, str]) -> None:
    reserved = [key for key in variables if key in RESERVED_ENV_KEYS]
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    network_problem = network_mode_problem(variables)
    if network_problem is not None:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided contains an invalid value. {network_problem}"
        )
    # AWS measures the variables as compact JSON, non-ASCII unescaped, and quotes that string back.
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode("utf-8")) > ENV_LIMIT_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables "
            f"you have provided exceeded the 4KB limit. String measured: {measured}"
        )


S3Code = Callable[[str, str, str | None], bytes]
"""Reads code from the object store: (S3Bucket, S3Key, S3ObjectVersion) -> the object's
bytes; raises InvalidParameterValue as AWS words a missing bucket or key."""
_S3_CODE: list[S3Code] = []


def read_code_from(source: S3Code | None) -> None:
    """Take ``S3Bucket``/``S3Key`` code from ``source`` (set once by the composition root;
    None: only ZipFile is taken)."""
    _S3_CODE[:] = [] if source is None else [source]


def zip_bytes_of(code: Mapping[str, Any], path: str) -> bytes:
    """The decoded ZipFile of a Code structure (or UpdateFunctionCode's body), or the
    object it names by S3Bucket/S3Key."""
    encoded = code.get("ZipFile")
    if encoded is None:
        bucket, key = code.get("S3Bucket"), code.get("S3Key")
        if _S3_CODE and isinstance(bucket, str) and isinstance(key, str):
            return _S3_CODE[0](bucket, key, code.get("S3ObjectVersion"))
        if any(code.get(source) is not None for source in _CODE_SOURCES):
            raise InvalidParameterValue(
                "lambdalite takes code only as a .zip file archive in ZipFile; "
                "S3Bucket/S3Key and ImageUri are not supported."
            )
        raise InvalidParameterValue(_NO_SOURCE)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestContent(_NOT_JSON + f"Value at '{path}zipFile' is not valid base64") from None


def _ignored(request: Mapping[str, Any], handled: set[str]) -> tuple[str, ...]:
    """Members given that lambdalite does not act on, in request order; Code's own as ``Code.X``."""
    ignored = [member for member in request if member not in handled]
    code = request.get("Code")
    if isinstance(code, Mapping):
        ignored += [f"Code.{member}" for member in code if member not in _CODE_SOURCES]
    return tuple(ignored)
