"""Code signing configurations through boto3: CRUD, AWS's errors, and enforcement
of signed packages made with ``lambdalite signing``.

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestCodeSigningConfig);
CodeVerificationFailedException's as CloudFormation relays AWS's (aws/aws-cdk#29474).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server, zip_files

TRIVIAL = {"app.py": "def handler(event, context):\n    return 'ok'\n"}
CSC_PREFIX = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:"
TEST_PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/test"
UNTRUSTED = (
    "Lambda cannot deploy the function. The function or layer might be signed using a signature "
    "that the client is not configured to accept. Check the provided signature for {}."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("signing") / "data")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


def lambdalite(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lambdalite", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def profile(server: Server) -> tuple[str, Path]:
    """(profile version ARN, private key) registered in the running server's data dir."""
    key = server.data_dir.parent / "signer.pem"
    arn = lambdalite(
        "signing", "create-profile", "team", "--key-out", str(key), "--data-dir", str(server.data_dir)
    )
    return arn, key


def signed(package: bytes, profile: tuple[str, Path], tmp_path: Path) -> bytes:
    path = tmp_path / "code.zip"
    path.write_bytes(package)
    arn, key = profile
    lambdalite("signing", "sign", str(path), "--key", str(key), "--profile-version-arn", arn)
    return path.read_bytes()


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response  # type: ignore[no-any-return]


def new_config(lam: Any, policy: str, publishers: list[str]) -> str:
    response = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": publishers},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy},
    )
    return str(response["CodeSigningConfig"]["CodeSigningConfigArn"])


