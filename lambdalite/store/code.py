"""Content-addressed code packages: the zip a function was created from, and its unpacked tree.

Layout under ``root`` (``DATA/code``)::

    blobs/<sha256>.zip      the package exactly as uploaded; GetFunction's Code.Location serves it
    unpacked/<sha256>/      the package unpacked once, shared read-only by every environment
    tmp/                    work in progress; whatever a crash leaves here is garbage

A package is validated and unpacked in one streaming pass, and stored only if
it is valid. Both the blob and the unpacked tree appear atomically (a rename),
so a reader never sees half a package and two puts of the same zip are harmless.

Disk hygiene. One server owns a data directory, so opening the store removes
what interrupted uploads left (everything in ``tmp/``, half-written blobs).
Packages nothing uses any more are removed by ``remove``, which the collector
(``store.code_gc``) calls with packages it has seen unreferenced for a grace
period. A put of a package marks it freshly stored (the blob's mtime) under the
same lock ``remove`` takes, and ``remove`` spares freshly stored packages, so a
package that is being uploaded, and not yet committed to a function or a layer,
is never taken away under it.

Limits and the errors AWS gives for them:

- zipped over 50 MB: ``RequestEntityTooLargeException`` "Zipped size must be
  smaller than 52428800 bytes", as AWS answered it in its recordings (it checks
  the decoded zip before the request's own limit, which the API applies).
- unzipped over 250 MB: ``InvalidParameterValueException`` "Unzipped size must
  be smaller than 262144000 bytes". Real decompressed bytes are counted while
  streaming, never the sizes the zip's headers claim, so a zip bomb is stopped
  at the limit without filling the disk.
- not a zip (or a corrupt, encrypted or oddly compressed one):
  ``InvalidParameterValueException`` "Could not unzip uploaded file. Please
  check your file, then try to upload again."
- an entry that would land outside the package (``..``, an absolute path, or a
  symlink whose target resolves outside it): AWS unpacks into a throwaway
  microVM and accepts such entries; lambdalite unpacks on the host, so it
  refuses them with the unzip message above, naming the entry.
"""

from __future__ import annotations

import errno
import hashlib
import io
import lzma
import os
import re
import shutil
import stat
import struct
import tempfile
import threading
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from lambdalite.errors import InvalidParameterValue, RequestTooLarge, StoreError

MAX_ZIPPED_BYTES = 52_428_800
"""50 MB: the largest zip Lambda takes in a request (AWS quota, "deployment package, zipped")."""
MAX_UNZIPPED_BYTES = 262_144_000
"""250 MB: the unzipped size of a function's code and all its layers together (AWS quota)."""

_UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
_CHUNK = 1 << 16
_MAX_LINK_TARGET = 4096  # PATH_MAX; a longer "target" is not a symlink any system could follow
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# What zipfile and its decompressors raise for an archive that is damaged, encrypted or
# compressed in a way we cannot read. bz2 reports bad data as OSError, so reads of the
# archive (never of our disk) also treat OSError as "this zip is bad".
_CORRUPT: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    OSError,
)
# Writing an entry fails with these when the package itself is inconsistent (a file where
# a directory must be, a name the filesystem refuses); any other OSError is our disk's fault.
_PACKAGE_ERRNOS = frozenset({errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ENAMETOOLONG, errno.EINVAL})


class ObjectStoreZip(bytes):
    """A package read from the object store (S3Bucket/S3Key): AWS's 50 MB zipped limit
    is a limit of the upload request, so only the unzipped 250 MB applies to it."""


@dataclass(frozen=True, slots=True)
class StoredCode:
    sha256_hex: str
    size: int
    """Zipped bytes: CodeSize in the API."""
    unzipped_size: int


class CodePackages(Protocol):
    """Code packages keyed by the hex sha256 of their zip: what the API, the data
    plane and the collector need of a code store. ``CodeStore`` keeps them on the
    local disk; a shared store for cluster mode answers the same calls (its
    ``task_root`` a local cache of the package).

    Contract: a package appears whole or not at all; storing the same zip twice is
    harmless and returns the same StoredCode; ``remove`` never takes a package stored
    at or after the time it is given."""

    def put(
        self, zip_bytes: bytes, extra_unzipped: int = 0, *, operation: str = "CreateFunction"
    ) -> StoredCode:
        """Validate, unpack and store a package (RequestTooLarge/InvalidParameterValue for
        one AWS would refuse, leaving nothing behind; StoreError for our own failures)."""
        ...

    def zip_path(self, sha256_hex: str) -> Path:
        """Where the stored zip can be read (not checked to exist)."""
        ...

    def unpacked(self, sha256_hex: str) -> Path | None:
        """The unpacked package when it is already there (cheap), else None."""
        ...

    def task_root(self, sha256_hex: str) -> Path:
        """The unpacked package, unpacked again if needed; StoreError if never stored."""
        ...

    def packages(self) -> set[str]:
        """The hashes of every package held."""
        ...

    def stored_at(self, sha256_hex: str) -> float | None:
        """When the package was last stored, or None when it is not held."""
        ...

    def remove(self, shas: Iterable[str], stored_before: float) -> tuple[int, int]:
        """Remove these packages except any stored at or after ``stored_before``;
        return (packages removed, bytes freed)."""
        ...


