"""What a function's LoggingConfig makes of its log stream: the platform's own
events in Text or JSON, and the log-level filters.

With ``LogFormat: Text`` (the default) the platform writes AWS's text lines
(``observe.report``) and every line of the function's output is kept. With
``LogFormat: JSON`` it writes AWS's JSON platform events instead, one object
per event::

    {"time": "2024-05-08T21:52:42.542Z", "type": "platform.start",
     "record": {"requestId": "...", "version": "$LATEST"}}

(``platform.initStart``, ``platform.start``, ``platform.runtimeDone``,
``platform.report`` with its ``metrics``), and both filters apply as AWS
documents them (Lambda's "Log-level filtering" page):

- the system level (DEBUG, INFO, WARN) keeps the platform events at or above
  it: initStart, start and report are INFO, runtimeDone is DEBUG, so the
  default INFO shows no END-like event, and WARN shows none of these;
- the application level (TRACE ... FATAL) keeps the function's records at or
  above it. A record's level is the ``level`` member of a line that is a JSON
  object (our runtimes write their logger's records so); any other line, or
  an unknown level, counts as INFO.

``PlatformLog.for_function`` is built once per environment; the Text policy
does no per-line work at all, so the default costs nothing on the invoke path.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

import orjson

from lambdalite.models import FunctionConfig
from lambdalite.observe import report
from lambdalite.observe.billing import Billing

APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
"""ApplicationLogLevel's values, most detailed first."""
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
"""SystemLogLevel's values, most detailed first."""
_RANK = {name: rank for rank, name in enumerate(APPLICATION_LEVELS)}
# The names runtimes and logging libraries write for the same levels.
_RANK.update({"WARNING": _RANK["WARN"], "CRITICAL": _RANK["FATAL"], "NOTSET": _RANK["TRACE"]})
_INFO = _RANK["INFO"]
_DEBUG = _RANK["DEBUG"]

Events = list[tuple[int, str]]


def level_rank(name: str | None) -> int:
    """The rank of a level name (case-insensitive); INFO for anything unknown."""
    if not isinstance(name, str):
        return _INFO
    return _RANK.get(name.upper(), _INFO)


def record_level(message: str) -> int:
    """The level of one line of application output: its ``level`` member when it
    is a JSON object, INFO otherwise."""
    if not message.startswith("{"):
        return _INFO
    try:
        value = orjson.loads(message)
    except orjson.JSONDecodeError:
        return _INFO
    return level_rank(value.get("level")) if isinstance(value, dict) else _INFO


