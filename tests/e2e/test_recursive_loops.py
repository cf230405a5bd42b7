"""Recursive-loop detection through boto3 against a real server: a function that
publishes to the topic, writes to the bucket or sends to the queue that invokes it
runs 16 times in one chain; the 17th event goes to its dead-letter queue (through a
queue's event source mapping: back to the queue, whose redrive policy moves it on)
and the log says why; with the recursion config ``Allow`` the chain goes on; a
message a function sends to a queue carries the chain's lineage in ``AWSTraceHeader``.

The functions call lambdalite's API the way they call AWS's: boto3 inside the
function, which forwards its ``_X_AMZN_TRACE_ID`` as ``X-Amzn-Trace-Id``. The
server refuses connections from functions' own uids, so they reach it through a
relay this test runs (a plain HTTP forwarder, as a VPC endpoint would be).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambdalite.events import lineage
from lambdalite.models import FunctionConfig
from tests.conftest import Server, create_function, start_server, stop_server
from tests.e2e.async_rig import REPORTING, Collector, wait_for
from tests.e2e.bus_rig import drain, error_of, queue

RELAYED = (
    REPORTING
    + """
import boto3

def client(service):
    # lambdalite's API through the test's relay, as boto3 in a function reaches AWS's.
    relay = os.environ["RELAY"].replace("127.0.0.1", HOST)
    return boto3.client(service, endpoint_url=relay, region_name="us-east-1",
                        aws_access_key_id="relay", aws_secret_access_key="relay")
"""
)
LOOPER = (
    RELAYED
    + """

def handler(event, context):
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    report("run", {"rid": context.aws_request_id, "event": message})
    if message["hop"] < message["stop"]:
        onward = json.dumps({**message, "hop": message["hop"] + 1})
        client("sns").publish(TopicArn=os.environ["TOPIC"], Message=onward)
"""
)
SENDER = (
    RELAYED
    + """

def handler(event, context):
    sqs = client("sqs")
    sqs.send_message(QueueUrl=event["queue"], MessageBody="from a function")
    return os.environ["_X_AMZN_TRACE_ID"]
"""
)


class Relay:
    """Forwards every request, headers and body unchanged, to ``target``."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    upstream.request(self.command, self.path, body, dict(self.headers.items()))
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def variables(self, collector: Collector | None = None) -> dict[str, str]:
        """A function's variables to reach this relay (and ``collector``): their URLs, and
        their ports opened to it (``LAMBDALITE_HOST_PORTS``) when it has a network of its own."""
        port = str(self.server.server_address[1])
        if collector is None:
            return {"RELAY": self.url, "LAMBDALITE_HOST_PORTS": port}
        reporting = collector.variables
        ports = f"{reporting['LAMBDALITE_HOST_PORTS']},{port}"
        return {**reporting, "RELAY": self.url, "LAMBDALITE_HOST_PORTS": ports}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("loops") / "data", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def relay(server: Server) -> Iterator[Relay]:
    found = Relay(server.endpoint)
    yield found
    found.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()
    yield found
    found.close()


def looping_function(server: Server, relay: Relay, collector: Collector, name: str, dlq: str) -> str:
    """A function subscribed to its own topic that publishes to it again: the topic's ARN."""
    lam, sns = server.client("lambda"), server.client("sns")
    topic = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    variables = {**relay.variables(collector), "TOPIC": topic}
    create_function(
        lam,
        name,
        {"app.py": LOOPER},
        Environment={"Variables": variables},
        DeadLetterConfig={"TargetArn": dlq},
        Timeout=30,
    )
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=server_arn(name))
    return str(topic)


def server_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


def hops(collector: Collector) -> list[int]:
    with collector.lock:
        return sorted(event["hop"] for event in collector.events)


def test_a_lambda_sns_lambda_loop_is_stopped_after_16_invocations(
    server: Server, relay: Relay, collector: Collector
) -> None:
    sqs = server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "loop-dlq")
    topic = looping_function(server, relay, collector, "looper", dlq_arn)
    server.client("sns").publish(TopicArn=topic, Message=json.dumps({"hop": 1, "stop": 40}))
    [dead] = drain(sqs, dlq_url, 1)
    # The chain ran the function 16 times; the 17th event went to the DLQ, never run.
    assert hops(collector) == list(range(1, 17))
    record = json.loads(dead["Body"])
    assert json.loads(record["Records"][0]["Sns"]["Message"]) == {"hop": 17, "stop": 40}
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["ErrorCode"] == "400"
    assert attributes["ErrorMessage"] == lineage.MESSAGE
    assert "stopped: a recursive loop (invocation 17 of the same chain" in server.output()


