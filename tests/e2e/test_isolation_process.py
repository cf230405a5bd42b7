"""Adversarial functions against a real server at process level (``--isolation process``).

The same attacks as test_isolation.py (read another function's code or the
platform's data, write its own code, read /etc/shadow, signal or trace the
server, fork-bomb, fill /tmp, allocate past its memory, outlive its timeout),
each asserting the exact failure and that another function still serves.

The server runs as root here, so every environment has a uid of its own (see
lambdalite/sandbox/process.py); without root the process level protects much
less and these tests are skipped (``lambdalite doctor`` says what is left).

What does not apply, or differs, at process level:

- /var/task does not exist: the code stays at its host path (LAMBDA_TASK_ROOT).
  Writing there fails with EACCES (the directory belongs to root, the
  function's group may only read it), not EROFS.
- The rest of the host's file system is visible as to any unprivileged user
  (not hidden), and the network is the host's (no LAMBDALITE_NETWORK=none).
  The lambdalite API and other environments' Runtime APIs still refuse a
  function: its connections are told apart by their owner's uid.
- /tmp is a directory on the host's disk, not a tmpfs: a file stops at the
  ephemeral storage size with EFBIG instead of ENOSPC, and a total past it
  stops the environment (Runtime.ExitError) instead of failing the write.
  The test allocates with fallocate and seeks past the size, so it does not
  write 512 MB.
- A fork bomb stops at 1024 processes because RLIMIT_NPROC counts per uid and
  the uid is the environment's own; its processes are not in a PID namespace.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, create_function
from tests.e2e.test_isolation import (
    ATTACKER,
    LINGER,
    SECRET,
    assert_a_fork_bomb_stops_at_the_process_limit,
    assert_allocating_past_memory_size_is_out_of_memory,
    assert_nothing_survives_the_timeout,
    assert_still_serving,
    assert_the_attacker_reaches_no_api,
    invoke,
    isolated_server,
    report_line,
    victim_and_attacker,
)

LINGER_DOUBLE_FORK = LINGER.replace(
    "    time.sleep(30)",
    """    if os.fork() == 0:  # a third, whose parent exits at once: orphaned to the host's init
        os.setsid()
        if os.fork() == 0:
            os.execv('/bin/sleep', ['sleep', event['marker']])
        os._exit(0)
    time.sleep(30)""",
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    if os.geteuid() != 0:
        pytest.skip("without root, functions run as the server's own user (see lambdalite doctor)")
    yield from isolated_server("process")


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return victim_and_attacker(server)


def test_the_start_up_line_names_the_process_level(server: Server) -> None:
    assert "isolation: process," in server.output()


def test_another_functions_code_the_platform_data_and_shadow_are_refused(lam: Any, server: Server) -> None:
    assert_still_serving(lam)  # the victim's code is unpacked now
    data = server.data_dir
    [victim_secret] = [p for p in data.rglob("secret.txt") if p.read_text() == SECRET]
    databases = sorted(str(p) for p in data.glob("*.db"))
    assert databases, "the platform's database should be in its data directory"
    paths = [str(victim_secret), *databases, "/etc/shadow"]
    _, read, _ = invoke(lam, "attacker", {"action": "read", "paths": paths})
    assert read == dict.fromkeys(paths, "EACCES")
    listed_paths = [str(data), str(data / "code"), str(victim_secret.parent), "/root"]
    _, listed, _ = invoke(lam, "attacker", {"action": "list", "paths": listed_paths})
    assert listed == dict.fromkeys(listed_paths, "EACCES")
    assert_still_serving(lam)


def test_the_functions_own_code_is_read_only(lam: Any) -> None:
    _, body, _ = invoke(lam, "attacker", {"action": "read", "paths": ["app.py"]})
    assert body == {"app.py": f"read {len(ATTACKER)} bytes"}
    paths = ["app.py", "new.py", "/usr/evil", "/opt/evil", "/etc/evil"]
    _, written, _ = invoke(lam, "attacker", {"action": "write", "paths": paths})
    assert written == dict.fromkeys(paths, "EACCES")
    assert_still_serving(lam)


def test_the_server_cannot_be_signalled_traced_or_inspected(lam: Any, server: Server) -> None:
    _, result, _ = invoke(lam, "attacker", {"action": "signal", "pid": server.process.pid})
    # kill(-1) reaches only processes of the caller's own uid (none but itself here); Linux
    # still answers 0 because other processes exist, so what counts is who survived it.
    assert result == {"kill": "EPERM", "ptrace": "EPERM", "environ": "EACCES", "kill_all": "ok"}
    assert server.process.poll() is None
    assert invoke(lam, "attacker", {"action": "list", "paths": ["."]})[1] == {".": ["app.py"]}
    assert_still_serving(lam)


def test_neither_the_api_nor_another_functions_runtime_api_serves_a_function(
    lam: Any, server: Server
) -> None:
    assert_the_attacker_reaches_no_api(lam, server)


def test_a_fork_bomb_stops_at_the_process_limit(lam: Any) -> None:
    # 1024 processes per environment: RLIMIT_NPROC counts its own uid's
    assert_a_fork_bomb_stops_at_the_process_limit(lam)


FILL_TMP = """
import errno, os, time

