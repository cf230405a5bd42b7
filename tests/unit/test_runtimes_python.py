"""The Python bootstrap against a fake Runtime API, on the oldest and a newer interpreter."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lambdalite.dataplane.output import OutputSplitter
from lambdalite.runtimes.lookup import PYTHON_BOOTSTRAP, python_interpreters
from tests.unit.fake_runtime_api import Run, run_bootstrap, write

VERSIONS = [(3, 9), (3, 12)]


@pytest.fixture(params=VERSIONS, ids=lambda v: f"py{v[0]}.{v[1]}")
def interpreter(request: pytest.FixtureRequest) -> str:
    found = python_interpreters().get(request.param)
    if found is None:
        pytest.skip(f"python{request.param[0]}.{request.param[1]} is not installed")
    return str(found)


def run(interpreter: str, root: Path, handler: str, events: list[object] | None = None, **kw: object) -> Run:
    result, _ = run_bootstrap([interpreter, str(PYTHON_BOOTSTRAP)], root, handler, events, **kw)  # type: ignore[arg-type]
    return result


def answers(result: Run) -> list[object]:
    return [p.json() for p in result.api.posted.values()]


APP = """
import logging, os
calls = []
logger = logging.getLogger()

def handler(event, context):
    calls.append(event)
    print("printed", event)
    logger.warning("warned %s", len(calls))
    return {
        "event": event,
        "calls": len(calls),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "log_group": context.log_group_name,
        "log_stream": context.log_stream_name,
        "remaining_positive": context.get_remaining_time_in_millis() > 0,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if context.client_context is None else {
            "custom": context.client_context.custom,
            "env": context.client_context.env,
            "installation_id": context.client_context.client.installation_id,
        },
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "cwd": os.getcwd(),
    }
