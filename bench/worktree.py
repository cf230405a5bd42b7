"""A checkout of another commit beside the working tree, for "before and after in one run".

``checkout(repo, ref, parent)`` adds a detached git worktree of ``ref`` under
``parent`` and removes it on the way out, whatever happens. The benchmark runs
that tree's ``lambdalite`` with this tree's virtualenv: ``python -m lambdalite``
with the worktree as cwd and first on PYTHONPATH, which wins over the
virtualenv's editable install (``code_of`` checks it). Dependencies are this
tree's; a commit that needs a package the virtualenv lacks fails to start and
says so.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class WorktreeError(Exception):
    """The ref does not name a commit, or git could not check it out."""


@dataclass(frozen=True, slots=True)
class Checkout:
    ref: str
    commit: str
    path: Path

    def environment(self) -> dict[str, str]:
        """Variables that make ``python -m lambdalite`` (run with cwd = path) use this checkout."""
        inherited = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": str(self.path) + (os.pathsep + inherited if inherited else "")}


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False, timeout=120
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise WorktreeError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise WorktreeError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def resolve(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names in ``repo``."""
    return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def head(repo: Path) -> str:
    """HEAD's commit id, with ``+dirty`` when the working tree has uncommitted changes."""
    commit = _git(repo, "rev-parse", "HEAD")
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return commit + ("+dirty" if dirty else "")


@contextlib.contextmanager
def checkout(repo: Path, ref: str, parent: Path) -> Iterator[Checkout]:
    """A detached worktree of ``ref`` under ``parent``; removed on exit."""
    commit = resolve(repo, ref)
    path = parent / f"before-{commit[:12]}"
    _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield Checkout(ref, commit, path)
    finally:
        with contextlib.suppress(WorktreeError):
            _git(repo, "worktree", "remove", "--force", str(path))
        with contextlib.suppress(WorktreeError):
            _git(repo, "worktree", "prune")


def code_of(python: str, cwd: Path, env: dict[str, str]) -> Path:
    """Where ``python -m lambdalite`` run in ``cwd`` with ``env`` imports lambdalite from."""
    done = subprocess.run(
        [python, "-c", "import lambdalite, os; print(os.path.dirname(lambdalite.__file__))"],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise WorktreeError(f"cannot import lambdalite from {cwd}: {done.stderr.strip()[-500:]}")
    return Path(done.stdout.strip())
