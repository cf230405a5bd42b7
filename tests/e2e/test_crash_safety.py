"""kill -9 of the server under control-plane write load loses nothing it acknowledged.

A writer creates functions with tags, a permission and reserved concurrency, and
deletes every third one again, while the server is killed with SIGKILL at a
random moment. After a restart every acknowledged function is there with all of
its settings, every acknowledged deletion is complete (a function created again
under the same name starts with no tags, policy or reservation of the deleted
one), and the one operation in flight at the kill is either done or not done.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, start_server, stop_server, zip_files

CODE = zip_files({"app.py": "def handler(event, context):\n    return 'ok'\n"})
CRASHES = 3


@dataclass
class Acknowledged:
    """What the server answered with success before it was killed."""

    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    in_flight: str | None = None
    """The function a request was under way for when the server died (either outcome is fine)."""


def _write_until_killed(lam: Any, prefix: str, done: Acknowledged, stop: threading.Event) -> None:
    index = 0
    while not stop.is_set():
        name = f"{prefix}-{index}"
        done.in_flight = name
        try:
            lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": CODE},
                Tags={"n": str(index)},
            )
            lam.add_permission(
                FunctionName=name,
                StatementId="s3",
                Action="lambda:InvokeFunction",
                Principal="s3.amazonaws.com",
            )
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
            done.created.append(name)
            if index % 3 == 2:
                victim = f"{prefix}-{index - 2}"
                done.in_flight = victim
                lam.delete_function(FunctionName=victim)
                done.deleted.append(victim)
        except Exception:
            return  # the server is gone
        done.in_flight = None
        index += 1


def _check(lam: Any, done: Acknowledged) -> None:
    for name in done.created:
        if name in done.deleted or name == done.in_flight:
            continue
        function = lam.get_function(FunctionName=name)
        assert function["Tags"] == {"n": name.rsplit("-", 1)[1]}
        assert function["Concurrency"] == {"ReservedConcurrentExecutions": 1}
        assert '"Sid":"s3"' in lam.get_policy(FunctionName=name)["Policy"].replace(" ", "")
    for name in done.deleted:
        if name == done.in_flight:
            continue
        with pytest.raises(ClientError) as missing:
            lam.get_function(FunctionName=name)
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
        # Created again, it carries nothing of the deleted function.
        created = lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": CODE}
        )
        assert lam.list_tags(Resource=created["FunctionArn"])["Tags"] == {}
        assert "Concurrency" not in lam.get_function(FunctionName=name)
        with pytest.raises(ClientError) as no_policy:
            lam.get_policy(FunctionName=name)
        assert no_policy.value.response["Error"]["Code"] == "ResourceNotFoundException"
        lam.delete_function(FunctionName=name)


def test_sigkill_under_write_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rounds: list[Acknowledged] = []
    chance = random.Random(10)
    for crash in range(CRASHES):
        server = start_server(data)
        try:
            lam = server.client()
            for earlier in rounds:
                _check(lam, earlier)
            done = Acknowledged()
            stop = threading.Event()
            writer = threading.Thread(target=_write_until_killed, args=(lam, f"c{crash}", done, stop))
            writer.start()
            deadline = time.monotonic() + 10
            while len(done.created) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(chance.uniform(0.0, 0.3))
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
            stop.set()
            writer.join(timeout=30)
            assert len(done.created) >= 4, server.output()
            rounds.append(done)
        finally:
            stop_server(server)
    server = start_server(data)
    try:
        lam = server.client()
        for done in rounds:
            _check(lam, done)
    finally:
        stop_server(server)