"""


def test_handler_result_context_and_state_that_persists(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": APP})
    headers = [
        {
            "Lambda-Runtime-Trace-Id": "Root=1-abc",
            "Lambda-Runtime-Client-Context": json.dumps(
                {"client": {"installation_id": "i1"}, "custom": {"k": "v"}, "env": {"e": "1"}}
            ),
            "Lambda-Runtime-Cognito-Identity": json.dumps(
                {"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "pool1"}
            ),
        },
        {},
    ]
    result, ids = run_bootstrap(
        [interpreter, str(PYTHON_BOOTSTRAP)],
        tmp_path,
        "app.handler",
        [{"n": 1}, {"n": 2}],
        event_headers=headers,
    )
    first, second = (result.api.posted[i] for i in ids)
    assert first.kind == second.kind == "response"
    body = first.json()
    assert body == {
        "event": {"n": 1},
        "calls": 1,
        "request_id": ids[0],
        "function_name": "fn",
        "function_version": "$LATEST",
        "arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "memory": "128",
        "log_group": "/aws/lambda/fn",
        "log_stream": "2024/01/01/[$LATEST]abc",
        "remaining_positive": True,
        "identity": ["id1", "pool1"],
        "client_context": {"custom": {"k": "v"}, "env": {"e": "1"}, "installation_id": "i1"},
        "trace": "Root=1-abc",
        "cwd": str(tmp_path),
    }
    assert second.json()["calls"] == 2  # the module (and its state) was imported once
    assert second.json()["trace"] is None
    assert second.json()["client_context"] is None
    assert first.headers["content-type"] == "application/json"
    lines = result.stdout.splitlines()
    assert "printed {'n': 1}" in lines
    pattern = r"\[WARNING\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t" + re.escape(ids[1]) + r"\twarned 2"
    assert any(re.fullmatch(pattern, line) for line in lines), lines


def test_log_level_comes_from_aws_lambda_log_level(interpreter: str, tmp_path: Path) -> None:
    write(
        tmp_path,
        {"app.py": "import logging\ndef h(e, c):\n    logging.info('quiet')\n    logging.debug('dbg')\n"},
    )
    default = run(interpreter, tmp_path, "app.h", [{}])
    assert "quiet" not in default.stdout  # the root logger stays at WARNING, as on AWS
    debug = run(interpreter, tmp_path, "app.h", [{}], env={"AWS_LAMBDA_LOG_LEVEL": "TRACE"})
    assert "[INFO]" in debug.stdout and "[DEBUG]" in debug.stdout


def test_handler_in_a_package_path(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/mod.py": "def fn(e, c):\n    return e['x'] * 2\n"})
    assert answers(run(interpreter, tmp_path, "pkg/mod.fn", [{"x": 21}])) == [42]
    assert answers(run(interpreter, tmp_path, "pkg.mod.fn", [{"x": 2}])) == [4]


def test_handler_exception_is_reported_like_aws(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": 'def handler(event, context):\n    raise ValueError("boom")\n'})
    result, (request_id,) = run_bootstrap([interpreter, str(PYTHON_BOOTSTRAP)], tmp_path, "app.handler", [{}])
    posted = result.api.posted[request_id]
    assert posted.kind == "error"
    assert posted.headers["lambda-runtime-function-error-type"] == "Unhandled"
    frame = f'  File "{tmp_path}/app.py", line 2, in handler\n    raise ValueError("boom")\n'
    assert posted.json() == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": request_id,
        "stackTrace": [frame],
    }
    assert (
        "[ERROR] ValueError: boom\nTraceback (most recent call last):\n"
        f'  File "{tmp_path}/app.py", line 2, in handler\n    raise ValueError("boom")\n'
    ) in result.stdout


def test_unserializable_result_is_a_marshal_error(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "def handler(event, context):\n    return {1, 2}\n"})
    result, (request_id,) = run_bootstrap([interpreter, str(PYTHON_BOOTSTRAP)], tmp_path, "app.handler", [{}])
    body = result.api.posted[request_id].json()
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"


def test_bytes_and_decimal_results(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "import decimal\ndef d(e, c):\n    return {'a': decimal.Decimal('1.5')}\n"})
    assert answers(run(interpreter, tmp_path, "app.d", [{}])) == [{"a": 1.5}]


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'app'",
        ),
        (
            {"app.py": "x = 1\n"},
            "app.nope",
            "Runtime.HandlerNotFound",
            "Handler 'nope' missing on module 'app'",
        ),
        (
            {"app.py": "x = 1\n\nx = = 2\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': invalid syntax (app.py, line 3)",
        ),
        (
            {},
            "x",
            "Runtime.MalformedHandlerName",
            "Bad handler 'x': not enough values to unpack (expected 2, got 1)",
        ),
        (
            {},
            "sys.handler",
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module sys as a handler module",
        ),
    ],
)
def test_init_errors_have_awss_types_and_messages(
    interpreter: str, tmp_path: Path, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    write(tmp_path, files)
    result = run(interpreter, tmp_path, handler, [{}])
    assert result.api.init_error is not None
    assert result.api.init_error.headers["lambda-runtime-function-error-type"] == error_type
    body = result.api.init_error.json()
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == (error_type, message, "")
    assert result.stdout.startswith(f"[ERROR] {error_type}: {message}\nTraceback (most recent call last):\n")
    assert result.returncode == 1
    assert not result.api.posted


def test_an_exception_at_import_is_an_init_error_with_its_own_type(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "raise RuntimeError('no config')\n"})
    result = run(interpreter, tmp_path, "app.handler", [{}])
    assert result.api.init_error is not None
    body = result.api.init_error.json()
    assert (body["errorType"], body["errorMessage"]) == ("RuntimeError", "no config")
    assert any("app.py" in frame for frame in body["stackTrace"])


def test_sys_exit_in_a_handler_ends_the_process(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "import sys\ndef handler(e, c):\n    print('bye')\n    sys.exit(3)\n"})
    result = run(interpreter, tmp_path, "app.handler", [{}])
    assert result.returncode == 3
    assert not result.api.posted
    assert "bye" in result.stdout


def test_invalid_json_event_is_an_unmarshal_error(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "def handler(e, c):\n    return e\n"})
    result = run(interpreter, tmp_path, "app.handler", [b"{not json"])
    (body,) = answers(result)
    assert isinstance(body, dict)
    assert body["errorType"] == "Runtime.UnmarshalError"
    assert body["errorMessage"].startswith("Unable to unmarshal input: ")


def test_large_event_and_result_round_trip(interpreter: str, tmp_path: Path) -> None:
    write(tmp_path, {"app.py": "def handler(e, c):\n    return e\n"})
    big = {"blob": "x" * 3_000_000}
    assert answers(run(interpreter, tmp_path, "app.handler", [big, {"small": 1}])) == [big, {"small": 1}]


REHEARSAL = """
import importlib.util, json, logging, os, sys
spec = importlib.util.spec_from_file_location("bootstrap", sys.argv[1])
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
env, handlers, modules = dict(os.environ), list(logging.getLogger().handlers), set(sys.modules)
bootstrap.rehearse()
print(json.dumps([dict(os.environ) == env, logging.getLogger().handlers == handlers,
                  sorted(set(sys.modules) - modules)]))
