"""The DeadLetterConfig target check (AWS's order of refusals) and the dispatcher's
lookup of a version's dead-letter queue."""

from __future__ import annotations

import pytest

from lambdalite.errors import InvalidParameterValue, ResourceNotFound
from lambdalite.events import dead_letter
from lambdalite.events.targets import Target, Targets
from lambdalite.models import FunctionConfig
from lambdalite.store.functions import config_from_record, config_to_record

QUEUE = "arn:aws:sqs:us-east-1:000000000000:dlq"


class _Sink:
    arn = QUEUE

    async def send(self, body: bytes, attributes: object) -> None:
        del body, attributes


def _targets() -> Targets:
    targets = Targets()

    def queues(arn: str) -> Target | None:
        return _Sink() if arn in {QUEUE, QUEUE + "2.fifo"} else None

    targets.register("sqs", queues)
    return targets


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("dlq", dead_letter.NOT_AN_ARN + "dlq"),
        ("arn:aws:events:us-east-1:000000000000:event-bus/default", dead_letter.UNSUPPORTED_SERVICE),
        ("arn:aws:sqs:eu-west-1:000000000000:dlq", dead_letter.OTHER_REGION),
        # FIFO is refused before existence is asked (this one exists).
        (QUEUE + "2.fifo", dead_letter.FIFO.format(kind="SQS queue")),
        (QUEUE + "-missing", dead_letter.NO_PERMISSION.format(action="SendMessage", service="SQS")),
        (
            "arn:aws:sns:us-east-1:000000000000:topic",
            dead_letter.NO_PERMISSION.format(action="Publish", service="SNS"),
        ),
    ],
)
def test_a_target_is_refused_with_awss_message(arn: str, message: str) -> None:
    with pytest.raises(InvalidParameterValue) as err:
        dead_letter.check_target(arn, "us-east-1", _targets())
    assert str(err.value) == message


def test_an_existing_standard_queue_is_accepted() -> None:
    dead_letter.check_target(QUEUE, "us-east-1", _targets())


def test_the_lookup_names_the_versions_queue_or_none() -> None:
    configs = {
        ("f", None): FunctionConfig("f", "python3.11", "r", "h", "0" * 64, 1, dead_letter_arn=QUEUE),
        ("f", "1"): FunctionConfig("f", "python3.11", "r", "h", "0" * 64, 1, version="1"),
    }

    def get(name: str, qualifier: str | None) -> FunctionConfig:
        try:
            return configs[(name, qualifier)]
        except KeyError:
            raise ResourceNotFound("gone") from None

    lookup = dead_letter.lookup(get)
    assert lookup("f", None) == QUEUE
    assert lookup("f", "1") is None
    assert lookup("gone", None) is None


def test_the_target_survives_the_store() -> None:
    config = FunctionConfig("f", "python3.11", "r", "h", "0" * 64, 1, dead_letter_arn=QUEUE)
    assert config_from_record(config_to_record(config)).dead_letter_arn == QUEUE
    assert config.configuration("arn:aws:lambda:us-east-1:000000000000:function:")["DeadLetterConfig"] == {
        "TargetArn": QUEUE
    }
    bare = FunctionConfig("f", "python3.11", "r", "h", "0" * 64, 1)
    assert "DeadLetterConfig" not in bare.configuration("arn:aws:lambda:us-east-1:000000000000:function:")