def test_configs_are_created_read_updated_listed_and_deleted(lam: Any) -> None:
    created = lam.create_code_signing_config(
        Description="Testing CodeSigning Config",
        AllowedPublishers={"SigningProfileVersionArns": [TEST_PROFILE]},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = created["CodeSigningConfig"]
    arn = config["CodeSigningConfigArn"]
    assert arn == CSC_PREFIX + config["CodeSigningConfigId"]
    assert config["CodeSigningConfigId"].startswith("csc-") and len(config["CodeSigningConfigId"]) == 21
    # Warn is AWS's default policy.
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [TEST_PROFILE]}

    updated = lam.update_code_signing_config(
        CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"}
    )["CodeSigningConfig"]
    assert updated["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce"
    assert updated["Description"] == "Testing CodeSigning Config"
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == updated
    # No member to change: the config comes back as it is.
    assert lam.update_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == updated
    second = new_config(lam, "Warn", [TEST_PROFILE])
    listed = [item["CodeSigningConfigArn"] for item in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    assert listed.index(arn) < listed.index(second)  # in the order they were created

    create_function(lam, "csc-crud", TRIVIAL)
    assert "CodeSigningConfigArn" not in lam.get_function_code_signing_config(FunctionName="csc-crud")
    put = lam.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName="csc-crud")
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, "csc-crud")
    got = lam.get_function_code_signing_config(FunctionName=ARN_PREFIX + "csc-crud")
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, "csc-crud")
    by_config = lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)
    assert by_config["FunctionArns"] == [ARN_PREFIX + "csc-crud"]

    in_use = error_of(lam.delete_code_signing_config, CodeSigningConfigArn=arn)
    assert in_use["Error"]["Code"] == "ResourceConflictException"
    assert (
        lam.delete_function_code_signing_config(FunctionName="csc-crud")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    assert (
        lam.delete_code_signing_config(CodeSigningConfigArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 204
    )
    lam.delete_code_signing_config(CodeSigningConfigArn=second)
    listed = [item["CodeSigningConfigArn"] for item in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    assert arn not in listed and second not in listed


def test_missing_configs_and_functions_get_awss_errors(lam: Any) -> None:
    arn = new_config(lam, "Enforce", [TEST_PROFILE])
    missing = arn[:-1] + ("x" if arn[-1] != "x" else "y")
    create_function(lam, "csc-errors", TRIVIAL)
    not_found = f"The Lambda code signing configuration {missing} can not be found."
    for call in (
        lam.get_code_signing_config,
        lam.update_code_signing_config,
        lam.delete_code_signing_config,
        lam.list_functions_by_code_signing_config,
    ):
        response = error_of(call, CodeSigningConfigArn=missing)
        assert response["Error"] == {"Code": "ResourceNotFoundException", "Message": not_found}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert "Type" not in response  # AWS sends none for this one

    csc_missing = (
        "The code signing configuration cannot be found. "
        f"Check that the provided configuration is not deleted: {missing}."
    )
    for name in ("csc-errors", "csc-nope"):  # the config is checked before the function
        response = error_of(
            lam.put_function_code_signing_config, CodeSigningConfigArn=missing, FunctionName=name
        )
        assert response["Error"] == {"Code": "CodeSigningConfigNotFoundException", "Message": csc_missing}
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 404

    function_missing = {
        "Code": "ResourceNotFoundException",
        "Message": f"Function not found: {ARN_PREFIX}csc-nope",
    }
    assert (
        error_of(lam.put_function_code_signing_config, CodeSigningConfigArn=arn, FunctionName="csc-nope")[
            "Error"
        ]
        == function_missing
    )
    assert (
        error_of(lam.get_function_code_signing_config, FunctionName="csc-nope")["Error"] == function_missing
    )
    assert (
        error_of(lam.delete_function_code_signing_config, FunctionName="csc-nope")["Error"]
        == function_missing
    )
    # Nothing to delete is not an error.
    lam.delete_function_code_signing_config(FunctionName="csc-errors")

    bad_policy = error_of(
        lam.create_code_signing_config,
        AllowedPublishers={"SigningProfileVersionArns": [TEST_PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Block"},
    )["Error"]
    assert bad_policy["Code"] == "ValidationException"
    assert "Member must satisfy enum value set: [Warn, Enforce]" in bad_policy["Message"]
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)


def test_enforce_refuses_unsigned_and_foreign_code_and_accepts_signed(
    lam: Any, profile: tuple[str, Path], tmp_path: Path
) -> None:
    arn = new_config(lam, "Enforce", [profile[0]])
    package = zip_files(TRIVIAL)
    common = {"Runtime": "python3.11", "Role": "arn:aws:iam::000000000000:role/r", "Handler": "app.handler"}

    response = error_of(
        lam.create_function,
        FunctionName="csc-enforced",
        Code={"ZipFile": package},
        CodeSigningConfigArn=arn,
        **common,
    )
    assert response["Error"] == {
        "Code": "CodeVerificationFailedException",
        "Message": UNTRUSTED.format("csc-enforced"),
    }
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        error_of(lam.get_function, FunctionName="csc-enforced")["Error"]["Code"]
        == "ResourceNotFoundException"
    )

    # Signed by a profile version this config does not allow: refused the same way.
    other = new_config(lam, "Enforce", [TEST_PROFILE])
    response = error_of(
        lam.create_function,
        FunctionName="csc-enforced",
        Code={"ZipFile": signed(package, profile, tmp_path)},
        CodeSigningConfigArn=other,
        **common,
    )
    assert response["Error"]["Code"] == "CodeVerificationFailedException"

    lam.create_function(
        FunctionName="csc-enforced",
        Code={"ZipFile": signed(package, profile, tmp_path)},
        CodeSigningConfigArn=arn,
        **common,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="csc-enforced")
    assert lam.get_function_code_signing_config(FunctionName="csc-enforced")["CodeSigningConfigArn"] == arn
    assert lam.invoke(FunctionName="csc-enforced")["Payload"].read() == b'"ok"'

    # An update must be signed too; a signed package changed afterwards fails the integrity check.
    response = error_of(lam.update_function_code, FunctionName="csc-enforced", ZipFile=zip_files(TRIVIAL))
    assert response["Error"]["Code"] == "CodeVerificationFailedException"
    lam.update_function_code(
        FunctionName="csc-enforced", ZipFile=signed(zip_files({**TRIVIAL, "x.txt": "1"}), profile, tmp_path)
    )


def test_integrity_failures_are_refused_even_under_warn(
    lam: Any, profile: tuple[str, Path], tmp_path: Path
) -> None:
    arn = new_config(lam, "Warn", [profile[0]])
    create_function(lam, "csc-integrity", TRIVIAL)
    lam.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName="csc-integrity")
    genuine = signed(zip_files(TRIVIAL), profile, tmp_path)
    tampered_source = tmp_path / "tampered.zip"
    tampered_source.write_bytes(genuine)
    with zipfile.ZipFile(tampered_source, "a") as archive:
        archive.writestr("extra.py", "print('not signed')\n")
    response = error_of(
        lam.update_function_code, FunctionName="csc-integrity", ZipFile=tampered_source.read_bytes()
    )
    assert response["Error"] == {
        "Code": "InvalidCodeSignatureException",
        "Message": "Lambda cannot deploy the function. The code signature failed the integrity check: "
        "the package was modified after it was signed. Check the provided signature for csc-integrity.",
    }


def test_warn_accepts_unsigned_code_and_logs_it(lam: Any, server: Server) -> None:
    arn = new_config(lam, "Warn", [TEST_PROFILE])
    lam.create_function(
        FunctionName="csc-warned",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": zip_files(TRIVIAL)},
        CodeSigningConfigArn=arn,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="csc-warned")
    assert lam.invoke(FunctionName="csc-warned")["Payload"].read() == b'"ok"'
    assert (
        f"SignatureValidationErrors: deploying csc-warned under {arn} (Warn): the package is not signed"
        in (server.output())
    )
