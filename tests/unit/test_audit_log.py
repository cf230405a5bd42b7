"""The audit log's store (bounded, filtered, newest first) and how requests are named."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lambdalite.clock import ManualClock
from lambdalite.http import HttpRequest, Response
from lambdalite.observe.audit import AuditLog, AuditRecord, outcome_of
from lambdalite.observe.audit_api import Auditor
from lambdalite.observe.audit_ops import Identified, identify


def record(at: float, operation: str = "lambda:CreateFunction", principal: str = "anonymous") -> AuditRecord:
    return AuditRecord(at, principal, operation, "f", "allowed", 200)


def test_records_come_back_newest_first_filtered(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db")
    log.append(record(1.0))
    log.append(record(2.0, "sqs:CreateQueue", "arn:aws:iam::000000000000:user/alice"))
    log.append(record(3.0, "lambda:DeleteFunction"))
    assert [r.at for r in log.query()] == [3.0, 2.0, 1.0]
    assert [r.at for r in log.query(operation="CreateQueue")] == [2.0]
    assert [r.at for r in log.query(operation="lambda:DeleteFunction")] == [3.0]
    assert [r.at for r in log.query(principal="alice")] == [2.0]
    assert [r.at for r in log.query(since=2.0)] == [3.0, 2.0]
    assert [r.at for r in log.query(limit=1)] == [3.0]
    # LIKE's wildcards in a filter are plain characters.
    assert log.query(operation="%") == [] and log.query(principal="_") == []
    log.close()


def test_the_auditor_records_a_control_call_at_its_clocks_time_and_passes_invokes(tmp_path: Path) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    log = AuditLog(tmp_path / "audit.db", clock=clock)

    async def answer(request: HttpRequest) -> Response:
        return Response(404, b"{}", [(b"x-amzn-errortype", b"ResourceNotFoundException")])

    auditor = Auditor(answer, lambda request: "lambda", log)
    asyncio.run(auditor.handle(_request("DELETE", "/2015-03-31/functions/gone")))
    asyncio.run(auditor.handle(_request("POST", "/2015-03-31/functions/gone/invocations")))
    assert log.query() == [
        AuditRecord(
            1_800_000_000.0,
            "anonymous",
            "lambda:DeleteFunction",
            "gone",
            "error",
            404,
            "ResourceNotFoundException",
        )
    ]
    log.close()


def test_the_log_keeps_only_the_newest_records(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.db", max_records=10)
    for at in range(35):
        log.append(record(float(at)))
    kept = log.query(limit=100)
    assert len(kept) <= 10 + 10 and kept[0].at == 34.0
    assert min(r.at for r in kept) >= 20.0
    log.close()
    assert AuditLog(tmp_path / "audit.db").query(limit=1)[0].at == 34.0  # durable


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "allowed"), (204, "allowed"), (403, "denied"), (401, "denied"), (404, "error"), (500, "error")],
)
def test_outcomes(status: int, outcome: str) -> None:
    assert outcome_of(status) == outcome


def _request(
    method: str, path: str, body: bytes = b"", headers: dict[bytes, bytes] | None = None
) -> HttpRequest:
    return HttpRequest(method, path, b"", headers or {}, body, len(body))


def test_operations_are_named_from_the_models_and_the_data_plane_is_left_out() -> None:
    assert identify(
        "lambda", _request("POST", "/2015-03-31/functions", b'{"FunctionName": "f"}')
    ) == Identified("lambda:CreateFunction", "f")
    assert identify("lambda", _request("PUT", "/2017-10-31/functions/f/concurrency")) == Identified(
        "lambda:PutFunctionConcurrency", "f"
    )
    assert identify("lambda", _request("POST", "/2015-03-31/functions/f/invocations")) is None
    json = {b"x-amz-target": b"AmazonSQS.CreateQueue"}
    assert identify("sqs", _request("POST", "/", b'{"QueueName": "q"}', json)) == Identified(
        "sqs:CreateQueue", "q"
    )
    assert identify("sqs", _request("POST", "/", b"{}", {b"x-amz-target": b"AmazonSQS.SendMessage"})) is None
    form = {b"content-type": b"application/x-www-form-urlencoded"}
    assert identify("sns", _request("POST", "/", b"Action=CreateTopic&Name=t", form)) == Identified(
        "sns:CreateTopic", "t"
    )
    assert identify("sns", _request("POST", "/", b"Action=Publish", form)) is None
    assert identify("function-urls", _request("GET", "/_lambdalite/url/x/")) is None
    assert identify("keys", _request("DELETE", "/_lambdalite/keys/AKIA1")) == Identified(
        "lambdalite:DeleteAccessKey", "AKIA1"
    )
    assert identify("", _request("GET", "/nowhere")) == Identified("unknown", "/nowhere")
