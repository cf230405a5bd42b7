"""The CloudWatch Logs API subset: handle() directly, then boto3 over HTTP for the wire format."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config

from lambdalite.api.logs_api import handle
from lambdalite.observe.logs import LogStore

GROUP = "/aws/lambda/hello"
STREAM = "2024/01/31/[$LATEST]" + "0" * 32
OTHER = "2024/01/31/[$LATEST]" + "f" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    logs = LogStore(tmp_path / "logs")
    logs.append(GROUP, STREAM, [(1000 + i, f"line {i}\n") for i in range(10)])
    logs.append(GROUP, OTHER, [(1500, "ERROR boom\n"), (2000, "REPORT RequestId: 1\n")])
    logs.append("/aws/lambda/other", STREAM, [(5, "x")])
    yield logs
    logs.close()


def call(store: LogStore, operation: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    payload = raw if raw is not None else orjson.dumps(body or {})
    status, headers, response = asyncio.run(handle(operation, payload, store))
    assert (b"content-type", b"application/x-amz-json-1.1") in headers
    return status, orjson.loads(response)


def test_unknown_operation(store: LogStore) -> None:
    assert call(store, "PutLogEvents") == (400, {"__type": "UnknownOperationException"})


def test_malformed_json_is_a_serialization_error(store: LogStore) -> None:
    status, body = call(store, "DescribeLogGroups", raw=b"{not json")
    assert status == 400 and body["__type"] == "SerializationException"
    status, body = call(store, "GetLogEvents", {"logGroupName": GROUP, "logStreamName": STREAM, "limit": "x"})
    assert status == 400 and body["__type"] == "SerializationException"


def test_missing_group_and_stream_use_awss_words(store: LogStore) -> None:
    assert call(store, "DescribeLogStreams", {"logGroupName": "/aws/lambda/nope"}) == (
        400,
        {"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."},
    )
    assert call(store, "GetLogEvents", {"logGroupName": GROUP, "logStreamName": "nope"}) == (
        400,
        {"__type": "ResourceNotFoundException", "message": "The specified log stream does not exist."},
    )


def test_the_target_prefix_is_accepted(store: LogStore) -> None:
    status, body = call(store, "Logs_20140328.DescribeLogGroups")
    assert status == 200 and len(body["logGroups"]) == 2


def test_describe_log_groups_pages_and_filters(store: LogStore) -> None:
    status, first = call(store, "DescribeLogGroups", {"limit": 1})
    assert status == 200
    assert [g["logGroupName"] for g in first["logGroups"]] == ["/aws/lambda/hello"]
    assert first["logGroups"][0]["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/hello:*"
    _, second = call(store, "DescribeLogGroups", {"limit": 1, "nextToken": first["nextToken"]})
    assert [g["logGroupName"] for g in second["logGroups"]] == ["/aws/lambda/other"]
    assert "nextToken" not in second
    _, prefixed = call(store, "DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/o"})
    assert [g["logGroupName"] for g in prefixed["logGroups"]] == ["/aws/lambda/other"]


def test_describe_log_streams(store: LogStore) -> None:
    _, body = call(
        store, "DescribeLogStreams", {"logGroupName": GROUP, "orderBy": "LastEventTime", "descending": True}
    )
    streams = body["logStreams"]
    assert [s["logStreamName"] for s in streams] == [OTHER, STREAM]
    assert streams[0]["firstEventTimestamp"] == 1500 and streams[0]["lastEventTimestamp"] == 2000
    status, error = call(
        store,
        "DescribeLogStreams",
        {"logGroupName": GROUP, "orderBy": "LastEventTime", "logStreamNamePrefix": "x"},
    )
    assert status == 400 and error["__type"] == "InvalidParameterException"


def test_get_log_events_from_head_pages_forward_until_the_token_repeats(store: LogStore) -> None:
    request = {"logGroupName": GROUP, "logStreamName": STREAM, "startFromHead": True, "limit": 4}
    seen: list[str] = []
    token = None
    while True:
        _, body = call(store, "GetLogEvents", {**request, **({"nextToken": token} if token else {})})
        seen += [e["message"] for e in body["events"]]
        if body["nextForwardToken"] == token:
            break
        token = body["nextForwardToken"]
    assert seen == [f"line {i}\n" for i in range(10)]


def test_get_log_events_defaults_to_the_newest_and_pages_backward(store: LogStore) -> None:
    _, last = call(store, "GetLogEvents", {"logGroupName": GROUP, "logStreamName": STREAM, "limit": 3})
    assert [e["message"] for e in last["events"]] == ["line 7\n", "line 8\n", "line 9\n"]
    _, before = call(
        store,
        "GetLogEvents",
        {"logGroupName": GROUP, "logStreamName": STREAM, "limit": 3, "nextToken": last["nextBackwardToken"]},
    )
    assert [e["message"] for e in before["events"]] == ["line 4\n", "line 5\n", "line 6\n"]
    assert {"timestamp", "message", "ingestionTime"} == set(before["events"][0])


def test_filter_log_events_merges_streams_and_pages(store: LogStore) -> None:
    seen: list[dict[str, Any]] = []
    request: dict[str, Any] = {"logGroupName": GROUP, "limit": 5}
    while True:
        status, body = call(store, "FilterLogEvents", request)
        assert status == 200
        seen += body["events"]
        if "nextToken" not in body:
            break
        request["nextToken"] = body["nextToken"]
    assert len(seen) == 12
    assert [e["timestamp"] for e in seen] == sorted(e["timestamp"] for e in seen)
    assert len({e["eventId"] for e in seen}) == 12
    assert {e["logStreamName"] for e in seen} == {STREAM, OTHER}


def test_filter_log_events_pattern_and_bad_input(store: LogStore) -> None:
    _, body = call(store, "FilterLogEvents", {"logGroupName": GROUP, "filterPattern": "ERROR"})
    assert [e["message"] for e in body["events"]] == ["ERROR boom\n"]
    status, error = call(store, "FilterLogEvents", {"logGroupName": GROUP, "nextToken": "garbage!"})
    assert status == 400 and error["__type"] == "InvalidParameterException"
    assert call(store, "FilterLogEvents", {"logGroupName": GROUP, "filterPattern": "{ $.a = }"}) == (
        400,
        {"__type": "InvalidParameterException", "message": "Invalid filter pattern"},
    )
    assert call(store, "FilterLogEvents", {"logGroupName": GROUP, "filterPattern": "{ $.a = 1"}) == (
        400,
        {
            "__type": "InvalidParameterException",
            "message": "If a filter pattern starts with '{' it must end with '}'",
        },
    )
    status, error = call(store, "FilterLogEvents", {"logGroupName": GROUP, "limit": 0})
    assert status == 400 and error["__type"] == "InvalidParameterException"


def test_filter_log_events_takes_json_and_space_delimited_patterns(tmp_path: Path) -> None:
    logs = LogStore(tmp_path / "logs")
    logs.append(
        GROUP,
        STREAM,
        [
            (1, '{"level": "ERROR", "latency": 120}'),
            (2, '{"level": "INFO", "latency": 900}'),
            (3, "10.0.0.1 GET /items 404 12"),
            (4, "10.0.0.2 GET /items 200 2048"),
        ],
    )

    def matching(pattern: str) -> list[int]:
        status, body = call(logs, "FilterLogEvents", {"logGroupName": GROUP, "filterPattern": pattern})
        assert status == 200
        return [e["timestamp"] for e in body["events"]]

    assert matching('{ $.level = "ERROR" }') == [1]
    assert matching("{ $.latency > 100 && $.level != ERROR }") == [2]
    assert matching("[ip, method, path, status = 4*, bytes]") == [3]
    assert matching("[..., bytes > 1000]") == [4]
    logs.close()


def test_stored_bytes_read_zero_for_streams_as_on_aws(store: LogStore) -> None:
    _, body = call(store, "DescribeLogStreams", {"logGroupName": GROUP})
    assert [s["storedBytes"] for s in body["logStreams"]] == [0, 0]
    _, groups = call(store, "DescribeLogGroups", {"logGroupNamePrefix": GROUP})
    assert groups["logGroups"][0]["storedBytes"] > 0  # log groups still report their size on AWS


# ---- the wire format, as botocore reads it ----------------------------------------------


@pytest.fixture
def logs_client(store: LogStore) -> Iterator[Any]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            target = self.headers.get("x-amz-target", "")
            status, headers, response = asyncio.run(handle(target, body, store))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name.decode(), value.decode())
            self.send_header("content-length", str(len(response)))
            self.end_headers()
            self.wfile.write(response)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield boto3.client(
        "logs",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    server.shutdown()
    server.server_close()


def test_boto3_reads_our_responses_and_errors(logs_client: Any) -> None:
    groups = logs_client.describe_log_groups()["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP, "/aws/lambda/other"]
    pages = logs_client.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, PaginationConfig={"PageSize": 4}
    )
    assert len([e for page in pages for e in page["events"]]) == 12
    streams = logs_client.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [STREAM, OTHER]
    events = logs_client.get_log_events(logGroupName=GROUP, logStreamName=OTHER, startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["ERROR boom\n", "REPORT RequestId: 1\n"]
    with pytest.raises(logs_client.exceptions.ResourceNotFoundException) as err:
        logs_client.filter_log_events(logGroupName="/aws/lambda/nope")
    assert err.value.response["Error"]["Message"] == "The specified log group does not exist."