def test_with_allow_the_loop_goes_on(server: Server, relay: Relay, collector: Collector) -> None:
    sqs = server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "allowed-dlq")
    topic = looping_function(server, relay, collector, "allowed", dlq_arn)
    lam = server.client("lambda")
    assert (
        lam.put_function_recursion_config(FunctionName="allowed", RecursiveLoop="Allow")["RecursiveLoop"]
        == "Allow"
    )
    assert lam.get_function_recursion_config(FunctionName="allowed")["RecursiveLoop"] == "Allow"
    server.client("sns").publish(TopicArn=topic, Message=json.dumps({"hop": 1, "stop": 20}))
    wait_for(lambda: len(hops(collector)) >= 20, timeout=30, message="20 runs of the chain")
    assert hops(collector) == list(range(1, 21))
    assert sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", []) == []


def test_a_message_a_function_sends_carries_the_chains_lineage(server: Server, relay: Relay) -> None:
    lam, sqs = server.client("lambda"), server.client("sqs")
    url, _ = queue(sqs, "lineage-carried")
    create_function(lam, "sender", {"app.py": SENDER}, Environment={"Variables": relay.variables()})
    answer = lam.invoke(FunctionName="sender", Payload=json.dumps({"queue": url}))
    trace = json.loads(answer["Payload"].read())
    tag = lineage.tag(FunctionConfig("sender", "python3.11", "r", "h", "", 0))
    assert trace.endswith(f";Lineage={tag}:1")
    [message] = drain(sqs, url, 1)
    # drain asked for message attributes; the system attribute is asked for by name.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url, AttributeNames=["AWSTraceHeader"])["Messages"]
    assert again["Attributes"]["AWSTraceHeader"] == trace


TRACE = """
import os

def handler(event, context):
    return os.environ["_X_AMZN_TRACE_ID"]
"""


def traced_client(server: Server, header: str) -> Any:
    """A Lambda client whose every call carries ``header`` as X-Amzn-Trace-Id (as the
    SDK inside a function sends its ``_X_AMZN_TRACE_ID``)."""
    client = server.client("lambda")

    def add(params: dict[str, Any], **_: Any) -> None:
        params["headers"]["X-Amzn-Trace-Id"] = header

    client.meta.events.register("before-call.lambda.*", add)
    return client


def test_an_invoke_continues_the_callers_chain_and_the_17th_is_refused(server: Server) -> None:
    lam = server.client("lambda")
    create_function(lam, "traced", {"app.py": TRACE})
    tag = lineage.tag(FunctionConfig("traced", "python3.11", "r", "h", "", 0))
    root = "Root=1-6571a2b3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0"
    fifteenth = traced_client(server, f"{root};Lineage=0badf00d:3|{tag}:15")
    answer = fifteenth.invoke(FunctionName="traced")
    assert json.loads(answer["Payload"].read()).endswith(f";Lineage=0badf00d:3|{tag}:16")
    sixteenth = traced_client(server, f"{root};Lineage={tag}:16")
    code, message, status = error_of(lambda: sixteenth.invoke(FunctionName="traced"))
    assert (code, message, status) == ("RecursiveInvocationException", lineage.MESSAGE, 400)
    # With Allow the same call runs.
    lam.put_function_recursion_config(FunctionName="traced", RecursiveLoop="Allow")
    answer = sixteenth.invoke(FunctionName="traced")
    assert json.loads(answer["Payload"].read()).endswith(f";Lineage={tag}:17")


def test_an_event_invoke_in_a_chain_that_is_too_long_goes_to_the_dlq_unrun(server: Server) -> None:
    lam, sqs = server.client("lambda"), server.client("sqs")
    url, arn = queue(sqs, "invoke-loop-dlq")
    create_function(lam, "traced-async", {"app.py": TRACE}, DeadLetterConfig={"TargetArn": arn})
    tag = lineage.tag(FunctionConfig("traced-async", "python3.11", "r", "h", "", 0))
    caller = traced_client(server, f"Root=1-6571a2b3-0123456789abcdef01234567;Lineage={tag}:16")
    request_id = caller.invoke(FunctionName="traced-async", InvocationType="Event", Payload=b'{"n": 1}')[
        "ResponseMetadata"
    ]["RequestId"]
    [dead] = drain(sqs, url, 1)
    assert dead["Body"] == '{"n": 1}'
    assert {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()} == {
        "RequestID": request_id,
        "ErrorCode": "400",
        "ErrorMessage": lineage.MESSAGE,
    }


TRACE_REPORTER = (
    REPORTING
    + """
def handler(event, context):
    report("run", {"rid": context.aws_request_id, "event": {"trace": os.environ["_X_AMZN_TRACE_ID"]}})
"""
)


def test_eventbridge_does_not_carry_a_chain_on(server: Server, collector: Collector) -> None:
    """AWS counts loops through Lambda, SQS and SNS only: a rule's invocation starts afresh."""
    lam = server.client("lambda")
    create_function(
        lam, "bus-target", {"app.py": TRACE_REPORTER}, Environment={"Variables": collector.variables}
    )
    tag = lineage.tag(FunctionConfig("bus-target", "python3.11", "r", "h", "", 0))
    events = server.client("events")
    events.put_rule(Name="loop-rule", EventPattern=json.dumps({"source": ["loop.test"]}))
    events.put_targets(Rule="loop-rule", Targets=[{"Id": "fn", "Arn": server_arn("bus-target")}])
    header = f"Root=1-6571a2b3-0123456789abcdef01234567;Lineage={tag}:16"
    events.meta.events.register(
        "before-call.events.*", lambda params, **_: params["headers"].__setitem__("X-Amzn-Trace-Id", header)
    )
    events.put_events(Entries=[{"Source": "loop.test", "DetailType": "t", "Detail": "{}"}])
    wait_for(lambda: collector.events, timeout=20, message="the rule's invocation")
    assert collector.events[0]["trace"].endswith(f";Lineage={tag}:1")


