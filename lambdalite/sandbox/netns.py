"""Network namespaces of their own for environments at the namespace level (root).

Why veth + NAT, not user-mode networking: the host's kernel routes and
translates at no cost per packet and nothing runs per environment once the
namespace exists, while a slirp-like relay is a process (and a copy of every
byte) per environment. Everything that costs time here (``ip``, ``nft``) is
done ahead of need, the way spare sandboxes are: ``NetnsPool`` keeps
``spares`` namespaces ready, and a start only takes one (and, for a
function with opened host ports, adds them to a set); the next one is made
once that start has settled (``refill``), as a zygote makes its next spare.
A namespace whose environment has ended serves the next one: once its
processes are gone nothing of theirs is left in it but closing sockets.

What an environment's namespace has (``GATEWAY`` is the same for all):

- ``lo`` up, and ``eth0``: address ``10.213.B.i/32``, a route to ``GATEWAY``
  and the default route through it (set by the environment itself, ``enter``). Its host end (``llvBxI``) holds
  ``GATEWAY`` too (one address on many links, each with a /32 route back to
  its namespace), so no two environments share a link or see each other.
- Outbound traffic is forwarded and masqueraded by the host: the internet,
  and the resolvers of /etc/resolv.conf (port 53) even when private. Every
  other private, loopback, link-local or multicast destination is rejected,
  as is any connection to the host itself (its loopback services are on the
  host's own ``lo``, out of reach anyway).
- ``GATEWAY:<server port>`` is translated to lambdalite's own listener, so
  ``AWS_ENDPOINT_URL=http://GATEWAY:<port>`` reaches the API while the
  server's listeners stay where the operator put them; a function's opened
  host ports (``control.network``) are translated to ``127.0.0.1:<port>``.
- The Runtime API is a listener inside the namespace (``enter``), so only the
  environment's own processes reach it.

One server owns one block ``B`` (an flock under ``LOCK_DIR``): its
namespaces ``lambdalite-B-i``, links ``llvBx*`` and nft table
``lambdalite_bB``, all removed at close and, when a server died without
closing, by the next server that takes the block. At most ``SLOTS_PER_BLOCK``
environments of one server have a network namespace at a time.
Changes to the host: ``net.ipv4.ip_forward=1`` (masquerading needs it) and
``route_localnet`` on the host ends (translation to 127.0.0.1 needs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import shutil
import subprocess
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GATEWAY = "10.213.0.1"
"""The host's address as every environment sees it (AWS_ENDPOINT_URL's host)."""
SUBNET = ipaddress.ip_network("10.213.0.0/16")
LOCK_DIR = Path("/run/lambdalite/net")
NETNS_DIR = Path("/run/netns")
SLOTS_PER_BLOCK = 253
"""Addresses .2 to .254 of a block's /24."""
BLOCKS = range(1, 256)
REJECTED = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
)
"""Destinations an environment may not reach: private, shared, loopback,
link-local, documentation, benchmarking, multicast and reserved ranges."""
_COMMAND_TIMEOUT_S = 10.0
MAX_IDLE = 16
"""Namespaces kept ready for reuse after a burst; more are deleted."""
MAX_MAKING = 16
"""Namespaces made at once, by one ``ip -batch`` (a burst of starts waiting for them)."""


class NetworkUnavailable(OSError):
    """A network namespace could not be made or given."""


def unavailable_reason() -> str | None:
    """Why this host cannot give environments namespaces of their own, or None."""
    if os.geteuid() != 0:
        return "not root (veth links and NAT rules need it)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (install {package})"
    return None


def is_environment_address(host: str) -> bool:
    """Is ``host`` an environment's own address (a connection from a function)?"""
    try:
        return ipaddress.ip_address(host) in SUBNET and host != GATEWAY
    except ValueError:
        return False


@dataclass(slots=True)
class NetnsLease:
    """One environment's network namespace, held until ``NetnsPool.release``."""

    name: str
    link: str
    address: str
    fd: int
    """An open descriptor of the namespace, kept by the server for its lifetime."""
    ports: tuple[int, ...] = ()
    released: bool = False

    @property
    def path(self) -> bytes:
        """Where a child of the server opens the namespace (``enter``): through
        our descriptor, whatever mount namespace the child is in by then."""
        return f"/proc/{os.getpid()}/fd/{self.fd}".encode()


