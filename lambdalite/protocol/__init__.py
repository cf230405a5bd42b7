"""AWS's wire protocols, driven by botocore's service models.

A sibling service (sqs, sns, events, ...) is a set of typed operation handlers,
``async def send_message(self, request: dict) -> dict``, that take and return the
plain values of the operation's input and output shapes (str, int, bool, bytes,
datetime, lists, dicts) and raise ``ServiceFault``s. They never see a wire format:

    model = load_model("sqs", overlay=SQS_QUERY_NAMES)
    front = ProtocolFront(model, SqsHandlers(...))
    response = await front.handle(http_request)   # json or query, picked per request

Modules, one per job:

``model``       loading botocore's models (with an overlay of serialization traits
                that an older protocol of the service needs), operation lookup
``errors``      ``ServiceFault``, the one error a handler raises, and the protocol's
                own faults (unknown operation, malformed input, missing parameter)
``shapes``      the conversions the protocols share (blobs, timestamps, required members)
``json``        awsJson 1.0/1.1: ``X-Amz-Target`` requests, JSON answers, ``__type``
                errors (with ``x-amzn-query-error`` for awsQueryCompatible services)
``query``       awsQuery: form-encoded ``Action=...`` requests, XML answers,
                ``<ErrorResponse>`` errors
``front``       picks the protocol of a request, calls the handler, serializes
``rest_xml``    rest-xml (S3): operations found by method, path and required query
                keys/headers; labels, headers, query and XML or streamed payloads;
                ``<Error>`` bodies (``services/s3/front.py`` drives it)

A later protocol (rest-xml for s3, rest-json) is one more module with a
``parse``/``serialize``/``serialize_error`` triple and one branch in ``front``.
Not served yet: event-stream outputs (Logs' StartLiveTail).
"""

from lambdalite.protocol.errors import ServiceFault
from lambdalite.protocol.front import ProtocolFront
from lambdalite.protocol.model import load_model

__all__ = ["ProtocolFront", "ServiceFault", "load_model"]
