"""Bad input through the public API: AWS's exact errors, nothing stored, the server keeps serving."""

from __future__ import annotations

import io
import os
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, create_function, zip_files

GOOD = {"app.py": "def handler(event, context):\n    return 'fine'\n"}
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"


@pytest.fixture(scope="module")
def raw_lam(server: Any) -> Any:
    """A client that sends what it is given: botocore's own checks would stop bad values first."""
    return server.client("lambda", parameter_validation=False)


def create(lam: Any, name: str = "bad-fn", code: bytes | None = None, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": code if code is not None else zip_files(GOOD)},
    }
    params.update(overrides)
    return lam.create_function(**params)


def error_of(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        (
            {"MemorySize": 100},
            "ValidationException",
            "1 validation error detected: Value '100' at 'memorySize' failed to satisfy constraint: "
            "Member must have value greater than or equal to 128",
        ),
        (
            {"MemorySize": 10241},
            "ValidationException",
            "1 validation error detected: Value '10241' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240",
        ),
        (
            {"Timeout": 901},
            "ValidationException",
            "1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: "
            "Member must have value less than or equal to 900",
        ),
        (
            {"Role": "not-a-role"},
            "ValidationException",
            "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {ROLE_PATTERN}",
        ),
        (
            {"Handler": "has space"},
            "ValidationException",
            "1 validation error detected: Value 'has space' at 'handler' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [^\s]+",
        ),
        (
            {"Runtime": "python2.7"},
            "InvalidParameterValueException",
            "The runtime parameter of python2.7 is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.",
        ),
        (
            {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            "Reserved keys used in this request: AWS_REGION",
        ),
        (
            {"Environment": {"Variables": {"LAMBDALITE_NETWORK": "off"}}},
            "InvalidParameterValueException",
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains an invalid value. LAMBDALITE_NETWORK must be host or none; got 'off'.",
        ),
    ],
)
def test_invalid_settings_are_refused_with_awss_words(
    lam: Any, raw_lam: Any, overrides: dict[str, Any], code: str, message: str
) -> None:
    assert error_of(lambda: create(raw_lam, **overrides)) == (code, message, 400)
    assert error_of(lambda: lam.get_function(FunctionName="bad-fn"))[0] == "ResourceNotFoundException"


def test_invalid_function_name_is_a_validation_error(lam: Any) -> None:
    code, message, status = error_of(lambda: create(lam, name="bad name!"))
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(
        "1 validation error detected: Value 'bad name!' at 'functionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )


def test_unknown_runtime_lists_the_enum(lam: Any) -> None:
    code, message, status = error_of(lambda: create(lam, Runtime="python9.9"))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Value python9.9 at 'runtime' failed to satisfy constraint: ")
    assert message.endswith(" or be a valid ARN")


def test_environment_over_4kb_is_refused(lam: Any) -> None:
    variables = {"BIG": "x" * 4100}
    code, message, status = error_of(lambda: create(lam, Environment={"Variables": variables}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == (
        "Lambda was unable to configure your environment variables because the environment variables you "
        f'have provided exceeded the 4KB limit. String measured: {{"BIG":"{"x" * 4100}"}}'
    )


def test_update_with_bad_settings_keeps_the_stored_function(lam: Any, raw_lam: Any) -> None:
    create_function(lam, "intact", GOOD, Timeout=5)
    before = lam.get_function_configuration(FunctionName="intact")
    assert error_of(lambda: raw_lam.update_function_configuration(FunctionName="intact", Timeout=0))[0] == (
        "ValidationException"
    )
    assert error_of(lambda: lam.update_function_code(FunctionName="intact", ZipFile=b"junk"))[0] == (
        "InvalidParameterValueException"
    )
    assert lam.get_function_configuration(FunctionName="intact") == {
        **before,
        "ResponseMetadata": lam.get_function_configuration(FunctionName="intact")["ResponseMetadata"],
    }
    assert lam.invoke(FunctionName="intact")["Payload"].read() == b'"fine"'


def zip_with(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize("entry", ["../escape.py", "/etc/evil.py", "lib/../../escape.py"])
def test_zip_entries_that_leave_the_package_are_refused(lam: Any, entry: str) -> None:
    info = zipfile.ZipInfo(entry)
    code, message, status = error_of(lambda: create(lam, code=zip_with([(info, b"x = 1\n")])))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Could not unzip uploaded file.")
    assert "points outside the deployment package" in message


def test_zip_symlink_that_leaves_the_package_is_refused(lam: Any) -> None:
    link = zipfile.ZipInfo("secrets")
    link.external_attr = (0o120777) << 16
    code, message, _ = error_of(lambda: create(lam, code=zip_with([(link, b"/etc/shadow")])))
    assert code == "InvalidParameterValueException"
    assert "points outside the deployment package" in message


def test_zip_bomb_stops_at_the_unzipped_limit(lam: Any, server: Any) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("bomb.bin", "w", force_zip64=True) as member,
    ):
        block = bytes(1024 * 1024)
        for _ in range(260):
            member.write(block)
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * 1024 * 1024
    assert error_of(lambda: create(lam, code=bomb)) == (
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
        400,
    )
    leftovers = [
        path for path, _, files in os.walk(server.data_dir / "code") for name in files if "bomb" in name
    ]
    assert not leftovers


def test_zipped_code_over_50mb_is_refused(lam: Any) -> None:
    big = zip_with([(zipfile.ZipInfo("noise.bin"), os.urandom(50 * 1024 * 1024 + 1024))])
    code, message, status = error_of(lambda: create(lam, name="too-big", code=big))
    assert (code, status) == ("RequestEntityTooLargeException", 413)
    assert message == "Zipped size must be smaller than 52428800 bytes"
