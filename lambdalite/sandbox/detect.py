"""Choosing the isolation level, and the facts ``lambdalite doctor`` prints.

``choose_sandbox(scratch_root)`` returns a NamespaceSandbox when this host can
run one (root, or unprivileged user namespaces) *and* a real probe start
succeeded, otherwise a ProcessSandbox; ``describe()`` says which and why.
The probe is the real spawn path (fork, enter_sandbox, exec /bin/true), so a
namespace level that would fail at every start (a kernel without
mount_setattr, a seccomp policy forbidding unshare, missing mount points) is
found at start-up and the server falls back instead of failing each invoke.
Never raises.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalite.sandbox import _linux, enter, namespace, netns, process
from lambdalite.sandbox.cgroups import CgroupHost, limits_for
from lambdalite.sandbox.process import ProcessSandbox
from lambdalite.sandbox.spec import SandboxSpec
from lambdalite.sandbox.status import parse_status

_PROBE_PROGRAM = "/bin/true"
_PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class SandboxFacts:
    level: str
    """``namespace`` or ``process``."""
    reason: str
    root: bool
    user_namespaces: str
    """``not needed (root)``, ``available`` or why not."""
    cgroup_version: int | None
    cgroup_controllers: tuple[str, ...]
    cgroup_reason: str

    def lines(self) -> list[str]:
        """What ``lambdalite doctor`` prints, one fact a line, then what the level protects."""
        cgroup = f"v{self.cgroup_version}" if self.cgroup_version else "none"
        return [
            f"isolation level: {self.level} ({self.reason})",
            f"running as root: {'yes' if self.root else 'no'}",
            f"user namespaces: {self.user_namespaces}",
            f"cgroups: {cgroup}; controllers: {', '.join(self.cgroup_controllers) or 'none'}",
            f"cgroup details: {self.cgroup_reason}",
            f"network: {network_summary(self.level, root=self.root)}",
            *protections(self.level, root=self.root, cgroups=self.cgroup_version is not None),
        ]


def protections(level: str, *, root: bool, cgroups: bool) -> list[str]:
    """What ``level`` does and does not protect against on this host."""
    if level != namespace.LEVEL:
        return process.limits(root=root)
    memory = (
        "memory, processes and CPU limited by a cgroup"
        if cgroups
        else "no cgroup: memory watched by the data plane, processes not limited"
    )
    uid = (
        "an unprivileged uid of its own (the API and other Runtime APIs refuse it)"
        if root
        else "an unprivileged uid (mapped to the server's: the API cannot tell functions apart)"
    )
    return [
        f"namespace level protects: own mount, PID, IPC and UTS namespaces, {uid}, the "
        "host read-only with the data directory hidden, code read-only at /var/task, a private tmpfs "
        f"/tmp of EphemeralStorage size, {memory}; a timeout kills the whole PID namespace; "
        "LAMBDALITE_NETWORK=none takes a function's network away, LAMBDALITE_HOST_PORTS opens "
        "named host ports to it",
        "namespace level does not protect: the host's file system outside the data directory is "
        "visible read-only; without a network namespace of its own (see network), the host's "
        "network and its other local services",
    ]


def describe(*, allow_namespace: bool = True, shared_paths: Sequence[Path] = ()) -> SandboxFacts:
    """Detect (and probe) the level this host supports; see the module docstring."""
    facts, _ = _detect(allow_namespace, shared_paths)
    return facts


def choose_sandbox(
    scratch_root: Path,
    *,
    allow_namespace: bool = True,
    shared_paths: Sequence[Path] = (),
    endpoint: tuple[str, int] | None = None,
) -> tuple[ProcessSandbox | namespace.NamespaceSandbox, SandboxFacts]:
    """The sandbox to serve with, and the facts to print in the start-up line.
    ``scratch_root`` is ProcessSandbox's scratch directory (DATA/sandboxes);
    ``shared_paths`` are the host's interpreter installs (NamespaceSandbox);
    ``endpoint`` is the server's (address, port), which environments with a
    network namespace of their own reach at ``netns.GATEWAY``."""
    facts, cgroups = _detect(allow_namespace, shared_paths)
    if facts.level == namespace.LEVEL:
        pool, reason = _network_pool(endpoint) if facts.root else (None, "unprivileged: no veth or NAT")
        sandbox = namespace.NamespaceSandbox(
            cgroups,
            user_namespace=not facts.root,
            clean_stale=True,
            shared_paths=shared_paths,
            network=pool,
            network_reason=reason,
        )
        return sandbox, facts
    return ProcessSandbox(scratch_root), facts


NETWORK_OPEN_ATTEMPTS = 3
"""Tries to open the pool: servers starting at the same moment (a test suite's)
have been seen to fall back to the host's network once in a while."""


def _network_pool(endpoint: tuple[str, int] | None) -> tuple[netns.NetnsPool | None, str]:
    """An opened pool of network namespaces, or None and why not (the last try's
    reason). A host that cannot have them at all is not tried again."""
    reason = ""
    for attempt in range(NETWORK_OPEN_ATTEMPTS):
        if attempt:
            time.sleep(0.1 * attempt)
        pool = netns.NetnsPool(endpoint)
        try:
            pool.open()
        except OSError as exc:
            reason = str(exc)
            if netns.unavailable_reason() is not None:
                break
            continue
        return pool, ""
    return None, reason


def network_summary(level: str, *, root: bool) -> str:
    """What the network of a function with network is at ``level`` on this host."""
    if level != namespace.LEVEL:
        return process.NO_NETWORK_ISOLATION
    reason = netns.unavailable_reason() if root else "unprivileged: no veth or NAT"
    if reason is not None:
        return f"the host's ({reason}): functions reach its loopback services"
    return (
        f"a namespace of its own per environment (outbound through {netns.GATEWAY}, "
        "no host loopback or private ranges)"
    )


def _detect(allow_namespace: bool, shared_paths: Sequence[Path]) -> tuple[SandboxFacts, CgroupHost | None]:
    root = os.geteuid() == 0
    userns = "not needed (root)" if root else _user_namespaces()
    cgroups = CgroupHost.detect() if root else _no_cgroups("not root: no cgroup delegation is used")

    def facts(level: str, reason: str) -> SandboxFacts:
        return SandboxFacts(level, reason, root, userns, cgroups.version, cgroups.controllers, cgroups.reason)

    if not allow_namespace:
        return facts("process", "namespace level turned off by configuration"), None
    if not _linux.supported_architecture():
        return facts("process", f"unsupported architecture {os.uname().machine}"), None
    if not root and userns != "available":
        return facts("process", f"not root and no user namespaces ({userns})"), None
    missing = [str(path) for path in namespace.MOUNT_POINTS if not path.is_dir()]
    if missing and not root:
        return facts("process", f"missing mount points {', '.join(missing)}: create them once as root"), None
    failure = _probe(cgroups, user_namespace=not root, shared_paths=shared_paths)
    if failure is not None:
        return facts("process", f"namespace probe failed: {failure}"), None
    how = "root" if root else "unprivileged user namespaces"
    if cgroups.version is None:
        how += "; no cgroup: memory is watched by the data plane, processes are not limited"
    return facts(namespace.LEVEL, how), cgroups


def _no_cgroups(reason: str) -> CgroupHost:
    return CgroupHost(None, reason, ())


def _user_namespaces() -> str:
    for path, bad in (
        ("/proc/sys/kernel/unprivileged_userns_clone", "0"),
        ("/proc/sys/user/max_user_namespaces", "0"),
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"),
    ):
        try:
            with open(path, encoding="ascii") as file:
                if file.read().strip() == bad:
                    return f"{path} is {bad}"
        except OSError:
            continue
    return "available"


def _probe(cgroups: CgroupHost, *, user_namespace: bool, shared_paths: Sequence[Path]) -> str | None:
    """Start /bin/true the real way, synchronously; None on success, else why not."""
    try:
        sandbox = namespace.NamespaceSandbox(
            cgroups, user_namespace=user_namespace, shared_paths=shared_paths
        )
    except OSError as exc:
        return f"setting up: {exc}"
    work = Path(tempfile.mkdtemp(prefix="lambdalite-probe-"))
    cgroup = None
    try:
        os.chmod(work, 0o755)
        spec = SandboxSpec("probe", (_PROBE_PROGRAM,), {}, work, work, memory_mb=128, ephemeral_storage_mb=1)
        if cgroups.version is not None:
            cgroup = cgroups.create(f"probe-{os.getpid()}", limits_for(128, cpu_limit=False))
        keeper, output_fd, status_fd = namespace.fork_into_sandbox(
            sandbox.plan_for(spec, cgroup), (_PROBE_PROGRAM.encode(),), {}
        )
        os.close(output_fd)
        status = b""
        while enter.wait_readable((status_fd,), _PROBE_TIMEOUT_S):
            chunk = os.read(status_fd, 4096)
            if not chunk:
                break
            status += chunk
        os.close(status_fd)
        _, wait_status = os.waitpid(keeper, 0)
        _, _, error = parse_status(status)
        if error is not None:
            return str(error)
        if os.waitstatus_to_exitcode(wait_status) != 0:
            return f"{_PROBE_PROGRAM} ended with {os.waitstatus_to_exitcode(wait_status)}"
        return None
    except OSError as exc:
        return str(exc)
    finally:
        if cgroup is not None:
            cgroup.kill()
            cgroup.remove()
        shutil.rmtree(work, ignore_errors=True)
