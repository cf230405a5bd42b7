"""Provisioned concurrency through boto3, with AWS's exact errors.

The server runs with ``--max-concurrency 20``: the node's limit plays AWS's
account limit and its unreserved floor is 2 (see ``lambdalite.dataplane.limiter``).

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json,
TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions and
::test_lambda_provisioned_lifecycle) and its parity-tested provider reproduces
them (services/lambda_/provider.py, put_provisioned_concurrency_config, for the
limits).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, Server, create_function, error_of, start_server, stop_server

LIMIT = 20
INIT_TYPE = {
    "app.py": (
        "import os, time\n"
        "def handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n"
        "    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    )
}
NOT_A_VERSION_OR_ALIAS = "The function resource provided must be an alias or a published version."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("provisioned") / "data"
    srv = start_server(data_dir, "--max-concurrency", str(LIMIT), "--warm-wait-ms", "0")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client()


def published(lam: Any, name: str, files: dict[str, str] | None = None) -> str:
    create_function(lam, name, files or INIT_TYPE)
    return str(lam.publish_version(FunctionName=name)["Version"])


def wait_status(lam: Any, name: str, qualifier: str, status: str = "READY") -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        config: dict[str, Any] = lam.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        if config["Status"] == status or time.monotonic() > deadline:
            return config
        time.sleep(0.02)


def invoke_tail(lam: Any, name: str, qualifier: str | None = None, **event: Any) -> tuple[str, str]:
    params: dict[str, Any] = {"FunctionName": name, "LogType": "Tail", "Payload": json.dumps(event)}
    if qualifier is not None:
        params["Qualifier"] = qualifier
    response = lam.invoke(**params)
    payload = response["Payload"].read().decode()
    return payload.strip('"'), base64.b64decode(response["LogResult"]).decode()


def test_every_operation_refuses_what_aws_refuses(server: Server, lam: Any) -> None:
    version = published(lam, "pc-errors")
    unvalidated = server.client(parameter_validation=False)
    fn = f"{ARN_PREFIX}pc-errors"

    assert error_of(
        "ProvisionedConcurrencyConfigNotFoundException",
        lambda: lam.get_provisioned_concurrency_config(FunctionName="pc-errors", Qualifier=version),
    ) == (404, "No Provisioned Concurrency Config found for this function")
    for operation in (lam.get_provisioned_concurrency_config, lam.delete_provisioned_concurrency_config):
        assert error_of(
            "ResourceNotFoundException",
            lambda op=operation: op(FunctionName="doesnotexist", Qualifier="noalias"),
        ) == (404, f"Cannot find alias arn: {ARN_PREFIX}doesnotexist:noalias")
        assert error_of(
            "ResourceNotFoundException",
            lambda op=operation: op(FunctionName="pc-errors", Qualifier="noalias"),
        ) == (404, f"Cannot find alias arn: {fn}:noalias")
        assert error_of(
            "ResourceNotFoundException", lambda op=operation: op(FunctionName="pc-errors", Qualifier="10")
        ) == (404, f"Function not found: {fn}:10")
        assert error_of(
            "InvalidParameterValueException",
            lambda op=operation: op(FunctionName="pc-errors", Qualifier="$LATEST"),
        ) == (400, NOT_A_VERSION_OR_ALIAS)
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.delete_provisioned_concurrency_config(FunctionName="doesnotexist", Qualifier=version),
    ) == (404, f"Function not found: {ARN_PREFIX}doesnotexist:{version}")

    listed = lam.list_provisioned_concurrency_configs(FunctionName="pc-errors")
    assert listed["ProvisionedConcurrencyConfigs"] == []
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.list_provisioned_concurrency_configs(FunctionName="doesnotexist"),
    ) == (404, f"Function not found: {ARN_PREFIX}doesnotexist")
    deleted = lam.delete_provisioned_concurrency_config(FunctionName="pc-errors", Qualifier=version)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204

    def put(name: str, qualifier: str, count: int = 1) -> Callable[[], Any]:
        return lambda: unvalidated.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=count
        )

    assert error_of("ValidationException", put("pc-errors", version, 0)) == (
        400,
        "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1",
    )
    assert error_of("ResourceNotFoundException", put("doesnotexist", "noalias")) == (
        404,
        f"Cannot find alias arn: {ARN_PREFIX}doesnotexist:noalias",
    )
    assert error_of("ResourceNotFoundException", put("doesnotexist", "1")) == (
        404,
        f"Function not found: {ARN_PREFIX}doesnotexist:1",
    )
    assert error_of("ResourceNotFoundException", put("pc-errors", "doesnotexist")) == (
        404,
        f"Cannot find alias arn: {fn}:doesnotexist",
    )
    assert error_of("ResourceNotFoundException", put("pc-errors", "10")) == (
        404,
        f"Function not found: {fn}:10",
    )
    assert error_of("InvalidParameterValueException", put("pc-errors", "$LATEST")) == (
        400,
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    )


def test_limits_follow_reserved_concurrency_and_the_unreserved_floor(lam: Any) -> None:
    version = published(lam, "pc-limits")

    def put(count: int, name: str = "pc-limits", qualifier: str = version) -> Callable[[], Any]:
        return lambda: lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=count
        )

    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert error_of("InvalidParameterValueException", put(unreserved + 1)) == (
        400,
        f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
        f"[{unreserved}].",
    )
    assert error_of("InvalidParameterValueException", put(unreserved)) == (
        400,
        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [2].",
    )
    # AWS's recorded answers to both account-limit refusals carry the message alone, no Type.
    for refused in (put(unreserved + 1), put(unreserved)):
        with pytest.raises(ClientError) as err:
            refused()
        assert "Type" not in err.value.response and "message" in err.value.response
    lam.put_function_concurrency(FunctionName="pc-limits", ReservedConcurrentExecutions=2)
    assert error_of("InvalidParameterValueException", put(3)) == (
        400,
        "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution "
        "for function",
    )
    assert put(2)()["RequestedProvisionedConcurrentExecutions"] == 2
    lam.delete_function(FunctionName="pc-limits")


def test_a_config_goes_from_in_progress_to_ready_and_conflicts_between_alias_and_version(lam: Any) -> None:
    version = published(lam, "pc-life")
    lam.create_alias(FunctionName="pc-life", Name="live", FunctionVersion=version)

    put = lam.put_provisioned_concurrency_config(
        FunctionName="pc-life", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert {k: v for k, v in put.items() if k not in {"ResponseMetadata", "LastModified"}} == {
        "RequestedProvisionedConcurrentExecutions": 1,
        "AllocatedProvisionedConcurrentExecutions": 0,
        "AvailableProvisionedConcurrentExecutions": 0,
        "Status": "IN_PROGRESS",
    }
    assert error_of(
        "ResourceConflictException",
        lambda: lam.put_provisioned_concurrency_config(
            FunctionName="pc-life", Qualifier="live", ProvisionedConcurrentExecutions=1
        ),
    ) == (
        409,
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
    )
    ready = wait_status(lam, "pc-life", version)
    assert ready["Status"] == "READY"
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
    assert ready["AvailableProvisionedConcurrentExecutions"] == 1
    assert ready["LastModified"] == put["LastModified"]

    lam.delete_provisioned_concurrency_config(FunctionName="pc-life", Qualifier=version)
    assert error_of(
        "ProvisionedConcurrencyConfigNotFoundException",
        lambda: lam.get_provisioned_concurrency_config(FunctionName="pc-life", Qualifier=version),
    ) == (404, "No Provisioned Concurrency Config found for this function")

    on_alias = lam.put_provisioned_concurrency_config(
        FunctionName="pc-life", Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert on_alias["Status"] == "IN_PROGRESS"
    assert error_of(
        "ResourceConflictException",
        lambda: lam.put_provisioned_concurrency_config(
            FunctionName="pc-life", Qualifier=version, ProvisionedConcurrentExecutions=1
        ),
    ) == (409, "Version is pointed by a Provisioned Concurrency alias")
    listed = lam.list_provisioned_concurrency_configs(FunctionName="pc-life")["ProvisionedConcurrencyConfigs"]
    assert [item["FunctionArn"] for item in listed] == [f"{ARN_PREFIX}pc-life:live"]

    lam.delete_alias(FunctionName="pc-life", Name="live")
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.get_provisioned_concurrency_config(FunctionName="pc-life", Qualifier="live"),
    ) == (404, f"Cannot find alias arn: {ARN_PREFIX}pc-life:live")
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName="pc-life")["ProvisionedConcurrencyConfigs"]
        == []
    )


def test_provisioned_environments_answer_without_init(lam: Any) -> None:
    version = published(lam, "pc-warm")
    lam.create_alias(FunctionName="pc-warm", Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName="pc-warm", Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert wait_status(lam, "pc-warm", "live")["Status"] == "READY"

    init_type, log = invoke_tail(lam, "pc-warm", "live")
    assert init_type == "provisioned-concurrency"
    assert "REPORT RequestId" in log
    assert "Init Duration" not in log
    # The version itself is the same snapshot: its invocations use the same environments.
    init_type, log = invoke_tail(lam, "pc-warm", version)
    assert (init_type, "Init Duration" in log) == ("provisioned-concurrency", False)
    # $LATEST has no provisioned concurrency: an on-demand cold start, with its Init Duration.
    init_type, log = invoke_tail(lam, "pc-warm")
    assert (init_type, "Init Duration" in log) == ("on-demand", True)


def test_invocations_beyond_the_provisioned_count_spill_over_to_on_demand(lam: Any) -> None:
    version = published(lam, "pc-spill")
    lam.put_provisioned_concurrency_config(
        FunctionName="pc-spill", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert wait_status(lam, "pc-spill", version)["Status"] == "READY"
    with ThreadPoolExecutor(2) as workers:
        results = list(workers.map(lambda _: invoke_tail(lam, "pc-spill", version, sleep=0.5), range(2)))
    assert sorted(init_type for init_type, _ in results) == ["on-demand", "provisioned-concurrency"]
    for init_type, log in results:
        assert ("Init Duration" in log) == (init_type == "on-demand")


def test_a_failing_init_marks_the_config_failed(lam: Any) -> None:
    version = published(lam, "pc-broken", {"app.py": "raise RuntimeError('no init for you')\n"})
    lam.put_provisioned_concurrency_config(
        FunctionName="pc-broken", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    failed = wait_status(lam, "pc-broken", version, "FAILED")
    assert failed["Status"] == "FAILED"
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AllocatedProvisionedConcurrentExecutions"] == 0


def test_deleting_the_version_or_alias_removes_its_config(lam: Any) -> None:
    def unreserved() -> int:
        return int(lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"])

    version = published(lam, "pc-gone")
    lam.create_alias(FunctionName="pc-gone", Name="live", FunctionVersion=version)
    before = unreserved()
    lam.put_provisioned_concurrency_config(
        FunctionName="pc-gone", Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    # Provisioned concurrency of a function without a reservation comes out of the unreserved pool.
    assert unreserved() == before - 1
    lam.delete_alias(FunctionName="pc-gone", Name="live")
    lam.delete_function(FunctionName="pc-gone", Qualifier=version)
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.get_provisioned_concurrency_config(FunctionName="pc-gone", Qualifier=version),
    ) == (404, f"Function not found: {ARN_PREFIX}pc-gone:{version}")
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName="pc-gone")["ProvisionedConcurrencyConfigs"]
        == []
    )
    assert unreserved() == before


def test_configs_survive_a_restart_and_are_provisioned_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    srv = start_server(data_dir, "--warm-wait-ms", "0")
    try:
        lam = srv.client()
        version = published(lam, "pc-durable")
        lam.put_provisioned_concurrency_config(
            FunctionName="pc-durable", Qualifier=version, ProvisionedConcurrentExecutions=2
        )
        assert wait_status(lam, "pc-durable", version)["Status"] == "READY"
    finally:
        stop_server(srv)
    srv = start_server(data_dir, "--warm-wait-ms", "0")
    try:
        lam = srv.client()
        ready = wait_status(lam, "pc-durable", version)
        assert (ready["Status"], ready["RequestedProvisionedConcurrentExecutions"]) == ("READY", 2)
        init_type, log = invoke_tail(lam, "pc-durable", version)
        assert (init_type, "Init Duration" in log) == ("provisioned-concurrency", False)
    finally:
        stop_server(srv)
