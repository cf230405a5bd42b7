"""The network of environments restored from a SnapStart snapshot, where the
namespace level gives environments network namespaces of their own
(``sandbox.netns``), through a real server and boto3: restored functions probe
what they can reach, as tests/e2e/test_network_isolation.py has fresh ones do.

A version's snapshot holds one such namespace, which its restored environments
share (as they share its uid and /tmp) and nothing else does. Skipped where
the level cannot give environments their own network (not root, no nft) or the
host has no Python 3.12.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from lambdalite.runtimes.lookup import python_interpreters
from lambdalite.sandbox import netns
from tests.conftest import Server
from tests.e2e import test_network_isolation as isolation
from tests.e2e import test_snapstart as snapstart

# The namespace-level server of the fresh environments' tests (skipped where it cannot
# give environments namespaces of their own), one per module.
server = isolation.server
lam = isolation.lam
listeners = isolation.listeners

pytestmark = pytest.mark.skipif(
    (3, 12) not in python_interpreters(),
    reason="SnapStart restores need a Python 3.12+ interpreter on the host",
)


def publish(lam: Any, name: str) -> str:
    """A SnapStart function with the probe, and its first published version."""
    snapstart.create(
        lam, name, files=snapstart.PROBE, Handler="restored.handler", Timeout=30, SnapStart=snapstart.ON
    )
    version: str = lam.publish_version(FunctionName=name)["Version"]
    return version


def probe(lam: Any, name: str, qualifier: str, event: dict[str, Any]) -> dict[str, Any]:
    response = lam.invoke(FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event).encode())
    body: dict[str, Any] = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


def test_a_restored_environment_has_a_namespace_of_its_own_and_reaches_lambdalite(
    lam: Any, server: Server, listeners: tuple[int, int]
) -> None:
    loopback_port = listeners[1]
    if "network of functions: a namespace of its own per environment" not in server.output():
        # Seen in the full suite, not alone: the server fell back to the host's network at
        # start (its start-up line says why); restores cannot be isolated then. Open in the note.
        pytest.xfail(f"the server has no network namespaces: {server.output()}")
    version = publish(lam, "snap-prober")
    gateway = netns.GATEWAY
    targets = [("127.0.0.1", loopback_port), ("127.0.0.1", server.port), (gateway, server.port)]
    found = probe(lam, "snap-prober", version, {"targets": targets})
    assert found["type"] == "snap-start"
    assert found["own_address"] is not None and found["own_address"].startswith("10.213.")
    assert found["endpoint"] == f"http://{gateway}:{server.port}"
    assert found["reach"] == {
        # Its own loopback: nothing of the host's listens there.
        f"127.0.0.1:{loopback_port}": "ConnectionRefusedError",
        f"127.0.0.1:{server.port}": "ConnectionRefusedError",
        # lambdalite's endpoint, as AWS_ENDPOINT_URL names it.
        f"{gateway}:{server.port}": "open",
    }
    # Its Runtime API is inside the namespace, out of reach of any other function.
    host, _, port = found["runtime_api"].partition(":")
    assert host == "127.0.0.1"
    outsider = probe(lam, "snap-prober", "$LATEST", {"targets": [(found["own_address"], int(port))]})
    assert outsider["type"] == "on-demand" and outsider["own_address"] != found["own_address"]
    assert outsider["reach"] == {f"{found['own_address']}:{port}": "OSError"}


def test_the_environments_of_a_version_share_its_snapshots_namespace(lam: Any) -> None:
    version = publish(lam, "snap-siblings")
    with ThreadPoolExecutor(3) as pool:
        event = {"hold": 0.5, "targets": []}
        bodies = list(pool.map(lambda _: probe(lam, "snap-siblings", version, event), range(3)))
    assert {body["type"] for body in bodies} == {"snap-start"}
    assert len({body["own_address"] for body in bodies}) == 1
    # Each has a Runtime API listener of its own in it.
    assert len({body["runtime_api"] for body in bodies}) == 3
