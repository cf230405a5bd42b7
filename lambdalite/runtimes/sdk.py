"""The AWS SDKs that are part of a runtime, as on AWS: boto3 for Python, the AWS
SDK for JavaScript v3 for Node.js 18 and later.

lambdalite installs them itself, at pinned versions, into a directory of its
own (``SDK_ROOT``: inside the virtualenv lambdalite runs from, which the
sandbox already shares with its unprivileged users), with the registries'
ordinary clients: ``pip install --target`` and ``npm install --prefix``.
``make .venv/.installed`` runs ``lambdalite runtimes install`` once.

Layout::

    SDK_ROOT/python/            boto3, botocore and their dependencies (pure Python:
                                one copy serves every Python 3.9+ interpreter)
    SDK_ROOT/nodejs/node_modules/@aws-sdk/...

An environment finds them last, after the function's code and its layers, so
a function or layer that ships its own copy wins, as on AWS: the Python
bootstrap appends ``_LAMBDALITE_SDK_PYTHON`` to the end of ``sys.path``; for
Node the directory ends NODE_PATH (``require``) and the bootstrap resolves a
bare ``import`` that nothing else resolves from there (``_LAMBDALITE_SDK_NODE``).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SDK_ROOT = Path(sys.prefix) / "share" / "lambdalite" / "sdk"
PYTHON_SDK_DIR = SDK_ROOT / "python"
NODE_SDK_DIR = SDK_ROOT / "nodejs"
NODE_BINARIES_DIR = SDK_ROOT / "node"
"""``<major>/node_modules/node-linux-<arch>/bin/node``: Node.js majors the host lacks,
from the npm registry's per-platform ``node-linux-*`` packages (``install_node``)."""

BOTO3_VERSION = "1.44.18"
"""boto3 for the Python runtimes (AWS's runtimes ship a recent 1.x too)."""
JS_SDK_VERSION = "3.1178.0"
JS_SDK_PACKAGES = (
    "client-s3",
    "client-sqs",
    "client-sns",
    "client-lambda",
    "client-dynamodb",
    "lib-dynamodb",
    "client-sts",
    "client-secrets-manager",
    "client-eventbridge",
)
"""The AWS SDK for JavaScript v3 packages provided (``@aws-sdk/<name>``)."""

_INSTALL_TIMEOUT_S = 900


class SdkInstallError(Exception):
    """An SDK could not be installed; ``str()`` says which and why."""


@dataclass(frozen=True, slots=True)
class SdkStatus:
    """What is installed for one runtime family."""

    family: str
    """``python`` or ``nodejs``."""
    directory: Path
    version: str | None
    """The installed version, or None when missing."""
    wanted: str

    @property
    def installed(self) -> bool:
        return self.version is not None

    def line(self) -> str:
        what = "boto3" if self.family == "python" else "@aws-sdk/* (v3)"
        if self.version is None:
            return f"{self.family} SDK: {what} MISSING - run `lambdalite runtimes install`"
        return f"{self.family} SDK: {what} {self.version} in {self.directory}"


def python_sdk_path() -> str:
    """The directory to append to a Python function's sys.path, or "" when not installed."""
    return str(PYTHON_SDK_DIR) if (PYTHON_SDK_DIR / "boto3").is_dir() else ""


def node_sdk_path() -> str:
    """The node_modules directory with the JavaScript SDK, or "" when not installed."""
    modules = NODE_SDK_DIR / "node_modules"
    return str(modules) if (modules / "@aws-sdk").is_dir() else ""


def status() -> tuple[SdkStatus, SdkStatus]:
    """What is installed now, Python first."""
    return (
        SdkStatus("python", PYTHON_SDK_DIR, _python_version(), BOTO3_VERSION),
        SdkStatus("nodejs", NODE_SDK_DIR, _node_version(), JS_SDK_VERSION),
    )


def _python_version() -> str | None:
    for info in PYTHON_SDK_DIR.glob("boto3-*.dist-info"):
        return info.name.removeprefix("boto3-").removesuffix(".dist-info")
    return None


def _node_version() -> str | None:
    manifest = NODE_SDK_DIR / "node_modules" / "@aws-sdk" / "client-s3" / "package.json"
    try:
        version = json.loads(manifest.read_text("utf-8")).get("version")
    except (OSError, ValueError):
        return None
    return str(version) if version else None


def install(*, python: bool = True, node: bool = True) -> list[str]:
    """Install whatever is missing or at another version; returns what was done,
    one line each. Each SDK is built in a temporary directory beside its final
    place and renamed into it, so a reader never sees half of one. Raises
    SdkInstallError when a registry client fails or is absent."""
    done: list[str] = []
    current_python, current_node = status()
    if python and current_python.version != BOTO3_VERSION:
        _replace(PYTHON_SDK_DIR, _install_python)
        done.append(f"installed boto3 {BOTO3_VERSION} in {PYTHON_SDK_DIR}")
    if node and current_node.version != JS_SDK_VERSION:
        _replace(NODE_SDK_DIR, _install_node)
        done.append(f"installed @aws-sdk v{JS_SDK_VERSION} in {NODE_SDK_DIR}")
    return done


def _replace(final: Path, build: Callable[[Path], None]) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        build(work)
        work.chmod(0o755)
        old = final.with_name(f".{final.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        work.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _install_python(target: Path) -> None:
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            f"boto3=={BOTO3_VERSION}",
        ],
        "pip",
    )


def _install_node(prefix: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SdkInstallError("cannot install the AWS SDK for JavaScript: there is no npm on PATH")
    (prefix / "package.json").write_text('{"name": "lambdalite-sdk", "private": true}\n', "utf-8")
    packages = [f"@aws-sdk/{name}@{JS_SDK_VERSION}" for name in JS_SDK_PACKAGES]
    _run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--omit=dev", *packages],
        "npm",
    )


def node_package() -> str | None:
    """The npm package with Node.js binaries for this machine, or None where none is published."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine())
    if not sys.platform.startswith("linux") or arch is None:
        return None
    return f"node-linux-{arch}"


def node_binary(major: int) -> Path | None:
    """The installed ``node`` of this major (``install_node``), or None."""
    package = node_package()
    if package is None:
        return None
    binary = NODE_BINARIES_DIR / str(major) / "node_modules" / package / "bin" / "node"
    return binary if binary.is_file() else None


def install_node(major: int) -> str:
    """Install the newest Node.js ``major`` from the npm registry; returns what was done.
    Raises SdkInstallError where no package is published for this machine or npm fails."""
    package = node_package()
    if package is None:
        raise SdkInstallError(
            f"no Node.js binaries are published on npm for {sys.platform}/{platform.machine()}"
        )
    if node_binary(major) is not None:
        return f"node {major} is already installed in {NODE_BINARIES_DIR / str(major)}"
    npm = shutil.which("npm")
    if npm is None:
        raise SdkInstallError(f"cannot install node {major}: there is no npm on PATH")

    def build(prefix: Path) -> None:
        (prefix / "package.json").write_text('{"name": "lambdalite-node", "private": true}\n', "utf-8")
        _run(
            [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"{package}@{major}"], "npm"
        )

    _replace(NODE_BINARIES_DIR / str(major), build)
    return f"installed node {major} ({package}) in {NODE_BINARIES_DIR / str(major)}"


def _run(argv: list[str], tool: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SdkInstallError(f"{tool} could not run: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SdkInstallError(f"{tool} failed ({done.returncode}): " + " / ".join(tail))
