"""The environment variables a runtime starts with, as AWS sets them.

``runtime_environment`` is a pure function of what it is given: the function's
configuration and where the sandbox puts things. The variables AWS reserves
win over the function's own; the function's win over our defaults (NODE_PATH).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdalite.models import FunctionConfig

OPT_VARIABLE = "LAMBDALITE_OPT"
"""Names where the layers are when they are not at /opt (see ``RuntimeLaunch.opt_dir``)."""
LOG_FRAMES_VARIABLE = "_LAMBDALITE_LOG_FRAMES"
"""Set for our own bootstraps: write each log record (a traceback, a logger's
record) as one framed record on stdout (``dataplane.output``), which becomes
one log event, as AWS's runtimes do through their telemetry descriptor. The
bootstraps remove it before the function's code runs."""
_FRAMING_FAMILIES = ("python", "nodejs")


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
    host_path: str = ""
    """The server's PATH, appended to AWS's so a custom runtime finds host interpreters."""


def runtime_environment(
    function: FunctionConfig, placement: Placement, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every variable the runtime process gets (the sandbox adds nothing but TMPDIR
    at process level): our defaults, then the function's ``Environment``, then
    ``extra`` (the launch's own), then AWS's reserved variables."""
    opt = str(placement.opt_dir) if placement.opt_dir is not None else "/opt"
    defaults: dict[str, str] = {}
    if function.runtime.startswith("nodejs"):
        # AWS's NODE_PATH: the layers' node_modules (this Node's own first), then the
        # runtime's and the task root.
        major = function.runtime.removeprefix("nodejs").split(".")[0]
        defaults["NODE_PATH"] = ":".join(
            (
                f"{opt}/nodejs/node{major}/node_modules",
                f"{opt}/nodejs/node_modules",
                f"{placement.runtime_dir}/node_modules",
                placement.runtime_dir,
                placement.task_root,
            )
        )
    host_path = placement.host_path
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
        # AWS's PATH first; the host's after it so interpreters a custom
        # runtime's bootstrap names can still be found.
        "PATH": f"/usr/local/bin:/usr/bin/:/bin:{opt}/bin" + (f":{host_path}" if host_path else ""),
        "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:{opt}/lib",
    }
    if placement.opt_dir is not None:
        reserved[OPT_VARIABLE] = opt
    if function.runtime.startswith(_FRAMING_FAMILIES):
        reserved[LOG_FRAMES_VARIABLE] = "1"
    return {**defaults, **function.environment, **(extra or {}), **reserved}
