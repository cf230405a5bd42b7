"""Code signing configurations: the value, its requests parsed at the edge, and its errors.

    LambdaError
    ├── CodeSigningConfigMissing       404 ResourceNotFoundException (no Type, as AWS sends it)
    ├── CodeSigningConfigNotFound      404 CodeSigningConfigNotFoundException
    ├── CodeVerificationFailed         400 CodeVerificationFailedException
    └── InvalidCodeSignature           400 InvalidCodeSignatureException

A config (``CodeSigningConfig``) names the signing profiles allowed to publish
code and what an untrusted package does at deployment (``Warn``: deployed and
logged; ``Enforce``: refused). Texts are AWS's as LocalStack's parity snapshots
record them (tests/aws/services/lambda_/test_lambda_api.snapshot.json,
TestCodeSigningConfig); CodeVerificationFailedException's is AWS's as
CloudFormation relays it (aws/aws-cdk#29474); where AWS's wording is not
recorded (a config in use, the integrity failure) the text is ours.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdalite.control import validation
from lambdalite.errors import LambdaError, ResourceConflict
from lambdalite.models import aws_timestamp

WARN = "Warn"
ENFORCE = "Enforce"
_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_LENGTH = 17


class CodeSigningConfigMissing(LambdaError):
    """A config that Get/Update/Delete/ListFunctionsByCodeSigningConfig name does not exist."""

    code = "ResourceNotFoundException"
    status = 404

    def __init__(self, arn: str) -> None:
        super().__init__(f"The Lambda code signing configuration {arn} can not be found.")
        self.sends_type = False  # AWS's answer carries no Type


class CodeSigningConfigNotFound(LambdaError):
    """A config that a function is asked to use does not exist."""

    code = "CodeSigningConfigNotFoundException"
    status = 404

    def __init__(self, arn: str) -> None:
        super().__init__(
            "The code signing configuration cannot be found. "
            f"Check that the provided configuration is not deleted: {arn}."
        )


class CodeVerificationFailed(LambdaError):
    """Enforce: the package is unsigned, expired, or signed by a profile not allowed."""

    code = "CodeVerificationFailedException"
    status = 400

    def __init__(self, function_name: str) -> None:
        super().__init__(
            "Lambda cannot deploy the function. The function or layer might be signed using a "
            "signature that the client is not configured to accept. "
            f"Check the provided signature for {function_name}."
        )


class InvalidCodeSignature(LambdaError):
    """The package's signature fails the integrity check: refused under Warn too."""

    code = "InvalidCodeSignatureException"
    status = 400

    def __init__(self, function_name: str, detail: str) -> None:
        super().__init__(
            f"Lambda cannot deploy the function. The code signature failed the integrity check: "
            f"{detail}. Check the provided signature for {function_name}."
        )


def config_in_use(arn: str) -> ResourceConflict:
    return ResourceConflict(
        f"The code signing configuration {arn} cannot be deleted because functions use it. "
        "Remove it from them first (DeleteFunctionCodeSigningConfig)."
    )


@dataclass(frozen=True, slots=True)
class CodeSigningConfig:
    config_id: str
    arn: str
    allowed_profiles: tuple[str, ...]
    policy: str
    """``UntrustedArtifactOnDeployment``: Warn or Enforce."""
    description: str = ""
    last_modified: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The CodeSigningConfig shape."""
        return {
            "CodeSigningConfigId": self.config_id,
            "CodeSigningConfigArn": self.arn,
            "Description": self.description,
            "AllowedPublishers": {"SigningProfileVersionArns": list(self.allowed_profiles)},
            "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": self.policy},
            "LastModified": self.last_modified,
        }


def new_config_id() -> str:
    """``csc-`` and 17 lower-case letters or digits, as the model's ARN pattern has it."""
    return "csc-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def arn_prefix(region: str, account: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:code-signing-config:"


def parse_create(body: Mapping[str, Any], config_id: str, prefix: str) -> CodeSigningConfig:
    """A CreateCodeSigningConfig body as a new config (Validation as AWS words it)."""
    request = validation.checked_body(body, "CreateCodeSigningConfig")
    return CodeSigningConfig(
        config_id=config_id,
        arn=prefix + config_id,
        allowed_profiles=tuple(request["AllowedPublishers"]["SigningProfileVersionArns"]),
        policy=(request.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment", WARN),
        description=request.get("Description", ""),
        last_modified=aws_timestamp(),
        tags=dict(request.get("Tags") or {}),
    )


def parse_update(body: Mapping[str, Any], current: CodeSigningConfig) -> CodeSigningConfig:
    """``current`` with an UpdateCodeSigningConfig body's members applied (none: unchanged)."""
    request = validation.checked_body(body, "UpdateCodeSigningConfig")
    changes: dict[str, Any] = {}
    if "Description" in request:
        changes["description"] = request["Description"]
    if "AllowedPublishers" in request:
        changes["allowed_profiles"] = tuple(request["AllowedPublishers"]["SigningProfileVersionArns"])
    policy = (request.get("CodeSigningPolicies") or {}).get("UntrustedArtifactOnDeployment")
    if policy is not None:
        changes["policy"] = policy
    if not changes:
        return current
    return CodeSigningConfig(
        config_id=current.config_id,
        arn=current.arn,
        allowed_profiles=changes.get("allowed_profiles", current.allowed_profiles),
        policy=changes.get("policy", current.policy),
        description=changes.get("description", current.description),
        last_modified=aws_timestamp(),
        tags=current.tags,
    )


def validate_arn(arn: str) -> None:
    """A CodeSigningConfigArn path or body value against the model's pattern."""
    validation.validate_value(arn, "CodeSigningConfigArn", "codeSigningConfigArn")
