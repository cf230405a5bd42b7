"""Invoke end to end: real server, real runtime processes, boto3 as the client."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalite.runtimes.lookup import python_interpreters
from tests.conftest import ARN_PREFIX, create_function

PYTHON = "python3.11"

STATEFUL = {
    "app.py": """
import os, time, uuid
COUNT = 0
# A token per environment: pids repeat across PID namespaces, this does not.
STARTED = uuid.uuid4().hex

def handler(event, context):
    global COUNT
    COUNT += 1
    path = '/tmp/marker' if os.path.isdir('/tmp') and os.access('/tmp', os.W_OK) else 'marker'
    path = os.path.join(os.environ.get('TMPDIR', '/tmp'), 'marker')
    existed = os.path.exists(path)
    open(path, 'w').write('x')
    if event.get('sleep'):
        time.sleep(event['sleep'])
    print('count is', COUNT)
    return {'count': COUNT, 'pid': STARTED, 'tmp_existed': existed}
"""
}


def invoke(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    params: dict[str, Any] = {"FunctionName": name, **kwargs}
    if payload is not None:
        params["Payload"] = json.dumps(payload).encode()
    response = lam.invoke(**params)
    return response, json.loads(response["Payload"].read() or b"null")


def tail(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def test_hello_python_returns_result_and_headers(lam: Any) -> None:
    create_function(lam, "hello-py", {"app.py": "def handler(event, context):\n    return {'got': event}\n"})
    response, body = invoke(lam, "hello-py", {"a": 1})
    assert response["StatusCode"] == 200
    assert body == {"got": {"a": 1}}
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response


def test_context_and_environment_match_aws(lam: Any) -> None:
    code = """
import os
def handler(event, context):
    keys = ['AWS_LAMBDA_FUNCTION_NAME', 'AWS_LAMBDA_FUNCTION_VERSION',
            'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_LOG_GROUP_NAME', 'AWS_LAMBDA_LOG_STREAM_NAME',
            'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_RUNTIME_API',
            'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR', '_HANDLER', 'TZ', 'MY_VAR']
    return {
        'env': {k: os.environ.get(k) for k in keys},
        'cwd': os.getcwd(),
        'request_id': context.aws_request_id,
        'function_name': context.function_name,
        'function_version': context.function_version,
        'arn': context.invoked_function_arn,
        'memory': context.memory_limit_in_mb,
        'remaining': context.get_remaining_time_in_millis(),
        'log_group': context.log_group_name,
        'log_stream': context.log_stream_name,
    }
"""
    create_function(
        lam,
        "ctx-py",
        {"app.py": code},
        MemorySize=256,
        Timeout=5,
        Environment={"Variables": {"MY_VAR": "mine"}},
    )
    response, body = invoke(lam, "ctx-py", {})
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ctx-py"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/ctx-py"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert env["MY_VAR"] == "mine"
    assert env["LAMBDA_TASK_ROOT"] == body["cwd"]
    assert env["LAMBDA_RUNTIME_DIR"]
    assert body["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert body["function_name"] == "ctx-py"
    assert body["function_version"] == "$LATEST"
    assert body["arn"] == f"{ARN_PREFIX}ctx-py"
    assert int(body["memory"]) == 256
    assert 0 < body["remaining"] <= 5000
    assert body["log_group"] == "/aws/lambda/ctx-py"
    assert body["log_stream"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert "/[$LATEST]" in body["log_stream"]


def test_tail_returns_start_end_report_and_output(lam: Any) -> None:
    create_function(lam, "tail-py", STATEFUL)
    first, _ = invoke(lam, "tail-py", {}, LogType="Tail")
    request_id = first["ResponseMetadata"]["RequestId"]
    lines = tail(first).splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "count is 1" in lines
    assert lines[-2] == f"END RequestId: {request_id}"
    report = lines[-1].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[1].endswith(" ms")
    assert report[2].startswith("Billed Duration: ") and report[2].endswith(" ms")
    assert report[3] == "Memory Size: 128 MB"
    used = int(report[4].removeprefix("Max Memory Used: ").removesuffix(" MB"))
    # The interpreter's resident memory, as on AWS, even when the process was
    # forked from a zygote and shares most of its pages with it.
    assert 8 <= used < 128
    assert report[5].startswith("Init Duration: ")
    second, _ = invoke(lam, "tail-py", {}, LogType="Tail")
    assert "Init Duration" not in tail(second)


def test_warm_environment_keeps_module_state_and_tmp(lam: Any) -> None:
    create_function(lam, "warm-py", STATEFUL)
    _, first = invoke(lam, "warm-py", {})
    _, second = invoke(lam, "warm-py", {})
    assert first["count"] == 1 and not first["tmp_existed"]
    assert second == {"count": 2, "pid": first["pid"], "tmp_existed": True}


def test_concurrent_invocations_scale_out_to_separate_environments(lam: Any, server: Any) -> None:
    create_function(lam, "scale-py", STATEFUL)
    client = server.client("lambda", max_pool_connections=8)
    results: list[dict[str, Any]] = []

    def call() -> None:
        results.append(invoke(client, "scale-py", {"sleep": 0.5})[1])

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result["pid"] for result in results}) == 4


def test_handler_exception_is_unhandled_with_awss_body(lam: Any) -> None:
    code = "def handler(event, context):\n    raise ValueError('boom')\n"
    create_function(lam, "err-py", {"app.py": code})
    response, body = invoke(lam, "err-py", {}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert any("raise ValueError('boom')" in frame for frame in body["stackTrace"])
    assert "[ERROR] ValueError: boom" in tail(response)
    # the environment survives a handled-by-runtime error
    assert invoke(lam, "err-py", {})[0]["FunctionError"] == "Unhandled"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "x = 1\n"},
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            {"app.py": "x = 1\n"},
            "app.nope",
            "Runtime.HandlerNotFound",
            "Handler 'nope' missing on module 'app'",
        ),
        (
            {"app.py": "def handler(:\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': invalid syntax (app.py, line 1)",
        ),
    ],
)
def test_init_errors_are_reported_as_aws_does(
    lam: Any, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    name = f"init-{error_type.split('.')[-1].lower()}"
    create_function(lam, name, files, Handler=handler)
    response, body = invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type
    assert body["errorMessage"] == message


def test_unserialisable_result_is_a_marshal_error(lam: Any) -> None:
    create_function(lam, "marshal-py", {"app.py": "def handler(event, context):\n    return {1, 2}\n"})
    response, body = invoke(lam, "marshal-py", {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_timeout_stops_the_environment_and_reports_sandbox_timedout(lam: Any) -> None:
    code = """
