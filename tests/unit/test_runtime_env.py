"""runtime_environment: the variables a runtime starts with, as a pure function."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from lambdalite.dataplane.runtime_env import (
    LOG_FRAMES_VARIABLE,
    OPT_VARIABLE,
    Placement,
    runtime_environment,
)
from lambdalite.models import FunctionConfig

PLACEMENT = Placement(
    runtime_api="127.0.0.1:9001",
    task_root="/var/task",
    runtime_dir="/var/runtime",
    log_stream="2026/12/07/[$LATEST]abc",
    initialization_type="on-demand",
    region="eu-west-1",
    host_path="/host/bin",
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
    assert env["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin:/host/bin"
    assert env["LD_LIBRARY_PATH"] == "/lib64:/usr/lib64:/opt/lib"


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
    placement = Placement(**{**_fields(PLACEMENT), "opt_dir": Path("/data/layers/merged"), "host_path": ""})
    env = runtime_environment(function("nodejs22.x"), placement)
    assert env[OPT_VARIABLE] == "/data/layers/merged"
    assert env["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/data/layers/merged/bin"
    assert env["LD_LIBRARY_PATH"] == "/lib64:/usr/lib64:/data/layers/merged/lib"
    assert env["NODE_PATH"].startswith("/data/layers/merged/nodejs/node22/node_modules:")


def test_a_custom_runtime_gets_no_log_frames_it_would_not_understand() -> None:
    env = runtime_environment(function("provided.al2023"), PLACEMENT)
    assert LOG_FRAMES_VARIABLE not in env and OPT_VARIABLE not in env and "NODE_PATH" not in env


def _fields(placement: Placement) -> dict[str, object]:
    return {name: getattr(placement, name) for name in Placement.__slots__}
