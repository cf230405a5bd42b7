"""Each environment's network namespace at the namespace level (``sandbox.netns``),
driven through a real server and boto3: functions probe what they can reach.

The host side is real: a listener the test opens on every host address, one on
loopback that a function may be opened to (``LAMBDALITE_HOST_PORTS``), and
PostgreSQL on 127.0.0.1:5432 where the machine has it. Skipped where the
namespace level cannot give environments their own network (not root, no nft).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.sandbox import netns
from tests.conftest import Server, create_function, start_server, stop_server

PROBE = """
import json, os, socket

def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "open"
    except OSError as exc:
        return type(exc).__name__

def handler(event, context):
    own = None
    if os.environ.get("LAMBDALITE_NETWORK") != "none":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.connect((event.get("gateway", "10.213.0.1"), 9))
            own = udp.getsockname()[0]
    return {
        "uid": os.getuid(),
        "own_address": own,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "runtime_api": os.environ["AWS_LAMBDA_RUNTIME_API"],
        "reach": {f"{host}:{port}": reach(host, port) for host, port in event["targets"]},
    }
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces of their own need root")
    reason = netns.unavailable_reason()
    if reason is not None:
        pytest.skip(f"no network namespaces here: {reason}")
    work = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-netns-"))
    work.chmod(0o755)
    srv = start_server(work / "data", "--isolation", "namespace")
    yield srv
    stop_server(srv)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def listeners() -> Iterator[tuple[int, int]]:
    """(a port listening on every host address, a port listening on loopback only)."""
    everywhere = socket.create_server(("0.0.0.0", 0))
    loopback = socket.create_server(("127.0.0.1", 0))
    yield everywhere.getsockname()[1], loopback.getsockname()[1]
    everywhere.close()
    loopback.close()


def probe(lam: Any, name: str, targets: list[tuple[str, int]], **variables: str) -> dict[str, Any]:
    """Create (once) and invoke a probe function; its findings."""
    try:
        lam.get_function(FunctionName=name)
    except ClientError:
        create_function(lam, name, {"app.py": PROBE}, Environment={"Variables": variables}, Timeout=30)
    response = lam.invoke(FunctionName=name, Payload=json.dumps({"targets": targets}).encode())
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_the_start_up_line_says_each_environment_has_a_namespace_of_its_own(server: Server) -> None:
    assert "network of functions: a namespace of its own per environment" in server.output()


def test_a_function_reaches_no_host_service_and_lambdalite_at_its_endpoint(
    lam: Any, server: Server, listeners: tuple[int, int]
) -> None:
    everywhere, loopback = listeners
    gateway = netns.GATEWAY
    found = probe(
        lam,
        "prober",
        [
            ("127.0.0.1", loopback),
            ("127.0.0.1", server.port),
            (gateway, everywhere),
            (gateway, loopback),
            (gateway, 5432),
            (gateway, server.port),
        ],
    )
    assert found["uid"] != 0
    assert found["endpoint"] == f"http://{gateway}:{server.port}"
    assert found["runtime_api"] == "127.0.0.1:9001"
    reach = found["reach"]
    # Its own loopback: nothing of the host's listens there.
    assert reach[f"127.0.0.1:{loopback}"] == "ConnectionRefusedError"
    assert reach[f"127.0.0.1:{server.port}"] == "ConnectionRefusedError"
    # The host itself: rejected, whatever listens on it (PostgreSQL included).
    assert reach[f"{gateway}:{everywhere}"] == "OSError"
    assert reach[f"{gateway}:{loopback}"] == "OSError"
    assert reach[f"{gateway}:5432"] == "OSError"
    # lambdalite's endpoint, as AWS_ENDPOINT_URL names it.
    assert reach[f"{gateway}:{server.port}"] == "open"


