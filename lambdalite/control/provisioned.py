"""Provisioned concurrency: the configs PutProvisionedConcurrencyConfig keeps, and their rules.

A config belongs to one published version or one alias of a function (never
``$LATEST``) and asks for that many environments of the version (an alias's
main version) to be initialised ahead of time and kept. The concurrency
registry (``control.concurrency_registry``) keeps the configs
(``models.ProvisionedConfig``); the data plane keeps the environments and knows how far it got
(``ProvisionedState``), which is what Get/List report as Status,
Allocated- and AvailableProvisionedConcurrentExecutions.

Limits, as AWS checks them: a function with reserved concurrency cannot
provision more than it reserved (all its configs together); a function
without one provisions out of the unreserved pool, which must keep its
minimum (``dataplane.limiter.minimum_unreserved``).

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json,
TestLambdaProvisionedConcurrency) and its provider reproduces them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdalite.errors import InvalidParameterValue, LambdaError, ResourceConflict
from lambdalite.models import ProvisionedConfig

IN_PROGRESS = "IN_PROGRESS"
READY = "READY"
FAILED = "FAILED"

LATEST_NOT_PROVISIONABLE = (
    "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
)
"""PutProvisionedConcurrencyConfig on ``$LATEST``."""
NOT_A_VERSION_OR_ALIAS = "The function resource provided must be an alias or a published version."
"""Get/DeleteProvisionedConcurrencyConfig on ``$LATEST``."""
CONFIG_NOT_FOUND = "No Provisioned Concurrency Config found for this function"
ALIAS_ON_PROVISIONED_VERSION = (
    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
)
VERSION_UNDER_PROVISIONED_ALIAS = "Version is pointed by a Provisioned Concurrency alias"
ABOVE_RESERVED = (
    "Requested Provisioned Concurrency should not be greater than the "
    "reservedConcurrentExecution for function"
)
INIT_FAILED_REASON = "FUNCTION_ERROR_INIT_FAILURE"
"""StatusReason of a FAILED config: an environment's init phase failed."""


class ProvisionedConfigNotFound(LambdaError):
    """404 ProvisionedConcurrencyConfigNotFoundException."""

    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


# AWS answers the two account-limit refusals without Type (its recorded answers).


def above_unreserved(unreserved: int) -> InvalidParameterValue:
    return InvalidParameterValue(
        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
        f"[{unreserved}]."
    ).without_type()


def below_minimum(minimum: int) -> InvalidParameterValue:
    return InvalidParameterValue(
        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        f"below its minimum value of [{minimum}]."
    ).without_type()


def alias_conflict() -> ResourceConflict:
    return ResourceConflict(ALIAS_ON_PROVISIONED_VERSION)


def version_conflict() -> ResourceConflict:
    return ResourceConflict(VERSION_UNDER_PROVISIONED_ALIAS)


@dataclass(frozen=True, slots=True)
class ProvisionedState:
    """How far the data plane got with one config."""

    allocated: int = 0
    status: str = IN_PROGRESS
    reason: str | None = None

    def body(self, config: ProvisionedConfig) -> dict[str, Any]:
        """The config as Get/Put/List answer it (without FunctionArn)."""
        body: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": config.last_modified,
        }
        if self.reason is not None:
            body["StatusReason"] = self.reason
        return body