def iso_ms(epoch_ms: int) -> str:
    """``2024-05-08T21:52:42.542Z`` for a time in epoch milliseconds."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


@dataclass(frozen=True, slots=True)
class PlatformLog:
    """The platform's wording and the filters of one function configuration."""

    json: bool = False
    application_rank: int = _INFO
    system_rank: int = _INFO

    @classmethod
    def for_function(cls, function: FunctionConfig) -> PlatformLog:
        if function.log_format != "JSON":
            return _TEXT
        return cls(
            json=True,
            application_rank=level_rank(function.application_log_level or "INFO"),
            system_rank=level_rank(function.system_log_level or "INFO"),
        )

    # -- the function's own output ---------------------------------------------------------

    def application(self, events: Events) -> Events:
        """The function's output events this configuration keeps (all of them with Text)."""
        if not self.json:
            return events
        return [event for event in events if record_level(event[1]) >= self.application_rank]

    # -- the platform's events ----------------------------------------------------------------

    def init_start(
        self, now_ms: int, version: report.RuntimeVersion, function: FunctionConfig, initialization_type: str
    ) -> Events:
        if not self.json:
            return [(now_ms, report.init_start_line(version, restored=initialization_type == "snap-start"))]
        record = {
            "initializationType": initialization_type,
            "phase": "init",
            "runtimeVersion": version.name,
            "runtimeVersionArn": version.arn,
            "functionName": function.name,
            "functionVersion": function.version,
        }
        return self._event(now_ms, "platform.initStart", record, _INFO)

    def start(self, now_ms: int, request_id: str, function_version: str) -> Events:
        if not self.json:
            return [(now_ms, report.start_line(request_id, function_version))]
        return self._event(
            now_ms, "platform.start", {"requestId": request_id, "version": function_version}, _INFO
        )

    def timeout(self, now_ms: int, iso_time: str, request_id: str, timeout_s: int) -> Events:
        """AWS's text line before END; with JSON the report's ``status`` says it instead."""
        if self.json:
            return []
        return [(now_ms, report.timeout_line(iso_time, request_id, timeout_s))]

    def end(
        self,
        now_ms: int,
        request_id: str,
        billing: Billing,
        status: str | None,
        produced_bytes: int,
        function_error: bool = False,
    ) -> Events:
        """END, or with JSON ``platform.runtimeDone`` (a DEBUG event). ``status`` as for
        ``report``; ``function_error``: the function answered with an error."""
        if not self.json:
            return [(now_ms, report.end_line(request_id))]
        record = {
            "requestId": request_id,
            "status": _json_status(status, function_error),
            "metrics": {"durationMs": round(billing.duration_ms, 3), "producedBytes": produced_bytes},
        }
        return self._event(now_ms, "platform.runtimeDone", record, _DEBUG)

    def report(
        self,
        now_ms: int,
        request_id: str,
        billing: Billing,
        *,
        memory_size_mb: int,
        max_memory_used_mb: int,
        init_ms: float | None = None,
        restored: bool = False,
        status: str | None = None,
        error_type: str | None = None,
        function_error: bool = False,
    ) -> Events:
        """REPORT, or with JSON ``platform.report`` and its metrics (see ``report.report_line``).
        ``status``: REPORT's Status (timeout, error) when the invocation did not end normally;
        ``function_error``: the function answered with an error, which only the JSON
        event's ``status`` shows (``error``), as AWS's does."""
        used_mb = min(max_memory_used_mb, memory_size_mb)
        if not self.json:
            line = report.report_line(
                request_id,
                billing,
                memory_size_mb=memory_size_mb,
                max_memory_used_mb=used_mb,
                init_ms=init_ms,
                restored=restored,
                status=status,
                error_type=error_type,
            )
            return [(now_ms, line)]
        metrics: dict[str, float | int] = {
            "durationMs": round(billing.duration_ms, 3),
            "billedDurationMs": billing.billed_ms,
            "memorySizeMB": memory_size_mb,
            "maxMemoryUsedMB": used_mb,
        }
        if init_ms is not None:
            metrics["restoreDurationMs" if restored else "initDurationMs"] = round(init_ms, 3)
        record: dict[str, object] = {
            "requestId": request_id,
            "metrics": metrics,
            "status": _json_status(status, function_error),
        }
        if error_type:
            record["errorType"] = error_type
        return self._event(now_ms, "platform.report", record, _INFO)

    def invocation(
        self,
        start_ms: int,
        now_ms: int,
        request_id: str,
        version: str,
        output: Events,
        billing: Billing,
        *,
        memory_size_mb: int,
        max_memory_used_mb: int,
        timeout_s: int,
        produced_bytes: int,
        init_ms: float | None = None,
        restored: bool = False,
        status: str | None = None,
        error_type: str | None = None,
        function_error: bool = False,
    ) -> Sequence[tuple[int, str]]:
        """One invocation's events, in its stream's order: START (at ``start_ms``), the
        function's ``output`` (as ``application`` kept it), then at ``now_ms`` the timeout
        line, END and REPORT (the arguments as for ``end`` and ``report``). ``output``
        is kept in the answer: the caller hands it over."""
        if not self.json and status is None and init_ms is None:
            # Most invocations: a warm one that ended normally, in Text (no filters).
            used_mb = max_memory_used_mb if max_memory_used_mb < memory_size_mb else memory_size_mb
            return WarmInvocationEvents(
                start_ms, now_ms, request_id, version, output, billing, memory_size_mb, used_mb
            )
        events = self.start(start_ms, request_id, version)
        events.extend(output)
        if status == "timeout":
            events.extend(self.timeout(now_ms, iso_ms(now_ms), request_id, timeout_s))
        events.extend(self.end(now_ms, request_id, billing, status, produced_bytes, function_error))
        events.extend(
            self.report(
                now_ms,
                request_id,
                billing,
                memory_size_mb=memory_size_mb,
                max_memory_used_mb=max_memory_used_mb,
                init_ms=init_ms,
                restored=restored,
                status=status,
                error_type=error_type,
                function_error=function_error,
            )
        )
        return events

    def _event(self, now_ms: int, kind: str, record: Mapping[str, object], rank: int) -> Events:
        if rank < self.system_rank:
            return []
        message = orjson.dumps({"time": iso_ms(now_ms), "type": kind, "record": record}).decode()
        return [(now_ms, message)]