def attempt(action):
    try:
        action()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return 'ok'

def past_the_size():
    with open(os.path.join(os.environ['TMPDIR'], 'sparse'), 'wb') as file:
        file.seek(512 * 1024 * 1024)
        file.write(b'x')

def allocate(name, mb):
    with open(os.path.join(os.environ['TMPDIR'], name), 'wb') as file:
        os.posix_fallocate(file.fileno(), 0, mb * 1024 * 1024)

def handler(event, context):
    if event['action'] == 'one file':
        return {'sparse': attempt(past_the_size), 'fallocate': attempt(lambda: allocate('big', 513))}
    allocate('a', 300)
    allocate('b', 300)
    time.sleep(10)
"""


def test_one_file_past_ephemeral_storage_is_efbig(lam: Any) -> None:
    create_function(lam, "fill-tmp", {"app.py": FILL_TMP}, EphemeralStorage={"Size": 512}, Timeout=30)
    response, body, _ = invoke(lam, "fill-tmp", {"action": "one file"})
    assert "FunctionError" not in response, body
    assert body == {"sparse": "EFBIG", "fallocate": "EFBIG"}
    assert_still_serving(lam)


def test_tmp_past_ephemeral_storage_stops_the_environment_and_says_why(lam: Any) -> None:
    create_function(lam, "fill-tmp-2", {"app.py": FILL_TMP}, EphemeralStorage={"Size": 512}, Timeout=30)
    started = time.monotonic()
    response, body, log = invoke(lam, "fill-tmp-2", {"action": "many files"})
    assert time.monotonic() - started < 5
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    [line] = [line for line in log.splitlines() if line.startswith("lambdalite: /tmp")]
    assert line.endswith(
        "holds 600 MB, more than the function's ephemeral storage of 512 MB: the environment is "
        "stopped (at process isolation level a write past the size cannot fail with ENOSPC)"
    )
    assert report_line(log).endswith("\tStatus: error\tError Type: Runtime.ExitError")
    assert invoke(lam, "fill-tmp-2", {"action": "one file"})[1]["sparse"] == "EFBIG"  # a fresh environment
    assert_still_serving(lam)


def test_allocating_past_memory_size_is_killed_and_reported_as_out_of_memory(lam: Any) -> None:
    assert_allocating_past_memory_size_is_out_of_memory(lam)


def test_nothing_a_function_started_survives_its_timeout(lam: Any) -> None:
    assert_nothing_survives_the_timeout(lam, LINGER_DOUBLE_FORK)


WHO_AM_I = """
import os, sys

def handler(event, context):
    return {"uid": os.getuid(), "gid": os.getgid(), "executable": sys.executable}
"""


def _private_interpreter_runtime() -> str | None:
    """A Python runtime whose interpreter lies below an owner-only directory here."""
    from lambdalite.runtimes.lookup import python_interpreters
    from lambdalite.sandbox.process import _reachable_by_others

    for (major, minor), executable in sorted(python_interpreters().items(), reverse=True):
        if not _reachable_by_others(Path(os.path.realpath(executable))):
            return f"python{major}.{minor}"
    return None


def test_an_interpreter_under_a_private_directory_never_runs_the_function_as_root(
    server: Server, lam: Any
) -> None:
    runtime = _private_interpreter_runtime()
    if runtime is None:
        pytest.skip("no interpreter here lies below an owner-only directory")
    # Two functions: the first start is a fresh interpreter, the next forks from its zygote.
    for name in ("whoami", "whoami-again"):
        create_function(lam, name, {"app.py": WHO_AM_I}, Runtime=runtime)
        response, body, log = invoke(lam, name, {})
        assert "FunctionError" not in response, (body, log)
        assert body["uid"] != 0 and body["gid"] != 0
        assert body["executable"].startswith("/run/lambdalite/interpreters/")


def test_doctor_says_no_function_runs_as_root_and_the_network_is_not_isolated() -> None:
    from lambdalite.sandbox.process import limits

    lines = " ".join(limits(root=True))
    assert "runs no function as root" in lines
    assert "the network cannot be isolated" in lines
