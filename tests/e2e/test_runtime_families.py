"""Node.js, custom runtimes (provided) and the official Python runtime interface client."""

from __future__ import annotations

import base64
import json
import shutil
import sys
from typing import Any

import pytest

from tests.conftest import create_function

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed on this host")


def invoke(lam: Any, name: str, payload: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    return response, json.loads(response["Payload"].read())


@needs_node
def test_node_async_handler_with_context(lam: Any) -> None:
    code = """
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log('hello from node', event.name);
  return { name: event.name, count, fn: context.functionName, id: context.awsRequestId,
           remaining: context.getRemainingTimeInMillis() };
};
"""
    create_function(lam, "node-async", {"index.js": code}, Runtime="nodejs20.x", Handler="index.handler")
    response, body = invoke(lam, "node-async", {"name": "ada"})
    assert body["name"] == "ada" and body["count"] == 1 and body["fn"] == "node-async"
    assert body["id"] == response["ResponseMetadata"]["RequestId"]
    assert 0 < body["remaining"] <= 3000
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"\t{body['id']}\tINFO\thello from node ada" in log
    assert invoke(lam, "node-async", {"name": "ada"})[1]["count"] == 2


@needs_node
def test_node_callback_handler_and_error(lam: Any) -> None:
    code = """
exports.ok = (event, context, callback) => { callback(null, { doubled: event.n * 2 }); };
exports.bad = async () => { throw new TypeError('nope'); };
"""
    create_function(lam, "node-cb", {"index.js": code}, Runtime="nodejs20.x", Handler="index.ok")
    assert invoke(lam, "node-cb", {"n": 21})[1] == {"doubled": 42}
    create_function(lam, "node-bad", {"index.js": code}, Runtime="nodejs20.x", Handler="index.bad")
    response, body = invoke(lam, "node-bad", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError"
    assert body["errorMessage"] == "nope"
    assert body["trace"][0] == "TypeError: nope"


@needs_node
def test_node_esm_module(lam: Any) -> None:
    code = "export const handler = async (event) => ({ esm: true, echo: event });\n"
    create_function(lam, "node-esm", {"index.mjs": code}, Runtime="nodejs20.x", Handler="index.handler")
    assert invoke(lam, "node-esm", {"x": 1})[1] == {"esm": True, "echo": {"x": 1}}


PROVIDED_BOOTSTRAP = """#!{python}
import json, os, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'
while True:
    with urllib.request.urlopen(api + 'next') as response:
        request_id = response.headers['Lambda-Runtime-Aws-Request-Id']
        event = json.loads(response.read())
    print('custom runtime handling', request_id, flush=True)
    body = json.dumps({{'handler': os.environ['_HANDLER'], 'event': event}}).encode()
    reply = urllib.request.Request(api + request_id + '/response', data=body, method='POST')
    urllib.request.urlopen(reply).read()
"""


def test_provided_runtime_runs_the_packages_bootstrap(lam: Any) -> None:
    bootstrap = PROVIDED_BOOTSTRAP.format(python=sys.executable)
    create_function(
        lam,
        "custom-rt",
        {"bootstrap": bootstrap},
        Runtime="provided.al2023",
        Handler="my.handler",
        modes={"bootstrap": 0o755},
    )
    response, body = invoke(lam, "custom-rt", {"k": "v"})
    assert body == {"handler": "my.handler", "event": {"k": "v"}}
    assert "custom runtime handling" in base64.b64decode(response["LogResult"]).decode()


def test_provided_bootstrap_that_exits_is_runtime_exit_error(lam: Any) -> None:
    create_function(
        lam,
        "custom-exit",
        {"bootstrap": "#!/bin/sh\necho starting\nexit 2\n"},
        Runtime="provided.al2",
        Handler="x",
        modes={"bootstrap": 0o755},
    )
    response, body = invoke(lam, "custom-exit", {})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 2",
    }
    assert "starting" in base64.b64decode(response["LogResult"]).decode()


def test_awslambdaric_runs_unchanged_as_a_custom_runtime(lam: Any) -> None:
    pytest.importorskip("awslambdaric")
    bootstrap = f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n'
    handler = (
        "def fn(event, context):\n    return {'ric': True, 'id': context.aws_request_id, 'event': event}\n"
    )
    create_function(
        lam,
        "ric-fn",
        {"bootstrap": bootstrap, "handler.py": handler},
        Runtime="provided.al2023",
        Handler="handler.fn",
        modes={"bootstrap": 0o755},
    )
    response, body = invoke(lam, "ric-fn", {"a": 1})
    assert body == {"ric": True, "id": response["ResponseMetadata"]["RequestId"], "event": {"a": 1}}
    response, body = invoke(lam, "ric-fn", {"a": 2})
    assert body["event"] == {"a": 2}
