"""One directory that looks like /opt with a function's layers merged in it, for the process level.

The namespace level mounts the layers' directories at ``/opt`` (one bind, or
an overlay where a later layer's files win). The process level has no mount
namespace, so it cannot show anything at ``/opt``; instead
``merged_opt(root, layers)`` builds the merge once under ``root`` (the data
directory) and the environment is told where it is (``LAMBDALITE_OPT``, and
PATH/LD_LIBRARY_PATH/NODE_PATH pointing into it; see
``dataplane.environment``).

The merge is keyed by the ordered list of layer directories, built in a
temporary directory and renamed into place, so two environments of the same
function share it and a reader never sees half of one. Files are hard links
to the (read-only, content-addressed) unpacked layers where the filesystem
allows, copies otherwise; symlinks are recreated as they are. A later layer's
entry replaces an earlier one's of the same path, as on AWS.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path


def merged_opt(root: Path, layers: Sequence[Path]) -> Path:
    """The merged directory of ``layers`` (in order; later wins), built once under ``root``."""
    key = hashlib.sha256("\0".join(str(layer) for layer in layers).encode()).hexdigest()[:32]
    dest = root / key
    if dest.is_dir():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".merge-", dir=root))
    try:
        for layer in layers:
            _merge_into(layer, work)
        os.chmod(work, 0o755)
        try:
            os.rename(work, dest)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not dest.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _merge_into(source: Path, dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        target_dir = dest if rel == "." else dest / rel
        for name in [*dirnames, *filenames]:
            src = os.path.join(dirpath, name)
            target = target_dir / name
            if os.path.islink(src):
                _remove(target)
                os.symlink(os.readlink(src), target)
            elif os.path.isdir(src):
                if target.is_symlink() or (target.exists() and not target.is_dir()):
                    _remove(target)
                target.mkdir(mode=0o755, exist_ok=True)
            else:
                _remove(target)
                try:
                    os.link(src, target)
                except OSError:
                    shutil.copy2(src, target)
        # os.walk does not descend into symlinked directories: they were recreated as links.
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
