"""A server under ``--auth sigv4``, driven by boto3: signed requests work on the Lambda and
Logs APIs; unsigned, wrongly signed, unknown-key, expired and signed-too-long-ago requests
are refused with AWS's codes and messages; the CLI keeps working; ``--auth none`` refuses
a non-loopback address."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import REGION, Server, create_function, free_port, start_server, stop_server
from tests.e2e.test_function_urls import url_id_of

ROOT = Path(__file__).resolve().parents[2]
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
T = r"\d{8}T\d{6}Z"
"""A signing time, ISO 8601 basic."""
INVALID_TOKEN = "The security token included in the request is invalid."
PUBLIC = "def handler(event, context):\n    return {'statusCode': 200, 'body': 'public'}\n"
HANDLER = "def handler(event, context):\n    return {'echo': event}\n"


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sigv4") / "data"
    server = start_server(data_dir, "--auth", "sigv4")
    trust = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
    client(server, "iam").create_role(
        RoleName="lambda-role", AssumeRolePolicyDocument=orjson.dumps(trust).decode()
    )
    yield server
    stop_server(server)


def announced(server: Server, line: str, timeout_s: float = 10) -> bool:
    """Has the server printed ``line``? (It prints the key's line just after it starts accepting.)"""
    deadline = time.monotonic() + timeout_s
    while line not in server.output():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def admin_key(server: Server) -> tuple[str, str]:
    key = orjson.loads((server.data_dir / "admin-key.json").read_bytes())
    return key["AccessKeyId"], key["SecretAccessKey"]


def client(server: Server, service: str, key: tuple[str, str] | None = None, region: str = REGION) -> Any:
    key_id, secret = key or admin_key(server)
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def refused(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def test_the_admin_key_is_announced_and_owner_only(signed_server: Server) -> None:
    path = signed_server.data_dir / "admin-key.json"
    assert announced(signed_server, f"written to {path} (readable only by you)")
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_valid_key_works_on_lambda_and_logs(signed_server: Server) -> None:
    lam = client(signed_server, "lambda")
    create_function(lam, "signed-echo", {"app.py": HANDLER})
    result = lam.invoke(FunctionName="signed-echo", Payload=b'{"x": 1}')
    assert orjson.loads(result["Payload"].read()) == {"echo": {"x": 1}}
    logs = client(signed_server, "logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/signed-echo")["logGroups"]
    assert [group["logGroupName"] for group in groups] == ["/aws/lambda/signed-echo"]


def test_sqs_checks_signatures_in_its_own_protocol(signed_server: Server) -> None:
    sqs = client(signed_server, "sqs")
    sqs.create_queue(QueueName="signed-queue")
    assert any(url.endswith("/signed-queue") for url in sqs.list_queues()["QueueUrls"])
    key_id, _ = admin_key(signed_server)
    assert refused(client(signed_server, "sqs", (key_id, "wrong")).list_queues) == (
        403,
        "SignatureDoesNotMatch",
        MISMATCH,
    )
    assert refused(client(signed_server, "sqs", ("AKIAUNKNOWNUNKNOWN00", "x")).list_queues) == (
        403,
        "InvalidClientTokenId",
        INVALID_TOKEN,
    )


def test_unsigned_requests_are_refused(signed_server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{signed_server.endpoint}/2015-03-31/functions/", timeout=10)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert orjson.loads(caught.value.read()) == {"message": "Missing Authentication Token"}
    request = urllib.request.Request(
        signed_server.endpoint,
        data=b"{}",
        headers={
            "X-Amz-Target": "Logs_20140328.DescribeLogGroups",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert orjson.loads(caught.value.read()) == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Request is missing Authentication Token",
    }


def test_a_wrong_secret_is_refused(signed_server: Server) -> None:
    key_id, _ = admin_key(signed_server)
    wrong = (key_id, "not-the-secret")
    assert refused(client(signed_server, "lambda", wrong).list_functions) == (
        403,
        "InvalidSignatureException",
        MISMATCH,
    )
    assert refused(client(signed_server, "logs", wrong).describe_log_groups) == (
        400,
        "InvalidSignatureException",
        MISMATCH,
    )


def test_a_signature_for_another_region_is_refused_in_each_protocol(signed_server: Server) -> None:
    wrong = "Credential should be scoped to a valid region, not 'eu-west-3'. "
    s3 = f"The authorization header is malformed; the region 'eu-west-3' is wrong; expecting '{REGION}'"
    for service, operation, answer in (
        ("lambda", "list_functions", (403, "InvalidSignatureException", wrong)),
        ("logs", "describe_log_groups", (400, "InvalidSignatureException", wrong)),
        ("sqs", "list_queues", (403, "SignatureDoesNotMatch", wrong)),
        ("s3", "list_buckets", (400, "AuthorizationHeaderMalformed", s3)),
    ):
        elsewhere = client(signed_server, service, region="eu-west-3")
        assert refused(getattr(elsewhere, operation)) == answer, service


def test_an_unknown_key_is_refused(signed_server: Server) -> None:
    unknown = ("AKIAUNKNOWNUNKNOWN00", "whatever")
    assert refused(client(signed_server, "lambda", unknown).list_functions) == (
        403,
        "UnrecognizedClientException",
        INVALID_TOKEN,
    )
    assert refused(client(signed_server, "logs", unknown).describe_log_groups) == (
        400,
        "UnrecognizedClientException",
        INVALID_TOKEN,
    )


def _signed_at(offset_s: float) -> Any:
    when = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=offset_s)
    return mock.patch("botocore.auth.get_current_datetime", return_value=when)


def test_signed_too_long_ago_or_too_far_ahead(signed_server: Server) -> None:
    lam = client(signed_server, "lambda")
    with _signed_at(-600):
        status, code, message = refused(lam.list_functions)
    assert (status, code) == (403, "InvalidSignatureException")
    assert re.fullmatch(
        rf"Signature expired: {T} is now earlier than {T} \({T} - 5 min\.\)",
        message,
    )
    with _signed_at(+600):
        status, code, message = refused(client(signed_server, "logs").describe_log_groups)
    assert (status, code) == (400, "InvalidSignatureException")
    assert re.fullmatch(
        rf"Signature not yet current: {T} is still later than {T} \({T} \+ 5 min\.\)",
        message,
    )
    with _signed_at(-60):  # within the 5 minutes AWS allows
        assert "Functions" in lam.list_functions()


def test_presigned_urls_until_they_expire(signed_server: Server) -> None:
    lam = client(signed_server, "lambda")
    fresh = lam.generate_presigned_url("list_functions", ExpiresIn=60)
    with urllib.request.urlopen(fresh, timeout=10) as response:
        assert "Functions" in orjson.loads(response.read())
    with _signed_at(-120):
        stale = lam.generate_presigned_url("list_functions", ExpiresIn=60)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(stale, timeout=10)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    message = orjson.loads(caught.value.read())["message"]
    assert re.fullmatch(
        rf"Signature expired: {T} is now earlier than {T} \({T} - 60 sec\.\)",
        message,
    )


def test_function_urls_with_auth_type_none_stay_public(signed_server: Server) -> None:
    lam = client(signed_server, "lambda")
    create_function(lam, "signed-url", {"app.py": PUBLIC})
    url = lam.create_function_url_config(FunctionName="signed-url", AuthType="NONE")["FunctionUrl"]
    url_id = url_id_of(url)
    with urllib.request.urlopen(
        f"{signed_server.endpoint}/_lambdalite/url/{url_id}/", timeout=30
    ) as response:
        assert response.read() == b"public"


def test_function_urls_with_auth_type_aws_iam_need_a_signature(signed_server: Server) -> None:
    lam = client(signed_server, "lambda")
    create_function(lam, "signed-iam-url", {"app.py": PUBLIC})
    url = lam.create_function_url_config(FunctionName="signed-iam-url", AuthType="AWS_IAM")["FunctionUrl"]
    target = f"{signed_server.endpoint}/_lambdalite/url/{url_id_of(url)}/"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(target, timeout=30)
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert orjson.loads(caught.value.read()) == {
        "Message": "Forbidden. For troubleshooting Function URL authorization issues, "
        "see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
    }
    wrong = AWSRequest(method="GET", url=target)
    SigV4Auth(Credentials("AKIAUNKNOWNUNKNOWN00", "x"), "lambda", REGION).add_auth(wrong)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(target, headers=dict(wrong.prepare().headers)), timeout=30
        )
    assert caught.value.code == 403
    assert orjson.loads(caught.value.read()) == {"Message": INVALID_TOKEN}
    request = AWSRequest(method="GET", url=target)
    SigV4Auth(Credentials(*admin_key(signed_server)), "lambda", REGION).add_auth(request)
    prepared = request.prepare()
    with urllib.request.urlopen(
        urllib.request.Request(prepared.url, headers=dict(prepared.headers)), timeout=30
    ) as response:
        assert response.read() == b"public"


def cli(server: Server, *args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LAMBDALITE_"))}
    env.update(NO_COLOR="1", LAMBDALITE_DATA_DIR=str(data_dir or server.data_dir))
    return subprocess.run(
        [sys.executable, "-m", "lambdalite", *args, "--endpoint", server.endpoint],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_the_cli_signs_with_the_admin_key_and_manages_keys(signed_server: Server, tmp_path: Path) -> None:
    # A function of its own: the module's tests may run on other workers (own servers).
    create_function(client(signed_server, "lambda"), "cli-listed", {"app.py": HANDLER})
    listed = cli(signed_server, "ls")
    assert listed.returncode == 0 and "cli-listed" in listed.stdout, listed.stderr
    backlog = cli(signed_server, "backlog")  # lambdalite's own surface, signed too
    assert backlog.returncode == 0 and "error" not in backlog.stderr, backlog.stderr
    created = cli(signed_server, "keys", "create", "--user", "alice")
    assert created.returncode == 0, created.stderr
    fields = dict(line.split(":", 1) for line in created.stdout.splitlines() if ":" in line)
    alice = (fields["AccessKeyId"].strip(), fields["SecretAccessKey"].strip())
    assert fields["UserName"].strip() == "alice"
    # Recognised (her signature is checked), and allowed nothing: she has no policies yet.
    assert refused(client(signed_server, "lambda", alice).list_functions)[1] == "AccessDeniedException"
    keys = cli(signed_server, "keys", "list")
    assert keys.returncode == 0 and alice[0] in keys.stdout and "alice" in keys.stdout
    assert alice[1] not in keys.stdout
    deleted = cli(signed_server, "keys", "delete", alice[0])
    assert deleted.returncode == 0 and f"deleted {alice[0]}" in deleted.stdout
    assert refused(client(signed_server, "lambda", alice).list_functions)[1] == "UnrecognizedClientException"
    again = cli(signed_server, "keys", "delete", alice[0])
    assert again.returncode == 1
    assert f"error: NoSuchEntity: The Access Key with id {alice[0]} cannot be found." in again.stderr
    keyless = cli(signed_server, "ls", data_dir=tmp_path)
    assert keyless.returncode == 1
    assert f"error: UnrecognizedClientException: {INVALID_TOKEN}" in keyless.stderr


def test_auth_none_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lambdalite",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={key: value for key, value in os.environ.items() if not key.startswith("LAMBDALITE_")},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "refusing to listen on 0.0.0.0 with --auth none: it is not a loopback address, so anyone who can "
        "reach it could deploy and run code. Start with --auth sigv4 (or LAMBDALITE_AUTH=sigv4) to require "
        "signed requests, or listen on 127.0.0.1."
    )


def test_sigv4_on_any_address_with_the_operators_key(tmp_path: Path) -> None:
    key = ("AKIAOPERATOR00000001", "operator-secret")
    server = start_server(
        tmp_path / "data",
        "--host",
        "0.0.0.0",
        env={
            "LAMBDALITE_AUTH": "sigv4",
            "LAMBDALITE_ACCESS_KEY_ID": key[0],
            "LAMBDALITE_SECRET_ACCESS_KEY": key[1],
        },
    )
    try:
        assert "Functions" in client(server, "lambda", key).list_functions()
        assert announced(server, f"admin access key: {key[0]} (from LAMBDALITE_ACCESS_KEY_ID)")
        assert not (server.data_dir / "admin-key.json").exists()
    finally:
        stop_server(server)
