"""lambdalite's Python runtime interface client: runs one function inside an
execution environment and talks to the platform through the Lambda Runtime API
(2018-06-01), the way AWS's Python runtime does.

Contract
--------
Runs on Python 3.9 to 3.14 with the standard library only. Started with cwd =
the task root; ``main()`` may also be called by a process that imported this
module in advance (a zygote), since importing it has no side effects.

Reads: AWS_LAMBDA_RUNTIME_API (host:port), _LAMBDALITE_RUNTIME_CHANNEL
(``<read fd>,<write fd>``: when set, the platform's cheaper channel is used
instead of the Runtime API, see ``RuntimeChannelClient``; removed from
os.environ before the handler is imported), _HANDLER, LAMBDA_TASK_ROOT,
AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
AWS_LAMBDA_LOG_STREAM_NAME, AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT,
_LAMBDALITE_SDK_PYTHON (the runtime's boto3 directory, appended last to
sys.path and removed from os.environ). Sets _X_AMZN_TRACE_ID for each
invocation (removed when the platform sends none).

Writes to stdout: whatever the handler prints; root-logger records as
``[LEVEL]\\t<UTC time>Z\\t<request id>\\t<message>`` (or one JSON object
with AWS_LAMBDA_LOG_FORMAT=JSON); for each failed init or invocation one
``[ERROR] <type>: <message>\\nTraceback (most recent call last):\\n<frames>``
record. With _LAMBDALITE_LOG_FRAMES=1 (lambdalite sets it, and it is removed
from os.environ before the handler is imported) each record is one frame,
``RECORD_MARK`` + its UTF-8 length (4 bytes, big-endian) + the text, written
to descriptor 1 in one write, which the platform turns into one log event
however many lines it has, as AWS's runtime does through its telemetry
descriptor; otherwise it is plain text ending with a newline. Everything
written before a response or error is POSTed has been flushed, so the
platform can attribute it to its invocation.

Exits 1 after reporting an init error, 1 when the Runtime API goes away, and
however the handler makes it exit (sys.exit, os._exit): reporting an exit is
the platform's job.
"""

from __future__ import annotations

import contextlib
import decimal
import importlib
import importlib.util
import json
import logging
import os
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

Handler = Callable[[Any, Any], Any]
ErrorBody = dict[str, Any]

API_VERSION = "2018-06-01"
_NEXT_PATH = "/" + API_VERSION + "/runtime/invocation/next"
_INIT_ERROR_PATH = "/" + API_VERSION + "/runtime/init/error"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_CHANNEL_VARIABLE = "_LAMBDALITE_RUNTIME_CHANNEL"
_THIS_FILE = os.path.abspath(__file__)


class FaultError(Exception):
    """An error the runtime reports with an AWS ``Runtime.*`` error type."""

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


class RuntimeApiGone(Exception):
    """The Runtime API cannot be reached: the environment is being torn down."""


Event = tuple[str, int, "str | None", "str | None", "str | None", "str | None", str, bytes]
"""One invocation as a client hands it over: request id, deadline (epoch ms), invoked
ARN, trace id, client context, Cognito identity (the last four None when absent),
content type, payload."""


# -- HTTP ---------------------------------------------------------------------


