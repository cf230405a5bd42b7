"""runtime_environment: the variables a runtime starts with, as a pure function."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from lambdalite.dataplane.runtime_env import (
    LOG_FRAMES_VARIABLE,
    OPT_VARIABLE,
    SDK_NODE_VARIABLE,
    SDK_PYTHON_VARIABLE,
    Placement,
    runtime_environment,
    runtime_path,
)
from lambdalite.models import FunctionConfig

PLACEMENT = Placement(
    runtime_api="127.0.0.1:9001",
    task_root="/var/task",
    runtime_dir="/var/runtime",
    log_stream="2026/12/07/[$LATEST]abc",
    initialization_type="on-demand",
    region="eu-west-1",
    runtime_path="/host/bin",
)


def function(runtime: str = "python3.12", **kw: object) -> FunctionConfig:
    return FunctionConfig(
        name="hello",
        runtime=runtime,
        role="arn:aws:iam::123456789012:role/r",
        handler="app.handler",
        code_sha256="0" * 64,
        code_size=1,
        **kw,  # type: ignore[arg-type]
    )


def test_awss_reserved_variables_describe_the_function_and_where_it_runs() -> None:
    env = runtime_environment(function(memory_mb=256), PLACEMENT)
    assert {key: env[key] for key in env if key not in ("PATH", "LD_LIBRARY_PATH")} == {
        "AWS_LAMBDA_FUNCTION_NAME": "hello",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/hello",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/07/[$LATEST]abc",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "app.handler",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        LOG_FRAMES_VARIABLE: "1",
    }
    assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin:/host/bin"
    assert env["LD_LIBRARY_PATH"] == (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
    )


def test_the_functions_variables_never_replace_reserved_ones() -> None:
    variables = MappingProxyType({"AWS_REGION": "mars-1", "GREETING": "hi", "NODE_PATH": "/mine"})
    env = runtime_environment(function("nodejs20.x", environment=variables), PLACEMENT, {"EXTRA": "x"})
    assert (env["AWS_REGION"], env["GREETING"], env["EXTRA"]) == ("eu-west-1", "hi", "x")
    assert env["NODE_PATH"] == "/mine"  # a default, not reserved: the function's own wins


def test_nodes_path_names_the_layers_then_the_runtime_and_the_code() -> None:
    env = runtime_environment(function("nodejs20.x"), PLACEMENT)
    assert env["NODE_PATH"] == (
        "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:"
        "/var/runtime/node_modules:/var/runtime:/var/task"
    )
    assert env[LOG_FRAMES_VARIABLE] == "1"


def test_layers_outside_opt_are_named_where_they_are() -> None:
    placement = Placement(
        **{**_fields(PLACEMENT), "opt_dir": Path("/data/layers/merged"), "runtime_path": ""}
    )
    env = runtime_environment(function("nodejs22.x"), placement)
    assert env[OPT_VARIABLE] == "/data/layers/merged"
    assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/data/layers/merged/bin"
    assert env["LD_LIBRARY_PATH"].endswith(":/var/task/lib:/data/layers/merged/lib")
    assert env["NODE_PATH"].startswith("/data/layers/merged/nodejs/node22/node_modules:")


def test_a_custom_runtime_gets_no_log_frames_it_would_not_understand() -> None:
    env = runtime_environment(function("provided.al2023"), PLACEMENT)
    assert LOG_FRAMES_VARIABLE not in env and OPT_VARIABLE not in env and "NODE_PATH" not in env


def _fields(placement: Placement) -> dict[str, object]:
    return {name: getattr(placement, name) for name in Placement.__slots__}


def test_json_logging_tells_the_runtime_its_format_and_level() -> None:
    env = runtime_environment(function(log_format="JSON", application_log_level="WARN"), PLACEMENT)
    assert (env["AWS_LAMBDA_LOG_FORMAT"], env["AWS_LAMBDA_LOG_LEVEL"]) == ("JSON", "WARN")
    env = runtime_environment(function(log_format="JSON"), PLACEMENT)
    assert env["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    assert "AWS_LAMBDA_LOG_FORMAT" not in runtime_environment(function(), PLACEMENT)


def test_active_tracing_names_a_daemon_on_loopback() -> None:
    env = runtime_environment(function(tracing_mode="Active"), PLACEMENT)
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
    assert (env["_AWS_XRAY_DAEMON_ADDRESS"], env["_AWS_XRAY_DAEMON_PORT"]) == ("127.0.0.1", "2000")
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert "AWS_XRAY_DAEMON_ADDRESS" not in runtime_environment(function(), PLACEMENT)


def test_the_sdk_directories_go_to_their_own_family_only() -> None:
    placement = Placement(**{**_fields(PLACEMENT), "sdk_python": "/sdk/py", "sdk_node": "/sdk/node_modules"})
    python = runtime_environment(function(), placement)
    assert python[SDK_PYTHON_VARIABLE] == "/sdk/py" and SDK_NODE_VARIABLE not in python
    node = runtime_environment(function("nodejs20.x"), placement)
    assert node[SDK_NODE_VARIABLE] == "/sdk/node_modules" and SDK_PYTHON_VARIABLE not in node
    assert node["NODE_PATH"].endswith(":/var/task:/sdk/node_modules")  # last: a function's own copy wins


def test_the_runtime_path_names_the_interpreters_directory_once() -> None:
    assert runtime_path(("/opt/py/bin/python3.12", "boot.py")).split(":")[0] == "/opt/py/bin"
    assert "/usr/bin" not in runtime_path(("/usr/bin/node",)).split(":")


def test_the_endpoint_is_named_for_the_sdks_and_the_function_may_name_another() -> None:
    placement = Placement(**{**_fields(PLACEMENT), "endpoint_url": "http://10.213.0.1:9000"})
    assert runtime_environment(function(), placement)["AWS_ENDPOINT_URL"] == "http://10.213.0.1:9000"
    own = function(environment={"AWS_ENDPOINT_URL": "http://elsewhere:1"})
    assert runtime_environment(own, placement)["AWS_ENDPOINT_URL"] == "http://elsewhere:1"
    assert "AWS_ENDPOINT_URL" not in runtime_environment(function(), PLACEMENT)