def test_a_function_cannot_reach_another_environments_runtime_api(lam: Any) -> None:
    victim = probe(lam, "victim-env", [])
    address = victim["own_address"]
    assert address is not None and address.startswith("10.213.")
    found = probe(lam, "attacker-env", [(address, 9001), (netns.GATEWAY, 9001), ("127.0.0.1", 9001)])
    assert found["own_address"] != address
    assert found["reach"][f"{address}:9001"] == "OSError"
    assert found["reach"][f"{netns.GATEWAY}:9001"] == "OSError"
    # Its own Runtime API, and only that one, is on its loopback.
    assert found["reach"]["127.0.0.1:9001"] == "open"


def test_without_network_a_function_cannot_connect_anywhere(lam: Any, server: Server) -> None:
    found = probe(
        lam,
        "offline",
        [(netns.GATEWAY, server.port), ("1.1.1.1", 80), ("127.0.0.1", server.port)],
        LAMBDALITE_NETWORK="none",
    )
    assert found["reach"] == {
        f"{netns.GATEWAY}:{server.port}": "OSError",
        "1.1.1.1:80": "OSError",
        f"127.0.0.1:{server.port}": "ConnectionRefusedError",
    }


def test_an_opened_host_port_is_reachable_and_only_that_one(lam: Any, listeners: tuple[int, int]) -> None:
    everywhere, loopback = listeners
    found = probe(
        lam,
        "opened",
        [(netns.GATEWAY, loopback), (netns.GATEWAY, everywhere), (netns.GATEWAY, 5432)],
        LAMBDALITE_HOST_PORTS=str(loopback),
    )
    assert found["reach"] == {
        f"{netns.GATEWAY}:{loopback}": "open",
        f"{netns.GATEWAY}:{everywhere}": "OSError",
        f"{netns.GATEWAY}:5432": "OSError",
    }


def test_outbound_traffic_leaves_through_the_host(lam: Any) -> None:
    try:
        socket.create_connection(("1.1.1.1", 80), timeout=2).close()
    except OSError:
        pytest.skip("this host itself has no outbound network")
    assert probe(lam, "outbound", [("1.1.1.1", 80)])["reach"] == {"1.1.1.1:80": "open"}


def test_invalid_host_ports_are_refused_as_aws_refuses_invalid_variables(lam: Any) -> None:
    with pytest.raises(ClientError) as caught:
        create_function(
            lam, "bad-ports", {"app.py": PROBE}, Environment={"Variables": {"LAMBDALITE_HOST_PORTS": "99999"}}
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "Lambda was unable to configure your environment variables because the environment variables "
        "you have provided contains an invalid value. LAMBDALITE_HOST_PORTS must be a comma-separated "
        "list of at most 16 TCP ports (1-65535); got '99999'."
    )


CUSTOM_PROBE = """#!{python}
import json, os, socket, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'
while True:
    with urllib.request.urlopen(api + 'next') as response:
        request_id = response.headers['Lambda-Runtime-Aws-Request-Id']
        host, port = json.loads(response.read())['target']
    try:
        socket.create_connection((host, port), timeout=2).close()
        reached = 'open'
    except OSError as exc:
        reached = type(exc).__name__
    body = json.dumps({{'reached': reached, 'endpoint': os.environ.get('AWS_ENDPOINT_URL')}}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + '/response', data=body)).read()
"""


def test_a_custom_runtime_started_afresh_gets_the_same_network(lam: Any, server: Server) -> None:
    python = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
    create_function(
        lam,
        "custom-probe",
        {"bootstrap": CUSTOM_PROBE.format(python=python)},
        Runtime="provided.al2023",
        Handler="unused",
        modes={"bootstrap": 0o755},
    )
    for target, reached in (((netns.GATEWAY, server.port), "open"), ((netns.GATEWAY, 5432), "OSError")):
        response = lam.invoke(FunctionName="custom-probe", Payload=json.dumps({"target": target}).encode())
        body = json.loads(response["Payload"].read())
        assert body == {"reached": reached, "endpoint": f"http://{netns.GATEWAY}:{server.port}"}


def test_doctor_says_what_the_network_of_functions_is(server: Server) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lambdalite", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "network: a namespace of its own per environment" in result.stdout
