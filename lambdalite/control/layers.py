"""Lambda layers: published layer versions, their permissions, and the layers a function uses.

A layer is a name with numbered, immutable versions (1, 2, ...; a number is
never given out twice, even after its version was deleted; there is no
``$LATEST``). Each version is a zip in the code store, like a function's code,
with its CompatibleRuntimes/CompatibleArchitectures, Description, LicenseInfo
and a resource policy of ``lambda:GetLayerVersion`` statements (stored; not
enforced, as lambdalite has one account).

``LayerRegistry`` keeps every version in memory and writes through to the
layer store (``store.layers``) before a change becomes visible. ``resolve_for_function`` turns
the ``Layers`` of CreateFunction/UpdateFunctionConfiguration into the
``LayerRef`` values a function snapshot keeps, with AWS's errors: more than 5,
two versions of one layer, a version that does not exist, another region.
A function keeps its layers' code after a layer version is deleted, as on AWS.

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaLayer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from lambdalite.control import service_model as model
from lambdalite.control import validation
from lambdalite.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    Validation,
)
from lambdalite.models import LayerRef, LayerVersion, new_revision_id
from lambdalite.store.code import StoredCode
from lambdalite.store.layers import LayerStore

MAX_LAYERS = 5
"""AWS: a function references at most 5 layers."""
LIST_PAGE_MAX = 50

NOT_FOUND = "The resource you requested does not exist."
TOO_MANY = "Cannot reference more than 5 layers."
VERSION_BELOW_ONE = "Layer Version Cannot be less than 1"
NO_POLICY = "No policy is associated with the given resource."
POLICY_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)
GET_LAYER_VERSION = "lambda:GetLayerVersion"

_LAYER_ARN = re.compile(
    r"arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<version>[0-9]+))?"
)
_ARCHITECTURES = ("x86_64", "arm64")

# AWS's own runtime sets for layers, in the order its ValidationException lists them
# (AWS's recorded answers: test_lambda_api.snapshot.json, TestLambdaLayer::test_layer_exceptions).
# They are not botocore's Runtime enum. PublishLayerVersion's message lists the runtimes a new
# function may use, yet AWS accepts every runtime name it knows (deprecated ones too, as
# TestLambdaLayer::test_layer_compatibilities records); the list operations' filter lists them all.
PUBLISH_RUNTIMES: tuple[str, ...] = (
    *("nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x"),
    *("nodejs22.x", "java25", "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4"),
    *("ruby3.2", "python3.8", "python3.9", "java17", "nodejs16.x", "dotnet10", "dotnet8"),
    *("java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2"),
)
KNOWN_RUNTIMES: tuple[str, ...] = (
    *("ruby3.5", "ruby2.6", "dotnetcore1.0", "python3.7", "nodejs8.10", "nasa", "ruby2.7"),
    *("python2.7-greengrass", "dotnetcore2.0", "python3.8", "java21", "dotnet6", "dotnetcore2.1"),
    *("python3.9", "java11", "nodejs6.10", "provided", "dotnetcore3.1", "dotnet8", "java25"),
    *("java17", "nodejs", "nodejs4.3", "java8.al2", "go1.x", "dotnet10", "nodejs20.x", "go1.9"),
    *("byol", "nodejs10.x", "provided.al2023", "nodejs22.x", "python3.10", "java8", "nodejs12.x"),
    *("python3.11", "nodejs24.x", "nodejs8.x", "python3.12", "nodejs14.x", "nodejs8.9"),
    *("nodejs26.x", "python3.13", "python3.14", "nodejs16.x", "python3.15", "provided.al2"),
    *("nodejs4.3-edge", "nodejs18.x", "ruby3.2", "python3.4", "ruby3.3", "ruby3.4", "ruby2.5"),
    *("python3.6", "python2.7"),
)
LAYER_VERSION_ARN_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:"
    "layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)
"""How AWS words the LayerVersionArn pattern (botocore's model wraps it in one more pair of parentheses)."""


def known_runtime(runtime: str) -> bool:
    """A runtime name a layer may list or be filtered by: one AWS knew when its answers
    were recorded, or one botocore's model knows (so a newer botocore brings newer names)."""
    return runtime in KNOWN_RUNTIMES or runtime in model.shape("Runtime").enum


def _validation(problems: Sequence[str]) -> Validation:
    noun = "error" if len(problems) == 1 else "errors"
    return Validation(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


# --- parsing at the edge ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishInput:
    zip_bytes: bytes
    description: str
    license_info: str | None
    compatible_runtimes: tuple[str, ...] | None
    compatible_architectures: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class LayerPermissionInput:
    statement_id: str
    action: str
    principal: str
    organization_id: str | None


def parse_publish(body: Mapping[str, Any]) -> PublishInput:
    """A PublishLayerVersion body: AWS's own messages for runtimes and architectures
    outside its sets (both reported at once, as AWS does), then the model's checks."""
    problems = []
    runtimes = body.get("CompatibleRuntimes") if isinstance(body, Mapping) else None
    if isinstance(runtimes, list) and not all(known_runtime(str(r)) for r in runtimes):
        problems.append(
            f"Value '[{', '.join(map(str, runtimes))}]' at 'compatibleRuntimes' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(PUBLISH_RUNTIMES)}]"
        )
    architectures = body.get("CompatibleArchitectures") if isinstance(body, Mapping) else None
    if isinstance(architectures, list) and set(map(str, architectures)) - set(_ARCHITECTURES):
        problems.append(
            f"Value '[{', '.join(map(str, architectures))}]' at 'compatibleArchitectures' failed to "
            "satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
            f"[{', '.join(_ARCHITECTURES)}], Member must not be null]"
        )
    if problems:
        raise _validation(problems)
    request = validation.checked_body(body, "PublishLayerVersion")
    return PublishInput(
        zip_bytes=validation.zip_bytes_of(request["Content"], "content."),
        description=request.get("Description") or "",
        license_info=request.get("LicenseInfo"),
        compatible_runtimes=_given(request.get("CompatibleRuntimes")),
        compatible_architectures=_given(request.get("CompatibleArchitectures")),
    )


def parse_permission(body: Mapping[str, Any]) -> LayerPermissionInput:
    request = validation.checked_body(body, "AddLayerVersionPermission")
    return LayerPermissionInput(
        statement_id=request["StatementId"],
        action=request["Action"],
        principal=request["Principal"],
        organization_id=request.get("OrganizationId"),
    )


def parse_filters(
    runtime: str | None, architecture: str | None, max_items: str | None
) -> tuple[str | None, str | None, int]:
    """ListLayers/ListLayerVersions' query: (CompatibleRuntime, CompatibleArchitecture, page size)."""
    problems = []
    if architecture is not None and architecture not in _ARCHITECTURES:
        problems.append(
            f"Value '{architecture}' at 'compatibleArchitecture' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(_ARCHITECTURES)}]"
        )
    if runtime is not None and not known_runtime(runtime):
        problems.append(
            f"Value '{runtime}' at 'compatibleRuntime' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(KNOWN_RUNTIMES)}]"
        )
    if problems:
        raise _validation(problems)
    page = LIST_PAGE_MAX
    if max_items:
        try:
            page = int(max_items)
        except ValueError:
            page = 0
        if not 1 <= page <= LIST_PAGE_MAX:
            raise Validation(
                f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to satisfy "
                f"constraint: Member must have value {'less' if page > LIST_PAGE_MAX else 'greater'} than "
                f"or equal to {LIST_PAGE_MAX if page > LIST_PAGE_MAX else 1}"
            )
    return runtime, architecture, page


def parse_version_number(raw: str) -> int:
    """The VersionNumber path parameter; AWS's message below 1."""
    try:
        number = int(raw)
    except ValueError:
        raise Validation(
            f"1 validation error detected: Value '{raw}' at 'versionNumber' failed to satisfy "
            "constraint: Member must be a number"
        ) from None
    if number < 1:
        raise InvalidParameterValue(VERSION_BELOW_ONE)
    return number


# --- the registry ---------------------------------------------------------------------------------


class LayerRegistry:
    """Every layer version in memory, written through to the store."""

    def __init__(self, store: LayerStore, region: str, account_id: str) -> None:
        self._store = store
        self._region = region
        self._account = account_id
        self._prefix = f"arn:aws:lambda:{region}:{account_id}:layer:"
        self._layers: dict[str, dict[int, LayerVersion]] = {}
        for layer in store.all_layer_versions():
            self._layers.setdefault(layer.name, {})[layer.version] = layer
        self._last_version = store.layer_counters()

    def layer_arn(self, name: str) -> str:
        return f"{self._prefix}{name}"

    def version_arn(self, name: str, version: int) -> str:
        return f"{self._prefix}{name}:{version}"

    def name_of(self, raw: str) -> str:
        """The layer name a LayerName path parameter (a name or a layer ARN) designates."""
        validation.validate_value(raw, "LayerNameOrArn", "layerName")
        match = _LAYER_ARN.fullmatch(raw)
        return raw if match is None else match["name"]

    # -- versions --------------------------------------------------------------
    def publish(self, name: str, request: PublishInput, code: StoredCode) -> LayerVersion:
        number = self._last_version.get(name, 0) + 1
        layer = LayerVersion(
            name=name,
            version=number,
            code_sha256=code.sha256_hex,
            code_size=code.size,
            unzipped_size=code.unzipped_size,
            description=request.description,
            license_info=request.license_info,
            compatible_runtimes=request.compatible_runtimes,
            compatible_architectures=request.compatible_architectures,
        )
        self._store.put_layer_version(layer, new=True)
        self._layers.setdefault(name, {})[number] = layer
        self._last_version[name] = number
        return layer

    def get(self, name: str, version: int) -> LayerVersion:
        layer = self._layers.get(name, {}).get(version)
        if layer is None:
            raise ResourceNotFound(NOT_FOUND)
        return layer

    def get_by_arn(self, arn: str) -> LayerVersion:
        match = _LAYER_ARN.fullmatch(arn)
        if not model.matches("LayerVersionArn", arn) or match is None or match["version"] is None:
            shape = model.shape("LayerVersionArn")
            problems = []
            if shape.max is not None and len(arn) > shape.max:
                problems.append(f"Member must have length less than or equal to {shape.max}")
            problems.append(f"Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}")
            raise _validation(
                [f"Value '{arn}' at 'arn' failed to satisfy constraint: {problem}" for problem in problems]
            )
        if match["region"] != self._region or match["account"] != self._account:
            raise ResourceNotFound(NOT_FOUND)
        return self.get(match["name"], int(match["version"]))

    def delete(self, name: str, version: int) -> None:
        """Delete one version; one that does not exist is fine (204, as on AWS)."""
        versions = self._layers.get(name, {})
        if version not in versions:
            return
        self._store.delete_layer_version(name, version)
        del versions[version]
        if not versions:
            del self._layers[name]

    def list_layers(
        self, runtime: str | None, architecture: str | None, marker: str | None, max_items: int
    ) -> tuple[list[tuple[str, LayerVersion]], str | None]:
        """(name, its latest matching version) per layer by name, after ``marker`` (a name)."""
        found = []
        for name in sorted(self._layers):
            matching = [v for v in self._layers[name].values() if v.matches(runtime, architecture)]
            if matching and (marker is None or name > marker):
                found.append((name, max(matching, key=lambda v: v.version)))
        page = found[:max_items]
        return page, page[-1][0] if len(found) > max_items else None

    def list_versions(
        self, name: str, runtime: str | None, architecture: str | None, marker: str | None, max_items: int
    ) -> tuple[list[LayerVersion], str | None]:
        """The layer's matching versions, newest first, after ``marker`` (a version number)."""
        versions = sorted(self._layers.get(name, {}).values(), key=lambda v: -v.version)
        if marker is not None and marker.isdigit():
            versions = [v for v in versions if v.version < int(marker)]
        found = [v for v in versions if v.matches(runtime, architecture)]
        page = found[:max_items]
        return page, str(page[-1].version) if len(found) > max_items else None

    # -- permissions -------------------------------------------------------------
    def _existing(self, name: str, version: int) -> LayerVersion:
        layer = self._layers.get(name, {}).get(version)
        if layer is None:
            raise ResourceNotFound(f"Layer version {self.version_arn(name, version)} does not exist.")
        return layer

    def add_permission(
        self, name: str, version: int, request: LayerPermissionInput, revision_id: str | None
    ) -> tuple[dict[str, Any], str]:
        """Add a statement; returns it (AWS's JSON shape) and the policy's new RevisionId."""
        layer = self._existing(name, version)
        if any(s.get("Sid") == request.statement_id for s in layer.statements):
            raise ResourceConflict(
                f"The statement id ({request.statement_id}) provided already exists. "
                "Please provide a new statement id, or remove the existing statement."
            )
        if revision_id is not None and revision_id != layer.policy_revision:
            raise PreconditionFailed(POLICY_REVISION_MISMATCH)
        statement: dict[str, Any] = {
            "Sid": request.statement_id,
            "Effect": "Allow",
            "Principal": request.principal,
            "Action": request.action,
            "Resource": self.version_arn(name, version),
        }
        if request.organization_id:
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": request.organization_id}}
        changed = replace(
            layer,
            statements=(*layer.statements, MappingProxyType(statement)),
            policy_revision=new_revision_id(),
        )
        self._commit(changed)
        return statement, changed.policy_revision

    def remove_permission(self, name: str, version: int, statement_id: str, revision_id: str | None) -> None:
        layer = self._existing(name, version)
        if revision_id is not None and revision_id != layer.policy_revision:
            raise PreconditionFailed(POLICY_REVISION_MISMATCH)
        kept = tuple(s for s in layer.statements if s.get("Sid") != statement_id)
        if len(kept) == len(layer.statements):
            raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
        self._commit(replace(layer, statements=kept, policy_revision=new_revision_id()))

    def policy(self, name: str, version: int) -> tuple[dict[str, Any], str]:
        """(the policy document, its RevisionId)."""
        layer = self._existing(name, version)
        if not layer.statements:
            raise ResourceNotFound(NO_POLICY)
        document = {
            "Version": "2012-10-17",
            "Id": "default",
            "Statement": [dict(s) for s in layer.statements],
        }
        return document, layer.policy_revision

    def _commit(self, layer: LayerVersion) -> None:
        self._store.put_layer_version(layer)
        self._layers[layer.name][layer.version] = layer

    # -- functions' layers -----------------------------------------------------
    def resolve_for_function(self, arns: Sequence[str]) -> tuple[LayerRef, ...]:
        """The LayerRefs of a function's ``Layers`` (already checked against the model's
        pattern), in order, or AWS's error for the first problem."""
        if len(arns) > MAX_LAYERS:
            raise InvalidParameterValue(TOO_MANY)
        refs: list[LayerRef] = []
        seen: dict[str, str] = {}
        for arn in arns:
            match = _LAYER_ARN.fullmatch(arn)
            if match is None or match["version"] is None:
                shape = model.shape("LayerVersionArn")
                raise Validation(
                    f"1 validation error detected: Value '[{', '.join(arns)}]' at 'layers' failed to satisfy "
                    "constraint: Member must satisfy constraint: [Member must have length less than or "
                    f"equal to {shape.max}, Member must have length greater than or equal to {shape.min}, "
                    f"Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}, "
                    "Member must not be null]"
                )
            if match["region"] != self._region:
                raise InvalidParameterValue(
                    "Layers are not in the same region as the function. "
                    f"Layers are expected to be in region {self._region}."
                )
            layer = None
            if match["account"] == self._account:
                layer = self._layers.get(match["name"], {}).get(int(match["version"]))
            if layer is None:
                raise InvalidParameterValue(f"Layer version {arn} does not exist.")
            layer_arn = arn.rsplit(":", 1)[0]
            if layer_arn in seen:
                raise InvalidParameterValue(
                    "Two different versions of the same layer are not allowed to be referenced in the same "
                    f"function. {seen[layer_arn]} and {arn} are versions of the same layer."
                )
            seen[layer_arn] = arn
            refs.append(LayerRef(arn, layer.code_size, layer.code_sha256, layer.unzipped_size))
        return tuple(refs)


def _given(values: list[str] | None) -> tuple[str, ...] | None:
    """A list member as given (an empty one too), None when it was left out."""
    return None if values is None else tuple(values)
