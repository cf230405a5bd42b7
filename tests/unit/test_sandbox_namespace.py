"""Namespace level: a real child, asserting from inside what a function can and cannot do."""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.sandbox import detect
from lambdalite.sandbox.cgroups import CgroupHost
from lambdalite.sandbox.enter import environment_uid, wait_readable
from lambdalite.sandbox.namespace import (
    NamespaceProcess,
    NamespaceSandbox,
    plan_private_covers,
    sandbox_may_enter,
)
from lambdalite.sandbox.spec import RUNTIME_API_PORT, SandboxSpec
from tests.unit.pidfds import pid_of

PYTHON = "/usr/bin/python3.11"

if os.geteuid() != 0:
    pytest.skip(
        "namespace tests need root (the unprivileged path is not tested here)", allow_module_level=True
    )
if not Path(PYTHON).exists():
    pytest.skip(f"{PYTHON} is needed inside the sandbox", allow_module_level=True)
_FACTS = detect.describe()
if _FACTS.level != "namespace":
    pytest.skip(f"no namespace level here: {_FACTS.reason}", allow_module_level=True)


@pytest.fixture(scope="module")
def sandbox() -> NamespaceSandbox:
    return NamespaceSandbox(CgroupHost.detect())


@pytest.fixture
def dirs() -> Iterator[tuple[Path, Path]]:
    """(task root with app.py, hidden data dir holding it: as the code store lays it out).
    Not under /tmp, which the sandbox replaces anyway."""
    tmp_path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-test-"))
    data = tmp_path / "data"
    code = data / "code" / "abc"
    code.mkdir(parents=True)
    (code / "app.py").write_text("X = 1\n")
    (data / "lambdalite.db").write_text("secret")
    for path in (tmp_path, data, data / "code", code):
        path.chmod(0o755)
    (code / "app.py").chmod(0o644)
    yield code, data
    shutil.rmtree(tmp_path)


def _spec(dirs: tuple[Path, Path], script: str, **kwargs: object) -> SandboxSpec:
    code, data = dirs
    defaults: dict[str, object] = {"memory_mb": 256, "ephemeral_storage_mb": 16, "cpu_limit": False}
    defaults.update(kwargs)
    return SandboxSpec(
        env_id=uuid.uuid4().hex,
        argv=(PYTHON, "-S", "-c", script),
        env={"PATH": "/usr/bin:/bin"},
        task_root=code,
        runtime_dir=Path(__file__).parent,
        hidden_paths=(data,),
        **defaults,  # type: ignore[arg-type]
    )


