"""The platform's log lines (observe.report) and billing (observe.billing)."""

from __future__ import annotations

import re

import pytest

from lambdalite.observe import report
from lambdalite.observe.billing import Billing, bill


def test_billing_rounds_up_to_the_millisecond() -> None:
    assert bill(12.01) == Billing(12.01, 13)
    assert bill(12.0) == Billing(12.0, 12)
    assert bill(0.2) == Billing(0.2, 1)


def test_a_timed_out_invocation_is_billed_exactly_its_timeout() -> None:
    assert bill(2003.4, timed_out_after_s=2) == Billing(2000.0, 2000)


def test_report_line_has_awss_fields_in_awss_order() -> None:
    line = report.report_line(
        "id-1",
        bill(2003.4, timed_out_after_s=2),
        memory_size_mb=128,
        max_memory_used_mb=41,
        init_ms=95.123,
        status="timeout",
    )
    assert line == (
        "REPORT RequestId: id-1\tDuration: 2000.00 ms\tBilled Duration: 2000 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 41 MB\tInit Duration: 95.12 ms\tStatus: timeout"
    )


def test_max_memory_used_is_never_above_the_memory_size() -> None:
    line = report.report_line(
        "id-2",
        bill(1.5),
        memory_size_mb=128,
        max_memory_used_mb=300,
        status="error",
        error_type="Runtime.OutOfMemory",
    )
    assert line == (
        "REPORT RequestId: id-2\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory"
    )


@pytest.mark.parametrize(
    ("runtime", "interpreter_version", "name"),
    [
        ("python3.12", "3.12.3", "python:3.12.v3"),
        ("python3.9", "3.9.18", "python:3.9.v18"),
        ("nodejs20.x", "20.11.1", "nodejs:20.v11"),
        ("provided.al2023", None, "provided:al2023.v1"),
        ("provided", None, "provided:al1.v1"),
        ("python3.13", None, "python:3.13.v0"),
    ],
)
def test_init_start_names_the_runtime_version_as_aws_does(
    runtime: str, interpreter_version: str | None, name: str
) -> None:
    interpreter = "/usr/bin/interpreter" if interpreter_version else None
    version = report.runtime_version(runtime, "us-east-1", interpreter, interpreter_version)
    line = report.init_start_line(version)
    assert re.fullmatch(
        rf"INIT_START Runtime Version: {re.escape(name)}\t"
        r"Runtime Version ARN: arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}",
        line,
    ), line


def test_the_runtime_version_arn_is_stable_and_names_the_interpreter_used() -> None:
    one = report.runtime_version("python3.12", "us-east-1", "/usr/bin/python3.12", "3.12.3")
    assert one == report.runtime_version("python3.12", "us-east-1", "/usr/bin/python3.12", "3.12.3")
    other = report.runtime_version("python3.12", "us-east-1", "/opt/py/bin/python3.12", "3.12.3")
    newer = report.runtime_version("python3.12", "us-east-1", "/usr/bin/python3.12", "3.12.4")
    assert len({one.arn, other.arn, newer.arn}) == 3


def test_start_end_and_timeout_lines() -> None:
    assert report.start_line("id", "$LATEST") == "START RequestId: id Version: $LATEST"
    assert report.end_line("id") == "END RequestId: id"
    assert report.timeout_line("2026-12-07T16:00:00.000Z", "id", 2) == (
        "2026-12-07T16:00:00.000Z id Task timed out after 2.00 seconds"
    )
