"""What the topic and bus e2e tests share: AWS-error capture and queue helpers
(create one, drain it)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.async_rig import wait_for

ACCOUNT_REGION = "us-east-1:000000000000"
QUEUE_PREFIX = f"arn:aws:sqs:{ACCOUNT_REGION}:"


def error_of(call: Any) -> tuple[str, str, int]:
    """(code, message, HTTP status) of the ClientError ``call()`` raises."""
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    error, status = response["Error"], response["ResponseMetadata"]["HTTPStatusCode"]
    return error["Code"], error["Message"], status


def queue(sqs: Any, name: str) -> tuple[str, str]:
    """Create queue ``name``: (its URL, its ARN)."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, QUEUE_PREFIX + name


def drain(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    """Receive until ``count`` messages came (with all their attributes)."""
    got: list[dict[str, Any]] = []

    def more() -> bool:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        got.extend(answer.get("Messages", []))
        return len(got) >= count

    wait_for(more, timeout=10, message=f"{count} messages on {url}")
    return got