@dataclass(slots=True)
class NetnsPool:
    """Namespaces made ahead of need for one server (module docstring)."""

    endpoint: tuple[str, int] | None
    """(address, port) of lambdalite's listener that ``GATEWAY:port`` reaches."""
    spares: int = 2
    block: int = 0
    _lock_fd: int = -1
    _free: list[int] = field(default_factory=list)
    _ready: list[NetnsLease] = field(default_factory=list)
    _making: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def endpoint_url(self) -> str | None:
        return None if self.endpoint is None else f"http://{GATEWAY}:{self.endpoint[1]}"

    def open(self) -> None:
        """Take a block, remove what a dead server left in it, install the rules.
        Raises NetworkUnavailable."""
        reason = unavailable_reason()
        if reason is not None:
            raise NetworkUnavailable(reason)
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        for block in BLOCKS:
            fd = os.open(LOCK_DIR / f"{block}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.block, self._lock_fd = block, fd
            break
        else:
            raise NetworkUnavailable(f"all {len(BLOCKS)} network blocks are taken by other servers")
        self._free = list(range(2, 2 + SLOTS_PER_BLOCK))
        self._remove_leftovers()
        with open("/proc/sys/net/ipv4/ip_forward", "w") as forward:
            forward.write("1")
        _run(["nft", "-f", "-"], self.ruleset())
        try:
            self._prefill()
        except OSError as exc:
            raise NetworkUnavailable(f"cannot make a network namespace: {exc}") from exc

    def ruleset(self) -> str:
        """The nft table of this server's block (module docstring)."""
        block = self.block
        links = f'"llv{block}x*"'
        resolvers = ", ".join(sorted(_resolvers())) or "127.0.0.1"
        rejected = ", ".join(REJECTED)
        endpoint = ""
        if self.endpoint is not None:
            address, port = self.endpoint
            endpoint = f"iifname {links} ip daddr {GATEWAY} tcp dport {port} dnat to {address}:{port}"
        return f"""
table ip lambdalite_b{block}
delete table ip lambdalite_b{block}
table ip lambdalite_b{block} {{
  set host_ports {{ type ifname . inet_service; }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    {endpoint}
    iifname {links} ip daddr {GATEWAY} iifname . tcp dport @host_ports dnat to 127.0.0.1
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.213.{block}.0/24 oifname != "llv*" masquerade
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname {links} ct status dnat accept
    iifname {links} reject with icmp type admin-prohibited
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname {links} ct state established,related accept
    oifname {links} reject with icmp type admin-prohibited
    iifname {links} ip daddr {{ {resolvers} }} meta l4proto {{ tcp, udp }} th dport 53 accept
    iifname {links} ip daddr {{ {rejected} }} reject with icmp type admin-prohibited
  }}
}}
"""

    async def take(self, ports: Sequence[int] = ()) -> NetnsLease:
        """A ready namespace, with ``ports`` opened to the host's loopback.
        Raises NetworkUnavailable."""
        while not self._ready:
            if not self._free and not self._making:
                raise NetworkUnavailable(
                    f"all {SLOTS_PER_BLOCK} network namespaces of this server are in use"
                )
            self._fill()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        lease = self._ready.pop(0)
        if not self._ready:
            self._fill()  # the next start would wait; otherwise ``refill`` after this one
        if ports:
            try:
                await self._set_ports("add", lease.link, ports)
            except NetworkUnavailable:
                await self._delete(lease)
                raise
            lease.ports = tuple(ports)
        return lease

    def refill(self) -> None:
        """Make spares up to ``spares`` in the background: called once a start has
        settled, so that ``ip`` and ``nft`` do not compete with it for the CPU."""
        self._fill()

    def release(self, lease: NetnsLease) -> None:
        """Give ``lease`` back, once its environment's processes are all gone: its
        namespace serves the next environment (its opened ports closed first), or
        is deleted when ``MAX_IDLE`` are ready already. Idempotent."""
        if lease.released:
            return
        lease.released = True
        self._spawn(self._recycle(lease))

    async def close(self) -> None:
        """Delete every namespace and the table; give the block back."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=_COMMAND_TIMEOUT_S)
        for lease in self._ready:
            os.close(lease.fd)
        self._ready.clear()
        if self._lock_fd >= 0:
            self._remove_leftovers()
            with contextlib.suppress(NetworkUnavailable):
                _run(["nft", "delete", "table", "ip", f"lambdalite_b{self.block}"])
            os.close(self._lock_fd)
            self._lock_fd = -1

    # -- making and deleting ------------------------------------------------
    def _fill(self) -> None:
        # A burst of starts waits for namespaces: make as many as wait, in one batch.
        wanted = self.spares + len(self._waiters) - len(self._ready) - self._making
        count = min(wanted, MAX_MAKING - self._making, len(self._free))
        if count > 0:
            indices = [self._free.pop(0) for _ in range(count)]
            self._making += count
            self._spawn(self._make(indices))

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _recycle(self, lease: NetnsLease) -> None:
        """Nothing of an environment outlives its processes in its namespace but
        its opened ports (host-side) and closing sockets: the namespace is reused."""
        if len(self._ready) >= MAX_IDLE:
            await self._delete(lease)
            return
        if lease.ports:
            try:
                await self._set_ports("delete", lease.link, lease.ports)
            except NetworkUnavailable as exc:
                log.warning("cannot close the host ports of %s: %s", lease.name, exc)
                await self._delete(lease)
                return
        self._ready.append(NetnsLease(lease.name, lease.link, lease.address, lease.fd))
        self._wake()

    async def _set_ports(self, verb: str, link: str, ports: Sequence[int]) -> None:
        """Add (``verb`` add) or remove (delete) ``link``'s opened host ports."""
        elements = ", ".join(f'"{link}" . {port}' for port in ports)
        table = f"lambdalite_b{self.block}"
        await _run_async(["nft", verb, "element", "ip", table, "host_ports", f"{{ {elements} }}"])

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _names(self, index: int) -> tuple[str, str, str]:
        """(namespace, host link, address) of slot ``index``."""
        return f"lambdalite-{self.block}-{index}", f"llv{self.block}x{index}", f"10.213.{self.block}.{index}"

    def _made(self, index: int) -> NetnsLease:
        """The lease of slot ``index`` once its commands ran."""
        name, link, address = self._names(index)
        with open(f"/proc/sys/net/ipv4/conf/{link}/route_localnet", "w") as localnet:
            localnet.write("1")
        return NetnsLease(name, link, address, os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC))

    def _commands(self, indices: Sequence[int]) -> str:
        """One ``ip -batch`` making the namespaces of ``indices`` (host side: the
        environment configures its own end, ``enter``)."""
        return "".join(_host_side(*self._names(index)) for index in indices)

    def _prefill(self) -> None:
        """Make the first spares now, synchronously (the server is starting)."""
        indices = [self._free.pop(0) for _ in range(min(self.spares, len(self._free)))]
        _run(["ip", "-batch", "-"], self._commands(indices))
        self._ready.extend(self._made(index) for index in indices)

    async def _make(self, indices: list[int]) -> None:
        try:
            await _run_async(["ip", "-batch", "-"], self._commands(indices))
            leases = [self._made(index) for index in indices]
        except (OSError, NetworkUnavailable) as exc:
            log.warning("cannot make network namespaces %s: %s", indices, exc)
            for index in indices:
                with contextlib.suppress(NetworkUnavailable):
                    await _run_async(["ip", "netns", "delete", self._names(index)[0]])
            self._free.extend(indices)
        else:
            self._ready.extend(leases)
        finally:
            self._making -= len(indices)
            self._wake()

    async def _delete(self, lease: NetnsLease) -> None:
        os.close(lease.fd)
        with contextlib.suppress(NetworkUnavailable):
            if lease.ports:
                await self._set_ports("delete", lease.link, lease.ports)
            await _run_async(["ip", "netns", "delete", lease.name])
        self._free.append(int(lease.name.rsplit("-", 1)[1]))
        self._wake()

    def _remove_leftovers(self) -> None:
        """Delete this block's namespaces (a dead server's, or ours at close)."""
        prefix = f"lambdalite-{self.block}-"
        with contextlib.suppress(OSError):
            for entry in os.listdir(NETNS_DIR):
                if entry.startswith(prefix):
                    with contextlib.suppress(NetworkUnavailable):
                        _run(["ip", "netns", "delete", entry])


