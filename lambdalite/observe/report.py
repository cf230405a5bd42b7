"""The platform's own lines in a function's log stream, as AWS writes them.

An environment's stream opens with ``INIT_START``; every invocation is framed
by ``START`` and ``END`` and summed up by ``REPORT``::

    INIT_START Runtime Version: python:3.12.v3\tRuntime Version ARN: arn:aws:lambda:<region>::runtime:<hex>
    START RequestId: <id> Version: $LATEST
    <the function's own output>
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 2.35 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t
        Max Memory Used: 41 MB\tInit Duration: 95.12 ms[\tStatus: timeout|error[\tError Type: ...]]

Every function here is pure: the environment measures, this module words it.
What an invocation is billed is ``billing.bill``'s answer.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from lambdalite.observe.billing import Billing


@dataclass(frozen=True, slots=True)
class RuntimeVersion:
    """What INIT_START names: ``python:3.12.v3`` and its ARN."""

    name: str
    arn: str


def runtime_version(
    runtime: str, region: str, interpreter: str | None, interpreter_version: str | None
) -> RuntimeVersion:
    """The runtime version an environment runs, derived from the function's
    runtime and the interpreter that actually runs it, stable across restarts.

    AWS names a runtime's releases ``<family>:<version>.v<N>`` (``python:3.12.v38``,
    ``nodejs:20.v23``, ``provided:al2023.v98``). Here N is the release of the
    interpreter within its runtime (Python 3.12.3 -> v3; Node 20.11.1 -> v11;
    v0 when no interpreter was found; v1 for ``provided``, which has none), and
    the ARN's 64 hex digits are a SHA-256 of the runtime, the interpreter's
    real path and its full version: another interpreter is another ARN."""
    family, version = _split_runtime(runtime)
    release = "1" if family == "provided" else "0"
    if interpreter_version:
        parts = interpreter_version.split(".")
        # The components the runtime's name already holds: 3.12 for Python, 20 for Node.
        known = 2 if family == "python" else 1
        if len(parts) > known and parts[known].isdigit():
            release = parts[known]
    digest = hashlib.sha256(
        "\0".join((runtime, interpreter or "", interpreter_version or "")).encode()
    ).hexdigest()
    return RuntimeVersion(f"{family}:{version}.v{release}", f"arn:aws:lambda:{region}::runtime:{digest}")


def _split_runtime(runtime: str) -> tuple[str, str]:
    """``python3.12`` -> (python, 3.12); ``nodejs20.x`` -> (nodejs, 20);
    ``provided.al2023`` -> (provided, al2023); ``provided`` -> (provided, al1)."""
    for family in ("python", "nodejs", "java", "ruby", "dotnet"):
        if runtime.startswith(family):
            return family, runtime.removeprefix(family).removesuffix(".x")
    if runtime.startswith("provided"):
        return "provided", runtime.removeprefix("provided.") if "." in runtime else "al1"
    return runtime, "0"


def init_start_line(version: RuntimeVersion, restored: bool = False) -> str:
    """INIT_START, or RESTORE_START for an environment restored from a SnapStart snapshot."""
    phase = "RESTORE_START" if restored else "INIT_START"
    return f"{phase} Runtime Version: {version.name}\tRuntime Version ARN: {version.arn}"


def start_line(request_id: str, function_version: str) -> str:
    return f"START RequestId: {request_id} Version: {function_version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def timeout_line(iso_time: str, request_id: str, timeout_s: int) -> str:
    """The line AWS writes before END when an invocation times out."""
    return f"{iso_time} {request_id} Task timed out after {timeout_s:.2f} seconds"


def warm_report_line(request_id: str, billing: Billing, memory_size_mb: int, used_mb: int) -> str:
    """REPORT of an invocation that ended normally without waiting for an init (the
    warm path: ``report_line``'s first fields, ``used_mb`` already capped)."""
    return (
        f"REPORT RequestId: {request_id}\tDuration: {billing.duration_ms:.2f} ms\t"
        f"Billed Duration: {billing.billed_ms} ms\tMemory Size: {memory_size_mb} MB\t"
        f"Max Memory Used: {used_mb} MB"
    )


def report_line(
    request_id: str,
    billing: Billing,
    *,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_ms: float | None = None,
    restored: bool = False,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """AWS's REPORT line. ``max_memory_used_mb`` is shown, but never above
    ``memory_size_mb``: memory a runtime shares with its zygote is resident in
    it without being charged to the function (see ``SandboxedProcess.peak_memory_bytes``).
    ``init_ms``: the init this invocation waited for (a cold start); with
    ``restored``, the restore from a SnapStart snapshot.
    ``status``/``error_type``: for an invocation that did not end normally."""
    report = warm_report_line(request_id, billing, memory_size_mb, min(max_memory_used_mb, memory_size_mb))
    if init_ms is not None and restored:
        # SnapStart: AWS reports (and bills) the restore instead of the init.
        report += f"\tRestore Duration: {init_ms:.2f} ms\tBilled Restore Duration: {math.ceil(init_ms)} ms"
    elif init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    if status is not None:
        report += f"\tStatus: {status}"
        if error_type:
            report += f"\tError Type: {error_type}"
    return report
