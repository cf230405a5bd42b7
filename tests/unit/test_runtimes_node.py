"""The Node.js bootstrap against a fake Runtime API."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from lambdalite.dataplane.output import OutputSplitter
from lambdalite.runtimes.lookup import NODE_BOOTSTRAP
from tests.unit.fake_runtime_api import Run, run_bootstrap, write

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run(root: Path, handler: str, events: list[object], **kw: object) -> tuple[Run, list[str]]:
    assert NODE is not None
    return run_bootstrap([NODE, str(NODE_BOOTSTRAP)], root, handler, events, **kw)  # type: ignore[arg-type]


def answers(result: Run, ids: list[str]) -> list[object]:
    return [result.api.posted[i].json() for i in ids]


CONTEXT_APP = """
let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  console.log('got %s', JSON.stringify(event));
  console.warn('careful');
  return {
    event, calls,
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remainingPositive: context.getRemainingTimeInMillis() > 0,
    identity: context.identity === undefined ? null : context.identity,
    clientContext: context.clientContext === undefined ? null : context.clientContext,
    trace: process.env._X_AMZN_TRACE_ID || null,
    waits: context.callbackWaitsForEmptyEventLoop,
  };
};
"""


def test_async_commonjs_handler_context_and_state(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": CONTEXT_APP})
    headers = [
        {
            "Lambda-Runtime-Trace-Id": "Root=1-abc",
            "Lambda-Runtime-Client-Context": json.dumps({"custom": {"k": "v"}}),
            "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "id1"}),
        },
        {},
    ]
    result, ids = run(tmp_path, "index.handler", [{"n": 1}, {"n": 2}], event_headers=headers)
    first, second = answers(result, ids)
    assert first == {
        "event": {"n": 1},
        "calls": 1,
        "awsRequestId": ids[0],
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "memoryLimitInMB": "128",
        "logGroupName": "/aws/lambda/fn",
        "logStreamName": "2024/01/01/[$LATEST]abc",
        "remainingPositive": True,
        "identity": {"cognitoIdentityId": "id1"},
        "clientContext": {"custom": {"k": "v"}},
        "trace": "Root=1-abc",
        "waits": True,
    }
    assert isinstance(second, dict)
    assert (second["calls"], second["trace"]) == (2, None)
    lines = result.stdout.splitlines()
    assert any(re.fullmatch(rf'{TIME}\t{ids[0]}\tINFO\tgot {{"n":1}}', line) for line in lines), lines
    assert any(re.fullmatch(rf"{TIME}\t{ids[1]}\tWARN\tcareful", line) for line in lines), lines


def test_esm_handler_in_mjs(tmp_path: Path) -> None:
    write(tmp_path, {"app.mjs": "export const handler = async (e) => ({ esm: e.x });\n"})
    result, ids = run(tmp_path, "app.handler", [{"x": 7}])
    assert answers(result, ids) == [{"esm": 7}]


def test_esm_handler_in_js_with_type_module(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "package.json": '{"type": "module"}',
            "src/index.js": "export async function main(e) { return 'esm ' + e; }\n",
        },
    )
    result, ids = run(tmp_path, "src/index.main", ["ok"])
    assert answers(result, ids) == ["esm ok"]


def test_callback_handler_waits_for_the_event_loop(tmp_path: Path) -> None:
    app = """
    let order = [];
    exports.handler = (event, context, callback) => {
      order = [];
      setTimeout(() => order.push('timer'), 30);
      callback(null, { order });   // sent after the timer ran, as on AWS
    };
    exports.nowait = (event, context, callback) => {
      context.callbackWaitsForEmptyEventLoop = false;
      const seen = [];
      setTimeout(() => seen.push('timer'), 30);
      callback(null, { seen });    // sent at once
    };
    """
    write(tmp_path, {"index.js": app})
    result, ids = run(tmp_path, "index.handler", [{}, {}])
    assert answers(result, ids) == [{"order": ["timer"]}, {"order": ["timer"]}]
    result, ids = run(tmp_path, "index.nowait", [{}])
    assert answers(result, ids) == [{"seen": []}]


def test_context_succeed_and_fail(tmp_path: Path) -> None:
    app = """
    exports.ok = (event, context) => { context.succeed({ via: 'succeed' }); };
    exports.bad = (event, context) => { context.fail(new Error('nope')); };
    exports.plain = (event, context, callback) => { callback(null, 'cb'); };
    exports.none = (event) => {};
    """
    write(tmp_path, {"index.cjs": app})
    for handler, expected in [("index.ok", {"via": "succeed"}), ("index.plain", "cb"), ("index.none", None)]:
        result, ids = run(tmp_path, handler, [{}])
        assert answers(result, ids) == [expected], handler
    result, ids = run(tmp_path, "index.bad", [{}])
    posted = result.api.posted[ids[0]]
    assert posted.kind == "error"
    assert posted.json()["errorMessage"] == "nope"


def test_thrown_error_is_reported_like_aws(tmp_path: Path) -> None:
    write(tmp_path, {"index.mjs": "export const handler = async () => { throw new Error('boom'); };\n"})
    result, ids = run(tmp_path, "index.handler", [{}])
    posted = result.api.posted[ids[0]]
    assert posted.kind == "error"
    assert posted.headers["lambda-runtime-function-error-type"] == "Unhandled"
    body = posted.json()
    assert (body["errorType"], body["errorMessage"]) == ("Error", "boom")
    assert body["trace"][0] == "Error: boom"
    assert body["trace"][1].startswith("    at ")
    (line,) = [line for line in result.stdout.splitlines() if "Invoke Error" in line]
    match = re.fullmatch(rf"{TIME}\t{ids[0]}\tERROR\tInvoke Error \t(.*)", line)
    assert match, line
    logged = json.loads(match.group(1))
    assert (logged["errorType"], logged["errorMessage"], logged["stack"][0]) == (
        "Error",
        "boom",
        "Error: boom",
    )


def test_callback_error_and_non_error_values(tmp_path: Path) -> None:
    write(tmp_path, {"index.js": "exports.handler = (e, c, cb) => cb('plain string');\n"})
    result, ids = run(tmp_path, "index.handler", [{}])
    assert answers(result, ids) == [{"errorType": "string", "errorMessage": "plain string", "trace": []}]


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {},
            "index.handler",
            "Runtime.ImportModuleError",
            "Error: Cannot find module 'index'\nRequire stack:\n- ",
        ),
        (
            {"index.js": "exports.other = 1;\n"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = 1;\n"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is not a function",
        ),
        (
            {"index.js": "exports.handler = () => {;\n"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        ({}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
    ],
)
def test_init_errors_have_awss_types_and_messages(
    tmp_path: Path, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    write(tmp_path, files)
    result, _ = run(tmp_path, handler, [{}])
    init_error = result.api.init_error
    assert init_error is not None
    assert init_error.headers["lambda-runtime-function-error-type"] == error_type
    body = init_error.json()
    assert body["errorType"] == error_type
    assert body["errorMessage"].startswith(message)
    assert re.search(rf"{TIME}\tundefined\tERROR\tUncaught Exception \t\{{", result.stdout), result.stdout
    assert result.returncode == 129
    assert not result.api.posted


def test_log_level_filters_console(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"index.js": "exports.handler = async () => { console.debug('dbg'); console.error('err'); };\n"},
    )
    result, _ = run(tmp_path, "index.handler", [{}], env={"AWS_LAMBDA_LOG_LEVEL": "WARN"})
    assert "dbg" not in result.stdout
    assert "\tERROR\terr" in result.stdout


def test_with_log_frames_a_console_record_is_one_event(tmp_path: Path) -> None:
    code = (
        "exports.handler = async () => {\n"
        "  process.stdout.write('raw\\nlines\\n');\n"
        "  console.log('multi\\nline', process.env._LAMBDALITE_LOG_FRAMES);\n"
        "  throw new TypeError('bad');\n"
        "};\n"
    )
    write(tmp_path, {"index.js": code})
    result, _ = run(tmp_path, "index.handler", [{}], env={"_LAMBDALITE_LOG_FRAMES": "1"})
    events = [text for _, text in OutputSplitter(-1).split(result.stdout.encode(errors="surrogateescape"))]
    assert events[:2] == ["raw", "lines"]
    assert re.fullmatch(r"\S+Z\t[0-9a-f-]{36}\tINFO\tmulti\nline undefined", events[2]), events
    assert "\tERROR\tInvoke Error \t" in events[3] and len(events) == 4
