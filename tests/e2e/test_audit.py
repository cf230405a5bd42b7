"""The audit log, end to end: control-plane calls recorded with who, what, resource,
outcome and when (invokes and messages not), durable across a restart, queried
through /_lambdalite/audit and `lambdalite audit`; under sigv4 the verified
principal, and refused signatures recorded as denied."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import REGION, Server, create_function, start_server, stop_server

HANDLER = {"app.py": "def handler(event, context):\n    return event\n"}
ADMIN = ("AKIAAUDITADMIN000001", "audit-admin-secret-0000000000000000000000")


def events(server: Server, query: str = "") -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{server.endpoint}/_lambdalite/audit?{query}", timeout=10) as answer:
        found: list[dict[str, Any]] = orjson.loads(answer.read())["Events"]
    return found


def cli(server: Server, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdalite", "audit", "--endpoint", server.endpoint, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def test_control_plane_calls_are_recorded_and_survive_a_restart(tmp_path: Path) -> None:
    started = time.time()
    server = start_server(tmp_path / "data")
    try:
        lam = server.client()
        create_function(lam, "audited", HANDLER)
        lam.invoke(FunctionName="audited", Payload=b"{}")
        with pytest.raises(ClientError):
            lam.delete_function(FunctionName="never-was")
        sqs = server.client("sqs")
        url = sqs.create_queue(QueueName="audited-queue")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="not audited")
        recorded = events(server)
        operations = [event["operation"] for event in recorded]
        assert "lambda:Invoke" not in operations and "sqs:SendMessage" not in operations
        created = next(event for event in recorded if event["operation"] == "lambda:CreateFunction")
        assert created["principal"] == "anonymous"
        assert created["resource"] == "audited"
        assert created["outcome"] == "allowed" and created["status"] == 201
        assert created["source_ip"] == "127.0.0.1"
        assert started - 1 <= created["at"] <= time.time()
        missing = next(event for event in recorded if event["operation"] == "lambda:DeleteFunction")
        assert (missing["resource"], missing["outcome"], missing["status"], missing["error_code"]) == (
            "never-was",
            "error",
            404,
            "ResourceNotFoundException",
        )
        queue = next(event for event in recorded if event["operation"] == "sqs:CreateQueue")
        assert queue["resource"] == "audited-queue"
        # Newest first; the filters.
        assert recorded[0]["at"] >= recorded[-1]["at"]
        assert {event["operation"] for event in events(server, "operation=CreateQueue")} == {
            "sqs:CreateQueue"
        }
        assert events(server, "principal=nobody") == []
        assert events(server, f"since={time.time() + 60}") == []
        with pytest.raises(urllib.error.HTTPError) as bad:
            events(server, "limit=0")
        assert bad.value.code == 400
        assert orjson.loads(bad.value.read())["message"] == "limit must be between 1 and 10000"
    finally:
        stop_server(server)
    server = start_server(tmp_path / "data")
    try:
        table = cli(server, "--operation", "CreateFunction", "--since", "1h")
        assert table.returncode == 0, table.stderr
        assert "lambda:CreateFunction" in table.stdout and "audited" in table.stdout
        assert "anonymous" in table.stdout and "allowed" in table.stdout
        assert "DeleteFunction" not in table.stdout
        wrong = cli(server, "--since", "yesterday")
        assert wrong.returncode != 0 and "give 15m, 2h, 1d or an ISO 8601 time" in wrong.stderr
    finally:
        stop_server(server)


def test_under_sigv4_the_principal_is_the_verified_one_and_refusals_are_denied(tmp_path: Path) -> None:
    keys = {"LAMBDALITE_ACCESS_KEY_ID": ADMIN[0], "LAMBDALITE_SECRET_ACCESS_KEY": ADMIN[1]}
    server = start_server(tmp_path / "data", "--auth", "sigv4", env=keys)
    try:

        def client(secret: str) -> Any:
            return boto3.client(
                "lambda",
                endpoint_url=server.endpoint,
                region_name=REGION,
                aws_access_key_id=ADMIN[0],
                aws_secret_access_key=secret,
                config=Config(retries={"total_max_attempts": 1}),
            )

        client(ADMIN[1]).list_functions()
        with pytest.raises(ClientError):
            client("a-wrong-secret").list_functions()
        # The audit route itself is verified: unsigned, it is refused.
        with pytest.raises(urllib.error.HTTPError) as unsigned:
            events(server)
        assert unsigned.value.code == 403
        table = cli(server, "--operation", "ListFunctions", env=keys)
        assert table.returncode == 0, table.stderr
        assert "arn:aws:iam::000000000000:user/" in table.stdout
        assert f"unverified:{ADMIN[0]}" in table.stdout and "denied" in table.stdout
    finally:
        stop_server(server)