class CodeStore:
    """``CodePackages`` on the local disk, under ``root``."""

    def __init__(
        self, root: Path, max_zipped: int = MAX_ZIPPED_BYTES, max_unzipped: int = MAX_UNZIPPED_BYTES
    ) -> None:
        """``max_zipped``/``max_unzipped`` are AWS's limits; tests pass small ones."""
        self._root = root
        self._blobs = root / "blobs"
        self._unpacked = root / "unpacked"
        self._tmp = root / "tmp"
        self._max_zipped = max_zipped
        self._max_unzipped = max_unzipped
        # Guards the step from "these files exist" to "they are marked fresh" in put
        # against remove(); never held while a package is unpacked.
        self._lock = threading.Lock()
        self._working: set[Path] = set()
        """Work directories of puts and unpacks in progress (under ``tmp/``), which ``remove`` spares."""
        try:
            for directory in (self._blobs, self._unpacked, self._tmp):
                directory.mkdir(parents=True, exist_ok=True)
            self._remove_leftovers()
        except OSError as exc:
            raise StoreError(f"cannot create the code store at {root}: {exc}") from exc

    def put(
        self, zip_bytes: bytes, extra_unzipped: int = 0, *, operation: str = "CreateFunction"
    ) -> StoredCode:
        """Validate, unpack and store a package; return what was stored.

        ``extra_unzipped`` is the unzipped size of the layers the function also
        uses: it counts toward the 250 MB. ``operation`` is the API operation
        (AWS's too-large texts for the zip do not name it). Raises RequestTooLarge or InvalidParameterValue
        for a package AWS would refuse (and then leaves nothing behind), and
        StoreError when our own disk fails. Storing the same zip again is cheap
        and returns the same StoredCode.
        """
        if len(zip_bytes) > self._max_zipped and not isinstance(zip_bytes, ObjectStoreZip):
            raise RequestTooLarge(f"Zipped size must be smaller than {self._max_zipped} bytes")
        # AWS: "must be smaller than" the limit, so a package of exactly the limit is refused.
        budget = self._max_unzipped - extra_unzipped - 1
        sha = hashlib.sha256(zip_bytes).hexdigest()
        try:
            if self._refresh(sha):
                # Stored before, so it was validated and its header sizes are proven true
                # (zipfile checks every entry's length and CRC as it reads).
                unzipped = _declared_size(zip_bytes)
                if unzipped > budget:
                    raise InvalidParameterValue(self._too_big())
                return StoredCode(sha, len(zip_bytes), unzipped)
            with self._work() as work:
                unzipped = _unpack(zip_bytes, work, budget, self._too_big())
                with self._lock:
                    self._write_blob(sha, zip_bytes)
                    _publish(work, self._unpacked / sha)
        except OSError as exc:
            raise StoreError(f"cannot store code package {sha}: {exc}") from exc
        return StoredCode(sha, len(zip_bytes), unzipped)

    def zip_path(self, sha256_hex: str) -> Path:
        """The stored zip (GetFunction's Code.Location serves it). Not checked to exist."""
        return self._blobs / f"{_checked(sha256_hex)}.zip"

    def unpacked(self, sha256_hex: str) -> Path | None:
        """The unpacked package when its directory exists (one stat), else None."""
        dest = self._unpacked / _checked(sha256_hex)
        return dest if dest.is_dir() else None

    def task_root(self, sha256_hex: str) -> Path:
        """The unpacked package (LAMBDA_TASK_ROOT), unpacked again from the blob if the
        directory has gone. StoreError if the package was never stored."""
        dest = self._unpacked / _checked(sha256_hex)
        if dest.is_dir():
            return dest
        try:
            zip_bytes = self.zip_path(sha256_hex).read_bytes()
            with self._work() as work:
                _unpack(zip_bytes, work, self._max_unzipped, self._too_big())
                _publish(work, dest)
        except FileNotFoundError as exc:
            raise StoreError(f"code package {sha256_hex} is not in the store") from exc
        except OSError as exc:
            raise StoreError(f"cannot unpack code package {sha256_hex}: {exc}") from exc
        return dest

    def packages(self) -> set[str]:
        """The hashes of every package with a blob or an unpacked tree on disk."""
        found = {path.name.removesuffix(".zip") for path in self._blobs.glob("*.zip")}
        found |= {path.name for path in self._unpacked.iterdir()}
        return {sha for sha in found if _SHA256_HEX.fullmatch(sha)}

    def stored_at(self, sha256_hex: str) -> float | None:
        """When the package was last stored (a put marks it), or None without a blob."""
        try:
            return self.zip_path(sha256_hex).stat().st_mtime
        except FileNotFoundError:
            return None

    def remove(self, shas: Iterable[str], stored_before: float) -> tuple[int, int]:
        """Remove these packages (blob and unpacked tree), except any stored at or after
        ``stored_before`` (a put in progress); also work left in ``tmp/`` since before
        then. Return (packages removed, bytes freed). The caller vouches that nothing
        uses the packages: see ``store.code_gc``."""
        doomed: list[Path] = []
        removed = 0
        for sha in shas:
            with self._lock:
                stored = self.stored_at(sha)
                if stored is not None and stored >= stored_before:
                    continue
                removed += 1
                # Renamed away under the lock, measured and deleted after it: a put that
                # comes next finds the package gone and stores it again.
                for path in (self._unpacked / _checked(sha), self.zip_path(sha)):
                    moved = self._tmp / f"gc-{uuid.uuid4().hex}-{path.name}"
                    try:
                        os.rename(path, moved)
                    except FileNotFoundError:
                        continue
                    doomed.append(moved)
        freed = sum(_tree_size(path) for path in doomed)
        with self._lock:
            abandoned = [
                path
                for path in self._tmp.iterdir()
                if path not in self._working
                and not path.name.startswith("gc-")
                and _mtime(path) < stored_before
            ]
        doomed.extend(abandoned)  # work a failed put left behind
        for path in doomed:
            _delete(path)
        return removed, freed

    @contextmanager
    def _work(self) -> Iterator[Path]:
        """A fresh work directory under ``tmp/``, spared by ``remove`` while in use and
        deleted after (unless it was renamed into place)."""
        with self._lock:
            work = Path(tempfile.mkdtemp(prefix="unpack-", dir=self._tmp))
            self._working.add(work)
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with self._lock:
                self._working.discard(work)

    def _refresh(self, sha: str) -> bool:
        """Whether the package is already stored whole; if so, mark it freshly stored."""
        with self._lock:
            if not (self.zip_path(sha).is_file() and (self._unpacked / sha).is_dir()):
                return False
            os.utime(self.zip_path(sha))
            return True

    def _remove_leftovers(self) -> None:
        """What a crash left: unfinished work in tmp/ and half-written blobs (``.<sha>.*``)."""
        for path in self._tmp.iterdir():
            _delete(path)
        for path in self._blobs.glob(".*"):
            _delete(path)

    def _too_big(self) -> str:
        return f"Unzipped size must be smaller than {self._max_unzipped} bytes"

    def _write_blob(self, sha: str, zip_bytes: bytes) -> None:
        """Write the zip under its final name atomically: a reader sees all of it or none."""
        fd, tmp_name = tempfile.mkstemp(prefix=f".{sha}.", dir=self._blobs)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(zip_bytes)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, self.zip_path(sha))
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return float("inf")


