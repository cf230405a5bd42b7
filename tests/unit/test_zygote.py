"""Zygotes: Python environments forked from a pre-initialised interpreter.

A small stand-in bootstrap (``main(environ)`` imports the task root's ``app``)
lets each test see, from inside, what the forked child got; the real
bootstrap is covered by the end-to-end suite, which runs with zygotes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalite.runtimes import lookup
from lambdalite.sandbox import _zygote_main, detect
from lambdalite.sandbox.cgroups import CgroupHost
from lambdalite.sandbox.enter import environment_uid
from lambdalite.sandbox.namespace import NamespaceSandbox, namespace_request
from lambdalite.sandbox.peers import is_sandboxed
from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.sandbox.spec import Sandbox, SandboxedProcess, SandboxSpec
from lambdalite.sandbox.zygote import ZygoteProcess, ZygoteSandbox, shipped_modules
from tests.unit.pidfds import pid_of

PYTHON = sys.executable
"""Ours: boto3 is importable, so the zygote caches it."""

BOOTSTRAP = """\
import os, sys
STATE = []

def main(environ):
    STATE.append(1)
    sys.path.insert(0, os.getcwd())
    import app
    sys.exit(int(environ.get("EXIT", "0")))

if __name__ == "__main__":
    main(os.environ)
"""

APP = """\
import json, os, random, resource, signal, sys, time
from __main__ import STATE
try:
    import boto3
    version = boto3.__version__
except ImportError:
    version = None
facts = {
    "pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid(), "sid": os.getsid(0),
    "cwd": os.getcwd(), "env": dict(os.environ), "state": len(STATE), "argv": sys.argv,
    "boto3": version, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
    "random": random.random(), "comm": open("/proc/self/comm").read().strip(),
    "init_comm": open("/proc/1/comm").read().strip(),
}
print(json.dumps(facts), flush=True)
if os.environ.get("SIGNAL"):
    os.kill(os.getpid(), int(os.environ["SIGNAL"]))
if os.environ.get("SLEEP"):
    time.sleep(float(os.environ["SLEEP"]))
