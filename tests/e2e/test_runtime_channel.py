"""Our Python bootstrap reaches its environment through the runtime channel
(``dataplane.runtime_channel``), and the TCP Runtime API stays open beside it."""

from __future__ import annotations

import base64
import json
import shutil
from typing import Any

import pytest

from lambdalite.runtimes.lookup import python_interpreters
from tests.conftest import create_function

INSPECTOR = """
import json, os, urllib.error, urllib.request

def handler(event, context):
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    # The Runtime API on TCP answers in this same environment (a request id that is not
    # the one in progress is refused, as AWS refuses it).
    url = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/other/response"
    try:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=5)
        answer = [200, None]
    except urllib.error.HTTPError as exc:
        answer = [exc.code, json.loads(exc.read())]
    custom = context.client_context.custom if context.client_context else None
    return {
        "sockets": [target for target in targets if target.startswith("socket:")],
        "pipes": len([target for target in targets if target.startswith("pipe:")]),
        "variables": sorted(name for name in os.environ if name.startswith("_LAMBDALITE")),
        "tcp": answer,
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID", ""),
        "custom": custom,
        "event": event,
    }
"""


def test_our_bootstrap_uses_its_channel_and_the_tcp_runtime_api_still_answers(lam: Any) -> None:
    create_function(lam, "channel-inspector", {"app.py": INSPECTOR}, Timeout=30)
    context = base64.b64encode(json.dumps({"custom": {"who": "channel"}}).encode()).decode()
    for n in (1, 2):
        response = lam.invoke(
            FunctionName="channel-inspector", Payload=json.dumps({"n": n}), ClientContext=context
        )
        body = json.loads(response["Payload"].read())
        # No connection to the Runtime API: the event came, and the last response went,
        # through the inherited pipes (stdout's and the channel's).
        assert body["sockets"] == []
        assert body["pipes"] >= 3
        assert body["variables"] == []  # the channel's variable is the platform's, not the function's
        assert body["tcp"] == [400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}]
        assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
        assert 25_000 < body["remaining"] <= 30_000
        assert body["trace"].startswith("Root=1-") and ";Sampled=0" in body["trace"]
        assert body["custom"] == {"who": "channel"}
        assert body["event"] == {"n": n}
        assert "FunctionError" not in response


def test_a_custom_runtime_speaking_http_gets_no_channel_and_is_served_on_tcp(lam: Any) -> None:
    bootstrap = """#!/bin/sh
exec python3 - <<'EOF'
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as event:
        request_id = event.headers["Lambda-Runtime-Aws-Request-Id"]
        payload = json.loads(event.read())
    channel = sorted(name for name in os.environ if name.startswith("_LAMBDALITE_RUNTIME"))
    body = json.dumps({"event": payload, "channel": channel}).encode()
    answer = urllib.request.Request(api + request_id + "/response", data=body, method="POST")
    urllib.request.urlopen(answer).read()
EOF
"""
    files, modes = {"bootstrap": bootstrap}, {"bootstrap": 0o755}
    create_function(lam, "channel-custom", files, Runtime="provided.al2023", Handler="x", modes=modes)
    for n in (1, 2):
        response = lam.invoke(FunctionName="channel-custom", Payload=json.dumps({"n": n}))
        assert json.loads(response["Payload"].read()) == {"event": {"n": n}, "channel": []}


needs_312 = pytest.mark.skipif(
    not any(version >= (3, 12) for version in python_interpreters()),
    reason="SnapStart restores need a Python 3.12+ interpreter on the host",
)


def published_with_snapstart(lam: Any, name: str, source: str) -> str:
    """A Python 3.12 function with SnapStart on published versions; its first version."""
    snap_start = {"ApplyOn": "PublishedVersions"}
    create_function(lam, name, {"app.py": source}, Runtime="python3.12", SnapStart=snap_start)
    version: str = lam.publish_version(FunctionName=name)["Version"]
    return version


@needs_312
def test_a_restored_snapstart_environment_finds_its_own_channel(lam: Any) -> None:
    version = published_with_snapstart(lam, "channel-snap", INSPECTOR)
    for n in (1, 2):
        response = lam.invoke(FunctionName="channel-snap", Qualifier=version, Payload=json.dumps({"n": n}))
        body = json.loads(response["Payload"].read())
        assert body["sockets"] == [] and "_LAMBDALITE_RUNTIME_CHANNEL" not in body["variables"]
        assert body["event"] == {"n": n} and body["request_id"] == response["ResponseMetadata"]["RequestId"]


