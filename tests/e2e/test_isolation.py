"""Adversarial functions against a real server at namespace level.

Each test deploys a function that tries to do harm (read another function's
code or the platform's data, write its own code, signal or trace the server,
fork-bomb, fill /tmp, allocate past its memory, outlive its timeout), asserts
that the attempt fails the way it fails on AWS, and that the server still
serves another function afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalite.sandbox import detect
from tests.conftest import Server, create_function, start_server, stop_server


def _namespace_level_or_skip() -> None:
    facts = detect.describe()
    if facts.level == "namespace":
        return
    reason = f"the namespace level is not available here: {facts.reason}"
    if os.environ.get("LAMBDALITE_REQUIRE_SERVICES") == "1" and os.geteuid() == 0:
        pytest.fail(f"LAMBDALITE_REQUIRE_SERVICES=1 and root, but {reason}")
    pytest.skip(reason)


def isolated_server(level: str) -> Iterator[Server]:
    """A server at ``level`` whose data directory is open to every user: only the
    sandbox, not permissions, may keep functions out of it. Not under /tmp (nor
    pytest's 0700 tmp_path): the platform must hide its data wherever it is."""
    work = Path(tempfile.mkdtemp(dir="/var/tmp", prefix=f"lambdalite-{level}-"))
    work.chmod(0o755)
    srv = start_server(work / "data", "--isolation", level)
    yield srv
    stop_server(srv)
    shutil.rmtree(work, ignore_errors=True)


def victim_and_attacker(server: Server) -> Any:
    """A Lambda client for ``server``, with the victim and the attacker created."""
    lam = server.client("lambda")
    create_function(lam, "victim", {"app.py": VICTIM, "secret.txt": SECRET})
    create_function(lam, "attacker", {"app.py": ATTACKER}, MemorySize=256)
    return lam


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    _namespace_level_or_skip()
    yield from isolated_server("namespace")


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return victim_and_attacker(server)


SECRET = "the victim's secret " + uuid.uuid4().hex
VICTIM = """
import os

def handler(event, context):
    if event.get('runtime api'):
        return os.environ['AWS_LAMBDA_RUNTIME_API']
    with open('secret.txt') as file:
        return {'victim': 'ok', 'secret_length': len(file.read())}
"""
ATTACKER = """
import ctypes, errno, os, signal, socket

def attempt(action):
    try:
        result = action()
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return 'ok' if result is None else result

def read(path):
    with open(path, 'rb') as file:
        return 'read ' + str(len(file.read())) + ' bytes'

def write(path):
    with open(path, 'w') as file:
        file.write('pwned')

libc = ctypes.CDLL(None, use_errno=True)

def http_get(port):
    with socket.create_connection(('127.0.0.1', port), timeout=5) as connection:
        try:  # closed before or after our request arrived: a reset or an end
            connection.sendall(b'GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
            answer = connection.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            answer = b''
    return answer.split(b'\\r\\n')[0].decode() if answer else 'closed unanswered'

def ptrace_attach(pid):
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), 'ptrace')

def handler(event, context):
    action = event['action']
    if action == 'read':
        return {path: attempt(lambda: read(path)) for path in event['paths']}
    if action == 'list':
        return {path: attempt(lambda: sorted(os.listdir(path))) for path in event['paths']}
    if action == 'write':
        return {path: attempt(lambda: write(path)) for path in event['paths']}
    if action == 'http':
        return {name: attempt(lambda: http_get(port)) for name, port in event['ports'].items()}
    if action == 'signal':
        pid = event['pid']
        return {
            'kill': attempt(lambda: os.kill(pid, signal.SIGKILL)),
            'ptrace': attempt(lambda: ptrace_attach(pid)),
            'environ': attempt(lambda: read(f'/proc/{pid}/environ')),
            # As root this would kill every process on the host: refuse, and fail the test.
            'kill_all': attempt(lambda: os.kill(-1, signal.SIGKILL)) if os.getuid() else 'root!',
        }
"""


def invoke(lam: Any, name: str, payload: Any) -> tuple[dict[str, Any], Any, str]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
    body = json.loads(response["Payload"].read())
    return response, body, base64.b64decode(response["LogResult"]).decode()


def assert_still_serving(lam: Any) -> None:
    response, body, _ = invoke(lam, "victim", {})
    assert "FunctionError" not in response, body
    assert body == {"victim": "ok", "secret_length": len(SECRET)}


def report_line(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("REPORT "))


def test_the_start_up_line_names_the_namespace_level(server: Server) -> None:
    assert "isolation: namespace," in server.output()


def test_another_functions_code_and_the_platform_data_are_invisible(lam: Any, server: Server) -> None:
    assert_still_serving(lam)  # the victim's code is unpacked now
    data = server.data_dir
    [victim_secret] = [p for p in data.rglob("secret.txt") if p.read_text() == SECRET]
    databases = sorted(str(p) for p in data.glob("*.db"))
    assert databases, "the platform's database should be in its data directory"
    paths = [str(victim_secret), *databases, "/etc/shadow", "/var/task/app.py"]
    _, read, _ = invoke(lam, "attacker", {"action": "read", "paths": paths})
    assert read == {
        str(victim_secret): "ENOENT",
        **{db: "ENOENT" for db in databases},
        "/etc/shadow": "EACCES",
        "/var/task/app.py": f"read {len(ATTACKER)} bytes",
    }
    _, listed, _ = invoke(lam, "attacker", {"action": "list", "paths": [str(data), "/root"]})
    assert listed[str(data)] == []
    assert listed["/root"] in ("EACCES", [".pyenv"]), listed["/root"]
    assert_still_serving(lam)


def test_the_code_and_the_runtime_are_read_only(lam: Any) -> None:
    paths = ["/var/task/app.py", "/var/task/new.py", "/var/runtime/evil.py", "/usr/evil", "/opt/evil"]
    _, written, _ = invoke(lam, "attacker", {"action": "write", "paths": paths})
    assert written == dict.fromkeys(paths, "EROFS")
    assert_still_serving(lam)


def test_the_server_cannot_be_signalled_traced_or_inspected(lam: Any, server: Server) -> None:
    _, result, _ = invoke(lam, "attacker", {"action": "signal", "pid": server.process.pid})
    # kill(-1) reaches every process the caller may signal: none but itself in here.
    assert result == {"kill": "ESRCH", "ptrace": "ESRCH", "environ": "ENOENT", "kill_all": "ESRCH"}
    assert server.process.poll() is None
    assert_still_serving(lam)


def runtime_api_port_of(lam: Any, function_name: str) -> int:
    """The Runtime API port of the warm environment of ``function_name`` (the
    victim) that answers: it reports its own AWS_LAMBDA_RUNTIME_API."""
    _, address, _ = invoke(lam, function_name, {"runtime api": True})
    return int(address.rpartition(":")[2])


def assert_the_attacker_reaches_no_api(lam: Any, server: Server) -> None:
    """Neither the lambdalite API nor the victim's Runtime API serves the attacker,
    and the victim's next event still reaches the victim."""
    assert_still_serving(lam)  # a warm victim, waiting for its next event
    ports = {"api": server.port, "victim runtime api": runtime_api_port_of(lam, "victim")}
    _, answers, _ = invoke(lam, "attacker", {"action": "http", "ports": ports})
    assert answers == {"api": "closed unanswered", "victim runtime api": "closed unanswered"}
    assert_still_serving(lam)


OWN_NETWORK = "network of functions: a namespace of its own"
"""The start-up line of a server whose environments have network namespaces of their own."""


def test_neither_the_api_nor_another_functions_runtime_api_serves_a_function(
    lam: Any, server: Server
) -> None:
    if OWN_NETWORK in server.output():
        # Its own network namespace: nothing of the host's loopback is there, and
        # 127.0.0.1:9001 is its own Runtime API (another environment's is out of
        # reach, and the API is reached only at AWS_ENDPOINT_URL, which closes
        # connections from functions: test_network_isolation.py).
        _, answers, _ = invoke(lam, "attacker", {"action": "http", "ports": {"api": server.port}})
        assert answers == {"api": "ECONNREFUSED"}
    else:
        assert_the_attacker_reaches_no_api(lam, server)
    # The same request from outside any sandbox is served: the test can fail.
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(100).startswith(b"HTTP/1.1 200 ")


FORK_BOMB = """
import errno, os, time

def handler(event, context):
    forked = 0
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            return {'forked': forked, 'error': errno.errorcode[exc.errno]}
        if pid == 0:
            time.sleep(3)
            os._exit(0)
        forked += 1
"""


def test_a_fork_bomb_stops_at_the_process_limit(lam: Any) -> None:
    assert_a_fork_bomb_stops_at_the_process_limit(lam)


def assert_a_fork_bomb_stops_at_the_process_limit(lam: Any) -> None:
    create_function(lam, "fork-bomb", {"app.py": FORK_BOMB}, MemorySize=1024, Timeout=30)
    response, body, _ = invoke(lam, "fork-bomb", {})
    assert "FunctionError" not in response, body
    # 1024 processes per environment, the runtime itself included
    assert body["error"] == "EAGAIN"
    assert 1000 <= body["forked"] < 1024, body
    assert_still_serving(lam)


FILL_TMP = """
import errno, os

def handler(event, context):
    chunk = b'x' * (1024 * 1024)
    written = 0
    try:
        with open('/tmp/fill', 'wb') as file:
            while True:
                written += file.write(chunk)
                file.flush()
    except OSError as exc:
        error = errno.errorcode[exc.errno]
    os.unlink('/tmp/fill')
    return {'written_mb': written // (1024 * 1024), 'error': error}
"""


def test_filling_tmp_past_its_ephemeral_storage_is_enospc(lam: Any) -> None:
    # /tmp is a tmpfs charged to the memory cgroup: memory must hold all of it.
    create_function(
        lam, "fill-tmp", {"app.py": FILL_TMP}, MemorySize=768, EphemeralStorage={"Size": 512}, Timeout=30
    )
    response, body, _ = invoke(lam, "fill-tmp", {})
    assert "FunctionError" not in response, body
    assert body["error"] == "ENOSPC"
    assert 500 <= body["written_mb"] <= 512, body
    assert_still_serving(lam)


ALLOCATE = """
def handler(event, context):
    hoard = b'x' * (event['mb'] * 1024 * 1024)
    return len(hoard)
"""


def test_allocating_past_memory_size_is_killed_and_reported_as_out_of_memory(lam: Any) -> None:
    assert_allocating_past_memory_size_is_out_of_memory(lam)


def assert_allocating_past_memory_size_is_out_of_memory(lam: Any) -> None:
    create_function(lam, "hog", {"app.py": ALLOCATE}, MemorySize=128)
    response, body, log = invoke(lam, "hog", {"mb": 256})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["FunctionError"] == "Unhandled"
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    report = report_line(log)
    assert "\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t" in report
    assert report.endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    # a fresh environment of the same function serves what fits
    assert invoke(lam, "hog", {"mb": 1})[1] == 1024 * 1024
    assert_still_serving(lam)


LINGER = """
import os, subprocess, time

def handler(event, context):
    subprocess.Popen(['/bin/sleep', event['marker']], start_new_session=True)
    if os.fork() == 0:  # a second one, orphaned to the namespace's init
        os.setsid()
        os.execv('/bin/sleep', ['sleep', event['marker']])
    time.sleep(30)
"""


def _host_processes_with(argument: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in argv:
                found.append(int(entry.name))
    return found


def test_nothing_a_function_started_survives_its_timeout(lam: Any) -> None:
    assert_nothing_survives_the_timeout(lam, LINGER)


def assert_nothing_survives_the_timeout(lam: Any, code: str) -> None:
    """``code`` starts processes that try to outlive the invocation's timeout."""
    create_function(lam, "linger", {"app.py": code}, Timeout=1)
    marker = f"{1000 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 10**6:06d}"
    response, body, _ = invoke(lam, "linger", {"marker": marker})
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    deadline = time.monotonic() + 5
    while (survivors := _host_processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors == []
    assert_still_serving(lam)


PROBE_NETWORK = """
import errno, socket

def attempt(address):
    try:
        socket.create_connection(address, timeout=2).close()
        return 'ok'
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))

def handler(event, context):
    return {
        'platform': attempt(('127.0.0.1', event['port'])),
        'outside': attempt(('192.0.2.1', 80)),
        'interfaces': sorted(name for _, name in socket.if_nameindex()),
    }
"""
NODE_PROBE_NETWORK = """
const net = require('net');
exports.handler = (event) => new Promise((resolve) => {
  const socket = net.connect(event.port, '127.0.0.1');
  socket.on('connect', () => { socket.destroy(); resolve({ platform: 'ok' }); });
  socket.on('error', (error) => resolve({ platform: error.code }));
});
"""
CUSTOM_RUNTIME = """#!{python}
import json, os, socket, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'
while True:
    with urllib.request.urlopen(api + 'next') as response:
        request_id = response.headers['Lambda-Runtime-Aws-Request-Id']
        port = json.loads(response.read())['port']
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
        platform = 'ok'
    except OSError as exc:
        platform = type(exc).__name__
    body = json.dumps({{'platform': platform, 'api': os.environ['AWS_LAMBDA_RUNTIME_API']}}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + '/response', data=body)).read()
"""
NO_NETWORK = {"Variables": {"LAMBDALITE_NETWORK": "none"}}


def test_without_network_a_function_reaches_nothing_but_its_runtime_api(lam: Any, server: Server) -> None:
    create_function(lam, "offline", {"app.py": PROBE_NETWORK}, Environment=NO_NETWORK)
    create_function(lam, "online", {"app.py": PROBE_NETWORK})
    response, body, _ = invoke(lam, "offline", {"port": server.port})
    assert "FunctionError" not in response, body
    assert body == {"platform": "ECONNREFUSED", "outside": "ENETUNREACH", "interfaces": ["lo"]}
    # The same code with the network: the probe can tell the difference (with a
    # namespace of its own, the host's loopback is not its own loopback either).
    online = invoke(lam, "online", {"port": server.port})[1]
    if OWN_NETWORK in server.output():
        assert online["platform"] == "ECONNREFUSED" and online["interfaces"] == ["eth0", "lo"]
    else:
        assert online["platform"] == "ok"
    # Warm reuse goes through the same handed-over Runtime API listener.
    assert invoke(lam, "offline", {"port": server.port})[1]["platform"] == "ECONNREFUSED"
    assert_still_serving(lam)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this host")
def test_without_network_node_and_custom_runtimes_still_reach_their_runtime_api(
    lam: Any, server: Server
) -> None:
    create_function(
        lam,
        "offline-node",
        {"index.js": NODE_PROBE_NETWORK},
        Runtime="nodejs20.x",
        Handler="index.handler",
        Environment=NO_NETWORK,
    )
    assert invoke(lam, "offline-node", {"port": server.port})[1] == {"platform": "ECONNREFUSED"}
    create_function(
        lam,
        "offline-custom",
        {"bootstrap": CUSTOM_RUNTIME.format(python=sys.executable)},
        Runtime="provided.al2023",
        Handler="unused",
        modes={"bootstrap": 0o755},
        Environment=NO_NETWORK,
    )
    _, body, _ = invoke(lam, "offline-custom", {"port": server.port})
    assert body == {"platform": "ConnectionRefusedError", "api": "127.0.0.1:9001"}
    assert_still_serving(lam)