def _size_of(path: Path) -> int:
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0


def _tree_size(root: Path) -> int:
    """Bytes of the files at or under ``root`` (a file or a directory)."""
    if not root.is_dir() or root.is_symlink():
        return _size_of(root)
    total = 0
    for directory, _, files in os.walk(root):
        total += sum(_size_of(Path(directory, name)) for name in files)
    return total


def _checked(sha256_hex: str) -> str:
    # The hash becomes a path: anything but 64 hex digits is a caller's bug, never a path to follow.
    if not _SHA256_HEX.fullmatch(sha256_hex):
        raise ValueError(f"not a sha256 hex digest: {sha256_hex!r}")
    return sha256_hex


def _publish(work: Path, dest: Path) -> None:
    """Rename the finished tree into place; if another put got there first, theirs stands."""
    os.chmod(work, 0o755)  # mkdtemp made it 0700; environments may run as another uid
    try:
        os.rename(work, dest)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and dest.is_dir():
            return
        raise


def _declared_size(zip_bytes: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return sum(info.file_size for info in archive.infolist())


def _unpack(zip_bytes: bytes, dest: Path, budget: int, too_big: str) -> int:
    """Unpack into the empty directory ``dest``; return the real unzipped byte count.

    Raises InvalidParameterValue for a bad package: ``too_big`` once more than
    ``budget`` bytes have come out. Regular files and directories are written
    first and symlinks last, so no entry is ever written through a symlink.
    OSError from our own disk passes through for the caller to translate.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except _CORRUPT as exc:
        raise InvalidParameterValue(_UNZIP_FAILED) from exc
    with archive:
        infos = archive.infolist()
        # Cheap early refusal of an honest but oversized package; a lying header is caught below.
        if sum(info.file_size for info in infos) > budget:
            raise InvalidParameterValue(too_big)
        total = 0
        links: list[tuple[PurePosixPath, str]] = []
        for info in infos:
            rel = _entry_path(info.filename)
            if rel is None:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raw_target = _read_link_target(archive, info)
                total += len(raw_target)
                if total > budget:
                    raise InvalidParameterValue(too_big)
                links.append((rel, raw_target.decode("utf-8", "surrogateescape")))
            elif info.is_dir():
                with _package_errors():
                    _makedirs(dest, rel.parts)
            else:
                total = _extract_file(archive, info, dest.joinpath(*rel.parts), mode, total, budget, too_big)
        for rel, link_target in links:
            _make_link(dest, rel, link_target)
        # Checked again once all links exist: a link made later can change where an earlier one leads.
        root = os.path.realpath(dest)
        for rel, _ in links:
            if os.path.commonpath([root, os.path.realpath(dest.joinpath(*rel.parts))]) != root:
                raise InvalidParameterValue(_outside(str(rel)))
        return total


def _entry_path(name: str) -> PurePosixPath | None:
    """The entry's path inside the package, or None for the package root itself."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\x00" in name:
        raise InvalidParameterValue(_outside(name))
    parts = [part for part in path.parts if part != "."]
    return PurePosixPath(*parts) if parts else None


def _outside(name: str) -> str:
    return (
        f"Could not unzip uploaded file. The entry '{name}' points outside the deployment package. "
        "Please check your file, then try to upload again."
    )


@contextmanager
def _package_errors() -> Iterator[None]:
    """Turn a write refused because of the package's own shape into the unzip error."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _PACKAGE_ERRNOS:
            raise InvalidParameterValue(_UNZIP_FAILED) from exc
        raise


def _read_link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as src:
            data = src.read(_MAX_LINK_TARGET + 1)
    except _CORRUPT as exc:
        raise InvalidParameterValue(_UNZIP_FAILED) from exc
    if not data or len(data) > _MAX_LINK_TARGET or b"\x00" in data:
        raise InvalidParameterValue(_UNZIP_FAILED)
    return data


def _extract_file(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    path: Path,
    mode: int,
    total: int,
    budget: int,
    too_big: str,
) -> int:
    """Stream one file out, counting the bytes that really come out; return the new total."""
    # Only the exec bits are kept from the zip: a custom runtime's bootstrap must stay
    # executable, and nothing in a package needs to be writable or private.
    perms = 0o755 if mode & 0o111 else 0o644
    with _package_errors():
        _makedirs(path.parent, ())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, perms)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), perms)  # exact bits, whatever the umask
        try:
            src = archive.open(info)
        except _CORRUPT as exc:
            raise InvalidParameterValue(_UNZIP_FAILED) from exc
        with src:
            while True:
                try:
                    chunk = src.read(_CHUNK)
                except _CORRUPT as exc:
                    raise InvalidParameterValue(_UNZIP_FAILED) from exc
                if not chunk:
                    return total
                total += len(chunk)
                if total > budget:
                    raise InvalidParameterValue(too_big)
                out.write(chunk)


def _makedirs(base: Path, parts: tuple[str, ...]) -> None:
    """Create ``base`` (under the package root) and ``parts`` below it, each missing directory
    0755 whatever the umask. No symlinks exist yet while this runs, so nothing redirects it."""
    if not base.is_dir():
        _makedirs(base.parent, (base.name,))
    current = base
    for part in parts:
        current = current / part
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            if current.is_dir() and not current.is_symlink():
                continue
            raise
        os.chmod(current, 0o755)


def _make_link(dest: Path, rel: PurePosixPath, target: str) -> None:
    # Refused outright: an absolute target, or one that climbs above the package root.
    parent = PurePosixPath(*rel.parts[:-1]) if len(rel.parts) > 1 else PurePosixPath()
    lexical = PurePosixPath(os.path.normpath(parent / target))
    if target.startswith("/") or lexical.parts[:1] == ("..",):
        raise InvalidParameterValue(_outside(str(rel)))
    path = dest.joinpath(*rel.parts)
    with _package_errors():
        _makedirs(path.parent, ())
        os.symlink(target, path)