import time
STATE = []
def handler(event, context):
    STATE.append(1)
    time.sleep(event['s'])
    return len(STATE)
"""
    create_function(lam, "slow-py", {"app.py": code}, Timeout=1)
    response, body = invoke(lam, "slow-py", {"s": 5}, LogType="Tail")
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    assert f"{request_id} Task timed out after 1.00 seconds" in tail(response)
    # a fresh environment serves the next invocation
    assert invoke(lam, "slow-py", {"s": 0})[1] == 1


def test_a_timeout_counts_from_each_invocations_own_start(lam: Any) -> None:
    """Back-to-back invocations that together outlast the timeout: each gets its
    whole timeout (the environment's timer, armed by the first, must not end the
    second), and the next one that overruns still times out."""
    code = """
import time
def handler(event, context):
    time.sleep(event['s'])
    return event['s']
"""
    create_function(lam, "steady-py", {"app.py": code}, Timeout=1)
    for _ in range(3):  # 1.8 s in all, each well inside its own second
        assert invoke(lam, "steady-py", {"s": 0.6})[1] == 0.6
    body = invoke(lam, "steady-py", {"s": 3})[1]
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("import sys\ndef handler(event, context):\n    sys.exit(3)\n", "exit status 3"),
        (
            "import os, signal\ndef handler(event, context):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
            "signal: killed",
        ),
    ],
)
def test_a_runtime_that_dies_is_runtime_exit_error(lam: Any, code: str, reason: str) -> None:
    name = "die-" + reason.replace(" ", "").replace(":", "")
    create_function(lam, name, {"app.py": code})
    response, body = invoke(lam, name, {})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
    }


def test_exceeding_memory_size_kills_the_runtime(lam: Any) -> None:
    code = "def handler(event, context):\n    blob = bytearray(400 * 1024 * 1024)\n    return len(blob)\n"
    create_function(lam, "oom-py", {"app.py": code}, MemorySize=128)
    response, body = invoke(lam, "oom-py", {}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")
    report = tail(response).splitlines()[-1]
    assert "\tMax Memory Used: 128 MB" in report
    assert report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")


def test_response_over_6mb_is_function_response_size_too_large(lam: Any) -> None:
    create_function(
        lam,
        "big-py",
        {"app.py": "def handler(event, context):\n    return 'x' * (7 * 1024 * 1024)\n"},
        MemorySize=512,
    )
    response, body = invoke(lam, "big-py", {})
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Function.ResponseSizeTooLarge",
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    }


def test_request_payload_over_6mb_is_413(lam: Any) -> None:
    create_function(lam, "limit-py", {"app.py": "def handler(event, context):\n    return 1\n"})
    # AWS answers with a code its own service model does not list, so boto3 raises a plain ClientError.
    with pytest.raises(ClientError) as err:
        lam.invoke(FunctionName="limit-py", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_payload_that_is_not_json_is_invalid_request_content(lam: Any) -> None:
    create_function(lam, "json-py", {"app.py": "def handler(event, context):\n    return 1\n"})
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as err:
        lam.invoke(FunctionName="json-py", Payload=b"{not json")
    assert err.value.response["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json"
    )
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_dry_run_is_204_and_event_is_202(lam: Any) -> None:
    create_function(lam, "dry-py", {"app.py": "def handler(event, context):\n    return 1\n"})
    assert lam.invoke(FunctionName="dry-py", InvocationType="DryRun")["StatusCode"] == 204
    queued = lam.invoke(FunctionName="dry-py", InvocationType="Event")  # tests/e2e/test_async_invoke.py
    assert (queued["StatusCode"], queued["Payload"].read()) == (202, b"")


def test_other_python_versions_run_on_their_interpreter(lam: Any) -> None:
    code = "import sys\ndef handler(event, context):\n    return list(sys.version_info[:2])\n"
    create_function(lam, "py312", {"app.py": code}, Runtime="python3.12")
    response, body = invoke(lam, "py312", {}, LogType="Tail")
    if (3, 12) in python_interpreters():
        assert body == [3, 12]
    else:
        assert "python3.12" in tail(response)
