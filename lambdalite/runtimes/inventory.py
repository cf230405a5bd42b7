"""What each runtime runs on here, for ``lambdalite runtimes`` and ``lambdalite doctor``,
and the set-up step that installs what lambdalite provides itself.

``runtime_rows(strict)`` answers one row per supported runtime: the program that
would run it (``lookup.command_for``), its version, and the warning or the
reason it cannot run. ``sdk_lines()`` says which SDKs are installed.
``install_missing()`` installs the SDKs and every Node.js major of a supported
runtime that the host lacks (``runtimes.sdk``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from lambdalite.runtimes import lookup, sdk


@dataclass(frozen=True, slots=True)
class RuntimeRow:
    runtime: str
    runs_on: str
    """The interpreter's path and version, the function's bootstrap, or "-"."""
    note: str
    """A substitution warning, why it cannot run, or ""."""


def runtime_rows(strict: bool) -> list[RuntimeRow]:
    """One row per supported runtime, in ``SUPPORTED_RUNTIMES`` order."""
    rows = []
    for runtime in lookup.SUPPORTED_RUNTIMES:
        if runtime in lookup.PROVIDED_RUNTIMES:
            rows.append(RuntimeRow(runtime, "the function's own bootstrap", ""))
            continue
        try:
            command = lookup.command_for(runtime, Path("/"), strict)
        except lookup.RuntimeUnavailable as exc:
            rows.append(RuntimeRow(runtime, "-", exc.message))
            continue
        runs_on = f"{command.argv[0]} ({command.interpreter_version or 'unknown version'})"
        rows.append(RuntimeRow(runtime, runs_on, command.warning or ""))
    return rows


def sdk_lines() -> list[str]:
    return [status.line() for status in sdk.status()]


def missing_node_majors() -> list[int]:
    """Majors of the supported Node runtimes that neither the host nor an install provides."""
    host = lookup.node_interpreter()
    host_major = int(host[1].split(".")[0]) if host is not None else None
    installed = lookup.installed_nodes()
    majors = [int(r.removeprefix("nodejs").removesuffix(".x")) for r in lookup.NODE_RUNTIMES]
    return [major for major in majors if major != host_major and major not in installed]


def install_missing(*, node_majors: bool = True) -> list[str]:
    """Install the SDKs, and (``node_majors``) the Node.js majors the host lacks; returns
    one line per thing done. Raises ``sdk.SdkInstallError``."""
    if shutil.which("npm") is None:
        # No npm, no node runtimes' SDK to fetch: say so rather than fail the whole set-up.
        done = sdk.install(node=False)
        done.append("skipped the AWS SDK for JavaScript and Node.js majors: there is no npm on PATH")
        return done
    done = sdk.install()
    if node_majors and sdk.node_package() is not None:
        for major in missing_node_majors():
            done.append(sdk.install_node(major))
        lookup.installed_nodes.cache_clear()
    return done
