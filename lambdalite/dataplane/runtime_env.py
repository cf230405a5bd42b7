"""The environment variables a runtime starts with, as AWS sets them.

``runtime_environment`` is a pure function of what it is given: the function's
configuration and where the sandbox puts things. The variables AWS reserves
win over the function's own; the function's win over our defaults (NODE_PATH).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdalite.models import FunctionConfig
from lambdalite.observe.tracing import daemon_variables
from lambdalite.sandbox.spec import CHANNEL_VARIABLE

OPT_VARIABLE = "LAMBDALITE_OPT"
"""Names where the layers are when they are not at /opt (see ``RuntimeLaunch.opt_dir``)."""
LOG_FRAMES_VARIABLE = "_LAMBDALITE_LOG_FRAMES"
"""Set for our own bootstraps: write each log record (a traceback, a logger's
record) as one framed record on stdout (``dataplane.output``), which becomes
one log event, as AWS's runtimes do through their telemetry descriptor. The
bootstraps remove it before the function's code runs."""
SDK_PYTHON_VARIABLE = "_LAMBDALITE_SDK_PYTHON"
"""For our Python bootstrap: the directory with boto3 (``runtimes.sdk``), appended
last to sys.path so that a function's or layer's own copy wins. Removed before
the function's code runs."""
SDK_NODE_VARIABLE = "_LAMBDALITE_SDK_NODE"
"""For our Node bootstrap: the node_modules with the JavaScript SDK, where a bare
``import`` nothing else resolves is looked up. Removed before the handler loads."""
_FRAMING_FAMILIES = ("python", "nodejs")
AWS_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin"
"""PATH as AWS sets it, before the layers' ``/opt/bin``."""
_AWS_DIRS = frozenset(entry.rstrip("/") for entry in AWS_PATH.split(":"))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an environment's pieces are, as the function sees them."""

    runtime_api: str
    """``host:port`` of its Runtime API."""
    task_root: str
    runtime_dir: str
    log_stream: str
    initialization_type: str
    region: str
    opt_dir: Path | None = None
    """The merged layers when they cannot be at /opt (``RuntimeLaunch.opt_dir``)."""
    runtime_path: str = ""
    """Where the runtime's interpreter really lives (``os.pathsep``-separated), appended
    to AWS's PATH: AWS's interpreters are in /var/lang/bin, ours are where the host has them."""
    sdk_python: str = ""
    """boto3's directory (``runtimes.sdk.python_sdk_path``); "" when not installed."""
    sdk_node: str = ""
    """The JavaScript SDK's node_modules (``runtimes.sdk.node_sdk_path``); "" when not installed."""
    endpoint_url: str = ""
    """lambdalite's endpoint as the function reaches it (AWS_ENDPOINT_URL); "": not set."""
    channel: str = ""
    """Our own bootstraps' channel (``runtime_channel``): ``"<read fd>,<write fd>"``; "": none."""


def runtime_environment(
    function: FunctionConfig, placement: Placement, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every variable the runtime process gets (the sandbox adds nothing but TMPDIR
    at process level): our defaults, then the function's ``Environment``, then
    ``extra`` (the launch's own), then AWS's reserved variables."""
    opt = str(placement.opt_dir) if placement.opt_dir is not None else "/opt"
    defaults: dict[str, str] = {}
    node = function.runtime.startswith("nodejs")
    if node:
        # AWS's NODE_PATH: the layers' node_modules (this Node's own first), then the
        # runtime's and the task root; our SDK last, where AWS's runtime has its own.
        major = function.runtime.removeprefix("nodejs").split(".")[0]
        defaults["NODE_PATH"] = ":".join(
            (
                f"{opt}/nodejs/node{major}/node_modules",
                f"{opt}/nodejs/node_modules",
                f"{placement.runtime_dir}/node_modules",
                placement.runtime_dir,
                placement.task_root,
                *((placement.sdk_node,) if placement.sdk_node else ()),
            )
        )
    if placement.endpoint_url:
        # The SDKs' own setting (boto3 >= 1.28, AWS SDK v3): unmodified code reaches
        # lambdalite's services. A default: the function's Environment may name another.
        defaults["AWS_ENDPOINT_URL"] = placement.endpoint_url
    runtime_path = placement.runtime_path
    task, runtime = placement.task_root, placement.runtime_dir
    reserved = {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": function.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": function.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": placement.log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": placement.initialization_type,
        "AWS_REGION": placement.region,
        "AWS_DEFAULT_REGION": placement.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_LAMBDA_RUNTIME_API": placement.runtime_api,
        "LAMBDA_TASK_ROOT": placement.task_root,
        "LAMBDA_RUNTIME_DIR": placement.runtime_dir,
        "_HANDLER": function.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        # AWS's PATH, then where this runtime's interpreter really is (AWS's is in /var/lang/bin).
        "PATH": f"{AWS_PATH}:{opt}/bin" + (f":{runtime_path}" if runtime_path else ""),
        "LD_LIBRARY_PATH": (
            f"/var/lang/lib:/lib64:/usr/lib64:{runtime}:{runtime}/lib:{task}:{task}/lib:{opt}/lib"
        ),
    }
    if function.log_format == "JSON":
        # What AWS's runtimes read to format and filter their own records.
        reserved["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        reserved["AWS_LAMBDA_LOG_LEVEL"] = function.application_log_level or "INFO"
    if function.tracing_mode == "Active":
        reserved.update(daemon_variables())
    if placement.sdk_python and function.runtime.startswith("python"):
        reserved[SDK_PYTHON_VARIABLE] = placement.sdk_python
    if placement.sdk_node and node:
        reserved[SDK_NODE_VARIABLE] = placement.sdk_node
    if placement.opt_dir is not None:
        reserved[OPT_VARIABLE] = opt
    if function.runtime.startswith(_FRAMING_FAMILIES):
        reserved[LOG_FRAMES_VARIABLE] = "1"
    if placement.channel:
        reserved[CHANNEL_VARIABLE] = placement.channel
    return {**defaults, **function.environment, **(extra or {}), **reserved}


def runtime_path(argv: tuple[str, ...]) -> str:
    """The directory of the runtime's interpreter (``argv[0]``), and of lambdalite's own
    Python, for PATH: a custom runtime's bootstrap may name either. "" for neither."""
    dirs: list[str] = []
    for program in (argv[0] if argv else "", sys.executable):
        if os.path.isabs(program):
            directory = os.path.dirname(program)
            if directory not in dirs and directory not in _AWS_DIRS:
                dirs.append(directory)
    return ":".join(dirs)