@needs_312
def test_a_failing_after_restore_hook_is_reported_through_the_channel(lam: Any) -> None:
    source = (
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def refuse():\n"
        "    raise RuntimeError('cannot be restored')\n"
        "def handler(event, context):\n"
        "    return 1\n"
    )
    version = published_with_snapstart(lam, "channel-snap-fail", source)
    response = lam.invoke(FunctionName="channel-snap-fail", Qualifier=version, Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.AfterRestoreError"
    assert body["errorMessage"] == "RuntimeError: cannot be restored"


NODE_INSPECTOR = """
const fs = require('fs');
exports.handler = async (event, context) => {
  const targets = fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch (err) {
      return '';
    }
  });
  return {
    sockets: targets.filter((target) => target.startsWith('socket:')),
    variables: Object.keys(process.env).filter((name) => name.startsWith('_LAMBDALITE')),
    requestId: context.awsRequestId,
    remaining: context.getRemainingTimeInMillis(),
    custom: context.clientContext ? context.clientContext.custom : null,
    event,
  };
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_our_node_bootstrap_uses_its_channel_too(lam: Any) -> None:
    create_function(
        lam, "channel-node", {"index.js": NODE_INSPECTOR}, Runtime="nodejs20.x", Handler="index.handler"
    )
    context = base64.b64encode(json.dumps({"custom": {"who": "node"}}).encode()).decode()
    for n in (1, 2):
        response = lam.invoke(
            FunctionName="channel-node", Payload=json.dumps({"n": n}), ClientContext=context
        )
        body = json.loads(response["Payload"].read())
        assert body["sockets"] == [] and body["variables"] == []
        assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
        assert 0 < body["remaining"] <= 3000
        assert body["custom"] == {"who": "node"} and body["event"] == {"n": n}


NODE_CHILD = """
const { execFileSync } = require('child_process');
// The descriptors a program the function runs starts with (the shell's own, listed by ls).
exports.handler = async () =>
  execFileSync('sh', ['-c', 'ls /proc/$$/fd'], { encoding: 'utf8' }).split('\\n').filter(Boolean).map(Number);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_programs_our_node_bootstrap_runs_do_not_inherit_its_channel(lam: Any) -> None:
    create_function(
        lam, "channel-node-child", {"index.js": NODE_CHILD}, Runtime="nodejs20.x", Handler="index.handler"
    )
    for _ in (1, 2):  # and the channel still serves the next event
        response = lam.invoke(FunctionName="channel-node-child", Payload=b"{}")
        assert "FunctionError" not in response
        assert sorted(json.loads(response["Payload"].read())) == [0, 1, 2]


NODE_LOOP = """
let ticks = 0;
exports.waits = (event, context, callback) => {
  setTimeout(() => { ticks += 1; console.log('timer fired'); }, 100);
  callback(null, { ticks });  // sent once the loop is empty, after the timer (AWS's default)
};
exports.later = (event) => ({ ticks });
exports.big = async (event) => (event.big ? 'x'.repeat(7 * 1024 * 1024) : { ticks });
exports.crashes = (event, context, callback) => {
  setTimeout(() => { throw new RangeError('from a timer'); }, 10);
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_over_the_channel_node_still_waits_for_an_empty_event_loop_and_reports_a_crash(lam: Any) -> None:
    create_function(
        lam, "channel-node-loop", {"index.js": NODE_LOOP}, Runtime="nodejs20.x", Handler="index.waits"
    )
    response = lam.invoke(FunctionName="channel-node-loop", Payload=b"{}", LogType="Tail")
    assert json.loads(response["Payload"].read()) == {"ticks": 0}
    assert "timer fired" in base64.b64decode(response["LogResult"]).decode()
    response = lam.invoke(FunctionName="channel-node-loop", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == {"ticks": 1}  # the same (warm) environment

    create_function(
        lam, "channel-node-crash", {"index.js": NODE_LOOP}, Runtime="nodejs20.x", Handler="index.crashes"
    )
    response = lam.invoke(FunctionName="channel-node-crash", Payload=b"{}")
    body = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("RangeError", "from a timer")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_a_node_response_over_the_limit_is_refused_and_the_environment_serves_on(lam: Any) -> None:
    create_function(
        lam,
        "channel-node-big",
        {"index.js": NODE_LOOP},
        Runtime="nodejs20.x",
        Handler="index.big",
        MemorySize=512,
    )
    response = lam.invoke(FunctionName="channel-node-big", Payload=json.dumps({"big": True}))
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read()) == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }
    response = lam.invoke(FunctionName="channel-node-big", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == {"ticks": 0}
