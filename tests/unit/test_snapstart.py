"""SnapStart's rules and what a restored environment reports."""

from __future__ import annotations

import importlib.util
import itertools
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdalite.control import snapstart
from lambdalite.errors import InvalidParameterValue
from lambdalite.models import FunctionConfig
from lambdalite.observe import report
from lambdalite.observe.billing import bill

_SNAPSHOT = Path(snapstart.__file__).parent.parent / "runtimes" / "python" / "snapshot.py"
_spec = importlib.util.spec_from_file_location("lambdalite_snapshot_under_test", _SNAPSHOT)
assert _spec is not None and _spec.loader is not None
snapshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snapshot)
"""The snapshot program (standard library only, run by the snapshot's interpreter)."""


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


def _in_child(run: Callable[[], None]) -> int:
    """Run ``run`` in a forked child (it may move descriptors or exit); its exit code."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run()
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _free_descriptor(start: int = 200) -> int:
    for fd in itertools.count(start):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    raise AssertionError("unreachable")


def test_a_restored_environments_descriptors_land_at_their_numbers_and_its_socket_survives() -> None:
    read, write = os.pipe()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    target = _free_descriptor()

    def restore() -> None:
        # The platform's socket itself sits on one of the numbers: it must move out of the way.
        os.dup2(theirs.fileno(), target + 1)
        sock = snapshot._inherit(
            [target, target + 1], [os.dup(write), os.dup(write)], socket.socket(fileno=target + 1)
        )
        os.write(target, b"a")
        os.write(target + 1, b"b")
        sock.send(b"still the platform's")

    assert _in_child(restore) == 0
    os.close(write)
    assert os.read(read, 10) == b"ab"
    assert ours.recv(100) == b"still the platform's"


def test_a_number_the_functions_init_holds_fails_the_restore() -> None:
    read, write = os.pipe()
    target = _free_descriptor()

    def restore() -> None:
        os.dup2(read, target)  # opened by the function's init, before the snapshot
        snapshot._inherit([target], [os.dup(write)], socket.socket())

    assert _in_child(restore) == 1
