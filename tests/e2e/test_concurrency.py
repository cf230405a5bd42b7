"""Reserved concurrency and the account pool through boto3, with AWS's exact errors.

The server runs with ``--max-concurrency 20``: the node's limit plays AWS's
account limit, and its unreserved floor is a tenth of it, 2 (AWS's is 100 on
its default limit of 1000; see ``lambdalite.dataplane.limiter``).

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json,
TestLambdaReservedConcurrency::test_function_concurrency_limits) and its
parity-tested provider reproduces them (services/lambda_/provider.py).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, Server, create_function, error_of, start_server, stop_server

LIMIT = 20
GATED = {
    "app.py": (
        "import os, time\n"
        "def handler(event, context):\n"
        "    # Hold the invocation until the test opens the gate (a file), 10 s at most.\n"
        "    gate, deadline = event.get('gate'), time.monotonic() + 10\n"
        "    while gate and not os.path.exists(gate) and time.monotonic() < deadline:\n"
        "        time.sleep(0.005)\n"
        "    return 'done'\n"
    )
}
QUALIFIED = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this "
    "operation. Please specify either a function name or an unqualified function ARN."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("concurrency") / "data"
    srv = start_server(data_dir, "--max-concurrency", str(LIMIT), "--warm-wait-ms", "0")
    yield srv
    stop_server(srv)


def outcome(lam: Any, name: str, gate: Path | None = None) -> str:
    """'ok', or the throttle Reason of an invoke that got 429."""
    payload = {"gate": str(gate)} if gate is not None else {}
    try:
        response = lam.invoke(FunctionName=name, Payload=json.dumps(payload))
    except lam.exceptions.TooManyRequestsException as err:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert err.response["Error"]["Message"] == "Rate Exceeded."
        return str(err.response["Reason"])
    assert json.loads(response["Payload"].read()) == "done"
    return "ok"


def in_parallel(lam: Any, names: list[str], gate: Path, throttled: int) -> list[str]:
    """Invoke every function of ``names`` at once, all held until ``gate`` opens;
    the gate opens once ``throttled`` of them have come back (or after 10 s), so
    the ones that run are provably running at the same time. Outcomes in order."""
    with ThreadPoolExecutor(len(names)) as pool:
        futures = [pool.submit(outcome, lam, name, gate) for name in names]
        deadline = time.monotonic() + 10
        while sum(future.done() for future in futures) < throttled and time.monotonic() < deadline:
            wait(futures, timeout=0.05, return_when=FIRST_COMPLETED)
        gate.touch()
        return [future.result() for future in futures]


def account_limit(lam: Any) -> dict[str, Any]:
    limit: dict[str, Any] = lam.get_account_settings()["AccountLimit"]
    return limit


# --- the API ---------------------------------------------------------------------------------------


def test_put_get_delete_function_concurrency_and_the_account_pool(lam: Any) -> None:
    create_function(lam, "cc-api", GATED)
    assert account_limit(lam)["ConcurrentExecutions"] == LIMIT
    before = account_limit(lam)["UnreservedConcurrentExecutions"]
    assert lam.get_function_concurrency(FunctionName="cc-api").get("ReservedConcurrentExecutions") is None
    assert "Concurrency" not in lam.get_function(FunctionName="cc-api")

    response = lam.put_function_concurrency(FunctionName="cc-api", ReservedConcurrentExecutions=5)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ReservedConcurrentExecutions"] == 5
    assert (
        lam.get_function_concurrency(FunctionName=f"{ARN_PREFIX}cc-api")["ReservedConcurrentExecutions"] == 5
    )
    assert lam.get_function(FunctionName="cc-api")["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    settings = lam.get_account_settings()
    assert settings["AccountLimit"] == {
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
        "ConcurrentExecutions": LIMIT,
        "UnreservedConcurrentExecutions": before - 5,
    }
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountUsage"]["TotalCodeSize"] > 0

    # A new reservation replaces the old one: its own 5 do not count against it.
    lam.put_function_concurrency(FunctionName="cc-api", ReservedConcurrentExecutions=before - 2)
    assert account_limit(lam)["UnreservedConcurrentExecutions"] == 2

    response = lam.delete_function_concurrency(FunctionName="cc-api")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="cc-api")
    assert "Concurrency" not in lam.get_function(FunctionName="cc-api")
    assert account_limit(lam)["UnreservedConcurrentExecutions"] == before
    lam.delete_function_concurrency(FunctionName="cc-api")  # nothing reserved: still 204


def test_concurrency_errors_use_awss_words(lam: Any) -> None:
    create_function(lam, "cc-err", GATED, Publish=True)
    lam.put_function_concurrency(FunctionName="cc-err", ReservedConcurrentExecutions=3)
    unreserved = account_limit(lam)["UnreservedConcurrentExecutions"]
    too_many = unreserved + 3 - 1  # leaves 1 unreserved, under the floor of 2
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.put_function_concurrency(FunctionName="cc-err", ReservedConcurrentExecutions=too_many),
    ) == (
        400,
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [2].",
    )
    # AWS's recorded answer carries the message alone, no Type.
    with pytest.raises(ClientError) as err:
        lam.put_function_concurrency(FunctionName="cc-err", ReservedConcurrentExecutions=too_many)
    assert "Type" not in err.value.response and "message" in err.value.response
    # The rejected request changed nothing.
    assert lam.get_function_concurrency(FunctionName="cc-err")["ReservedConcurrentExecutions"] == 3
    lam.put_function_concurrency(FunctionName="cc-err", ReservedConcurrentExecutions=too_many - 1)

    for name in ("cc-err:1", f"{ARN_PREFIX}cc-err:$LATEST"):
        assert error_of(
            "InvalidParameterValueException",
            lambda n=name: lam.put_function_concurrency(FunctionName=n, ReservedConcurrentExecutions=1),
        ) == (400, QUALIFIED)
        assert error_of(
            "InvalidParameterValueException", lambda n=name: lam.get_function_concurrency(FunctionName=n)
        ) == (400, QUALIFIED)
        assert error_of(
            "InvalidParameterValueException", lambda n=name: lam.delete_function_concurrency(FunctionName=n)
        ) == (400, QUALIFIED)

    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.put_function_concurrency(FunctionName="cc-gone", ReservedConcurrentExecutions=1),
    ) == (404, f"Function not found: {ARN_PREFIX}cc-gone:$LATEST")
    assert error_of(
        "ResourceNotFoundException", lambda: lam.get_function_concurrency(FunctionName="cc-gone")
    ) == (
        404,
        f"Function not found: {ARN_PREFIX}cc-gone",
    )
    assert error_of(
        "ResourceNotFoundException", lambda: lam.delete_function_concurrency(FunctionName="cc-gone")
    ) == (404, f"Function not found: {ARN_PREFIX}cc-gone")
    lam.delete_function(FunctionName="cc-err")


# --- enforcement -----------------------------------------------------------------------------------


def test_zero_reserved_throttles_every_invoke(lam: Any) -> None:
    create_function(lam, "cc-zero", GATED)
    assert outcome(lam, "cc-zero") == "ok"
    lam.put_function_concurrency(FunctionName="cc-zero", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as err:
        lam.invoke(FunctionName="cc-zero")
    assert err.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err.value.response["Error"]["Message"] == "Rate Exceeded."
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    lam.delete_function_concurrency(FunctionName="cc-zero")
    assert outcome(lam, "cc-zero") == "ok"
    lam.delete_function(FunctionName="cc-zero")


def test_a_reserved_function_never_runs_more_than_reserved_under_parallel_load(
    lam: Any, tmp_path: Path
) -> None:
    create_function(lam, "cc-two", GATED, Timeout=15)
    try:
        lam.put_function_concurrency(FunctionName="cc-two", ReservedConcurrentExecutions=2)
        outcomes = Counter(in_parallel(lam, ["cc-two"] * 6, tmp_path / "gate", throttled=4))
        assert outcomes == {"ok": 2, "ReservedFunctionConcurrentInvocationLimitExceeded": 4}
        # The slots came back.
        assert Counter(in_parallel(lam, ["cc-two"] * 2, tmp_path / "gate", throttled=0)) == {"ok": 2}
    finally:
        lam.delete_function(FunctionName="cc-two")


def test_unreserved_functions_share_what_reservations_leave(lam: Any, tmp_path: Path) -> None:
    create_function(lam, "cc-big", GATED, Timeout=15)
    create_function(lam, "cc-free", GATED, Timeout=15)
    try:
        lam.put_function_concurrency(FunctionName="cc-big", ReservedConcurrentExecutions=LIMIT - 3)
        assert account_limit(lam)["UnreservedConcurrentExecutions"] == 3
        outcomes = in_parallel(lam, ["cc-free"] * 5 + ["cc-big"], tmp_path / "gate", throttled=2)
        # The reserved function runs although the unreserved pool is exhausted.
        assert outcomes[-1] == "ok"
        assert Counter(outcomes[:-1]) == {"ok": 3, "ConcurrentInvocationLimitExceeded": 2}
    finally:
        lam.delete_function(FunctionName="cc-big")
        lam.delete_function(FunctionName="cc-free")
    assert account_limit(lam)["UnreservedConcurrentExecutions"] == LIMIT


# --- persistence -----------------------------------------------------------------------------------


def test_reservations_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--max-concurrency", str(LIMIT))
    try:
        lam = server.client()
        create_function(lam, "cc-keep", GATED)
        lam.put_function_concurrency(FunctionName="cc-keep", ReservedConcurrentExecutions=0)
    finally:
        stop_server(server)
    server = start_server(data_dir, "--max-concurrency", str(LIMIT))
    try:
        lam = server.client()
        assert lam.get_function_concurrency(FunctionName="cc-keep")["ReservedConcurrentExecutions"] == 0
        assert outcome(lam, "cc-keep") == "ReservedFunctionConcurrentInvocationLimitExceeded"
        lam.delete_function(FunctionName="cc-keep")
        create_function(lam, "cc-keep", GATED)
        assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="cc-keep")
        assert outcome(lam, "cc-keep") == "ok"
        assert account_limit(lam)["UnreservedConcurrentExecutions"] == LIMIT
    finally:
        stop_server(server)
