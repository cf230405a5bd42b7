"""A full disk refuses new events with a clear error (500, in the server log),
loses none already accepted, and the server goes on: once there is room again,
events are accepted and run. The data directory is a small tmpfs of its own
(needs root and mount; skipped where the test cannot mount one)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import create_function, start_server, stop_server
from tests.e2e.async_rig import FLAKY, Collector, wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Fill the disk to the last byte; returns the filler to remove."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * (1 << 20))
            out.flush()
    with contextlib.suppress(OSError), filler.open("ab") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()
    return filler


def test_a_full_disk_refuses_events_clearly_and_the_server_goes_on(small_disk: Path) -> None:
    collector = Collector()
    server = start_server(small_disk / "data", "--retry-delay-scale", "0.01")
    try:
        lam = server.client("lambda")
        create_function(lam, "plain", {"app.py": FLAKY}, Environment={"Variables": collector.variables})
        before = lam.invoke(FunctionName="plain", InvocationType="Event", Payload=json.dumps({"n": "before"}))
        before_id = before["ResponseMetadata"]["RequestId"]
        wait_for(lambda: collector.runs[before_id] == 1, message="the event before the disk filled up")
        filler = fill(small_disk)
        big = json.dumps({"n": "full", "pad": "x" * 500_000})
        with pytest.raises(ClientError) as err:
            lam.invoke(FunctionName="plain", InvocationType="Event", Payload=big)
        response = err.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "ServiceException",
            500,
        )
        assert response["Error"]["Message"].startswith("The event could not be stored: ")
        assert "not accepted" in server.output()
        filler.unlink()
        after = lam.invoke(FunctionName="plain", InvocationType="Event", Payload=big)
        assert after["StatusCode"] == 202
        after_id = after["ResponseMetadata"]["RequestId"]
        wait_for(lambda: collector.runs[after_id] == 1, message="the event after room was made")
        assert server.process.poll() is None
    finally:
        stop_server(server)
        collector.close()
