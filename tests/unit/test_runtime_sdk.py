"""runtimes.sdk and runtimes.inventory without the registries: what is reported,
what is installed when, and that a failed install leaves the old copy whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalite.runtimes import inventory, lookup, sdk


@pytest.fixture
def sdk_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sdk, "PYTHON_SDK_DIR", tmp_path / "python")
    monkeypatch.setattr(sdk, "NODE_SDK_DIR", tmp_path / "nodejs")
    monkeypatch.setattr(sdk, "NODE_BINARIES_DIR", tmp_path / "node")
    return tmp_path


def test_a_missing_sdk_says_how_to_install_it(sdk_root: Path) -> None:
    python, node = sdk.status()
    assert not python.installed and not node.installed
    assert python.line() == "python SDK: boto3 MISSING - run `lambdalite runtimes install`"
    assert sdk.python_sdk_path() == sdk.node_sdk_path() == ""


def test_an_installed_sdk_is_found_with_its_version(sdk_root: Path) -> None:
    (sdk_root / "python" / "boto3").mkdir(parents=True)
    (sdk_root / "python" / f"boto3-{sdk.BOTO3_VERSION}.dist-info").mkdir()
    client = sdk_root / "nodejs" / "node_modules" / "@aws-sdk" / "client-s3"
    client.mkdir(parents=True)
    (client / "package.json").write_text('{"version": "3.1.0"}')
    python, node = sdk.status()
    assert (python.version, node.version) == (sdk.BOTO3_VERSION, "3.1.0")
    assert sdk.python_sdk_path() == str(sdk_root / "python")
    assert sdk.node_sdk_path() == str(sdk_root / "nodejs" / "node_modules")


def test_install_replaces_only_what_is_missing_or_another_version(
    sdk_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []

    def fake_python(target: Path) -> None:
        built.append("python")
        (target / "boto3").mkdir()
        (target / f"boto3-{sdk.BOTO3_VERSION}.dist-info").mkdir()

    monkeypatch.setattr(sdk, "_install_python", fake_python)
    assert sdk.install(node=False) == [f"installed boto3 {sdk.BOTO3_VERSION} in {sdk_root / 'python'}"]
    assert sdk.install(node=False) == [] and built == ["python"]


def test_a_failed_install_leaves_the_old_copy_whole(sdk_root: Path) -> None:
    old = sdk_root / "python"
    old.mkdir()
    (old / "kept").write_text("old")

    def broken(target: Path) -> None:
        (target / "half").write_text("x")
        raise sdk.SdkInstallError("pip failed (1): no network")

    with pytest.raises(sdk.SdkInstallError):
        sdk._replace(old, broken)
    assert [p.name for p in sdk_root.iterdir()] == ["python"]
    assert (old / "kept").read_text() == "old"


def test_without_npm_the_node_parts_are_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(inventory.shutil, "which", lambda name: None)
    monkeypatch.setattr(sdk, "install", lambda *, python=True, node=True: calls.append(node) or [])
    assert inventory.install_missing() == [
        "skipped the AWS SDK for JavaScript and Node.js majors: there is no npm on PATH"
    ]
    assert calls == [False]


def test_missing_node_majors_are_those_neither_host_nor_install_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "node_interpreter", lambda: (Path("/usr/bin/node"), "20.20.2"))
    monkeypatch.setattr(lookup, "installed_nodes", lambda: {22: (Path("/x/node"), "22.1.0")})
    assert inventory.missing_node_majors() == [18]


def test_runtime_rows_name_the_interpreter_or_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "node_interpreter", lambda: None)
    monkeypatch.setattr(lookup, "installed_nodes", dict)
    lookup._node_command.cache_clear()
    try:
        rows = {row.runtime: row for row in inventory.runtime_rows(strict=False)}
    finally:
        lookup._node_command.cache_clear()
    assert rows["nodejs20.x"].runs_on == "-" and "no node on PATH" in rows["nodejs20.x"].note
    assert rows["provided.al2023"].runs_on == "the function's own bootstrap"
