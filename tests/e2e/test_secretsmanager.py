"""Secrets Manager through boto3 against a real server: create, read, new values
with AWSCURRENT/AWSPREVIOUS, describe, list, the recovery window and forced
deletion, AWS's error codes and messages, and values sealed at rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION, Server, start_server, stop_server

ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("secrets"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def sm(server: Server) -> Any:
    return server.client("secretsmanager")


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_create_get_put_describe(sm: Any) -> None:
    made = sm.create_secret(Name="rmq/creds", SecretString='{"username":"guest"}', Description="d")
    assert made["ARN"].startswith(ARN_PREFIX + "rmq/creds-") and len(made["ARN"]) == len(ARN_PREFIX) + 16
    got = sm.get_secret_value(SecretId="rmq/creds")
    assert got["SecretString"] == '{"username":"guest"}'
    assert got["VersionStages"] == ["AWSCURRENT"] and got["VersionId"] == made["VersionId"]
    assert sm.get_secret_value(SecretId=made["ARN"])["ARN"] == made["ARN"]
    put = sm.put_secret_value(SecretId=made["ARN"], SecretString="two")
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId="rmq/creds")["SecretString"] == "two"
    previous = sm.get_secret_value(SecretId="rmq/creds", VersionStage="AWSPREVIOUS")
    assert previous["SecretString"] == '{"username":"guest"}'
    described = sm.describe_secret(SecretId="rmq/creds")
    assert described["Description"] == "d"
    assert described["VersionIdsToStages"] == {
        made["VersionId"]: ["AWSPREVIOUS"],
        put["VersionId"]: ["AWSCURRENT"],
    }
    binary = sm.create_secret(Name="bin", SecretBinary=b"\x00\x01")
    assert sm.get_secret_value(SecretId=binary["ARN"])["SecretBinary"] == b"\x00\x01"


def test_errors(sm: Any) -> None:
    sm.create_secret(Name="dup", SecretString="x")
    assert error_of(sm.create_secret, Name="dup", SecretString="y") == (
        "ResourceExistsException",
        "The operation failed because the secret dup already exists.",
    )
    missing = "Secrets Manager can't find the specified secret."
    assert error_of(sm.get_secret_value, SecretId="nope") == ("ResourceNotFoundException", missing)
    assert error_of(sm.describe_secret, SecretId="nope") == ("ResourceNotFoundException", missing)
    assert error_of(sm.delete_secret, SecretId="nope") == ("ResourceNotFoundException", missing)
    assert error_of(sm.put_secret_value, SecretId="nope", SecretString="v") == (
        "ResourceNotFoundException",
        missing,
    )
    sm.create_secret(Name="empty")
    assert error_of(sm.get_secret_value, SecretId="empty") == (
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
    )
    assert error_of(sm.delete_secret, SecretId="dup", RecoveryWindowInDays=3) == (
        "InvalidParameterException",
        "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
    )
    assert error_of(
        sm.delete_secret, SecretId="dup", RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True
    ) == (
        "InvalidParameterException",
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
    )


def test_recovery_window_and_forced_deletion(sm: Any) -> None:
    made = sm.create_secret(Name="doomed", SecretString="v")
    deleted = sm.delete_secret(SecretId="doomed", RecoveryWindowInDays=7)
    assert deleted["ARN"] == made["ARN"]
    described = sm.describe_secret(SecretId="doomed")
    window = (deleted["DeletionDate"] - described["DeletedDate"]).total_seconds()
    assert window == pytest.approx(7 * 86400, abs=1)
    marked = "You can't perform this operation on the secret because it was marked for deletion."
    assert error_of(sm.get_secret_value, SecretId="doomed") == ("InvalidRequestException", marked)
    assert error_of(sm.put_secret_value, SecretId="doomed", SecretString="w") == (
        "InvalidRequestException",
        marked,
    )
    assert error_of(sm.create_secret, Name="doomed", SecretString="v") == (
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
    )
    names = {s["Name"] for s in sm.list_secrets()["SecretList"]}
    assert "doomed" not in names
    planned = {s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]}
    assert "doomed" in planned
    sm.delete_secret(SecretId=made["ARN"], ForceDeleteWithoutRecovery=True)
    assert error_of(sm.describe_secret, SecretId="doomed")[0] == "ResourceNotFoundException"
    sm.create_secret(Name="doomed", SecretString="again")


def test_list_pages(sm: Any) -> None:
    for n in range(3):
        sm.create_secret(Name=f"page-{n}", SecretString="v")
    first = sm.list_secrets(MaxResults=2)
    assert len(first["SecretList"]) == 2 and "NextToken" in first
    rest = sm.list_secrets(MaxResults=100, NextToken=first["NextToken"])
    names = [s["Name"] for s in first["SecretList"] + rest["SecretList"]]
    assert len(names) == len(set(names)) and {"page-0", "page-1", "page-2"} <= set(names)


def test_values_sealed_at_rest(server: Server, sm: Any) -> None:
    marker = "sealed-marker-5d1f0c2b"
    sm.create_secret(Name="at-rest", SecretString=marker)
    sm.put_secret_value(SecretId="at-rest", SecretString=marker + "-2")
    raw = b"".join(p.read_bytes() for p in Path(server.data_dir).glob("lambdalite.db*"))
    assert marker.encode() not in raw
    assert sm.get_secret_value(SecretId="at-rest")["SecretString"] == marker + "-2"