def _output(process: NamespaceProcess) -> str:
    chunks = []
    while wait_readable((process.output_fd,), 0):
        chunk = os.read(process.output_fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


async def _run(sandbox: NamespaceSandbox, spec: SandboxSpec) -> tuple[int, str, NamespaceProcess]:
    process = await sandbox.start(spec)
    try:
        returncode = await asyncio.wait_for(process.wait(), 20)
        output = _output(process)
    finally:
        await process.stop()
        os.close(process.output_fd)
    return returncode, output, process


def run(sandbox: NamespaceSandbox, spec: SandboxSpec) -> tuple[int, str, NamespaceProcess]:
    return asyncio.run(_run(sandbox, spec))


def _assert_cgroup_gone(process: NamespaceProcess) -> None:
    assert process.cgroup is not None
    assert not any(directory.exists() for directory in process.cgroup.dirs)


def test_code_is_read_only_at_var_task_and_the_platform_data_is_invisible(sandbox, dirs):
    _, data = dirs
    script = f"""
import os, errno
print(os.getcwd(), sorted(os.listdir('/var/task')), open('/var/task/app.py').read().strip())
try:
    open('/var/task/evil.py', 'w')
except OSError as e:
    print('write task', errno.errorcode[e.errno])
print('data', os.listdir({str(data)!r}))
print('runtime', 'test_sandbox_namespace.py' in os.listdir('/var/runtime'))
try:
    open('/etc/shadow').read()
except OSError as e:
    print('shadow', errno.errorcode[e.errno])
"""
    returncode, output, _ = run(sandbox, _spec(dirs, script))
    assert returncode == 0, output
    lines = output.splitlines()
    assert lines[0] == "/var/task ['app.py'] X = 1"
    assert lines[1] == "write task EROFS"
    assert lines[2] == "data []"
    assert lines[3] == "runtime True"
    assert lines[4] == "shadow EACCES"


def test_the_function_is_unprivileged_alone_in_its_pid_namespace(sandbox, dirs):
    host_pid = os.getpid()
    script = f"""
import os, errno, ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(os.getuid(), os.getgid(), os.getgroups(), libc.prctl(39, 0, 0, 0, 0))
print(os.getpid(), sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
for pid in (1, {host_pid}):
    try:
        os.kill({host_pid}, 0)
        print('signal ok')
    except OSError as e:
        print('signal', errno.errorcode[e.errno])
"""
    returncode, output, process = run(sandbox, _spec(dirs, script))
    assert returncode == 0, output
    lines = output.splitlines()
    # the environment's own uid, the sandbox gid, no groups, no_new_privs
    assert process.sandbox_uid == environment_uid(process.keeper_pid)
    assert lines[0] == f"{process.sandbox_uid} 990 [] 1"
    assert lines[1] == "2 [1, 2]"  # pid 1 is the namespace's init
    assert lines[2] in {"signal ESRCH", "signal EPERM"}


def test_tmp_is_a_private_tmpfs_of_the_ephemeral_size(sandbox, dirs):
    script = """
import os, errno
st = os.statvfs('/tmp')
print(st.f_blocks * st.f_frsize // (1024 * 1024), os.listdir('/tmp'))
written = 0
try:
    with open('/tmp/fill', 'wb') as f:
        while True:
            f.write(b'x' * 1048576)
            f.flush()
            written += 1
except OSError as e:
    print('fill', errno.errorcode[e.errno], written)
"""
    returncode, output, _ = run(sandbox, _spec(dirs, script, ephemeral_storage_mb=8))
    assert returncode == 0, output
    lines = output.splitlines()
    assert lines[0] == "8 []"
    assert lines[1].startswith("fill ENOSPC ")
    assert int(lines[1].split()[2]) <= 8


def test_allocating_past_memory_is_killed_like_the_oom_killer(sandbox, dirs):
    script = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    returncode, _, process = run(sandbox, _spec(dirs, script, memory_mb=64))
    assert returncode == -signal.SIGKILL
    assert process.out_of_memory()
    peak = process.peak_memory_bytes()
    assert peak is not None and peak >= 60 * 1024 * 1024
    _assert_cgroup_gone(process)


def test_a_fork_bomb_hits_the_process_limit_and_everything_dies_with_stop(sandbox, dirs):
    script = """
import os, errno, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print('fork', errno.errorcode[e.errno], n, flush=True)
time.sleep(60)
"""

    async def scenario() -> tuple[str, NamespaceProcess]:
        # Memory to spare: a thousand forked interpreters must hit the process
        # limit, not the memory limit, for this test to say what it means.
        process = await sandbox.start(_spec(dirs, script, memory_mb=2048))
        select.select([process.output_fd], [], [], 20)
        output = _output(process)
        await process.stop()
        os.close(process.output_fd)
        return output, process

    output, process = asyncio.run(scenario())
    fields = output.split()
    assert fields[:2] == ["fork", "EAGAIN"], output
    assert 1000 <= int(fields[2]) < 1024
    assert process.returncode == -signal.SIGKILL
    _assert_cgroup_gone(process)


def test_stop_leaves_no_background_process(sandbox, dirs):
    script = """
import os, subprocess
p = subprocess.Popen(['/bin/sh', '-c', 'sleep 60 & sleep 60'], start_new_session=True)
print(p.pid, flush=True)
os.setsid()
import time; time.sleep(60)
"""

    async def scenario() -> tuple[NamespaceProcess, list[str]]:
        process = await sandbox.start(_spec(dirs, script))
        assert process.cgroup is not None
        procs = process.cgroup.dirs[0] / "cgroup.procs"
        deadline = time.monotonic() + 10
        # python, sh, two sleeps (the keeper stays outside)
        while len(members := procs.read_text().split()) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await process.stop()
        os.close(process.output_fd)
        return process, members

    process, members = asyncio.run(scenario())
    assert len(members) == 4
    _assert_cgroup_gone(process)
    for pid in [*members, process.keeper_pid, process.init_pid]:
        assert not Path(f"/proc/{pid}").exists()


def test_without_network_only_the_handed_over_runtime_api_listener_reaches_the_host(sandbox, dirs):
    host_listener = socket.create_server(("127.0.0.1", 0))
    host_port = host_listener.getsockname()[1]
    script = f"""
import socket, errno
def attempt(address):
    try:
        socket.create_connection(address, timeout=2).close()
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
print('host port', attempt(('127.0.0.1', {host_port})))
print('outside', attempt(('192.0.2.1', 80)))
api = socket.create_connection(('127.0.0.1', {RUNTIME_API_PORT}), timeout=5)
api.sendall(b'hello from the sandbox')
api.close()
"""

    async def scenario() -> tuple[int, str, bytes]:
        process = await sandbox.start(_spec(dirs, script, network=False))
        try:
            assert process.runtime_api_listener is not None
            server = process.runtime_api_listener
            server.settimeout(10)
            connection, _ = await asyncio.to_thread(server.accept)
            with connection:
                connection.settimeout(10)
                received = await asyncio.to_thread(connection.recv, 100)
            server.close()
            returncode = await asyncio.wait_for(process.wait(), 20)
            return returncode, _output(process), received
        finally:
            await process.stop()
            os.close(process.output_fd)

    try:
        returncode, output, received = asyncio.run(scenario())
    finally:
        host_listener.close()
    assert returncode == 0, output
    assert output.splitlines() == ["host port ECONNREFUSED", "outside ENETUNREACH"]
    assert received == b"hello from the sandbox"


def test_with_network_no_listener_is_handed_over(sandbox, dirs):
    async def scenario() -> object:
        process = await sandbox.start(_spec(dirs, "pass"))
        try:
            await asyncio.wait_for(process.wait(), 20)
            return process.runtime_api_listener
        finally:
            await process.stop()
            os.close(process.output_fd)

    assert asyncio.run(scenario()) is None


def test_a_missing_program_raises_oserror_and_leaves_nothing(sandbox, dirs):
    spec = SandboxSpec(**{**_fields(_spec(dirs, "")), "argv": ("/var/task/bootstrap",)})
    with pytest.raises(FileNotFoundError, match="exec /var/task/bootstrap"):
        asyncio.run(sandbox.start(spec))
    parents = [parent for _, parent in CgroupHost.detect().parents]
    assert not any((parent / spec.env_id).exists() for parent in parents)


def test_the_probe_and_a_start_work_inside_a_uvloop_server(dirs):
    """uvloop's libuv closes its signal pipe by number in every forked child
    (pthread_atfork): a descriptor the keeper opened after closing the inherited
    ones could get that number and vanish at the keeper's fork. A fresh process,
    as ``lambdalite serve`` is, so the descriptor numbers are the server's."""
    pytest.importorskip("uvloop")
    code, data = dirs
    script = f"""
import asyncio, uuid, uvloop
from pathlib import Path
from lambdalite.sandbox import detect
from lambdalite.sandbox.spec import RUNTIME_API_PORT, SandboxSpec

async def main():
    sandbox, facts = detect.choose_sandbox(Path("{data}") / "sandboxes")
    print(facts.level, facts.reason)
    code = Path("{code}")
    spec = SandboxSpec(uuid.uuid4().hex, ("/bin/sh", "-c", "echo inside"), {{}}, code, code)
    process = await sandbox.start(spec)
    print(await process.wait())
    await process.stop()

uvloop.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    level, _, exit_line = done.stdout.partition("\n")
    assert level.startswith("namespace "), level
    assert exit_line == "0\n"


def test_start_latency_until_the_first_line(sandbox, dirs):
    """Prints start() -> first output of /bin/sh (sandbox cost) and of python3.11 -S."""

    async def measure(argv: tuple[str, ...]) -> tuple[float, float]:
        starts, firsts = [], []
        for _ in range(20):
            spec = SandboxSpec(**{**_fields(_spec(dirs, "")), "env_id": uuid.uuid4().hex, "argv": argv})
            began = time.perf_counter()
            process = await sandbox.start(spec)
            started = time.perf_counter()
            select.select([process.output_fd], [], [], 10)
            first = time.perf_counter()
            starts.append((started - began) * 1000)
            firsts.append((first - began) * 1000)
            await process.stop()
            os.close(process.output_fd)
        return statistics.median(starts), statistics.median(firsts)

    for argv in (("/bin/sh", "-c", "echo ready"), (PYTHON, "-S", "-c", "print('ready')")):
        start_p50, first_p50 = asyncio.run(measure(argv))
        print(f"\n{argv[0]}: start() p50 {start_p50:.2f} ms, first line p50 {first_p50:.2f} ms")
        assert first_p50 < 200


def _fields(spec: SandboxSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in SandboxSpec.__slots__}  # type: ignore[attr-defined]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory everyone may enter (pytest's tmp_path is below an owner-only one)."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_interpreters_under_an_owner_only_directory_are_shared_through_one_cover(open_dir):
    tmp_path = open_dir
    private = tmp_path / "root"
    for version in ("3.12.1", "3.9.18"):
        (private / ".pyenv" / "versions" / version / "bin").mkdir(parents=True)
    (tmp_path / "usr").mkdir()
    private.chmod(0o700)
    shared = [private / ".pyenv/versions/3.12.1", private / ".pyenv/versions/3.9.18", tmp_path / "usr"]
    nested = private / ".pyenv/versions/3.12.1/bin"
    covers, paths = plan_private_covers([*shared, nested, tmp_path / "missing"], sandbox_may_enter)
    assert covers == (bytes(private),)
    assert paths == (bytes(shared[0]), bytes(shared[1]))


def test_a_function_runs_an_interpreter_from_an_owner_only_directory(dirs):
    home = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="lambdalite-home-"))  # mode 0700
    try:
        prefix = home / "versions" / "sh"
        (prefix / "bin").mkdir(parents=True)
        shutil.copy("/bin/sh", prefix / "bin" / "sh")
        for path in (home / "versions", prefix, prefix / "bin"):
            path.chmod(0o755)
        (home / "private.txt").write_text("secret")
        sandbox = NamespaceSandbox(CgroupHost.detect(), shared_paths=(prefix,))
        script = f"echo ok; cat {home}/private.txt || echo hidden"
        argv = (str(prefix / "bin" / "sh"), "-c", script)
        spec = SandboxSpec(**{**_fields(_spec(dirs, "")), "argv": argv})
        returncode, output, _ = run(sandbox, spec)
        assert returncode == 0, output
        assert output.splitlines()[0] == "ok"
        assert output.splitlines()[-1] == "hidden"
    finally:
        shutil.rmtree(home)


def test_the_sandbox_hands_over_pidfds_of_its_runtime_and_init_and_stop_closes_them(sandbox, dirs):
    async def scenario() -> tuple[NamespaceProcess, list[int]]:
        process = await sandbox.start(_spec(dirs, "import time; time.sleep(60)"))
        pids = [pid_of(pidfd) for pidfd in process.pidfds]
        pidfds = list(process.pidfds)
        await process.stop()
        os.close(process.output_fd)
        return process, [*pids, *pidfds]

    process, (runtime, init, *pidfds) = asyncio.run(scenario())
    assert (runtime, init) == (process.runtime_pid, process.init_pid)
    assert process.pidfds == ()
    for pidfd in pidfds:  # closed: the number is free, or taken by something else
        assert (
            not Path(f"/proc/self/fdinfo/{pidfd}").exists()
            or "Pid:" not in Path(f"/proc/self/fdinfo/{pidfd}").read_text()
        )


def test_stopping_a_sandbox_whose_pids_were_reused_signals_only_its_own_processes(sandbox, dirs):
    """Its runtime and init are not our children: once they are gone, their pids
    may name other processes (pid_max can be 32768). The pidfds name only them."""

    async def scenario() -> tuple[int, bool]:
        process = await sandbox.start(_spec(dirs, "import time; time.sleep(60)"))
        bystander = subprocess.Popen(["sleep", "60"])
        try:
            # As if the sandbox's processes had ended and the bystander got the runtime's pid.
            for pidfd in process.pidfds:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 10)
            process.returncode = None  # the server has not noticed yet
            process.runtime_pid = bystander.pid
            process.kill_tree()
            time.sleep(0.1)
            alive = bystander.poll() is None
        finally:
            bystander.kill()
            bystander.wait()
        process.returncode = -signal.SIGKILL
        await process.stop()
        os.close(process.output_fd)
        return bystander.pid, alive

    _, alive = asyncio.run(scenario())
    assert alive


def test_a_server_holding_over_1024_descriptors_still_starts_sandboxes(sandbox, dirs):
    """Descriptors made by a busy server are numbered past 1024, and init and
    the keeper inherit some: select(2) could not watch them (init ended at
    once, and the function with it)."""
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) >= 1024
        returncode, output, _ = run(sandbox, _spec(dirs, "print('started', flush=True)"))
    finally:
        for fd in held:
            os.close(fd)
    assert (returncode, output) == (0, "started\n")