_START_JSON = b'[%d,%d,"START RequestId: %b Version: %b"]\n'
_END_REPORT_JSON = (
    b'[%d,%d,"END RequestId: %b"]\n'
    b'[%d,%d,"REPORT RequestId: %b\\tDuration: %.2f ms\\tBilled Duration: %d ms\\t'
    b'Memory Size: %d MB\\tMax Memory Used: %d MB"]\n'
)
"""``report.start_line``, ``end_line`` and ``warm_report_line`` as JSON lines of the log
store (tabs escaped as orjson escapes them); the tests hold them to those functions."""


class WarmInvocationEvents(Sequence[tuple[int, str]]):
    """The events of a warm invocation that ended normally, in Text: START, the
    function's output, END and REPORT. The platform's three lines are worded when the
    events are first read: by the log store's flush (``observe.logs``), after the caller
    has its answer, or for LogType Tail. Reading is idempotent (two threads that read
    at once word the same lines)."""

    __slots__ = (
        "_billing",
        "_end_ms",
        "_memory_mb",
        "_output",
        "_request_id",
        "_start_ms",
        "_used_mb",
        "_version",
        "_worded",
    )

    def __init__(
        self,
        start_ms: int,
        end_ms: int,
        request_id: str,
        version: str,
        output: Events,
        billing: Billing,
        memory_mb: int,
        used_mb: int,
    ) -> None:
        self._start_ms = start_ms
        self._end_ms = end_ms
        self._request_id = request_id
        self._version = version
        self._output = output
        self._billing = billing
        self._memory_mb = memory_mb
        self._used_mb = used_mb
        self._worded: Events | None = None

    def _events(self) -> Events:
        worded = self._worded
        if worded is None:
            request_id, end_ms = self._request_id, self._end_ms
            worded = [
                (self._start_ms, report.start_line(request_id, self._version)),
                *self._output,
                (end_ms, report.end_line(request_id)),
                (end_ms, report.warm_report_line(request_id, self._billing, self._memory_mb, self._used_mb)),
            ]
            self._worded = worded
        return worded

    def json_lines(self, ingestion_ms: int) -> tuple[bytes, int, int]:
        """The events as ``observe.logs`` stores them, ingested at ``ingestion_ms``: the
        bytes orjson writes for each ``[timestamp, ingestion_ms, message]``, one line
        each, without wording the lines as strings first (the store's flush calls this
        for every warm invocation); and the lowest and highest timestamp."""
        start_ms, end_ms = self._start_ms, self._end_ms
        low, high = (start_ms, end_ms) if start_ms <= end_ms else (end_ms, start_ms)
        request_id = orjson.dumps(self._request_id)[1:-1]  # its JSON-escaped characters
        data = _START_JSON % (start_ms, ingestion_ms, request_id, orjson.dumps(self._version)[1:-1])
        for ts, message in self._output:
            data += b"[%d,%d,%b]\n" % (ts, ingestion_ms, orjson.dumps(message))
            low = ts if ts < low else low
            high = ts if ts > high else high
        billing = self._billing
        data += _END_REPORT_JSON % (
            end_ms,
            ingestion_ms,
            request_id,
            end_ms,
            ingestion_ms,
            request_id,
            billing.duration_ms,
            billing.billed_ms,
            self._memory_mb,
            self._used_mb,
        )
        return data, low, high

    def __len__(self) -> int:
        return len(self._output) + 3

    @overload
    def __getitem__(self, index: int) -> tuple[int, str]: ...

    @overload
    def __getitem__(self, index: slice) -> Events: ...

    def __getitem__(self, index: int | slice) -> tuple[int, str] | Events:
        return self._events()[index]

    def __iter__(self) -> Iterator[tuple[int, str]]:
        return iter(self._events())


_TEXT = PlatformLog()


def _json_status(status: str | None, function_error: bool) -> str:
    """The Telemetry API's status: timeout or error from the platform, error for a
    function's own error, success otherwise."""
    return status or ("error" if function_error else "success")
