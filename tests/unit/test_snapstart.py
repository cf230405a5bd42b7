"""SnapStart's rules and what a restored environment reports."""

from __future__ import annotations

import pytest

from lambdalite.control import snapstart
from lambdalite.errors import InvalidParameterValue
from lambdalite.models import FunctionConfig
from lambdalite.observe import report
from lambdalite.observe.billing import bill


@pytest.mark.parametrize(
    ("runtime", "supported"),
    [
        ("python3.12", True),
        ("python3.13", True),
        ("python3.11", False),
        ("python3.9", False),
        ("java11", True),
        ("java8.al2", False),
        ("dotnet8", True),
        ("nodejs22.x", False),
        ("provided.al2023", False),
    ],
)
def test_runtimes_with_snapstart_are_awss(runtime: str, supported: bool) -> None:
    assert snapstart.supported(runtime) is supported


def test_snapstart_on_another_runtime_is_refused_and_none_is_always_fine() -> None:
    with pytest.raises(InvalidParameterValue) as err:
        snapstart.check("nodejs20.x", "PublishedVersions")
    assert err.value.message == "nodejs20.x is not supported for SnapStart enabled functions."
    snapstart.check("nodejs20.x", "None")


def test_only_published_snapstart_versions_are_restored() -> None:
    latest = FunctionConfig("f", "python3.12", "r", "app.handler", "00", 1, snap_start="PublishedVersions")
    version = FunctionConfig(
        "f", "python3.12", "r", "app.handler", "00", 1, snap_start="PublishedVersions", version="1"
    )
    plain = FunctionConfig("f", "python3.12", "r", "app.handler", "00", 1, version="1")
    assert [snapstart.restores_from_snapshot(c) for c in (latest, version, plain)] == [False, True, False]
    assert version.configuration("arn:")["SnapStart"] == {
        "ApplyOn": "PublishedVersions",
        "OptimizationStatus": "On",
    }
    assert latest.configuration("arn:")["SnapStart"]["OptimizationStatus"] == "Off"


def test_a_restored_environment_reports_its_restore_instead_of_an_init() -> None:
    line = report.report_line(
        "id", bill(2.5), memory_size_mb=128, max_memory_used_mb=20, init_ms=3.21, restored=True
    )
    assert line.endswith("Max Memory Used: 20 MB\tRestore Duration: 3.21 ms\tBilled Restore Duration: 4 ms")
    assert "Init Duration" not in line
    version = report.RuntimeVersion("python:3.12.v1", "arn:x")
    assert report.init_start_line(version, restored=True).startswith(
        "RESTORE_START Runtime Version: python:3.12.v1"
    )