"""


@pytest.fixture
def dirs() -> Iterator[tuple[Path, Path]]:
    """(task root with app.py, runtime dir with the stand-in bootstrap). Not
    under /tmp, which the namespace level replaces."""
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-zygote-"))
    task, runtime = base / "task", base / "runtime"
    task.mkdir()
    runtime.mkdir()
    (task / "app.py").write_text(APP)
    (runtime / "boot.py").write_text(BOOTSTRAP)
    for path in (base, task, runtime, task / "app.py", runtime / "boot.py"):
        path.chmod(0o755)
    yield task, runtime
    shutil.rmtree(base, ignore_errors=True)


def _unique(prefix: str) -> str:
    """An env_id no earlier run left a cgroup for."""
    return f"{prefix}-{os.getpid()}-{time.monotonic_ns()}"


def _spec(dirs: tuple[Path, Path], env: dict[str, str] | None = None, env_id: str = "env-1") -> SandboxSpec:
    task, runtime = dirs
    return SandboxSpec(env_id, (PYTHON, str(runtime / "boot.py")), env or {}, task, runtime)


async def _output(process: SandboxedProcess) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(process.output_fd, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.005)
            continue
        if not chunk:
            os.close(process.output_fd)
            return b"".join(chunks).decode()
        chunks.append(chunk)


async def _run(sandbox: Sandbox, spec: SandboxSpec) -> tuple[int, dict[str, Any], SandboxedProcess]:
    process = await sandbox.start(spec)
    output = await asyncio.wait_for(_output(process), 30)
    returncode = await process.wait()
    await process.stop()
    first = output.splitlines()[0] if output.strip() else ""
    facts = json.loads(first) if first.startswith("{") else {"output": output}
    return returncode, facts, process


async def _ready(sandbox: ZygoteSandbox, interpreter: str = PYTHON) -> int:
    deadline = time.monotonic() + 30
    while (zygote := sandbox.zygote(interpreter)) is None:
        assert time.monotonic() < deadline, "the zygote never got ready"
        await asyncio.sleep(0.02)
    assert zygote.pid is not None
    return zygote.pid


Scenario = Callable[[ZygoteSandbox], Awaitable[None]]


def _with_zygotes(inner: Callable[[], Sandbox], dirs: tuple[Path, Path], scenario: Scenario) -> None:
    async def main() -> None:
        sandbox = ZygoteSandbox(inner(), bootstrap=dirs[1] / "boot.py")
        try:
            await scenario(sandbox)
        finally:
            await sandbox.close()

    asyncio.run(main())


@pytest.fixture
def process_level(tmp_path: Path) -> Callable[[], Sandbox]:
    # Credentials are process.py's to test (test_sandbox_process.py); here the zygote's mechanics.
    return lambda: ProcessSandbox(tmp_path / "sandboxes", drop_privileges=False)


def test_process_level_forks_the_child_from_the_zygote_with_exactly_its_isolation(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        zygote_pid = await _ready(sandbox)
        returncode, facts, process = await _run(sandbox, _spec(dirs, {"A": "1"}))
        assert isinstance(process, ZygoteProcess)
        assert returncode == 0
        assert facts["pid"] == process.pid and facts["ppid"] == zygote_pid
        assert facts["sid"] == facts["pid"]  # its own session: kill_tree reaches everything
        assert facts["cwd"] == str(dirs[0])
        assert set(facts["env"]) == {"A", "TMPDIR"}
        assert facts["nofile"] == 1024
        assert facts["fds"][:3] == [0, 1, 2] and len(facts["fds"]) == 4  # + listdir's own
        assert facts["argv"] == [str(dirs[1] / "boot.py")]
        assert not Path(facts["env"]["TMPDIR"]).exists()  # stop() released the scratch space

    _with_zygotes(process_level, dirs, scenario)


def test_a_zygote_started_by_a_server_holding_over_1024_descriptors_serves(dirs, process_level):
    """Its socket keeps the server's number (pass_fds), which select(2) could not watch."""
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]

    async def scenario(sandbox: ZygoteSandbox) -> None:
        zygote = await _ready(sandbox)
        socket_fds = [int(fd) for fd in os.listdir(f"/proc/{zygote}/fd") if int(fd) > 2]
        assert max(socket_fds) >= 1024
        returncode, facts, process = await _run(sandbox, _spec(dirs, {"A": "1"}))
        assert isinstance(process, ZygoteProcess)
        assert returncode == 0 and facts["env"]["A"] == "1"

    try:
        _with_zygotes(process_level, dirs, scenario)
    finally:
        for fd in held:
            os.close(fd)