class RuntimeApiClient:
    """A minimal HTTP/1.1 keep-alive client for the Runtime API.

    One persistent TCP connection with TCP_NODELAY (without it a request and
    its response can wait 40 ms on Nagle plus delayed ACK). Each request is one
    ``sendall``; responses must carry Content-Length (the platform always sends
    it). A dropped connection is re-opened once per request.
    """

    _SCRATCH = 65536

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._address = (host or "127.0.0.1", int(port))
        self._host_header = ("Host: " + address + "\r\n").encode("latin-1")
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._scratch = bytearray(self._SCRATCH)
        self._view = memoryview(self._scratch)

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection(self._address)
        except OSError as exc:
            raise RuntimeApiGone(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buffer = bytearray()
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _message(self, method: bytes, path: str, body: bytes, headers: bytes) -> bytes:
        head = b"%s %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n" % (
            method,
            path.encode("latin-1"),
            self._host_header,
            headers,
            len(body),
        )
        return head + body if body else head

    def request(
        self, method: bytes, path: str, body: bytes = b"", headers: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; return (status, lower-cased headers, body bytes).

        ``headers`` is raw ``Name: value\\r\\n`` lines, pre-encoded by the caller."""
        return self._exchange(self._message(method, path, body, headers), 1)

    def post_then_next(self, path: str, body: bytes, headers: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST a result and ask for the next event in one write (HTTP
        pipelining): the platform can answer both with one write, which saves
        a wake-up per invocation. Returns the answer to ``GET .../next``."""
        message = self._message(b"POST", path, body, headers) + self._message(b"GET", _NEXT_PATH, b"", b"")
        return self._exchange(message, 2)

    # The client interface ``Runtime`` uses (``RuntimeChannelClient`` has the same).

    def next(self) -> Event:
        """Wait for the next event."""
        return _http_event(*self.request(b"GET", _NEXT_PATH))

    def respond(self, request_id: str, payload: bytes, content_type: bytes) -> Event:
        """Post ``request_id``'s response; return the next event."""
        path = _INVOCATION_PATH + request_id + "/response"
        return _http_event(*self.post_then_next(path, payload, b"Content-Type: " + content_type + b"\r\n"))

    def fail(self, request_id: str, error: bytes) -> Event:
        """Post ``request_id``'s error (AWS's JSON error body); return the next event."""
        path = _INVOCATION_PATH + request_id + "/error"
        return _http_event(*self.post_then_next(path, error, _UNHANDLED_HEADERS))

    def init_error(self, error_type: str, error: bytes) -> None:
        """Report that init failed (AWS's JSON error body), and wait until it is taken."""
        header = f"{_ERROR_TYPE_HEADER}: {error_type}\r\n".encode("latin-1")
        self.request(b"POST", _INIT_ERROR_PATH, error, header)

    def _exchange(self, message: bytes, answers: int) -> tuple[int, dict[str, str], bytes]:
        """Send ``message`` (``answers`` requests) and return the last answer."""
        for attempt in (0, 1):
            sock = self._sock if self._sock is not None else self._connect()
            try:
                sock.sendall(message)
                for _ in range(answers - 1):
                    self._read_response(sock)
                return self._read_response(sock)
            except (OSError, RuntimeApiGone) as exc:
                # The platform closed an idle keep-alive connection, or died.
                # Retry once on a fresh connection; a second failure is final.
                self.close()
                if attempt:
                    raise RuntimeApiGone(str(exc)) from exc
        raise AssertionError("unreachable")

    def _fill(self, sock: socket.socket) -> None:
        received = sock.recv_into(self._view)
        if not received:
            raise RuntimeApiGone("connection closed by the Runtime API")
        self._buffer += self._view[:received]

    def _read_response(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            self._fill(sock)
            buffer = self._buffer
            end = buffer.find(b"\r\n\r\n")
        status_line, _, header_lines = bytes(buffer[:end]).decode("latin-1").partition("\r\n")
        status = int(status_line[9:12])  # "HTTP/1.1 200 OK"
        headers: dict[str, str] = {}
        for line in header_lines.split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        start = end + 4
        available = len(buffer) - start
        if available >= length:
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
        else:
            # Large body (an event of up to 6 MB): receive straight into its own buffer.
            body_buffer = bytearray(length)
            body_buffer[:available] = buffer[start:]
            del buffer[:]
            view = memoryview(body_buffer)
            filled = available
            while filled < length:
                received = sock.recv_into(view[filled:])
                if not received:
                    raise RuntimeApiGone("connection closed by the Runtime API")
                filled += received
            body = bytes(body_buffer)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


_INVOCATION_PATH = "/" + API_VERSION + "/runtime/invocation/"
_UNHANDLED_HEADERS = b"Content-Type: application/json\r\n" + _ERROR_TYPE_HEADER.encode() + b": Unhandled\r\n"


def _http_event(status: int, headers: dict[str, str], body: bytes) -> Event:
    """The Runtime API's answer to ``GET .../next`` as an Event."""
    if status != 200:
        raise RuntimeApiGone(f"GET next answered {status}")
    return (
        headers.get("lambda-runtime-aws-request-id", ""),
        int(headers.get("lambda-runtime-deadline-ms") or 0),
        headers.get("lambda-runtime-invoked-function-arn"),
        headers.get("lambda-runtime-trace-id") or None,
        headers.get("lambda-runtime-client-context") or None,
        headers.get("lambda-runtime-cognito-identity") or None,
        headers.get("content-type") or "application/json",
        body,
    )


# -- the platform's channel ----------------------------------------------------

_EVENT_HEAD = struct.Struct(">IQHHHII")
_REQUEST_HEAD = struct.Struct(">BIHH")
_NEXT, _RESPONSE, _ERROR, _INIT_ERROR = (ord(kind) for kind in "nrei")


class RuntimeChannelClient:
    """The platform's channel (``lambdalite.dataplane.runtime_channel`` has the
    frames): two inherited pipes instead of HTTP on TCP. Handing back a
    response asks for the next event in the same write, and the platform
    answers only with events, so an invocation costs one write and one read.

    ``spec`` is ``"<read fd>,<write fd>"``; both are made close-on-exec, so a
    program the function runs does not hold them."""

    _READ_SIZE = 65536

    def __init__(self, spec: str) -> None:
        read_fd, write_fd = (int(fd) for fd in spec.split(","))
        for fd in (read_fd, write_fd):
            os.set_inheritable(fd, False)
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._buffer = b""

    def close(self) -> None:
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _send(self, kind: int, request_id: str, error_type: str, body: bytes) -> None:
        rid = request_id.encode()
        kind_of_error = error_type.encode()
        head = _REQUEST_HEAD.pack(kind, len(body), len(rid), len(kind_of_error)) + rid + kind_of_error
        try:
            written = os.writev(self._write_fd, (head, body))
            if written < len(head) + len(body):  # interrupted: write the rest
                rest = memoryview(head + body)[written:]
                while rest:
                    rest = rest[os.write(self._write_fd, rest) :]
        except OSError as exc:
            raise RuntimeApiGone(f"the platform's channel: {exc}") from exc

    def _receive(self) -> bytes:
        try:
            # (os.read allocates _READ_SIZE and shrinks it to what came: cheaper, for an
            # event of a few hundred bytes, than readv into a buffer and a copy out.)
            data = os.read(self._read_fd, self._READ_SIZE)
        except OSError as exc:
            raise RuntimeApiGone(f"the platform's channel: {exc}") from exc
        if not data:
            raise RuntimeApiGone("the platform closed its channel")
        return data

    def _event(self) -> Event:
        data = self._buffer
        head_size = _EVENT_HEAD.size
        while len(data) < head_size:
            data += self._receive()
        size, deadline_ms, rid, arn, trace, context, identity = _EVENT_HEAD.unpack_from(data)
        total = head_size + rid + arn + trace + context + identity + size
        if len(data) < total:
            # A large event (up to 6 MB): the rest straight into one buffer.
            whole = bytearray(total)
            whole[: len(data)] = data
            view = memoryview(whole)
            filled = len(data)
            while filled < total:
                try:
                    received = os.readv(self._read_fd, [view[filled:]])
                except OSError as exc:
                    raise RuntimeApiGone(f"the platform's channel: {exc}") from exc
                if not received:
                    raise RuntimeApiGone("the platform closed its channel")
                filled += received
            data = bytes(whole)
        self._buffer = data[total:]
        # Unrolled: this runs once per invocation.
        arn_at = head_size + rid
        trace_at = arn_at + arn
        context_at = trace_at + trace
        identity_at = context_at + context
        payload_at = identity_at + identity
        return (
            data[head_size:arn_at].decode(),
            deadline_ms,
            data[arn_at:trace_at].decode() if arn else None,
            data[trace_at:context_at].decode() if trace else None,
            data[context_at:identity_at].decode() if context else None,
            data[identity_at:payload_at].decode() if identity else None,
            "application/json",
            data[payload_at:total],
        )

    def next(self) -> Event:
        self._send(_NEXT, "", "", b"")
        return self._event()

    def respond(self, request_id: str, payload: bytes, content_type: bytes) -> Event:
        self._send(_RESPONSE, request_id, "", payload)
        return self._event()

    def fail(self, request_id: str, error: bytes) -> Event:
        self._send(_ERROR, request_id, "Unhandled", error)
        return self._event()

    def init_error(self, error_type: str, error: bytes) -> None:
        # Not answered: the platform reads the channel before it sees this process end.
        self._send(_INIT_ERROR, "", error_type, error)


def connect(environ: Mapping[str, str]) -> RuntimeApiClient | RuntimeChannelClient:
    """The platform's channel when it gave one (taken out of os.environ: the
    function's code must not see it), otherwise, or when its descriptors are not
    there after all, the Runtime API."""
    channel = environ.get(_CHANNEL_VARIABLE)
    os.environ.pop(_CHANNEL_VARIABLE, None)
    if channel:
        try:
            return RuntimeChannelClient(channel)
        except (OSError, ValueError):
            pass
    return RuntimeApiClient(environ["AWS_LAMBDA_RUNTIME_API"])


# -- context ------------------------------------------------------------------


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: Mapping[str, Any] | None) -> None:
        identity = identity or {}
        self.cognito_identity_id = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, client: Mapping[str, Any] | None) -> None:
        client = client or {}
        self.installation_id = client.get("installation_id")
        self.app_title = client.get("app_title")
        self.app_version_name = client.get("app_version_name")
        self.app_version_code = client.get("app_version_code")
        self.app_package_name = client.get("app_package_name")


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.client = Client(context["client"]) if context.get("client") is not None else None
        self.custom = context.get("custom")
        self.env = context.get("env")


class LambdaContext:
    """The handler's ``context``, with AWS's attribute names.

    ``memory_limit_in_mb`` is a string, as on AWS (it is read from the
    environment there too)."""

    function_name: str | None
    function_version: str | None
    memory_limit_in_mb: str | None
    log_group_name: str | None
    log_stream_name: str | None

    def __init__(
        self,
        function_fields: Mapping[str, str | None],
        request_id: str,
        deadline_ms: int,
        invoked_arn: str | None,
        client_context: Mapping[str, Any] | None,
        identity: Mapping[str, Any] | None,
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        # function_name, function_version, memory_limit_in_mb, log_group_name, log_stream_name
        self.__dict__.update(function_fields)
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(identity)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: object) -> None:
        _write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


def function_fields(environ: Mapping[str, str]) -> dict[str, str | None]:
    """The context attributes that come from the environment, read once at init."""
    return {
        "function_name": environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "function_version": environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "memory_limit_in_mb": environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "log_group_name": environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream_name": environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    }


def _parse_json_header(value: str | None, what: str) -> Any:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FaultError(
            "Runtime.LambdaContextUnmarshalError", f"Unable to parse {what} JSON: {exc}"
        ) from exc


# -- logging ------------------------------------------------------------------

_request_id: str = ""
"""The invocation in progress, for log records; empty during init."""
_FRAMES_VARIABLE = "_LAMBDALITE_LOG_FRAMES"
_SDK_VARIABLE = "_LAMBDALITE_SDK_PYTHON"
RECORD_MARK = b"\x1e\x00LR"
"""Starts a framed log record (``lambdalite.dataplane.output``)."""
_framed = False
"""Log records are framed (_LAMBDALITE_LOG_FRAMES=1 at start-up)."""


def _write(text: str) -> None:
    stream = sys.stdout
    stream.write(text)
    stream.flush()


def _write_record(text: str) -> None:
    """One log record (without its final newline): one framed write, or a line."""
    if not _framed:
        _write(text + "\n")
        return
    # What the handler printed before this record comes before it.
    _flush()
    payload = text.encode("utf-8", "replace")
    frame = memoryview(RECORD_MARK + len(payload).to_bytes(4, "big") + payload)
    try:
        while frame:
            frame = frame[os.write(1, frame) :]
    except OSError:
        _write(text + "\n")


def _flush() -> None:
    # The platform drains our pipes when it receives a response: everything
    # written for this invocation must be in the pipe before we POST.
    # (try/except rather than contextlib.suppress: this runs once per
    # invocation, and a suppress object per stream costs more than the flushes.)
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _StdoutHandler(logging.Handler):
    """Writes formatted records to the current sys.stdout, one line or block each."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            _write_record(text[:-1] if text.endswith("\n") else text)
        except Exception:
            self.handleError(record)


_STANDARD_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "aws_request_id",
    "taskName",
}
"""A LogRecord's own attributes: anything else was added by ``extra=`` and is logged too."""


class _JsonFormatter(logging.Formatter):
    """AWS's JSON record: timestamp, level (DEBUG ... CRITICAL, a custom level
    rounded down to one of them), message, logger, requestId; with an exception
    errorType, errorMessage, stackTrace (a list of frames) and location
    (``path:function:line``); then whatever ``extra=`` added. Empty members are left out."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        entry: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            etype, value, tb = record.exc_info
            entry["stackTrace"] = traceback.format_tb(tb)
            entry["errorType"] = etype.__name__
            entry["errorMessage"] = str(value)
        entry["requestId"] = getattr(record, "aws_request_id", None)
        if record.exc_info:
            entry["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record.__dict__.items():
            if key not in _STANDARD_RECORD_FIELDS and key not in entry:
                entry[key] = value
        entry = {key: value for key, value in entry.items() if value is not None}
        return json.dumps(entry, default=str, ensure_ascii=False) + "\n"


_LOG_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "FATAL": logging.CRITICAL,
}


def _setup_logging(environ: Mapping[str, str]) -> None:
    """Root logger as on AWS: text (or JSON) to stdout with the request id.

    Like AWS, the root level stays Python's default (WARNING) unless
    AWS_LAMBDA_LOG_LEVEL names a level (TRACE means DEBUG)."""
    global _framed
    _framed = environ.get(_FRAMES_VARIABLE) == "1"
    os.environ.pop(_FRAMES_VARIABLE, None)  # the platform's, not the function's
    logging.Formatter.converter = time.gmtime
    handler = _StdoutHandler()
    if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = _LOG_LEVELS.get(environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    if level is not None:
        root.setLevel(level)


def _log_error(error: ErrorBody, json_format: bool) -> None:
    """AWS's log entry for a failed init or invocation, as one write."""
    if json_format:
        # AWS's order: the time and the level first, then the error body.
        entry = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": "ERROR", **error}
        _write_record(json.dumps(entry, ensure_ascii=False))
        return
    lines = ["[ERROR] {}: {}".format(error["errorType"], error["errorMessage"])]
    lines.append("Traceback (most recent call last):")
    for frame in error["stackTrace"]:
        lines.extend(frame.splitlines())
    _write_record("\n".join(lines))


# -- errors and results -------------------------------------------------------


def _error_body(error_type: str, message: str, request_id: str, stack_trace: list[str] | None) -> ErrorBody:
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id,
        "stackTrace": stack_trace or [],
    }


def _user_frames(tb: TracebackType | None) -> list[str]:
    """The traceback formatted like AWS: the runtime's own leading frames dropped."""
    frames = traceback.extract_tb(tb)
    for index, frame in enumerate(frames):
        if frame.filename != _THIS_FILE:
            return traceback.format_list(frames[index:])
    return traceback.format_list(frames)


def _decimal_default(value: object) -> object:
    # AWS's encoder writes Decimal as a JSON number; without simplejson the
    # closest we get is int or float.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder() -> Callable[[Any], str]:
    """AWS's ``json.JSONEncoder(...).encode`` for results. Where the interpreter
    has json's C encoder (CPython), that encoder is built once here, as
    ``JSONEncoder.encode`` would build it for every call (a third of what
    encoding a small result costs); it is checked against ``encode`` on a
    sample, and ``encode`` itself is used if they disagree."""
    # Python 3.12+ runtimes on AWS emit UTF-8 instead of \\u escapes.
    encoder = json.JSONEncoder(ensure_ascii=sys.version_info < (3, 12), default=_decimal_default)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    markers: dict[int, Any] = {}
    """JSONEncoder's check for circular references: the ids of the containers being encoded."""
    strings = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    try:
        chunks = make(
            markers, encoder.default, strings, None, encoder.key_separator, encoder.item_separator,
            False, False, True,
        )  # fmt: skip
    except TypeError:
        return encoder.encode

    def encode(value: Any) -> str:
        try:
            return "".join(chunks(value, 0))
        except BaseException:
            # A failed encoding leaves its containers in ``markers``; left there, they
            # would read as circular references in a later result.
            markers.clear()
            raise

    sample = {"a": [1, 2.5, None, True, "\u00e9\u2028\n", float("nan")], "b": {"c": decimal.Decimal("1.5")}}
    try:
        if encode(sample) == encoder.encode(sample) and encode("x") == encoder.encode("x"):
            return encode
    except Exception:
        pass
    return encoder.encode


_raw_decode = json.JSONDecoder().raw_decode
_JSON_WHITESPACE = " \t\n\r"


def _decode_json(body: bytes) -> Any:
    """``json.loads(body)``, in fewer steps for the usual payload: UTF-8 text that
    is one JSON value from its first character, then nothing but JSON's whitespace.
    Anything else (a BOM, UTF-16 or -32, whitespace before the value, an error) is
    left to ``json.loads``, which gives its own value or raises its own error."""
    try:
        text = body.decode()
        value, end = _raw_decode(text)
        if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
            return value
    except (ValueError, RecursionError):
        pass
    return json.loads(body)


# -- init ---------------------------------------------------------------------


def _set_sys_path(task_root: str) -> None:
    # Our own directory was put first because we were run as a script; user
    # code must not see (or be shadowed by) the runtime's files.
    here = os.path.dirname(_THIS_FILE)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    version = "python{}.{}".format(*sys.version_info[:2])
    # The layers: at /opt as on AWS, or where LAMBDALITE_OPT says when the sandbox
    # cannot mount them there (process level).
    opt = os.environ.get("LAMBDALITE_OPT") or "/opt"
    extra = [p for p in (f"{opt}/python/lib/{version}/site-packages", f"{opt}/python") if os.path.isdir(p)]
    sys.path[:0] = [task_root, *extra]
    # The runtime's boto3 comes last, as AWS's does: a function's or layer's own copy wins.
    sdk = os.environ.pop(_SDK_VARIABLE, "")
    if sdk and sdk not in sys.path:
        sys.path.append(sdk)
    # SnapStart's runtime hooks (snapshot_restore_py), after the function's own code. From
    # the runtime directory as this process sees it: a process forked from a zygote holds
    # the host's path to this file, which its sandbox may not show (a private /tmp).
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "")
    hooks = os.path.join(runtime_dir, "python", "snapstart")
    sys.path.append(hooks if runtime_dir and os.path.isdir(hooks) else os.path.join(here, "snapstart"))