"""


def test_a_rehearsal_for_a_zygotes_spare_leaves_nothing_behind(interpreter: str) -> None:
    result = subprocess.run(
        [interpreter, "-c", REHEARSAL, str(PYTHON_BOOTSTRAP)], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [True, True, []]


CODEC = r"""
import decimal, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("bootstrap", sys.argv[1])
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)

def outcome(call, value):
    try:
        return ("value", call(value))
    except Exception as exc:
        return (type(exc).__name__, str(exc))

class Unknown:
    pass

circular = []
circular.append(circular)
results = [
    {"ok": True}, "\u00e9\u2028", [1, 2.5, float("nan"), float("-inf"), None, True],
    {"d": decimal.Decimal("1.25"), "i": decimal.Decimal("3")}, {1: "int key", None: 0},
    Unknown(), {"nested": [Unknown()]}, circular, {1, 2},
]
events = [
    b'{"a": 1}', b' {"a": 1}\n', b'\xef\xbb\xbf{"a": 1}', '{"a": "\u00e9"}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-16-le"), "[1]".encode("utf-32"), b'"\xed\xa0\x80"', b"{not json",
    b'{"a": 1} x', b'{"a": 1}\n\t\r ', b'{"a": 1}\x0b', '{"a": 1}\u2028'.encode(),
    b"", b"[" * 100000,
]
encoder = json.JSONEncoder(ensure_ascii=sys.version_info < (3, 12), default=bootstrap._decimal_default)
encode = bootstrap._encoder()
mismatches = [repr(v) for v in results if outcome(encode, v) != outcome(encoder.encode, v)]
mismatches += [repr(e[:20]) for e in events if outcome(bootstrap._decode_json, e) != outcome(json.loads, e)]
# A failed encoding must leave nothing behind that reads as a circular reference later.
reused = {"a": [Unknown()]}
first = outcome(encode, reused)
reused["a"] = [1]
print(json.dumps([encode.__qualname__, mismatches, first[0], encode(reused)]))
"""


def test_results_and_events_are_coded_exactly_as_by_jsons_own_functions(interpreter: str) -> None:
    result = subprocess.run(
        [interpreter, "-c", CODEC, str(PYTHON_BOOTSTRAP)], capture_output=True, text=True, check=True
    )
    # The encoder built once is the one in use (CPython has json's C encoder).
    assert json.loads(result.stdout) == ["_encoder.<locals>.encode", [], "TypeError", '{"a": [1]}']


TRACE_VARIABLE = r"""
import ctypes, importlib.util, json, os, subprocess, sys
spec = importlib.util.spec_from_file_location("bootstrap", sys.argv[1])
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_char_p

def seen():
    child = subprocess.run(["/bin/sh", "-c", 'printf %s "${_X_AMZN_TRACE_ID-unset}"'], capture_output=True)
    in_c = (getenv(b"_X_AMZN_TRACE_ID") or b"").decode()
    return [os.environ.get("_X_AMZN_TRACE_ID"), in_c, child.stdout.decode()]

def rss_kb():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

variable = bootstrap.TraceVariable()
variable.set("Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0")
before = rss_kb()
for i in range(50000):  # as many invocations, each with a trace id of its own
    variable.set("Root=1-5759e988-bd862e3fe1be46a9%08x;Parent=53995c3f42cd8ad8;Sampled=0" % i)