def test_module_state_is_not_shared_between_two_environments(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        first = await _run(sandbox, _spec(dirs, env_id="one"))
        second = await _run(sandbox, _spec(dirs, env_id="two"))
        assert isinstance(first[2], ZygoteProcess) and isinstance(second[2], ZygoteProcess)
        # Each child imported the handler itself and saw only its own bootstrap state.
        assert first[1]["state"] == second[1]["state"] == 1
        assert first[1]["pid"] != second[1]["pid"]

    _with_zygotes(process_level, dirs, scenario)


def test_a_function_bundling_its_own_boto3_gets_a_fresh_interpreter_and_its_version(dirs, process_level):
    (dirs[0] / "boto3").mkdir()
    (dirs[0] / "boto3" / "__init__.py").write_text("__version__ = '0.0-bundled'\n")

    async def scenario(sandbox: ZygoteSandbox) -> None:
        zygote_pid = await _ready(sandbox)
        returncode, facts, process = await _run(sandbox, _spec(dirs))
        assert returncode == 0
        assert not isinstance(process, ZygoteProcess)
        assert facts["boto3"] == "0.0-bundled" and facts["ppid"] != zygote_pid

    _with_zygotes(process_level, dirs, scenario)


def test_a_layer_shipping_a_cached_package_also_gets_a_fresh_interpreter(dirs, tmp_path):
    layer = tmp_path / "layer"
    (layer / "python" / "dateutil").mkdir(parents=True)
    assert "dateutil" in shipped_modules([layer / "python"])
    (dirs[0] / "mod.py").write_text("")
    (dirs[0] / "pkg").mkdir()
    assert shipped_modules([dirs[0]]) >= {"app", "mod", "pkg"}


def test_exit_status_and_signals_are_reported_as_for_a_normal_child(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        returncode, _, process = await _run(sandbox, _spec(dirs, {"EXIT": "3"}))
        assert isinstance(process, ZygoteProcess) and returncode == 3
        returncode, _, _ = await _run(sandbox, _spec(dirs, {"SIGNAL": str(int(signal.SIGTERM))}))
        assert returncode == -signal.SIGTERM
        process = await sandbox.start(_spec(dirs, {"SLEEP": "30"}))
        assert process.returncode is None
        process.kill_tree()
        assert await asyncio.wait_for(process.wait(), 5) == -signal.SIGKILL
        assert process.returncode == -signal.SIGKILL
        await process.stop()
        os.close(process.output_fd)

    _with_zygotes(process_level, dirs, scenario)


def test_other_specs_and_python_variables_go_to_the_inner_sandbox(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        echo = SandboxSpec("echo", ("/bin/echo", "hi"), {}, dirs[0], dirs[1])
        returncode, _, process = await _run(sandbox, echo)
        assert returncode == 0 and not isinstance(process, ZygoteProcess)
        returncode, _, process = await _run(sandbox, _spec(dirs, {"PYTHONPATH": "/nowhere"}))
        assert returncode == 0 and not isinstance(process, ZygoteProcess)

    _with_zygotes(process_level, dirs, scenario)


def test_a_zygote_killed_with_sigkill_is_restarted_and_starts_still_work(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        first_pid = await _ready(sandbox)
        running = await sandbox.start(_spec(dirs, {"SLEEP": "30"}, env_id="running"))
        os.kill(first_pid, signal.SIGKILL)
        # Its environments die with it and are reported killed.
        assert await asyncio.wait_for(running.wait(), 5) == -signal.SIGKILL
        await running.stop()
        os.close(running.output_fd)
        # The next start still works (a fresh interpreter while the zygote restarts) ...
        returncode, _, _ = await _run(sandbox, _spec(dirs, env_id="after"))
        assert returncode == 0
        # ... and a new zygote serves again.
        second_pid = await _ready(sandbox)
        assert second_pid != first_pid
        returncode, facts, process = await _run(sandbox, _spec(dirs, env_id="again"))
        assert returncode == 0 and isinstance(process, ZygoteProcess) and facts["ppid"] == second_pid

    _with_zygotes(process_level, dirs, scenario)


def test_a_broken_interpreter_never_fails_a_start(dirs, process_level, tmp_path):
    broken = tmp_path / "python3.99"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)

    async def scenario(sandbox: ZygoteSandbox) -> None:
        for _ in range(3):
            assert sandbox.zygote(str(broken)) is None
            await asyncio.sleep(0.2)
        returncode, _, _ = await _run(sandbox, _spec(dirs))
        assert returncode == 0

    _with_zygotes(process_level, dirs, scenario)


def _namespace_available() -> str | None:
    if os.geteuid() != 0:
        return "namespace level needs root here"
    facts = detect.describe()
    return None if facts.level == "namespace" else facts.reason


@pytest.mark.skipif(_namespace_available() is not None, reason=str(_namespace_available()))
def test_namespace_level_child_enters_the_same_sandbox_as_the_spawn_path(dirs):
    def inner() -> Sandbox:
        return NamespaceSandbox(CgroupHost.detect(), shared_paths=lookup.interpreter_prefixes())

    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        spec = _spec(dirs, {"A": "1", "EXIT": "4"}, env_id=_unique("ns"))
        returncode, facts, process = await _run(sandbox, spec)
        assert isinstance(process, ZygoteProcess)
        assert returncode == 4
        # unprivileged, under the environment's own uid, in its own PID namespace
        assert facts["uid"] == process.sandbox_uid == environment_uid(process.child_pid)
        assert facts["pid"] == 2
        assert facts["cwd"] == "/var/task" and facts["argv"] == ["/var/runtime/boot.py"]
        assert set(facts["env"]) == {"A", "EXIT"}
        assert process.cgroup is not None and not any(d.exists() for d in process.cgroup.dirs)
        process = await sandbox.start(_spec(dirs, {"SLEEP": "30"}, env_id=_unique("sleeper")))
        status = Path(f"/proc/{process.pid}/status").read_text().splitlines()
        assert next(line for line in status if line.startswith("NSpid:")).split()[-1] == "2"
        process.kill_tree()
        assert await asyncio.wait_for(process.wait(), 5) == -signal.SIGKILL
        await process.stop()
        os.close(process.output_fd)

    _with_zygotes(inner, dirs, scenario)


def test_a_spares_template_keeps_the_requests_kind_but_not_its_environment() -> None:
    request = {"level": "process", "env": {"API_KEY": "s3cret", "B": "2"}, "argv1": "/x", "id": 7}
    template = _zygote_main._template_of(request)
    assert b"API_KEY" not in template and b"s3cret" not in template
    assert _zygote_main.spare_key(json.loads(template)) == _zygote_main.spare_key(request)
    assert len(json.loads(template)["env"]) == 2


def _forked_before(pid: int, moment: float) -> bool:
    """Did process ``pid`` start before ``moment`` (CLOCK_BOOTTIME), by a clear margin?"""
    start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    return start_ticks / os.sysconf("SC_CLK_TCK") < moment - 0.1


async def _served_by_a_spare(sandbox: ZygoteSandbox, spec: SandboxSpec) -> tuple[int, dict[str, Any]]:
    """Start ``spec`` after a pause in which the zygote makes a spare; check that
    the spare (a child forked before the request) served it."""
    await asyncio.sleep(0.5)
    asked_at = time.clock_gettime(time.CLOCK_BOOTTIME)
    process = await sandbox.start(spec)
    assert isinstance(process, ZygoteProcess)
    assert _forked_before(process.child_pid, asked_at)
    if process.level == "namespace" and process.cgroup is not None:
        # It joined a cgroup of its own while it waited, which has the request's limits.
        assert process.cgroup.dirs[0].name.startswith("spare-")
        assert process.cgroup.memory_dir is not None
        name = "memory.max" if process.cgroup.version == 2 else "memory.limit_in_bytes"
        limit = (process.cgroup.memory_dir / name).read_text()
        assert int(limit) == spec.memory_mb * 1024 * 1024
        own = Path(f"/proc/{process.pid}/cgroup").read_text()
        assert any(line.endswith("/" + process.cgroup.dirs[0].name) for line in own.splitlines())
        # ... so no cgroup was made for the start itself.
        assert not any((d.parent / spec.env_id).exists() for d in process.cgroup.dirs)
    if process.level == "namespace":
        # The spare's function process sent pidfds of itself and init, opened in
        # its own PID namespace: they name the same processes as the host pids.
        assert [pid_of(pidfd) for pidfd in process.pidfds] == [process.runtime_pid, process.init_pid]
    # Without network, the listener was made inside the spare's own network namespace.
    assert (process.runtime_api_listener is None) is spec.network
    if process.runtime_api_listener is not None:
        process.runtime_api_listener.close()
    output = await asyncio.wait_for(_output(process), 30)
    returncode = await process.wait()
    await process.stop()
    facts: dict[str, Any] = json.loads(output.splitlines()[0])
    # Whatever uid the level gives an environment, the server knows it.
    assert facts["uid"] == (process.sandbox_uid if process.sandbox_uid is not None else os.geteuid())
    return returncode, facts


def test_a_start_handed_to_a_spare_child_gets_the_same_process_level_isolation(dirs, process_level):
    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        _, fresh, _ = await _run(sandbox, _spec(dirs, {"A": "1"}))
        returncode, spare = await _served_by_a_spare(sandbox, _spec(dirs, {"A": "2"}))
        assert returncode == 0 and spare["env"]["A"] == "2"
        for key in ("uid", "cwd", "argv", "nofile", "fds", "state"):
            assert spare[key] == fresh[key], key
        assert spare["sid"] == spare["pid"] and spare["env"].keys() == fresh["env"].keys()

    _with_zygotes(process_level, dirs, scenario)


@pytest.mark.skipif(_namespace_available() is not None, reason=str(_namespace_available()))
def test_a_start_handed_to_a_spare_child_enters_the_same_namespace_sandbox(dirs):
    def inner() -> Sandbox:
        return NamespaceSandbox(CgroupHost.detect(), shared_paths=lookup.interpreter_prefixes())

    async def scenario(sandbox: ZygoteSandbox) -> None:
        zygote = await _ready(sandbox)
        # The zygote, and all it forks until each joins its own cgroup, share the
        # CPU as one group: the starters' cgroup beside the environments'.
        memberships = Path(f"/proc/{zygote}/cgroup").read_text().splitlines()
        assert any(line.endswith("/lambdalite/.starters") for line in memberships), memberships
        _, fresh, _ = await _run(sandbox, _spec(dirs, {"A": "1"}, env_id=_unique("fresh")))
        spec = _spec(dirs, {"A": "2", "EXIT": "3"}, env_id=_unique("spare"))
        returncode, spare = await _served_by_a_spare(sandbox, spec)
        assert returncode == 3 and spare["env"] == {"A": "2", "EXIT": "3"}
        # the uid of its own that its keeper's pid names, as a fresh start's
        assert spare["uid"] != fresh["uid"] and is_sandboxed(spare["uid"]) and is_sandboxed(fresh["uid"])
        assert spare["pid"] == 2 and spare["ppid"] == 0
        for key in ("cwd", "argv", "nofile", "fds", "state", "sid"):
            assert spare[key] == fresh[key], key
        # pid 1 is named as on AWS; the function keeps the interpreter's name, not
        # the keeper's, whose fork skipped the interpreter's after-fork work: the
        # function's did not (random is reseeded in each, as in any forked child).
        assert spare["init_comm"] == fresh["init_comm"] == "init"
        assert spare["comm"] == fresh["comm"] == Path(PYTHON).name[:15]
        assert spare["random"] != fresh["random"]
        # A spare of another kind is not used: a start with a private network
        # after shared-network ones is forked afresh, and still works.
        await asyncio.sleep(0.5)
        other = dataclasses.replace(_spec(dirs, env_id=_unique("netns")), network=False)
        returncode, facts, _ = await _run(sandbox, other)
        assert returncode == 0 and facts["pid"] == 2
        # ... and the next one of that kind is a spare's.
        another = dataclasses.replace(other, env_id=_unique("netns"))
        returncode, facts = await _served_by_a_spare(sandbox, another)
        assert returncode == 0 and facts["pid"] == 2

    _with_zygotes(inner, dirs, scenario)


@pytest.mark.skipif(_namespace_available() is not None, reason=str(_namespace_available()))
def _namespace_plan(sandbox: ZygoteSandbox, spec: SandboxSpec) -> Any:
    inner = sandbox.inner
    assert isinstance(inner, NamespaceSandbox)
    return inner.plan_for(spec, None)


def test_a_start_that_counted_on_a_spare_the_zygote_cannot_give_gets_a_cgroup_of_its_own(dirs):
    def inner() -> Sandbox:
        return NamespaceSandbox(CgroupHost.detect(), shared_paths=lookup.interpreter_prefixes())

    async def scenario(sandbox: ZygoteSandbox) -> None:
        await _ready(sandbox)
        offline = dataclasses.replace(_spec(dirs, env_id=_unique("offline")), network=False)
        await _run(sandbox, offline)
        await asyncio.sleep(0.5)  # spares without network are made and join their cgroups
        zygote = sandbox.zygote(PYTHON)
        assert zygote is not None
        spares = list(zygote._spare_cgroups)
        assert len(spares) == _zygote_main.SPARES
        # The server believes those spares fit a start with network; the zygote knows
        # better and refuses the cgroup-less request (EAGAIN), which is sent again
        # with a cgroup of its own and forked afresh.
        online = _spec(dirs, {"A": "2"}, env_id=_unique("online"))
        network_kind = list(
            _zygote_main.spare_key(
                namespace_request(_namespace_plan(sandbox, online), online, spare_only=True)
            )
        )
        for pid, spare in zygote._spare_cgroups.items():
            zygote._spare_cgroups[pid] = dataclasses.replace(spare, kind=network_kind)
        returncode, facts, process = await _run(sandbox, online)
        assert returncode == 0 and facts["env"] == {"A": "2"}  # forked by the zygote
        assert process.cgroup is not None and process.cgroup.dirs[0].name == online.env_id

    _with_zygotes(inner, dirs, scenario)


def test_a_python_too_old_for_zygotes_always_gets_a_fresh_interpreter(dirs, process_level):
    old = lookup.python_interpreters().get((3, 9))
    if old is None:
        pytest.skip("no Python 3.9 here")

    async def scenario(sandbox: ZygoteSandbox) -> None:
        for _ in range(20):  # it answers "unsupported" and is never asked again
            assert sandbox.zygote(str(old)) is None
            await asyncio.sleep(0.1)
        spec = dataclasses.replace(_spec(dirs), argv=(str(old), str(dirs[1] / "boot.py")))
        returncode, facts, process = await _run(sandbox, spec)
        assert returncode == 0 and not isinstance(process, ZygoteProcess)
        assert facts["boto3"] is None

    _with_zygotes(process_level, dirs, scenario)