def load_handler(handler: str) -> Handler:
    """Import ``module.function`` (module may be ``pkg/mod`` or ``pkg.mod``).

    Raises FaultError with AWS's error types and messages."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from exc
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    try:
        handler_function: Handler = getattr(module, function_name)
    except AttributeError as exc:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from exc
    return handler_function


# -- _X_AMZN_TRACE_ID ----------------------------------------------------------

_TRACE_VARIABLE = "_X_AMZN_TRACE_ID"
_TRACE_KEY = os.fsencode(_TRACE_VARIABLE)
_BUFFERED_AFTER = 1024
"""Invocations set through ``os.environ`` before the C buffer is made (spawned runtimes)."""


class TraceVariable:
    """Sets _X_AMZN_TRACE_ID for each invocation, in ``os.environ`` and in the C
    environment (which getenv and child processes read).

    Not with ``os.environ[...] = value``: glibc's setenv keeps every string it was
    ever given (a pointer getenv returned stays valid), and every invocation's trace
    id is new. Measured, the runtime grew by about 140 bytes an invocation (28 MB
    over 200,000), which counts against the function's memory and would end a busy
    environment as out of memory. Instead one buffer of ours holds ``NAME=value``;
    putenv keeps the caller's string rather than a copy, so the buffer is rewritten
    in place (put back, without allocating, when the handler set or removed the
    variable through ``os.environ``: it is overridden, as before), and
    ``os.environ``'s mapping is given the value without a second setenv. (A
    handler that calls os.putenv or os.unsetenv itself bypasses that mapping,
    and its variable then stays until it uses os.environ.) The buffer never
    shrinks; a longer value gets a larger one, and the old one is kept (a getenv
    pointer may still point into it).

    It needs ctypes, which a zygote has imported with this module; a spawned
    runtime imports it only after ``_BUFFERED_AFTER`` invocations (its import
    takes milliseconds, which a cold start should not pay), setting the variable
    as before until then."""

    def __init__(self) -> None:
        self._calls = 0
        self._putenv: Any = None
        self._buffer: Any = None
        self._kept: list[Any] = []
        self._last: bytes | None = None
        """The value last given to os.environ's mapping: while it is still there,
        the C environment still points at the buffer."""

    def set(self, value: str) -> None:
        raw = value.encode("utf-8", "surrogateescape")  # os.fsencode's, on Linux
        buffer = self._buffer
        if buffer is None or len(raw) + len(_TRACE_KEY) + 2 > len(buffer):
            buffer = self._grow(len(raw))
            if buffer is None:
                os.environ[_TRACE_VARIABLE] = value
                return
        buffer.value = _TRACE_KEY + b"=" + raw
        data = os.environ._data  # type: ignore[attr-defined]  # the mapping, without setenv
        last = self._last
        if last is None or data.get(_TRACE_KEY) is not last:
            # Not ours any more (set or removed through os.environ; a first set): put it back.
            self._putenv(buffer)
        data[_TRACE_KEY] = self._last = raw

    def clear(self) -> None:
        os.environ.pop(_TRACE_VARIABLE, None)

    def _grow(self, size: int) -> Any:
        """A buffer for a value of ``size`` bytes (None: not now, or no ctypes)."""
        self._calls += 1
        if "ctypes" not in sys.modules and self._calls <= _BUFFERED_AFTER:
            return None
        try:
            import ctypes
        except ImportError:
            return None
        if self._putenv is None:
            try:
                self._putenv = ctypes.CDLL(None).putenv
            except (OSError, AttributeError):
                return None
            self._putenv.argtypes = (ctypes.c_char_p,)
        if self._buffer is not None:
            self._kept.append(self._buffer)
        self._last = None  # the new buffer is not in the environment yet
        self._buffer = ctypes.create_string_buffer(max(256, 2 * (size + len(_TRACE_KEY) + 2)))
        return self._buffer


_trace_variable = TraceVariable()


# -- the loop -----------------------------------------------------------------


class Runtime:
    """Init once, then serve invocations until the platform goes away."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.client = connect(environ)
        self.json_logs = environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
        self.encode = _encoder()
        self.function_fields = function_fields(environ)

    def init(self) -> Handler:
        """Import the handler; on failure report the init error and exit 1."""
        try:
            return load_handler(self.environ.get("_HANDLER", ""))
        except FaultError as fault:
            error = _error_body(fault.error_type, fault.message, "", fault.stack_trace)
        except Exception as exc:
            error = _error_body(type(exc).__name__, str(exc), "", _user_frames(exc.__traceback__))
        self.report_init_error(error)
        sys.exit(1)

    def report_init_error(self, error: ErrorBody) -> None:
        """Log a failed init (or after-restore hook) as AWS does and report it."""
        _log_error(error, self.json_logs)
        _flush()
        with contextlib.suppress(RuntimeApiGone):
            self.client.init_error(error["errorType"], json.dumps(error).encode())

    def warm_up(self) -> None:
        """Exercise the per-invocation path once before the first event, so
        the first invocation (a provisioned environment's especially) costs
        what every later one does. The handler itself is not called."""
        header = '{"client": {"installation_id": "x"}, "custom": {}, "env": {}}'
        LambdaContext(self.function_fields, "", 0, None, _parse_json_header(header, "Client Context"), None)
        self.encode(_decode_json(b'{"warm": [1, 2.5, "up", null, true]}')).encode("utf-8")
        _trace_variable.set("warm-up")
        _trace_variable.clear()

    def serve(self, handler: Handler) -> None:
        global _request_id
        event = self.client.next()
        while True:
            _request_id = event[0]
            trace_id = event[3]
            if trace_id:
                _trace_variable.set(trace_id)
            else:
                _trace_variable.clear()
            event = self.invoke(handler, event)

    def invoke(self, handler: Handler, event: Event) -> Event:
        """Run the handler on one event, hand back its response or error, and
        return the next event."""
        request_id, deadline_ms, invoked_arn, _, client_context, identity, content_type, body = event
        try:
            context = LambdaContext(
                self.function_fields,
                request_id,
                deadline_ms,
                invoked_arn,
                _parse_json_header(client_context, "Client Context"),
                _parse_json_header(identity, "Cognito Identity"),
            )
            if content_type.startswith("application/json"):
                try:
                    data = _decode_json(body)
                except ValueError as exc:
                    raise FaultError("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from exc
            else:
                data = body
            result = handler(data, context)
            if isinstance(result, bytes):
                payload, result_type = result, b"application/unknown"
            else:
                try:
                    payload, result_type = self.encode(result).encode("utf-8"), b"application/json"
                except Exception as exc:
                    raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc
        except FaultError as fault:
            error = _error_body(fault.error_type, fault.message, request_id, fault.stack_trace)
        except Exception as exc:
            error = _error_body(type(exc).__name__, str(exc), request_id, _user_frames(exc.__traceback__))
        else:
            _flush()
            return self.client.respond(request_id, payload, result_type)
        _log_error(error, self.json_logs)
        _flush()
        return self.client.fail(request_id, json.dumps(error).encode("utf-8"))


def rehearse() -> None:
    """Run much of what ``main`` runs before the handler's first event, without its
    effects: nothing attached, imported, connected or set. For a zygote's spare
    (``lambdalite.sandbox._zygote_main``), which is a fork of a process that
    imported this module: each page it writes first is copied then, and this
    makes it take those copies before its function is known rather than after."""
    runtime = Runtime({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"})
    runtime.warm_up()
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_RequestIdFilter())
    importlib.util.find_spec("__lambdalite_rehearsal__")  # through every path finder
    compile("def handler(event, context):\n    return event\n", "<rehearsal>", "exec")
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()


def main(environ: Mapping[str, str] | None = None) -> None:
    """Run the runtime in this process; returns only by exiting."""
    environ = os.environ if environ is None else environ
    # Line buffering: print() output reaches the pipe line by line, so the
    # output of an invocation that times out is not lost with the process.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    task_root = environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _set_sys_path(task_root)
    _setup_logging(environ)
    runtime = Runtime(environ)
    handler = runtime.init()
    runtime.warm_up()
    try:
        runtime.serve(handler)
    except RuntimeApiGone as exc:
        sys.stderr.write(f"lambdalite runtime: the Runtime API went away ({exc})\n")
        sys.exit(1)


if __name__ != "__main__":
    # Imported ahead (a zygote): ctypes comes with it, for TraceVariable.
    import ctypes  # noqa: F401
else:
    main()
