"""SQS's errors, as AWS answers them: the error shape's name (the JSON protocol's
``__type``), the query protocol's code (also sent as ``x-amzn-query-error``), the HTTP
status and AWS's message."""

from __future__ import annotations

from lambdalite.protocol.errors import ServiceFault

_LEGACY = "AWS.SimpleQueueService."


def _fault(code: str, message: str, *, legacy: str | None = None, status: int = 400) -> ServiceFault:
    return ServiceFault(code, message, status, query_code=legacy)


def queue_does_not_exist() -> ServiceFault:
    return _fault(
        "QueueDoesNotExist", "The specified queue does not exist.", legacy=_LEGACY + "NonExistentQueue"
    )


def queue_deleted_recently() -> ServiceFault:
    return _fault(
        "QueueDeletedRecently",
        "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
        legacy=_LEGACY + "QueueDeletedRecently",
    )


def queue_name_exists(attribute: str) -> ServiceFault:
    return _fault(
        "QueueNameExists",
        f"A queue already exists with the same name and a different value for attribute {attribute}",
        legacy="QueueAlreadyExists",
    )


def purge_in_progress(name: str) -> ServiceFault:
    return _fault(
        "PurgeQueueInProgress",
        f"Only one PurgeQueue operation on {name} is allowed every 60 seconds.",
        legacy=_LEGACY + "PurgeQueueInProgress",
        status=403,
    )


def receipt_handle_invalid(handle: str) -> ServiceFault:
    return _fault(
        "ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.'
    )


def message_not_inflight() -> ServiceFault:
    return _fault(
        "MessageNotInflight",
        "The message referred to isn't in flight.",
        legacy=_LEGACY + "MessageNotInflight",
    )


def too_many_entries(count: int) -> ServiceFault:
    return _fault(
        "TooManyEntriesInBatchRequest",
        f"Maximum number of entries per request are 10. You have sent {count}.",
        legacy=_LEGACY + "TooManyEntriesInBatchRequest",
    )


def empty_batch(entry: str) -> ServiceFault:
    return _fault(
        "EmptyBatchRequest",
        f"There should be at least one {entry} in the request.",
        legacy=_LEGACY + "EmptyBatchRequest",
    )


def ids_not_distinct(entry_id: str) -> ServiceFault:
    return _fault(
        "BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.", legacy=_LEGACY + "BatchEntryIdsNotDistinct"
    )


def invalid_batch_id() -> ServiceFault:
    return _fault(
        "InvalidBatchEntryId",
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. "
        "It can be at most 80 letters long.",
        legacy=_LEGACY + "InvalidBatchEntryId",
    )


def batch_too_long(size: int, limit: int) -> ServiceFault:
    return _fault(
        "BatchRequestTooLong",
        f"Batch requests cannot be longer than {limit} bytes. You have sent {size} bytes.",
        legacy=_LEGACY + "BatchRequestTooLong",
    )


def invalid_attribute_name(name: str) -> ServiceFault:
    return _fault("InvalidAttributeName", f"Unknown Attribute {name}.")


def invalid_attribute_value(name: str, reason: str = "") -> ServiceFault:
    message = f"Invalid value for the parameter {name}."
    return _fault("InvalidAttributeValue", f"{message} Reason: {reason}" if reason else message)


def invalid_parameter(message: str) -> ServiceFault:
    return _fault("InvalidParameterValue", message)


def parameter_out_of_range(name: str, value: object, reason: str) -> ServiceFault:
    return invalid_parameter(f"Value {value} for parameter {name} is invalid. Reason: {reason}")


def missing_parameter(name: str) -> ServiceFault:
    return _fault("MissingParameter", f"The request must contain the parameter {name}.")


def invalid_message_contents() -> ServiceFault:
    return _fault(
        "InvalidMessageContents",
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | "
        "#xE000 to #xFFFD | #x10000 to #x10FFFF",
    )


def unsupported(message: str) -> ServiceFault:
    return _fault("UnsupportedOperation", message, legacy=_LEGACY + "UnsupportedOperation")
