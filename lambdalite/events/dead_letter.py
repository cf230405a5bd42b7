"""A function's dead-letter queue (``DeadLetterConfig.TargetArn``): which ARNs it
may name, and where the dispatcher finds it.

AWS checks the target when the function is created or its configuration updated,
in this order, each refusal an ``InvalidParameterValueException``:

- an ARN at all (the model allows "" only to remove the setting on an update);
- an SQS queue or an SNS topic (nothing else takes dead letters);
- in the function's own region;
- not FIFO (a dead letter carries no message group);
- one the function may send to: AWS tries it with the execution role and says
  the role may not call SendMessage/Publish when that fails. Here a queue or
  topic that does not exist on this node fails the same way, so that a DLQ
  lambdalite cannot deliver to is refused, never silently dropped later.

The dead letter itself (the original event with RequestID, ErrorCode and
ErrorMessage attributes) is built by ``events.records`` and sent by the dispatcher
through the same ``Targets`` as destinations.
"""

from __future__ import annotations

from collections.abc import Callable

from lambdalite.errors import InvalidParameterValue, ResourceNotFound
from lambdalite.events.targets import Arn, Targets
from lambdalite.models import FunctionConfig

INVALID = "Invalid dead letter queue ARN: "
NOT_AN_ARN = INVALID + "ARNs must start with 'arn:': "
UNSUPPORTED_SERVICE = (
    INVALID + "The service specified by the TargetArn is not supported for dead letter configuration."
)
OTHER_REGION = (
    INVALID + "The resource specified by the TargetArn must be in the same region as the Lambda "
    "function it's associated with."
)
FIFO = INVALID + "FIFO {kind} is not supported for dead letter configuration"
NO_PERMISSION = "The provided execution role does not have permissions to call {action} on {service}"

_KINDS = {"sqs": ("SQS queue", "SendMessage", "SQS"), "sns": ("SNS topic", "Publish", "SNS")}


def check_target(arn: str, region: str, targets: Targets) -> None:
    """Refuse ``arn`` as a DeadLetterConfig target with AWS's error (see the module
    docstring); return when lambdalite can deliver dead letters there."""
    parsed = Arn.parse(arn)
    if parsed is None:
        raise InvalidParameterValue(NOT_AN_ARN + arn)
    kind = _KINDS.get(parsed.service)
    if kind is None:
        raise InvalidParameterValue(UNSUPPORTED_SERVICE)
    if parsed.region != region:
        raise InvalidParameterValue(OTHER_REGION)
    noun, action, service = kind
    if parsed.resource.endswith(".fifo"):
        raise InvalidParameterValue(FIFO.format(kind=noun))
    if targets.find(arn) is None:
        raise InvalidParameterValue(NO_PERMISSION.format(action=action, service=service))


def lookup(resolve: Callable[[str, str | None], FunctionConfig]) -> Callable[[str, str | None], str | None]:
    """The dispatcher's ``dead_letter_arn(name, qualifier)``: the DLQ of the version
    the event invoked (a published version keeps the one it was published with), or
    None (no DLQ, or the function is gone)."""

    def dead_letter_arn(name: str, qualifier: str | None) -> str | None:
        try:
            return resolve(name, qualifier).dead_letter_arn or None
        except ResourceNotFound:
            return None

    return dead_letter_arn
