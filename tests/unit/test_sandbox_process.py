"""Process level through the Sandbox protocol: specs, argv translation, passed descriptors;
the environment's own uid (as root), its /tmp size, and the tree kill."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import select
import shutil
import signal
import stat
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.sandbox.process import CODE_GID_BASE, UID_BASE, ProcessSandbox
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.zygote import ZygoteProcess, ZygoteSandbox


def _read_all(fd: int) -> bytes:
    chunks = []
    while select.select([fd], [], [], 5)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_spec_starts_in_the_task_root_with_host_paths_and_passed_fds(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "main.py").write_text("import os, sys\nprint(os.getcwd(), os.write(int(sys.argv[1]), b'x'))\n")
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, False)
    sandbox = ProcessSandbox(tmp_path / "sandboxes", drop_privileges=False)
    spec = SandboxSpec(
        "env1",
        (sys.executable, str(code / "main.py"), str(write_end)),
        {},
        code,
        tmp_path,
        pass_fds=(write_end,),
    )
    assert sandbox.inside_paths(spec) == (str(code), str(tmp_path))

    async def scenario() -> tuple[int, bytes]:
        process = await sandbox.start(spec)
        returncode = await process.wait()
        output = _read_all(process.output_fd)
        await process.stop()
        os.close(process.output_fd)
        assert process.peak_memory_bytes() is None and not process.out_of_memory()
        return returncode, output

    returncode, output = asyncio.run(scenario())
    os.close(write_end)
    assert returncode == 0, output
    assert output.decode().strip() == f"{code} 1"
    assert os.read(read_end, 10) == b"x"
    os.close(read_end)
    assert not (tmp_path / "sandboxes" / "env1").exists()


# -- credentials, /tmp size and the tree kill ------------------------------------------------


def _reachable(path: str) -> bool:
    return os.path.exists(path) and all(
        os.stat(d).st_mode & 0o001 for d in Path(os.path.realpath(path)).parents
    )


REACHABLE_PYTHON = next((p for p in ("/usr/bin/python3.11", "/usr/bin/python3") if _reachable(p)), None)
"""A Python an environment's own uid can run (pyenv's under /root is not one)."""

PROBE = r"""
import errno, json, os, resource, sys, time

def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "ok"

def read(path):
    with open(path, "rb") as file:
        file.read()

def write(path):
    with open(path, "w") as file:
        file.write("x")

def big_file():
    with open(os.path.join(os.environ["TMPDIR"], "big"), "wb") as file:
        file.write(b"x" * (3 * 1024 * 1024))

if os.environ.get("FILL"):
    for n in range(int(os.environ["FILL"])):
        with open(os.path.join(os.environ["TMPDIR"], str(n)), "wb") as file:
            file.write(b"x" * (1024 * 1024))
    time.sleep(30)
print(json.dumps({
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
    "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
    "shadow": attempt(lambda: read("/etc/shadow")),
    "database": attempt(lambda: read(sys.argv[1])),
    "own_code": attempt(lambda: read(os.path.join(os.getcwd(), "main.py"))),
    "other_code": attempt(lambda: read(sys.argv[2])),
    "write_code": attempt(lambda: write(os.path.join(os.getcwd(), "new.py"))),
    "kill_parent": attempt(lambda: os.kill(int(sys.argv[3]), 0)),
    "big_file": attempt(big_file),
}), flush=True)
"""

LINGER = """
import os, time

def main(environ):
    if os.fork() == 0:  # a double fork: the grandchild is orphaned at once
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", environ["LINGER"]])
        os._exit(0)
    time.sleep(30)

if __name__ == "__main__":
    main(os.environ)
"""
"""A bootstrap (the zygote imports it, then calls main in the child)."""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory laid out as the server's: database, code, sandboxes.
    Not under pytest's tmp_path, which other users cannot reach."""
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-process-"))
    base.chmod(0o755)
    data = base / "data"
    for code in ("own", "other"):
        task = data / "code" / "unpacked" / code
        task.mkdir(parents=True)
        (task / "main.py").write_text(PROBE)
        for path in (data, data / "code", data / "code" / "unpacked", task):
            path.chmod(0o755)
        (task / "main.py").chmod(0o644)
    (base / "linger.py").write_text(LINGER)
    (base / "linger.py").chmod(0o644)
    (data / "lambdalite.db").write_text("secret")
    (data / "lambdalite.db").chmod(0o644)
    yield data
    shutil.rmtree(base, ignore_errors=True)


