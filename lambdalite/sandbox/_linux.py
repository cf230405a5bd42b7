"""The few Linux system calls the namespace level needs and Python 3.11 lacks.

Everything is resolved at import time: a forked child that is about to mount
over paths must not load a library or look up a symbol afterwards. Every
wrapper raises ``OSError`` with the call's errno, like the ``os`` module does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15

AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4

# Syscalls added after 4.20 share one number on every architecture.
_SYS_MOUNT_SETATTR = 442

_LIBC = ctypes.util.find_library("c") or "libc.so.6"
_libc = ctypes.CDLL(_LIBC, use_errno=True)
# Called through PyDLL, fork(2) runs with the GIL held, so the child's one
# thread holds it on return, exactly as after os.fork().
_fork = ctypes.PyDLL(_LIBC, use_errno=True).fork
_fork.argtypes = []
_fork.restype = ctypes.c_int

_unshare = _libc.unshare
_unshare.argtypes = [ctypes.c_int]
_unshare.restype = ctypes.c_int

_setns = _libc.setns
_setns.argtypes = [ctypes.c_int, ctypes.c_int]
_setns.restype = ctypes.c_int

_mount = _libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_mount.restype = ctypes.c_int

_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int

_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class _MountAttr(ctypes.Structure):
    _fields_ = (
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    )


def _check(result: int, what: str) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_setns(fd, nstype), "setns")


def mount(source: bytes | None, target: bytes, fstype: bytes | None, flags: int, data: bytes | None) -> None:
    _check(_mount(source, target, fstype, flags, data), "mount")


def make_tree_readonly(path: bytes) -> None:
    """Make every mount at and below ``path`` read-only and nosuid in
    one call (mount_setattr, Linux 5.12+): the host's whole tree, without
    knowing its mounts."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    result = _syscall(
        ctypes.c_long(_SYS_MOUNT_SETATTR),
        ctypes.c_int(AT_FDCWD),
        ctypes.c_char_p(path),
        ctypes.c_uint(AT_RECURSIVE),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(result, "mount_setattr")


def bare_fork() -> int:
    """fork(2) without the interpreter's after-fork work: 0 in the child, its
    pid in the parent. os.fork() runs every ``os.register_at_fork`` hook
    (threading, logging, random's reseed...) and resets the interpreter's
    thread and import state; in a child forked from a zygote that holds boto3,
    that writes to some 220 pages, each a copy-on-write fault, for about a
    millisecond of CPU. Only for a single-threaded caller whose child runs
    lambdalite's own sandbox code and then execs, forks with os.fork, or
    exits with os._exit: never code that needs the interpreter's state reset
    (a function's, which needs at least a reseeded ``random``)."""
    pid = int(_fork())
    _check(pid, "fork")
    return pid


def prctl(option: int, arg: int = 0) -> int:
    result = _prctl(option, arg, 0, 0, 0)
    _check(result, "prctl")
    return int(result)


def set_process_name(name: bytes) -> None:
    """The calling thread's name (``comm``: ps, top, /proc/PID/stat), at most
    15 bytes (longer is cut). Tells a sandbox's own processes apart in ps and
    in profiles."""
    buffer = ctypes.create_string_buffer(name[:15])
    _check(_prctl(PR_SET_NAME, ctypes.addressof(buffer), 0, 0, 0), "prctl")


def supported_architecture() -> bool:
    """mount_setattr's number is shared by all architectures lambdalite targets."""
    return platform.machine() in {"x86_64", "aarch64", "arm64"}
