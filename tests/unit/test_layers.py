"""Layers below the HTTP surface: the registry, the 250 MB limit counting layers, the merged /opt."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.api.lambda_api import ApiRequest, LambdaApi
from lambdalite.config import Settings
from lambdalite.control import layers as rules
from lambdalite.control.layers import LayerRegistry
from lambdalite.control.registries import Registries
from lambdalite.errors import InvalidParameterValue, Validation
from lambdalite.sandbox.opt import merged_opt
from lambdalite.store.code import CodeStore
from lambdalite.store.layers import LayerStore, SqliteLayerStore
from lambdalite.store.sqlite import SqliteDatabase
from lambdalite.store.stores import open_sqlite

PREFIX = "arn:aws:lambda:us-east-1:000000000000:layer:"


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def publish_input(data: bytes) -> rules.PublishInput:
    return rules.PublishInput(data, "", None, (), ())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LayerStore]:
    database = SqliteDatabase(tmp_path / "db.sqlite")
    yield SqliteLayerStore(database)
    database.close()


def test_version_numbers_persist_and_are_never_reused(store: LayerStore, tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    layers = LayerRegistry(store, "us-east-1", "000000000000")
    stored = code.put(zipped({"a": b"1"}))
    assert layers.publish("l", publish_input(b""), stored).version == 1
    assert layers.publish("l", publish_input(b""), stored).version == 2
    layers.delete("l", 2)
    again = LayerRegistry(store, "us-east-1", "000000000000")
    assert [v.version for v in again.list_versions("l", None, None, None, 50)[0]] == [1]
    assert again.publish("l", publish_input(b""), stored).version == 3


def test_resolving_a_functions_layers_checks_in_awss_order(store: LayerStore, tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    layers = LayerRegistry(store, "us-east-1", "000000000000")
    stored = code.put(zipped({"a": b"1"}))
    layers.publish("l", publish_input(b""), stored)
    refs = layers.resolve_for_function([f"{PREFIX}l:1"])
    assert refs[0].arn == f"{PREFIX}l:1" and refs[0].unzipped_size == stored.unzipped_size
    with pytest.raises(InvalidParameterValue) as err:
        layers.resolve_for_function([f"{PREFIX}nope:1"] * 6)
    assert err.value.message == rules.TOO_MANY
    with pytest.raises(InvalidParameterValue) as err:
        layers.resolve_for_function(["arn:aws:lambda:eu-west-1:000000000000:layer:l:1"])
    assert err.value.message == (
        "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
    )
    with pytest.raises(InvalidParameterValue) as err:
        layers.resolve_for_function(["arn:aws:lambda:us-east-1:111111111111:layer:l:1"])
    assert (
        err.value.message == "Layer version arn:aws:lambda:us-east-1:111111111111:layer:l:1 does not exist."
    )


def _request(body: dict[str, Any], name: str | None = None) -> ApiRequest:
    return ApiRequest("POST", name, {}, {}, orjson.dumps(body))


def test_the_unzipped_limit_counts_the_function_and_its_layers(tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code", max_unzipped=1000)
    settings = Settings(data_dir=tmp_path)
    registries = Registries.build(open_sqlite(tmp_path / "db.sqlite"), settings)
    registry, layers = registries.functions, registries.layers
    api = LambdaApi(settings, registries, code, None)  # type: ignore[arg-type] - no invokes here
    layer = layers.publish("big", publish_input(b""), code.put(zipped({"f": b"x" * 600})))
    function = {
        "FunctionName": "fn",
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/r",
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(zipped({"app.py": b"y" * 500})).decode()},
    }
    asyncio.run(api.create_function(_request(function)))
    with pytest.raises(InvalidParameterValue) as err:
        asyncio.run(api.update_function_configuration(_request({"Layers": [f"{PREFIX}big:1"]}, "fn")))
    assert err.value.message == "Unzipped size must be smaller than 1000 bytes"
    assert registry.get("fn").layers == ()
    small = {**function, "FunctionName": "fn2", "Layers": [f"{PREFIX}big:{layer.version}"]}
    small["Code"] = {"ZipFile": base64.b64encode(zipped({"app.py": b"z" * 100})).decode()}
    asyncio.run(api.create_function(_request(small)))
    too_big = {"ZipFile": base64.b64encode(zipped({"app.py": b"w" * 500})).decode()}
    with pytest.raises(InvalidParameterValue):
        asyncio.run(api.update_function_code(ApiRequest("PUT", "fn2", {}, {}, orjson.dumps(too_big))))
    with pytest.raises(InvalidParameterValue):
        asyncio.run(api.create_function(_request({**small, "FunctionName": "fn3", "Code": too_big})))


def test_the_merged_opt_lets_later_layers_win(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    (first / "python" / "pkg").mkdir(parents=True)
    (first / "python" / "pkg" / "mod.py").write_text("first")
    (first / "python" / "only_first.py").write_text("first")
    (first / "bin").mkdir()
    (first / "bin" / "tool").write_text("first")
    (second / "python" / "pkg").mkdir(parents=True)
    (second / "python" / "pkg" / "mod.py").write_text("second")
    (second / "bin").write_text("a file where a directory was")
    os.symlink("pkg/mod.py", second / "python" / "link.py")
    merged = merged_opt(tmp_path / "merged", [first, second])
    assert (merged / "python" / "pkg" / "mod.py").read_text() == "second"
    assert (merged / "python" / "only_first.py").read_text() == "first"
    assert (merged / "bin").read_text() == "a file where a directory was"
    assert os.readlink(merged / "python" / "link.py") == "pkg/mod.py"
    assert merged_opt(tmp_path / "merged", [first, second]) == merged
    other = merged_opt(tmp_path / "merged", [second, first])
    assert other != merged and (other / "python" / "pkg" / "mod.py").read_text() == "first"


def test_publish_takes_every_runtime_name_aws_knows_and_words_its_refusal_as_aws_does() -> None:
    zip_file = base64.b64encode(zipped({"a": b"1"})).decode()
    parsed = rules.parse_publish(
        {"Content": {"ZipFile": zip_file}, "CompatibleRuntimes": ["python3.7", "go1.x", "provided"]}
    )
    assert parsed.compatible_runtimes == ("python3.7", "go1.x", "provided")
    with pytest.raises(Validation) as err:
        rules.parse_publish({"Content": {"ZipFile": zip_file}, "CompatibleRuntimes": ["cobol"]})
    assert err.value.message == (
        "1 validation error detected: Value '[cobol]' at 'compatibleRuntimes' failed to satisfy constraint: "
        f"Member must satisfy enum value set: [{', '.join(rules.PUBLISH_RUNTIMES)}]"
    )
    with pytest.raises(Validation) as err:
        rules.parse_publish({"Content": {"ZipFile": zip_file}, "CompatibleArchitectures": ["sparc"]})
    assert err.value.message == (
        "1 validation error detected: Value '[sparc]' at 'compatibleArchitectures' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], "
        "Member must not be null]"
    )


def test_a_runtime_botocore_knows_and_aws_did_not_is_a_known_runtime() -> None:
    assert rules.known_runtime("python3.12") and rules.known_runtime("nasa")
    assert not rules.known_runtime("cobol")
    for runtime in rules.PUBLISH_RUNTIMES:
        assert runtime in rules.KNOWN_RUNTIMES


def test_get_by_arn_names_awss_pattern_without_the_models_extra_parentheses(
    store: LayerStore,
) -> None:
    layers = LayerRegistry(store, "us-east-1", "000000000000")
    with pytest.raises(Validation) as err:
        layers.get_by_arn(f"{PREFIX}l")
    assert err.value.message == (
        f"1 validation error detected: Value '{PREFIX}l' at 'arn' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {rules.LAYER_VERSION_ARN_PATTERN}"
    )
    assert rules.LAYER_VERSION_ARN_PATTERN.startswith(
        "(arn:"
    ) and not rules.LAYER_VERSION_ARN_PATTERN.startswith("((")
