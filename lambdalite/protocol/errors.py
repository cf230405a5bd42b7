"""The one error a service handler raises, and the protocol layer's own faults.

ServiceFault                 an error the service answers: code, message, HTTP status
├── UnknownOperationFault    the request names no operation of the model
├── MalformedInputFault      the request's body or parameters do not fit the model's types
└── MissingParameterFault    a required member is absent

Each protocol module turns a ServiceFault into its wire shape; handlers never
build an error body themselves.
"""

from __future__ import annotations

from lambdalite.errors import AwsError


class ServiceFault(AwsError):
    """An error a service answers.

    ``code`` is the error shape's name (``QueueDoesNotExist``), which the JSON
    protocol sends as ``__type``; ``query_code`` is the code the query protocol
    sends (and, for an awsQueryCompatible service, the ``x-amzn-query-error``
    header), when it differs (``AWS.SimpleQueueService.NonExistentQueue``).
    ``sender_fault``: the caller's fault (``Sender``) or the service's (``Receiver``).
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        query_code: str | None = None,
        sender_fault: bool = True,
    ) -> None:
        super().__init__(message)
        self.fault_code = code
        self.fault_status = status
        self.query_code = query_code or code
        self.sender_fault = sender_fault

    def __repr__(self) -> str:
        return f"ServiceFault({self.fault_code!r}, {self.message!r}, {self.fault_status})"


class UnknownOperationFault(ServiceFault):
    def __init__(self, message: str, *, query: bool = False) -> None:
        # The query protocol's services call it InvalidAction; the JSON ones UnknownOperationException.
        code = "InvalidAction" if query else "UnknownOperationException"
        super().__init__(code, message, 400)


class MalformedInputFault(ServiceFault):
    def __init__(self, message: str, *, query: bool = False) -> None:
        code = "MalformedQueryString" if query else "SerializationException"
        super().__init__(code, message, 400)


class MissingParameterFault(ServiceFault):
    def __init__(self, name: str) -> None:
        super().__init__("MissingParameter", f"The request must contain the parameter {name}.", 400)


def internal_fault() -> ServiceFault:
    return ServiceFault("InternalFailure", "An internal error occurred.", 500, sender_fault=False)
