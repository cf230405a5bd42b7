"""Choosing the program that runs a function's runtime."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.runtimes import lookup
from lambdalite.runtimes.lookup import (
    NODE_BOOTSTRAP,
    PYTHON_BOOTSTRAP,
    SUPPORTED_RUNTIMES,
    RuntimeUnavailable,
    command_for,
    nearest,
)


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    def clear() -> None:
        for cached in (
            lookup.python_interpreters,
            lookup._python_command,
            lookup.node_interpreter,
            lookup.installed_nodes,
            lookup._node_command,
        ):
            cached.cache_clear()

    clear()
    yield
    clear()


def fake_pythons(monkeypatch: pytest.MonkeyPatch, versions: dict[tuple[int, int], str]) -> None:
    found = {version: Path(path) for version, path in versions.items()}
    monkeypatch.setattr(lookup, "python_interpreters", lambda: found)
    monkeypatch.setattr(lookup, "_probe_version", lambda *argv: "3.x.y")


def executable(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_supported_runtimes() -> None:
    assert SUPPORTED_RUNTIMES == (
        "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
        "nodejs18.x", "nodejs20.x", "nodejs22.x",
        "provided", "provided.al2", "provided.al2023",
    )  # fmt: skip


def test_nearest_prefers_the_closest_and_on_a_tie_the_newer() -> None:
    assert nearest((3, 10), [(3, 9), (3, 11)]) == (3, 11)
    assert nearest((3, 14), [(3, 9), (3, 12)]) == (3, 12)
    assert nearest((3, 9), [(3, 13), (3, 11)]) == (3, 11)
    assert nearest((3, 9), []) is None


def test_python_uses_the_exact_interpreter_without_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pythons(monkeypatch, {(3, 9): "/x/python3.9", (3, 12): "/x/python3.12"})
    command = command_for("python3.12", Path("/task"), strict=False)
    assert command.family == "python"
    assert command.argv == ("/x/python3.12", str(PYTHON_BOOTSTRAP))
    assert command.warning is None


def test_python_falls_back_to_the_nearest_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pythons(monkeypatch, {(3, 9): "/x/python3.9", (3, 12): "/x/python3.12"})
    command = command_for("python3.11", Path("/task"), strict=False)
    assert command.argv[0] == "/x/python3.12"
    assert command.warning == "python3.11 is not installed here; running on python3.12 (/x/python3.12)"


def test_strict_mode_refuses_a_substitute(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pythons(monkeypatch, {(3, 12): "/x/python3.12"})
    with pytest.raises(RuntimeUnavailable, match=r"python3\.11 is not installed here") as err:
        command_for("python3.11", Path("/task"), strict=True)
    assert err.value.error_type == "Runtime.Unavailable"


def test_no_python_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pythons(monkeypatch, {})
    with pytest.raises(RuntimeUnavailable):
        command_for("python3.12", Path("/task"), strict=False)


def test_discovery_reads_path_and_pyenv_but_skips_shims(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    on_path = executable(tmp_path / "bin" / "python3.10")
    pyenv = executable(tmp_path / "pyenv" / "versions" / "3.14.0" / "bin" / "python3.14")
    executable(tmp_path / "pyenv" / "shims" / "python3.13")
    executable(tmp_path / "pyenv" / "versions" / "3.8.0" / "bin" / "python3.8")
    monkeypatch.setenv("PATH", f"{tmp_path / 'pyenv' / 'shims'}:{tmp_path / 'bin'}")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    found = lookup.python_interpreters()
    assert found[(3, 10)] == on_path
    assert found[(3, 14)] == pyenv
    assert found.get((3, 13)) != tmp_path / "pyenv" / "shims" / "python3.13"
    assert (3, 8) not in found


def test_node_major_mismatch_warns_or_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "node_interpreter", lambda: (Path("/usr/bin/node"), "20.20.2"))
    monkeypatch.setattr(lookup, "installed_nodes", dict)
    exact = command_for("nodejs20.x", Path("/task"), strict=False)
    assert exact.argv == ("/usr/bin/node", str(NODE_BOOTSTRAP))
    assert (exact.family, exact.warning, exact.interpreter_version) == ("nodejs", None, "20.20.2")
    other = command_for("nodejs22.x", Path("/task"), strict=False)
    assert other.warning == "nodejs22.x is not installed here; running on node 20.20.2 (/usr/bin/node)"
    with pytest.raises(RuntimeUnavailable):
        command_for("nodejs22.x", Path("/task"), strict=True)


def test_an_installed_node_major_runs_its_runtime_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "node_interpreter", lambda: (Path("/usr/bin/node"), "20.20.2"))
    monkeypatch.setattr(lookup, "installed_nodes", lambda: {22: (Path("/sdk/node/22/bin/node"), "22.23.5")})
    command = command_for("nodejs22.x", Path("/task"), strict=True)
    assert command.argv[0] == "/sdk/node/22/bin/node"
    assert (command.warning, command.interpreter_version) == (None, "22.23.5")
    assert command_for("nodejs20.x", Path("/task"), strict=True).argv[0] == "/usr/bin/node"


def test_node_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "node_interpreter", lambda: None)
    monkeypatch.setattr(lookup, "installed_nodes", dict)
    with pytest.raises(RuntimeUnavailable, match="there is no node on PATH"):
        command_for("nodejs20.x", Path("/task"), strict=False)


@pytest.mark.parametrize("runtime", ["provided", "provided.al2", "provided.al2023"])
def test_provided_runs_the_task_roots_bootstrap(tmp_path: Path, runtime: str) -> None:
    bootstrap = executable(tmp_path / "bootstrap")
    command = command_for(runtime, tmp_path, strict=True)
    assert (command.family, command.argv, command.warning) == ("provided", (str(bootstrap),), None)


def test_provided_without_bootstrap_is_an_invalid_entrypoint(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailable) as err:
        command_for("provided.al2023", tmp_path, strict=False)
    assert err.value.error_type == "Runtime.InvalidEntrypoint"
    assert str(err.value) == f"Couldn't find valid bootstrap(s): [{tmp_path / 'bootstrap'}]"


def test_provided_bootstrap_that_is_not_executable(tmp_path: Path) -> None:
    executable(tmp_path / "bootstrap", mode=0o644)
    with pytest.raises(RuntimeUnavailable) as err:
        command_for("provided.al2", tmp_path, strict=False)
    assert err.value.error_type == "Runtime.InvalidEntrypoint"
    assert str(err.value) == f"fork/exec {tmp_path / 'bootstrap'}: permission denied"


def test_unknown_runtime() -> None:
    with pytest.raises(RuntimeUnavailable, match="java21"):
        command_for("java21", Path("/task"), strict=False)


def test_the_real_host_python_runs_the_bootstrap() -> None:
    command = command_for("python3.11", Path("/task"), strict=False)
    assert Path(command.argv[0]).exists()
    assert command.interpreter_version is not None


def test_interpreter_prefixes_include_every_python_found_and_lambdalites_own() -> None:
    prefixes = lookup.interpreter_prefixes()
    for interpreter in lookup.python_interpreters().values():
        assert Path(os.path.realpath(interpreter)).parent.parent in prefixes
    assert Path(sys.base_prefix).resolve() in prefixes
    assert Path(sys.prefix).resolve() in prefixes
