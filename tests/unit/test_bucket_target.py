"""The bucket target's pure parts: AWS's record key, which ARNs name a bucket, and
the OnSuccess refusal."""

from __future__ import annotations

import calendar

import pytest

from lambdalite.errors import InvalidParameterValue
from lambdalite.events.bucket_target import bucket_name, check_on_failure_only, record_key


def test_the_record_key_is_awss() -> None:
    now = calendar.timegm((2026, 3, 4, 5, 6, 7, 0, 0, 0))
    assert record_key("fn", now, "u-1") == "aws/lambda/async/fn/2026/03/04/2026-03-04T05.06.07-u-1"


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:s3:::bucket", "bucket"),
        ("arn:aws:s3:::bucket/key", None),
        ("arn:aws:s3:us-east-1:123456789012:bucket", None),
        ("arn:aws:s3:::", None),
        ("arn:aws:sqs:us-east-1:123456789012:q", None),
        ("bucket", None),
    ],
)
def test_only_a_bucket_arn_names_a_bucket(arn: str, name: str | None) -> None:
    assert bucket_name(arn) == name


def test_a_bucket_is_refused_on_success_only() -> None:
    check_on_failure_only({"OnFailure": {"Destination": "arn:aws:s3:::b"}})
    check_on_failure_only({"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}})
    check_on_failure_only(None)
    with pytest.raises(InvalidParameterValue):
        check_on_failure_only({"OnSuccess": {"Destination": "arn:aws:s3:::b"}})