def _host_side(name: str, link: str, address: str) -> str:
    return (
        f"netns add {name}\n"
        f"link add {link} type veth peer name eth0 netns {name}\n"
        f"addr add {GATEWAY}/32 dev {link}\n"
        f"link set {link} up\n"
        f"route add {address}/32 dev {link}\n"
    )


def _resolvers() -> set[str]:
    """The IPv4 name servers of /etc/resolv.conf."""
    found: set[str] = set()
    with contextlib.suppress(OSError), open("/etc/resolv.conf") as resolv:
        for line in resolv:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if ipaddress.ip_address(parts[1]).version == 4:
                        found.add(parts[1])
    return found


def _run(argv: list[str], stdin: str = "") -> None:
    try:
        result = subprocess.run(
            argv, input=stdin.encode(), capture_output=True, timeout=_COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkUnavailable(f"{argv[0]}: {exc}") from exc
    if result.returncode != 0:
        raise NetworkUnavailable(f"{' '.join(argv[:3])}: {result.stderr.decode(errors='replace').strip()}")


async def _run_async(argv: list[str], stdin: str = "") -> None:
    """``_run`` in a thread: subprocess there starts the command with vfork, while
    the event loop's own spawn forks the whole server (its page tables copied
    on the loop's thread, which stalls every invocation meanwhile)."""
    await asyncio.to_thread(_run, argv, stdin)
