"""A bucket as an asynchronous invocation's OnFailure destination, through boto3
against a real server: a failed event's record is written as a JSON object under
AWS's key ``aws/lambda/async/<function>/YYYY/MM/DD/...``; a bucket as OnSuccess and
a bucket that does not exist are refused with AWS's errors."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Server, create_function, start_server, stop_server

FAILING = """
def handler(event, context):
    raise ValueError("no good: " + event["why"])
"""
KEY = re.compile(
    r"aws/lambda/async/bucket-dest/\d{4}/\d{2}/\d{2}/\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}-[0-9a-f-]{36}"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("bucket-dest") / "data", "--retry-delay-scale", "0.01")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def lam(server: Server) -> Any:
    return server.client("lambda")


@pytest.fixture(scope="module")
def s3(server: Server) -> Any:
    return server.client("s3")


@pytest.fixture(scope="module")
def failing(lam: Any) -> str:
    create_function(lam, "bucket-dest", {"app.py": FAILING})
    return "bucket-dest"


def objects(s3: Any, bucket: str, deadline_s: float = 10.0) -> list[dict[str, Any]]:
    """The bucket's objects, once there is at least one (or [] at the deadline)."""
    end = time.monotonic() + deadline_s
    while True:
        found: list[dict[str, Any]] = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if found or time.monotonic() > end:
            return found
        time.sleep(0.05)


def test_a_failed_event_is_written_to_the_bucket(lam: Any, s3: Any, failing: str) -> None:
    s3.create_bucket(Bucket="failures")
    lam.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::failures"}},
    )
    shown = lam.get_function_event_invoke_config(FunctionName=failing)
    assert shown["DestinationConfig"]["OnFailure"]["Destination"] == "arn:aws:s3:::failures"
    answer = lam.invoke(FunctionName=failing, InvocationType="Event", Payload=json.dumps({"why": "bucket"}))
    request_id = answer["ResponseMetadata"]["RequestId"]
    [listed] = objects(s3, "failures")
    assert KEY.fullmatch(listed["Key"]), listed["Key"]
    got = s3.get_object(Bucket="failures", Key=listed["Key"])
    assert got["ContentType"] == "application/json"
    record = json.loads(got["Body"].read())
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestPayload"] == {"why": "bucket"}
    assert record["responsePayload"]["errorMessage"] == "no good: bucket"


def test_a_bucket_as_on_success_is_refused(lam: Any, s3: Any, failing: str) -> None:
    s3.create_bucket(Bucket="successes")
    with pytest.raises(ClientError) as caught:
        lam.put_function_event_invoke_config(
            FunctionName=failing, DestinationConfig={"OnSuccess": {"Destination": "arn:aws:s3:::successes"}}
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == (
        "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
        "arn:aws:s3:::successes), onFailure=null) is invalid."
    )


def test_a_missing_bucket_is_refused(lam: Any, failing: str) -> None:
    with pytest.raises(ClientError) as caught:
        lam.put_function_event_invoke_config(
            FunctionName=failing,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::no-such-bucket"}},
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == "The destination ARN arn:aws:s3:::no-such-bucket is invalid."