def _probe_spec(
    data: Path, env_id: str, env: dict[str, str] | None = None, storage_mb: int = 2
) -> SandboxSpec:
    assert REACHABLE_PYTHON is not None
    task = data / "code" / "unpacked" / "own"
    return SandboxSpec(
        env_id,
        (
            REACHABLE_PYTHON,
            str(task / "main.py"),
            str(data / "lambdalite.db"),
            str(data / "code" / "unpacked" / "other" / "main.py"),
            str(os.getpid()),
        ),
        env or {},
        task,
        data,
        ephemeral_storage_mb=storage_mb,
        hidden_paths=(data,),
    )


async def _run_to_end(sandbox: ProcessSandbox, spec: SandboxSpec, timeout: float = 10) -> tuple[int, str]:
    process = await sandbox.start(spec)
    try:
        returncode = await asyncio.wait_for(process.wait(), timeout)
    finally:
        await process.stop()
    output = _read_all(process.output_fd)
    os.close(process.output_fd)
    return returncode, output.decode()


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="environments get uids of their own only as root")
needs_python = pytest.mark.skipif(REACHABLE_PYTHON is None, reason="no Python that every user can run")


@root_only
@needs_python
def test_as_root_each_environment_runs_as_its_own_uid_and_cannot_reach_the_platform(data_dir: Path) -> None:
    sandbox = ProcessSandbox(data_dir / "sandboxes")
    returncode, output = asyncio.run(_run_to_end(sandbox, _probe_spec(data_dir, "env1")))
    assert returncode == 0, output
    facts = json.loads(output)
    assert UID_BASE <= facts["uid"] < CODE_GID_BASE and facts["gid"] == facts["uid"]
    assert len(facts["groups"]) == 1 and facts["groups"][0] >= CODE_GID_BASE  # its code's group
    assert facts["nproc"] == 1024
    assert facts["fsize"] == 2 * 1024 * 1024
    assert facts == {
        **facts,
        "shadow": "EACCES",
        "database": "EACCES",
        "own_code": "ok",
        "other_code": "EACCES",
        "write_code": "EACCES",
        "kill_parent": "EPERM",
        "big_file": "EFBIG",
    }
    assert stat.S_IMODE((data_dir / "lambdalite.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o711


@needs_python
def test_tmp_past_its_ephemeral_storage_stops_the_environment_with_a_line_in_its_log(data_dir: Path) -> None:
    sandbox = ProcessSandbox(data_dir / "sandboxes")
    spec = _probe_spec(data_dir, "env1", {"FILL": "3"}, storage_mb=2)
    started = time.monotonic()
    returncode, output = asyncio.run(_run_to_end(sandbox, spec))
    assert returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    scratch = data_dir / "sandboxes" / "env1" / "tmp"
    assert output == (
        f"lambdalite: /tmp ({scratch}) holds 3 MB, more than the function's ephemeral storage of 2 MB: "
        "the environment is stopped (at process isolation level a write past the size cannot fail "
        "with ENOSPC)\n"
    )
    assert not scratch.exists()


def _processes_with(argument: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if argument.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


@root_only
@needs_python
@pytest.mark.parametrize("zygote", [False, True], ids=["spawned", "zygote"])
def test_as_root_kill_tree_reaches_a_double_forked_setsid_grandchild(data_dir: Path, zygote: bool) -> None:
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    inner = ProcessSandbox(data_dir / "sandboxes")

    async def scenario() -> list[int]:
        sandbox: ProcessSandbox | ZygoteSandbox = inner
        bootstrap = data_dir.parent / "linger.py"
        spec = dataclasses.replace(
            _probe_spec(data_dir, "env1", {"LINGER": marker}),
            argv=(str(REACHABLE_PYTHON), str(bootstrap)),
            runtime_dir=bootstrap.parent,
        )
        if zygote:
            sandbox = ZygoteSandbox(inner, bootstrap=bootstrap)
            while sandbox.zygote(spec.argv[0]) is None:
                await asyncio.sleep(0.02)
        try:
            process = await sandbox.start(spec)
            assert isinstance(process, ZygoteProcess) is zygote
            deadline = time.monotonic() + 10
            while not _processes_with(marker):
                assert time.monotonic() < deadline, "the grandchild never started"
                await asyncio.sleep(0.02)
            process.kill_tree()
            await process.stop()
            os.close(process.output_fd)
            deadline = time.monotonic() + 5
            while (survivors := _processes_with(marker)) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return survivors
        finally:
            if isinstance(sandbox, ZygoteSandbox):
                await sandbox.close()

    assert asyncio.run(scenario()) == []


@root_only
@needs_python
def test_a_runtime_directory_others_cannot_reach_is_used_through_a_reachable_copy(data_dir: Path) -> None:
    # lambdalite installed in a private place (a home of mode 0700, a mktemp -d).
    private = Path(tempfile.mkdtemp(prefix="lambdalite-private-"))
    try:
        runtime = private / "runtimes"
        runtime.mkdir()
        (runtime / "boot.py").write_text("import os\nprint(os.getuid(), os.path.abspath(__file__))\n")
        sandbox = ProcessSandbox(data_dir / "sandboxes")
        task = data_dir / "code" / "unpacked" / "own"
        spec = SandboxSpec("env1", (REACHABLE_PYTHON or "", str(runtime / "boot.py")), {}, task, runtime)
        _, inside_runtime = sandbox.inside_paths(spec)
        assert Path(inside_runtime) == data_dir / "sandboxes" / ".runtime-0"
        returncode, output = asyncio.run(_run_to_end(sandbox, spec))
        assert returncode == 0, output
        uid, path = output.split()
        assert int(uid) >= UID_BASE  # not the server's root: the copy is reachable
        assert path == f"{inside_runtime}/boot.py"
        assert sandbox.inside_paths(spec) == (str(task), inside_runtime)  # copied once
    finally:
        shutil.rmtree(private, ignore_errors=True)


@root_only
def test_code_no_unprivileged_uid_can_reach_is_refused_never_run_as_root(data_dir: Path) -> None:
    private = Path(tempfile.mkdtemp(prefix="lambdalite-private-code-"))  # 0700
    try:
        sandbox = ProcessSandbox(data_dir / "sandboxes")
        spec = SandboxSpec("env1", ("/bin/true",), {}, private, data_dir)
        with pytest.raises(PermissionError) as refused:
            asyncio.run(_run_to_end(sandbox, spec))
        assert refused.value.strerror == (
            f"lambdalite: {private} is not reachable by an unprivileged user, and the process level "
            "never runs a function as root: make the path readable by others, or use the namespace level"
        )
    finally:
        shutil.rmtree(private, ignore_errors=True)


@root_only
def test_an_interpreter_below_a_private_directory_runs_from_its_mirror(data_dir: Path) -> None:
    private = [
        str(path)
        for path in sorted(Path("/root/.pyenv/versions").glob("3.1*/bin/python3.1*"))
        if path.name.count(".") == 1 and not path.name.endswith("-config")
    ]
    if not private:
        pytest.skip("no interpreter below an owner-only directory here")
    sandbox = ProcessSandbox(data_dir / "sandboxes")
    task = data_dir / "code" / "unpacked" / "own"
    spec = SandboxSpec(
        "env1", (private[0], "-c", "import os, sys; print(os.getuid(), sys.prefix)"), {}, task, data_dir
    )
    runnable = sandbox.runnable(spec)
    assert runnable.argv[0].startswith("/run/lambdalite/interpreters/")
    returncode, output = asyncio.run(_run_to_end(sandbox, spec))
    assert returncode == 0, output
    uid, prefix = output.split()
    assert int(uid) >= UID_BASE and prefix.startswith("/run/lambdalite/interpreters/")
