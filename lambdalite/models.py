"""Frozen value objects shared by every layer.

A ``FunctionConfig`` is one immutable snapshot of a function's code and
configuration: changing a function produces a new snapshot with a new
``revision_id``, so an environment started from a snapshot can never see a
half-applied update.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

LATEST = "$LATEST"
PENDING = "Pending"
ACTIVE = "Active"
FAILED = "Failed"
IN_PROGRESS = "InProgress"
SUCCESSFUL = "Successful"
CREATING = "Creating"
"""The StateReasonCode (and LastUpdateStatusReasonCode) while code is prepared."""
BEING_CREATED = "The function is being created."
"""AWS's StateReason while Pending, and its LastUpdateStatusReason while InProgress."""


def aws_timestamp(moment: datetime | None = None) -> str:
    """Lambda's LastModified format: ``2024-01-31T12:34:56.789+0000``."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def new_revision_id() -> str:
    return str(uuid.uuid4())


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hex digit -> the RFC 4122 variant digit carrying its two low bits."""


def new_request_id() -> str:
    """A random (version 4) UUID string, as AWS request ids are. Built from
    ``random`` rather than ``uuid.uuid4()`` (six times slower): an invocation
    id must be unique, not unguessable. The version digit replaces one random
    digit and the variant digit keeps two random bits: 122 random bits, as uuid4."""
    value = random.randbytes(16).hex()
    return f"{value[:8]}-{value[8:12]}-4{value[13:16]}-{_VARIANT[value[16]]}{value[17:20]}-{value[20:]}"


