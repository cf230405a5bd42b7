"""A function without network on a server at the process level, which cannot
take the network away: it is refused at its start, never run with the host's
network, and the server keeps serving."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_function, start_server, stop_server

MARKER = "handler module ran"
HANDLER = f"print({MARKER!r})\n\ndef handler(event, context):\n    return 'served'\n"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    work = Path(tempfile.mkdtemp(prefix="lambdalite-no-network-"))
    # Reachable by the environments' own uids (as root): a function is never run as root instead.
    work.chmod(0o755)
    srv = start_server(work / "data", "--isolation", "process")
    yield srv
    stop_server(srv)
    shutil.rmtree(work, ignore_errors=True)


def test_a_function_without_network_is_refused_at_the_process_level(server: Server) -> None:
    lam: Any = server.client("lambda")
    create_function(
        lam, "offline", {"app.py": HANDLER}, Environment={"Variables": {"LAMBDALITE_NETWORK": "none"}}
    )
    response = lam.invoke(FunctionName="offline", Payload=b"{}", LogType="Tail")
    body = json.loads(response["Payload"].read())
    log = base64.b64decode(response["LogResult"]).decode()
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Sandbox.NetworkIsolationUnavailable",
        "errorMessage": "LAMBDALITE_NETWORK=none needs the namespace isolation level, and this server "
        "runs at the process level (see `lambdalite doctor`): the function was not started rather than "
        "given the host's network.",
    }
    assert MARKER not in log  # its code never ran
    lam.update_function_configuration(FunctionName="offline", Environment={"Variables": {}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="offline", WaiterConfig={"Delay": 0.1})
    assert json.loads(lam.invoke(FunctionName="offline", Payload=b"{}")["Payload"].read()) == "served"