S3_LOOPER = (
    RELAYED
    + """

def handler(event, context):
    s3 = client("s3")
    record = event["Records"][0]["s3"]
    hop = int(record["object"]["key"].split("-")[1])
    report("run", {"rid": context.aws_request_id, "event": {"hop": hop}})
    s3.put_object(Bucket=record["bucket"]["name"], Key=f"hop-{hop + 1}", Body=b"again")
"""
)


def test_a_lambda_s3_lambda_loop_is_stopped_after_16_invocations(
    server: Server, relay: Relay, collector: Collector
) -> None:
    lam, s3, sqs = server.client("lambda"), server.client("s3"), server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "s3-loop-dlq")
    variables = relay.variables(collector)
    create_function(
        lam,
        "s3-looper",
        {"app.py": S3_LOOPER},
        Environment={"Variables": variables},
        DeadLetterConfig={"TargetArn": dlq_arn},
        Timeout=30,
    )
    lam.put_function_event_invoke_config(FunctionName="s3-looper", MaximumRetryAttempts=0)
    s3.create_bucket(Bucket="looping")
    s3.put_bucket_notification_configuration(
        Bucket="looping",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": server_arn("s3-looper"), "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    s3.put_object(Bucket="looping", Key="hop-1", Body=b"start")
    [dead] = drain(sqs, dlq_url, 1)
    assert hops(collector) == list(range(1, 17))
    assert json.loads(dead["Body"])["Records"][0]["s3"]["object"]["key"] == "hop-17"


SQS_LOOPER = (
    RELAYED
    + """

def handler(event, context):
    sqs = client("sqs")
    for record in event["Records"]:
        message = json.loads(record["body"])
        report("run", {"rid": context.aws_request_id, "event": message})
        if message["hop"] < message["stop"]:
            onward = json.dumps({**message, "hop": message["hop"] + 1})
            sqs.send_message(QueueUrl=os.environ["QUEUE"], MessageBody=onward)
"""
)


def sqs_loop(server: Server, relay: Relay, collector: Collector, name: str) -> tuple[str, str]:
    """A function mapped to queue ``name`` that sends to it again: (the queue's URL, its DLQ's URL)."""
    lam, sqs = server.client("lambda"), server.client("sqs")
    dlq_url, dlq_arn = queue(sqs, f"{name}-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    # A short visibility timeout sends the stopped 17th message on to the DLQ soon; the function's
    # timeout may not exceed it (AWS's rule for a mapping), and must leave a loaded machine time
    # for the first run's cold start and boto3 import: one that times out goes to the DLQ instead.
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "3", "RedrivePolicy": redrive})[
        "QueueUrl"
    ]
    variables = {**relay.variables(collector), "QUEUE": url}
    create_function(lam, name, {"app.py": SQS_LOOPER}, Environment={"Variables": variables}, Timeout=3)
    return url, dlq_url


def start_mapping(server: Server, name: str) -> None:
    lam = server.client("lambda")
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=f"arn:aws:sqs:us-east-1:000000000000:{name}", BatchSize=1
    )


def test_a_lambda_sqs_lambda_loop_is_stopped_after_16_invocations(
    server: Server, relay: Relay, collector: Collector
) -> None:
    url, dlq_url = sqs_loop(server, relay, collector, "sqs-looper")
    start_mapping(server, "sqs-looper")
    server.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"hop": 1, "stop": 40}))
    # The 17th message is not run: it returns to the queue, whose redrive policy moves it on.
    [dead] = drain(server.client("sqs"), dlq_url, 1)
    assert json.loads(dead["Body"]) == {"hop": 17, "stop": 40}
    assert hops(collector) == list(range(1, 17))
    assert "stopped: a recursive loop (invocation 17 of the same chain" in server.output()


def test_with_allow_the_sqs_loop_goes_on(server: Server, relay: Relay, collector: Collector) -> None:
    url, dlq_url = sqs_loop(server, relay, collector, "sqs-allowed")
    server.client("lambda").put_function_recursion_config(FunctionName="sqs-allowed", RecursiveLoop="Allow")
    start_mapping(server, "sqs-allowed")
    server.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"hop": 1, "stop": 20}))
    wait_for(lambda: len(hops(collector)) >= 20, timeout=30, message="20 runs of the chain")
    assert hops(collector) == list(range(1, 21))
    sqs = server.client("sqs")
    assert sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", []) == []
