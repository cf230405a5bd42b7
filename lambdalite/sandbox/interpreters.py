"""Interpreters an unprivileged uid can run, at process level as root.

An interpreter installed below a directory only its owner may enter (pyenv
under /root, mode 0700) cannot be read by an environment's own uid. The
process level has no mount namespace to fix that per function, so (as root)
it binds the interpreter's install prefix, read-only and nosuid, at a path
of lambdalite's own below ``MIRROR_ROOT`` and runs the interpreter from
there: Python finds its standard library relative to its executable, so the
whole install is reachable and nothing else of the private directory is.

The bind mounts are the host's and outlive the server; they are harmless
(read-only views of what is installed anyway), shared by every server on the
host, and reused when present. A zygote started from the mirrored path
loads its shared library as root, so its children need nothing more; a
fresh interpreter (the spawn path) is started through the dynamic loader
with the mirror's lib directory (``loader_argv``), since its RUNPATH names
the private directory. A subprocess that the function starts from
``sys.executable`` still has that RUNPATH: it fails to load, as the
environment's uid, and never runs as root instead.
"""

from __future__ import annotations

import glob
import hashlib
import os
from pathlib import Path

from lambdalite.sandbox import _linux

MIRROR_ROOT = Path("/run/lambdalite/interpreters")


def mirror_path(prefix: Path) -> Path:
    """Where ``prefix`` is shown (stable across servers: named after the prefix)."""
    digest = hashlib.sha256(os.fsencode(prefix)).hexdigest()[:12]
    return MIRROR_ROOT / f"{prefix.name}-{digest}"


def reachable_interpreter(program: str) -> str | None:
    """``program``'s path below its mirrored prefix (mounted now if need be),
    or None when it cannot be mirrored (not root, not ``<prefix>/bin/<name>``,
    or the mount failed)."""
    real = Path(os.path.realpath(program))
    if real.parent.name != "bin" or os.geteuid() != 0:
        return None
    prefix = real.parent.parent
    target = mirror_path(prefix)
    try:
        if not os.path.ismount(target):
            _open_ancestors()
            target.mkdir(mode=0o755, parents=True, exist_ok=True)
            _linux.mount(os.fsencode(prefix), os.fsencode(target), None, _linux.MS_BIND | _linux.MS_REC, None)
            flags = _linux.MS_BIND | _linux.MS_REMOUNT | _linux.MS_RDONLY | _linux.MS_NOSUID
            _linux.mount(None, os.fsencode(target), None, flags, None)
    except OSError:
        return None
    return str(target / real.relative_to(prefix))


def _open_ancestors() -> None:
    """Create MIRROR_ROOT's own directories searchable by every user."""
    for directory in (MIRROR_ROOT.parent, MIRROR_ROOT):
        directory.mkdir(mode=0o755, exist_ok=True)
        os.chmod(directory, 0o755)


def loader_argv(program: str) -> tuple[str, ...]:
    """What goes before a mirrored ``program`` in an exec'd argv so that its
    shared libraries load from the mirror: the dynamic loader with
    ``--library-path``. Empty for any other program or without a loader."""
    path = Path(program)
    if not path.is_relative_to(MIRROR_ROOT) or len(path.relative_to(MIRROR_ROOT).parts) < 2:
        return ()
    loaders = sorted(glob.glob("/lib64/ld-linux*.so.*") + glob.glob("/lib/ld-linux*.so.*"))
    if not loaders:
        return ()
    return (loaders[0], "--library-path", str(MIRROR_ROOT / path.relative_to(MIRROR_ROOT).parts[0] / "lib"))
