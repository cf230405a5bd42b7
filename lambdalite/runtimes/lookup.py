"""Which program an execution environment runs for a function's runtime.

``command_for(runtime, task_root, strict)`` answers with a ``RuntimeCommand``:
the argv to exec (its cwd will be the task root), the runtime family, the
interpreter version it found and, when the exact interpreter is missing and
``strict`` is false, a warning the platform writes into the function's log.
Anything that makes the function impossible to start raises
``RuntimeUnavailable``, whose message is user-facing and whose ``error_type``
is the init error type the platform reports.

Interpreters are discovered once per process (``functools.cache``): the host's
set of interpreters does not change while lambdalite runs, and an environment
start must not pay for a directory scan.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lambdalite.runtimes import sdk

PYTHON_RUNTIMES = tuple(f"python3.{minor}" for minor in range(9, 15))
NODE_RUNTIMES = ("nodejs18.x", "nodejs20.x", "nodejs22.x")
PROVIDED_RUNTIMES = ("provided", "provided.al2", "provided.al2023")
SUPPORTED_RUNTIMES: tuple[str, ...] = PYTHON_RUNTIMES + NODE_RUNTIMES + PROVIDED_RUNTIMES

MIN_PYTHON = (3, 9)
"""The oldest interpreter the Python bootstrap runs on; older ones are never chosen."""
MIN_NODE = 18

_HERE = Path(__file__).resolve().parent
PYTHON_BOOTSTRAP = _HERE / "python" / "bootstrap.py"
NODE_BOOTSTRAP = _HERE / "node" / "bootstrap.js"

_PYTHON_NAME = re.compile(r"python3\.(\d+)")
_PROBE_TIMEOUT_S = 10.0


class RuntimeUnavailable(Exception):
    """The function cannot be started on this host. ``str(exc)`` is user-facing;
    ``error_type`` is the init error type to report (AWS's
    ``Runtime.InvalidEntrypoint`` for a missing or unusable custom bootstrap)."""

    def __init__(self, message: str, error_type: str = "Runtime.Unavailable") -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


@dataclass(frozen=True, slots=True)
class RuntimeCommand:
    family: str
    """``python``, ``nodejs`` or ``provided``."""
    argv: tuple[str, ...]
    """What to exec, with the task root as cwd."""
    warning: str | None
    """Set when a substitute interpreter runs the function; goes into the function log."""
    interpreter_version: str | None
    """``3.11.7`` or ``20.20.2``; None for provided runtimes."""


def command_for(runtime: str, task_root: Path, strict: bool) -> RuntimeCommand:
    """The command that starts an environment for ``runtime``.

    Python and Node use the exact interpreter when the host has it, otherwise
    the nearest one (ties go to the newer) with a warning; ``strict=True``
    raises RuntimeUnavailable instead of substituting. ``provided*`` runs
    ``task_root/bootstrap``, which must be an executable file.
    """
    if runtime in PYTHON_RUNTIMES:
        return _python_command(runtime, strict)
    if runtime in NODE_RUNTIMES:
        return _node_command(runtime, strict)
    if runtime in PROVIDED_RUNTIMES:
        return _provided_command(task_root)
    raise RuntimeUnavailable(f"Runtime {runtime} is not supported by lambdalite", "Runtime.Unsupported")


# -- python -----------------------------------------------------------------


def _python_search_dirs() -> list[Path]:
    """PATH first (the operator's choice wins), then pyenv's real installs, then the
    system directories. pyenv *shims* are skipped: they fail for any version the
    current pyenv configuration has not selected."""
    dirs = [Path(entry) for entry in os.environ.get("PATH", "").split(os.pathsep) if entry]
    dirs = [d for d in dirs if d.name != "shims"]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    dirs += sorted((pyenv_root / "versions").glob("*/bin"), reverse=True)
    dirs += [Path("/usr/local/bin"), Path("/usr/bin")]
    return dirs


@functools.cache
def python_interpreters() -> dict[tuple[int, int], Path]:
    """Every ``python3.N`` (N >= 9) on this host, first found per version."""
    found: dict[tuple[int, int], Path] = {}
    for directory in _python_search_dirs():
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            match = _PYTHON_NAME.fullmatch(entry.name)
            if match is None:
                continue
            version = (3, int(match.group(1)))
            if version < MIN_PYTHON or version in found:
                continue
            if entry.is_file() and os.access(entry, os.X_OK):
                found[version] = entry
    return found


def nearest(wanted: tuple[int, int], available: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The available version closest to ``wanted``; on a tie the newer one, because
    code usually runs on a newer interpreter than it was written for."""
    if not available:
        return None
    return min(available, key=lambda v: (abs(v[1] - wanted[1]) + 100 * abs(v[0] - wanted[0]), -v[1]))


@functools.cache
def _python_command(runtime: str, strict: bool) -> RuntimeCommand:
    wanted = (3, int(runtime.removeprefix("python3.")))
    interpreters = python_interpreters()
    chosen = wanted if wanted in interpreters else None
    warning = None
    if chosen is None:
        if strict:
            raise RuntimeUnavailable(
                f"{runtime} is not installed here, and strict runtimes are on: "
                f"install {runtime} or turn strict runtimes off"
            )
        chosen = nearest(wanted, list(interpreters))
        if chosen is None:
            raise RuntimeUnavailable(f"{runtime} is not installed here, and no Python 3.9 or newer is")
        substitute = f"python{chosen[0]}.{chosen[1]}"
        warning = f"{runtime} is not installed here; running on {substitute} ({interpreters[chosen]})"
    interpreter = interpreters[chosen]
    return RuntimeCommand(
        family="python",
        argv=(str(interpreter), str(PYTHON_BOOTSTRAP)),
        warning=warning,
        interpreter_version=_probe_version(
            str(interpreter), "-c", "import platform; print(platform.python_version())"
        ),
    )


def interpreter_prefixes() -> tuple[Path, ...]:
    """The install prefixes (``<prefix>/bin/python3.N``) of every interpreter an
    environment may run: each Python found, node, and lambdalite's own Python
    (a custom runtime's bootstrap may name it, or a venv built on it). The
    namespace sandbox makes them reachable for its unprivileged uid."""
    executables = [*python_interpreters().values(), Path(sys.executable)]
    node = node_interpreter()
    if node is not None:
        executables.append(node[0])
    # The installed majors' binaries, found without running them (start-up pays for no probe).
    majors = (int(runtime.removeprefix("nodejs").removesuffix(".x")) for runtime in NODE_RUNTIMES)
    executables += [binary for binary in map(sdk.node_binary, majors) if binary is not None]
    prefixes = {Path(os.path.realpath(exe)).parent.parent for exe in executables}
    prefixes.update((Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()))
    return tuple(sorted(prefixes))


# -- node -------------------------------------------------------------------


@functools.cache
def node_interpreter() -> tuple[Path, str] | None:
    """The host's ``node`` on PATH and its version (``20.20.2``), or None."""
    found = shutil.which("node")
    if found is None:
        return None
    version = _probe_version(found, "--version")
    if version is None:
        return None
    return Path(found), version.removeprefix("v")


@functools.cache
def installed_nodes() -> dict[int, tuple[Path, str]]:
    """The Node.js majors ``lambdalite runtimes install`` added (``runtimes.sdk.install_node``),
    each with its version."""
    found: dict[int, tuple[Path, str]] = {}
    for runtime in NODE_RUNTIMES:
        major = int(runtime.removeprefix("nodejs").removesuffix(".x"))
        binary = sdk.node_binary(major)
        version = _probe_version(str(binary), "--version") if binary is not None else None
        if binary is not None and version is not None:
            found[major] = (binary, version.removeprefix("v"))
    return found


@functools.cache
def _node_command(runtime: str, strict: bool) -> RuntimeCommand:
    wanted = int(runtime.removeprefix("nodejs").removesuffix(".x"))
    node = installed_nodes().get(wanted) or node_interpreter()
    if node is None:
        raise RuntimeUnavailable(f"{runtime} is not available here: there is no node on PATH")
    path, version = node
    major = int(version.split(".")[0])
    warning = None
    if major != wanted:
        if strict or major < MIN_NODE:
            raise RuntimeUnavailable(
                f"{runtime} is not installed here: node on PATH ({path}) is version {version}"
            )
        warning = f"{runtime} is not installed here; running on node {version} ({path})"
    return RuntimeCommand(
        family="nodejs",
        argv=(str(path), str(NODE_BOOTSTRAP)),
        warning=warning,
        interpreter_version=version,
    )


# -- provided ---------------------------------------------------------------


def _provided_command(task_root: Path) -> RuntimeCommand:
    # Not cached: the code behind a task root changes with every deployment.
    bootstrap = task_root / "bootstrap"
    if not bootstrap.is_file():
        raise RuntimeUnavailable(
            f"Couldn't find valid bootstrap(s): [{bootstrap}]", error_type="Runtime.InvalidEntrypoint"
        )
    if not os.access(bootstrap, os.X_OK):
        raise RuntimeUnavailable(
            f"fork/exec {bootstrap}: permission denied", error_type="Runtime.InvalidEntrypoint"
        )
    return RuntimeCommand(family="provided", argv=(str(bootstrap),), warning=None, interpreter_version=None)


def _probe_version(executable: str, *args: str) -> str | None:
    """Run ``executable *args`` and return its stripped stdout, or None if it fails."""
    try:
        done = subprocess.run(
            [executable, *args], capture_output=True, text=True, timeout=_PROBE_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
