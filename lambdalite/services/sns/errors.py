"""SNS's errors, as AWS answers them in the query protocol: the code, the HTTP
status and AWS's message (``Invalid parameter: ...`` for most refusals)."""

from __future__ import annotations

from lambdalite.protocol.errors import ServiceFault


def invalid_parameter(message: str) -> ServiceFault:
    """InvalidParameter: ``message`` is what follows ``Invalid parameter: ``."""
    return ServiceFault("InvalidParameter", f"Invalid parameter: {message}")


def invalid_parameter_value(message: str) -> ServiceFault:
    return ServiceFault("ParameterValueInvalid", message)


def topic_not_found() -> ServiceFault:
    return ServiceFault("NotFound", "Topic does not exist", 404)


def subscription_not_found() -> ServiceFault:
    return ServiceFault("NotFound", "Subscription does not exist", 404)


def resource_not_found() -> ServiceFault:
    return ServiceFault("ResourceNotFound", "Resource does not exist", 404)


def tag_limit() -> ServiceFault:
    return ServiceFault("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")


def too_many_entries() -> ServiceFault:
    return ServiceFault(
        "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible."
    )


def empty_batch() -> ServiceFault:
    return ServiceFault("EmptyBatchRequest", "The batch request doesn't contain any entries.")


def ids_not_distinct() -> ServiceFault:
    return ServiceFault(
        "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id."
    )


def invalid_batch_id() -> ServiceFault:
    return ServiceFault(
        "InvalidBatchEntryId",
        "The Id of a batch entry in a batch request doesn't abide by the specification.",
    )


def batch_too_long() -> ServiceFault:
    return ServiceFault(
        "BatchRequestTooLong", "The length of all the messages put together is more than the limit."
    )