def sha256_b64(hex_digest: str) -> str:
    """AWS's CodeSha256: the base64 of the raw sha256 digest of the zip."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


@dataclass(frozen=True, slots=True)
class LayerRef:
    """One layer version a function uses, as its snapshot keeps it: the code stays
    the function's even if the layer version is deleted later (as on AWS)."""

    arn: str
    """The layer version ARN: ``arn:aws:lambda:REGION:ACCOUNT:layer:NAME:N``."""
    code_size: int
    code_sha256: str
    """Hex sha256 of the layer's zip; the key of the code store."""
    unzipped_size: int = 0


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One version of a function: what an environment is started from."""

    name: str
    runtime: str
    role: str
    handler: str
    code_sha256: str
    """Hex sha256 of the zip; the key of the code store."""
    code_size: int
    description: str = ""
    timeout_s: int = 3
    memory_mb: int = 128
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ephemeral_storage_mb: int = 512
    architectures: tuple[str, ...] = ("x86_64",)
    version: str = LATEST
    last_modified: str = field(default_factory=aws_timestamp)
    revision_id: str = field(default_factory=new_revision_id)
    state: str = "Active"
    """``Pending`` until the code is prepared, then ``Active`` (``Failed`` if it cannot be)."""
    state_reason: str = ""
    state_reason_code: str = ""
    last_update_status: str = "Successful"
    """``InProgress`` while an update is being applied, then ``Successful`` (``Failed``);
    "" while the function is still being created (AWS shows no status then)."""
    last_update_status_reason: str = ""
    last_update_status_reason_code: str = ""
    environment_given: bool = False
    """The function's Environment was set (possibly to no variables): AWS echoes
    ``{"Variables": {}}`` for an empty one and leaves the member out when it never was."""
    layers: tuple[LayerRef, ...] = ()
    """The layer versions the function uses, in order (a later layer's files win)."""
    published_from: str = ""
    """For a published version: the ``content_id`` of the ``$LATEST`` it was published
    from (publishing an unchanged ``$LATEST`` again returns this version)."""
    recursive_loop: str = "Terminate"
    """PutFunctionRecursionConfig's setting (``Allow`` or ``Terminate``), the function's own."""
    update_id: str = ""
    """The creation or update that gave ``$LATEST`` this code and configuration: kept
    while its revision id changes without either changing (settling, publishing)."""
    log_format: str = "Text"
    """LoggingConfig.LogFormat: ``Text`` or ``JSON``."""
    application_log_level: str = ""
    """LoggingConfig.ApplicationLogLevel; "" when not set (JSON then means INFO)."""
    system_log_level: str = ""
    """LoggingConfig.SystemLogLevel; "" when not set (JSON then means INFO)."""
    log_group_name: str = ""
    """LoggingConfig.LogGroup as given; "" for the default ``/aws/lambda/<name>``."""
    tracing_mode: str = "PassThrough"
    """TracingConfig.Mode: ``PassThrough`` or ``Active``."""
    snap_start: str = "None"
    """SnapStart.ApplyOn: ``None`` or ``PublishedVersions`` (``control.snapstart``)."""
    kms_key_arn: str = ""
    """KMSKeyArn as the caller gave it; "" when not set. There is no KMS here: the
    variables are encrypted at rest with lambdalite's own key whatever this says."""
    dead_letter_arn: str = ""
    """DeadLetterConfig.TargetArn: the queue or topic a failed asynchronous event goes
    to when no OnFailure destination takes it; "" for none."""

    @property
    def content_id(self) -> str:
        """What identifies this snapshot's code and configuration (snapshots written
        before ``update_id`` existed are identified by their revision id)."""
        return self.update_id or self.revision_id

    @property
    def environment_key(self) -> str:
        """Which execution environments can serve this snapshot: the same version with the
        same code and configuration. A new RevisionId alone (tags, settling, publishing)
        keeps them warm, as on AWS."""
        return f"{self.version}:{self.content_id}"

    @property
    def settling(self) -> bool:
        """Is a creation or an update still being applied (Pending, or InProgress)?"""
        return self.state == PENDING or self.last_update_status == IN_PROGRESS

    def configuration(
        self, arn_prefix: str, qualifier: str | None = None, *, listed: bool = False
    ) -> dict[str, Any]:
        """The FunctionConfiguration shape as the Lambda API returns it; the
        FunctionArn carries ``qualifier`` (a version, ``$LATEST`` or an alias) if given.
        ``listed``: as ListFunctions and ListVersionsByFunction show it, without the
        states and the RuntimeVersionConfig."""
        config: dict[str, Any] = {
            "FunctionName": self.name,
            "FunctionArn": f"{arn_prefix}{self.name}" + (f":{qualifier}" if qualifier else ""),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "LastModified": self.last_modified,
            "CodeSha256": sha256_b64(self.code_sha256),
            "Version": self.version,
            "TracingConfig": {"Mode": self.tracing_mode},
            "RevisionId": self.revision_id,
            **({} if listed else self._states()),
            "PackageType": "Zip",
            "Architectures": list(self.architectures),
            "EphemeralStorage": {"Size": self.ephemeral_storage_mb},
            # Only a published version is optimised; $LATEST never is.
            "SnapStart": {
                "ApplyOn": self.snap_start,
                "OptimizationStatus": "On" if self.snap_start != "None" and self.version != LATEST else "Off",
            },
            "LoggingConfig": self.logging_configuration(),
        }
        if not listed:
            config["RuntimeVersionConfig"] = {
                "RuntimeVersionArn": runtime_version_arn(arn_prefix, self.runtime)
            }
        if self.environment or self.environment_given:
            config["Environment"] = {"Variables": dict(self.environment)}
        if self.kms_key_arn:
            config["KMSKeyArn"] = self.kms_key_arn
        if self.dead_letter_arn:
            config["DeadLetterConfig"] = {"TargetArn": self.dead_letter_arn}
        if self.layers:
            config["Layers"] = [{"Arn": layer.arn, "CodeSize": layer.code_size} for layer in self.layers]
        return config

    def _states(self) -> dict[str, str]:
        members = {
            "State": self.state,
            "StateReason": self.state_reason,
            "StateReasonCode": self.state_reason_code,
            "LastUpdateStatus": self.last_update_status,
            "LastUpdateStatusReason": self.last_update_status_reason,
            "LastUpdateStatusReasonCode": self.last_update_status_reason_code,
        }
        return {member: value for member, value in members.items() if value}

    def logging_configuration(self) -> dict[str, str]:
        """The LoggingConfig shape: the levels only with JSON, where AWS shows INFO for an unset one."""
        config = {"LogFormat": self.log_format, "LogGroup": self.log_group}
        if self.log_format == "JSON":
            config["ApplicationLogLevel"] = self.application_log_level or "INFO"
            config["SystemLogLevel"] = self.system_log_level or "INFO"
        return config

    @property
    def log_group(self) -> str:
        """Where the function's logs go: LoggingConfig.LogGroup, or AWS's default."""
        return self.log_group_name or f"/aws/lambda/{self.name}"


def runtime_version_arn(arn_prefix: str, runtime: str) -> str:
    """``arn:aws:lambda:REGION::runtime:<64 hex>``: AWS names each runtime release by a
    hash; lambdalite has one release per runtime identifier, named by its hash."""
    partition_region = arn_prefix.split(":", 4)[:4]
    digest = hashlib.sha256(f"lambdalite:{runtime}".encode()).hexdigest()
    return ":".join(partition_region) + f"::runtime:{digest}"


@dataclass(frozen=True, slots=True)
class Alias:
    """A named pointer to a function version, optionally routing a share of
    invocations (``routing``: {version: weight}, at most one entry) to another."""

    function_name: str
    name: str
    function_version: str
    description: str = ""
    routing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    revision_id: str = field(default_factory=new_revision_id)

    def configuration(self, arn_prefix: str) -> dict[str, Any]:
        """The AliasConfiguration shape as the Lambda API returns it."""
        config: dict[str, Any] = {
            "AliasArn": f"{arn_prefix}{self.function_name}:{self.name}",
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        }
        if self.routing:
            config["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.routing)}
        return config


@dataclass(slots=True, eq=False)
class Invocation:
    """One synchronous invocation as the data plane sees it. Treat it as immutable:
    it is not frozen only because a frozen dataclass costs ~1 us more to build, and
    one is built per invoke."""

    request_id: str
    payload: bytes
    function: FunctionConfig
    invoked_arn: str
    client_context: str | None = None
    """Base64 JSON from X-Amz-Client-Context, passed to the runtime decoded."""
    cognito_identity: str | None = None
    lineage: str = ""
    """The Lineage field of the invocation's trace header ("" for none; ``events.lineage``)."""
    trace_id: str = ""
    """The trace header the runtime receives (``Lambda-Runtime-Trace-Id``: ``observe.tracing``)."""


@dataclass(slots=True)
class InvocationResult:
    """What an invocation produced. ``function_error`` is None on success,
    otherwise the X-Amz-Function-Error value (``Unhandled``). Treat it as immutable:
    not frozen only because one is built per invoke and a frozen one costs ~1 us more."""

    payload: bytes
    function_error: str | None = None
    log_events: Sequence[tuple[int, str]] = ()
    """The invocation's own log events (START ... REPORT), as (timestamp ms, message)."""
    executed_version: str = LATEST

    def log_tail(self, limit: int = 4096) -> str:
        """The last ``limit`` bytes of the invocation's log, for LogType Tail.
        Built on demand: most invocations never ask for it."""
        raw = "".join(f"{message}\n" for _, message in self.log_events).encode("utf-8")
        return raw[-limit:].decode("utf-8", "ignore")


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """A function's resource-based policy for one qualifier: ``$LATEST`` for the
    unqualified function (what AddPermission without a Qualifier writes), a
    version number or an alias name. ``statements`` are the policy's Statement
    entries in the order they were added, each already in AWS's JSON shape."""

    function_name: str
    qualifier: str
    statements: tuple[Mapping[str, Any], ...] = ()
    revision_id: str = field(default_factory=new_revision_id)

    def document(self) -> dict[str, Any]:
        """The policy document as GetPolicy returns it (before it is JSON-encoded)."""
        return {"Version": "2012-10-17", "Id": "default", "Statement": [dict(s) for s in self.statements]}


def url_timestamp(moment: datetime | None = None) -> str:
    """Function URL configs' CreationTime/LastModifiedTime: ``2024-01-31T12:34:56.789012Z``."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class FunctionUrlConfig:
    """A function URL: the unqualified function's (``qualifier`` ``$LATEST``) or an
    alias's. ``url_id`` (32 lowercase alphanumerics, as on AWS) is the URL's
    host label and never changes; ``cors`` holds the Cors members as given."""

    function_name: str
    qualifier: str
    url_id: str
    auth_type: str
    invoke_mode: str = "BUFFERED"
    cors: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    creation_time: str = field(default_factory=url_timestamp)
    last_modified_time: str = ""

    def function_arn(self, arn_prefix: str) -> str:
        suffix = "" if self.qualifier == LATEST else f":{self.qualifier}"
        return f"{arn_prefix}{self.function_name}{suffix}"

    def configuration(self, arn_prefix: str, url: str) -> dict[str, Any]:
        """The FunctionUrlConfig shape as Get/Update/List return it; ``url`` is the
        FunctionUrl lambdalite serves it on."""
        config: dict[str, Any] = {
            "FunctionUrl": url,
            "FunctionArn": self.function_arn(arn_prefix),
            "AuthType": self.auth_type,
        }
        if self.cors:
            config["Cors"] = dict(self.cors)
        config["CreationTime"] = self.creation_time
        config["LastModifiedTime"] = self.last_modified_time or self.creation_time
        config["InvokeMode"] = self.invoke_mode
        return config


@dataclass(frozen=True, slots=True)
class ProvisionedConfig:
    """One version's or alias's provisioned concurrency, as stored."""

    function_name: str
    qualifier: str
    requested: int
    last_modified: str

    @property
    def key(self) -> str:
        """The data plane's name for this config's environments."""
        return f"{self.function_name}:{self.qualifier}"


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """One published version of a layer."""

    name: str
    version: int
    code_sha256: str
    """Hex sha256 of the zip; the key of the code store."""
    code_size: int
    unzipped_size: int
    description: str = ""
    license_info: str | None = None
    compatible_runtimes: tuple[str, ...] | None = None
    """CompatibleRuntimes as given; None when the publisher left it out (AWS then omits it)."""
    compatible_architectures: tuple[str, ...] | None = None
    """CompatibleArchitectures as given; None when left out."""
    created: str = field(default_factory=aws_timestamp)
    statements: tuple[Mapping[str, Any], ...] = ()
    """The resource policy's statements, in AWS's JSON shape, in the order added."""
    policy_revision: str = ""
    """The policy's RevisionId ("" while the version never had a policy)."""

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """ListLayers/ListLayerVersions filters: a filter matches only versions that list it."""
        return (runtime is None or runtime in (self.compatible_runtimes or ())) and (
            architecture is None or architecture in (self.compatible_architectures or ())
        )

    def summary(self, layer_arn: str) -> dict[str, Any]:
        """The LayerVersionsListItem shape (no Content)."""
        body: dict[str, Any] = {
            "LayerVersionArn": f"{layer_arn}:{self.version}",
            "Version": self.version,
            "Description": self.description,
            "CreatedDate": self.created,
        }
        # AWS's recordings: a layer published with either list shows both (the one left
        # out, or given empty, as []); one published with neither shows neither.
        listed = self.compatible_runtimes is not None or self.compatible_architectures is not None
        if listed:
            body["CompatibleRuntimes"] = list(self.compatible_runtimes or ())
        if self.license_info is not None:
            body["LicenseInfo"] = self.license_info
        if listed:
            body["CompatibleArchitectures"] = list(self.compatible_architectures or ())
        return body

    def body(self, layer_arn: str, location: str) -> dict[str, Any]:
        """The PublishLayerVersion/GetLayerVersion response; ``location`` serves the zip."""
        return {
            "Content": {
                "Location": location,
                "CodeSha256": sha256_b64(self.code_sha256),
                "CodeSize": self.code_size,
            },
            "LayerArn": layer_arn,
            **self.summary(layer_arn),
        }