grown_kb = rss_kb() - before
states = [seen()]
variable.set("L" * 600)  # longer than the buffer
states.append([len(v) for v in seen()])
os.environ["_X_AMZN_TRACE_ID"] = "the handler's"
variable.set("after the handler")
states.append(seen())
variable.clear()
states.append(seen())
variable.set("set again")
states.append(seen())
print(json.dumps([grown_kb, states]))
"""


def test_the_trace_variable_is_set_for_children_too_and_costs_no_memory_per_invocation(
    interpreter: str,
) -> None:
    result = subprocess.run(
        [interpreter, "-c", TRACE_VARIABLE, str(PYTHON_BOOTSTRAP)], capture_output=True, text=True, check=True
    )
    grown_kb, states = json.loads(result.stdout)
    # glibc's setenv keeps every value: 50,000 trace ids grew the process by about 7 MB.
    assert grown_kb < 1024
    last = "Root=1-5759e988-bd862e3fe1be46a90000c34f;Parent=53995c3f42cd8ad8;Sampled=0"
    assert states == [
        [last, last, last],
        [600, 600, 600],
        ["after the handler"] * 3,
        [None, "", "unset"],
        ["set again"] * 3,
    ]


def test_with_log_frames_each_record_is_one_event_and_prints_stay_lines(
    interpreter: str, tmp_path: Path
) -> None:
    code = (
        "import logging, os\n"
        "def handler(event, context):\n"
        "    print('a\\nb', os.environ.get('_LAMBDALITE_LOG_FRAMES'))\n"
        "    logging.getLogger().warning('two\\nlines')\n"
        "    raise ValueError('boom')\n"
    )
    write(tmp_path, {"app.py": code})
    result, _ = run_bootstrap(
        [interpreter, str(PYTHON_BOOTSTRAP)],
        tmp_path,
        "app.handler",
        [{}],
        env={"_LAMBDALITE_LOG_FRAMES": "1"},
    )
    events = [text for _, text in OutputSplitter(-1).split(result.stdout.encode(errors="surrogateescape"))]
    assert events[:2] == ["a", "b None"]  # the platform's variable is not the function's
    assert re.fullmatch(r"\[WARNING\]\t\S+Z\t[0-9a-f-]{36}\ttwo\nlines", events[2])
    assert events[3] == (
        "[ERROR] ValueError: boom\nTraceback (most recent call last):\n"
        f"  File \"{tmp_path}/app.py\", line 5, in handler\n    raise ValueError('boom')"
    )
    assert len(events) == 4


def test_json_records_are_awss_on_every_interpreter(interpreter: str, tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": (
                "import logging\n"
                "log = logging.getLogger('svc')\n"
                "def h(e, c):\n"
                "    log.debug('hidden')\n"
                "    log.log(25, 'custom %d', 25, extra={'orderId': 7})\n"
                "    try:\n"
                "        {}['k']\n"
                "    except KeyError:\n"
                "        log.exception('lookup')\n"
            )
        },
    )
    result = run(
        interpreter,
        tmp_path,
        "app.h",
        [{}],
        env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"},
    )
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    (request_id,) = result.api.posted
    custom, error = records
    assert custom == {
        "timestamp": custom["timestamp"],
        "level": "INFO",  # a custom level is shown as the standard one below it
        "message": "custom 25",
        "logger": "svc",
        "requestId": request_id,
        "orderId": 7,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", custom["timestamp"])
    assert (error["level"], error["errorType"], error["errorMessage"]) == ("ERROR", "KeyError", "'k'")
    assert "{}['k']" in error["stackTrace"][-1] and error["location"].endswith("app.py:h:9")


def test_a_channel_whose_descriptors_are_missing_falls_back_to_the_runtime_api(
    interpreter: str, tmp_path: Path
) -> None:
    write(tmp_path, {"app.py": "import os\ndef handler(event, context):\n    return sorted(os.environ)\n"})
    result, ids = run_bootstrap(
        [interpreter, str(PYTHON_BOOTSTRAP)],
        tmp_path,
        "app.handler",
        [{}],
        env={"_LAMBDALITE_RUNTIME_CHANNEL": "1021,1022"},  # never opened in this process
    )
    answer = result.api.posted[ids[0]]
    assert answer.kind == "response"
    assert "_LAMBDALITE_RUNTIME_CHANNEL" not in answer.json()
