"""The object store under ``--auth sigv4``: signed uploads (aws-chunked with trailers,
signed payload hashes, multipart) and downloads work; presigned SigV4 URLs work; an
unsigned, wrongly signed or unknown-key request gets S3's XML refusal."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, Server, create_function, start_server, stop_server
from tests.e2e.test_sigv4 import admin_key, client


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("s3sigv4") / "data", "--auth", "sigv4")
    yield server
    stop_server(server)


def presigning(server: Server, signature_version: str) -> Any:
    """An S3 client with the admin key that presigns with ``signature_version``
    (``s3``: SigV2's query form; ``s3v4``)."""
    key_id, secret = admin_key(server)
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(signature_version=signature_version),
    )


def test_signed_requests_work(signed_server: Server) -> None:
    s3 = client(signed_server, "s3")
    s3.create_bucket(Bucket="signed")
    s3.put_object(Bucket="signed", Key="k", Body=b"signed body")  # aws-chunked, CRC32 trailer
    assert s3.get_object(Bucket="signed", Key="k")["Body"].read() == b"signed body"
    data = os.urandom(12 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(data), "signed", "big")
    assert s3.get_object(Bucket="signed", Key="big")["Body"].read() == data
    s3.delete_objects(Bucket="signed", Delete={"Objects": [{"Key": "big"}]})
    presigner = presigning(signed_server, "s3v4")
    url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": "signed", "Key": "k"}, ExpiresIn=60
    )
    with urllib.request.urlopen(url) as answer:
        assert answer.read() == b"signed body"


def test_a_signed_payload_hash_is_checked_against_the_body(signed_server: Server) -> None:
    client(signed_server, "s3").create_bucket(Bucket="hashed")
    key_id, secret = admin_key(signed_server)
    url = f"{signed_server.endpoint}/hashed/k"
    signed = AWSRequest("PUT", url, data=b"signed body")
    signed.headers["x-amz-content-sha256"] = hashlib.sha256(b"signed body").hexdigest()
    SigV4Auth(Credentials(key_id, secret), "s3", "us-east-1").add_auth(signed)
    headers = dict(signed.headers.items())
    with urllib.request.urlopen(urllib.request.Request(url, b"signed body", headers, method="PUT")) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(url, b"other body!", headers, method="PUT"))
    body = err.value.read()
    assert err.value.code == 400, body
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    assert client(signed_server, "s3").get_object(Bucket="hashed", Key="k")["Body"].read() == b"signed body"


def test_unsigned_and_badly_signed_requests_get_s3s_refusals(signed_server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{signed_server.endpoint}/signed/k")
    assert err.value.code == 403
    assert b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in err.value.read()
    key_id, _ = admin_key(signed_server)
    wrong = client(signed_server, "s3", (key_id, "wrong-secret"))
    with pytest.raises(ClientError) as err:
        wrong.list_buckets()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert err.value.response["Error"]["Message"] == (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )
    unknown = client(signed_server, "s3", ("AKIAUNKNOWNKEY000000", "x"))
    with pytest.raises(ClientError) as err:
        unknown.list_buckets()
    assert err.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert (
        err.value.response["Error"]["Message"]
        == "The AWS Access Key Id you provided does not exist in our records."
    )


def test_sigv2_presigned_urls_are_verified(signed_server: Server) -> None:
    import http.client
    from urllib.parse import urlsplit

    s3 = presigning(signed_server, "s3")
    client(signed_server, "s3").create_bucket(Bucket="v2-bucket")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "v2-bucket", "Key": "a b"}, ExpiresIn=60
    )
    assert "AWSAccessKeyId=" in put_url and "Signature=" in put_url
    target = urlsplit(put_url)
    connection = http.client.HTTPConnection(target.hostname, target.port)
    connection.request("PUT", f"{target.path}?{target.query}", body=b"via v2")
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    answer.read()
    get_url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": "v2-bucket", "Key": "a b", "ResponseContentType": "text/plain"},
        ExpiresIn=60,
    )
    with urllib.request.urlopen(get_url) as got:
        assert got.read() == b"via v2"
        assert got.headers["Content-Type"] == "text/plain"
    tampered = get_url.replace("Signature=", "Signature=x")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered)
    assert err.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in err.value.read()
    expired = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "v2-bucket", "Key": "a b"}, ExpiresIn=-10
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(expired)
    assert err.value.code == 403
    assert b"<Message>Request has expired</Message>" in err.value.read()


def test_a_function_must_let_s3_invoke_it_to_be_a_notification_target(signed_server: Server) -> None:
    lam, s3 = client(signed_server, "lambda"), client(signed_server, "s3")
    create_function(lam, "guarded", {"app.py": "def handler(event, context):\n    return 1\n"})
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:guarded"
    s3.create_bucket(Bucket="guarded-bucket")
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError) as err:
        s3.put_bucket_notification_configuration(Bucket="guarded-bucket", NotificationConfiguration=config)
    assert err.value.response["Error"]["Code"] == "InvalidArgument"
    assert (
        err.value.response["Error"]["Message"]
        == "Unable to validate the following destination configurations"
    )
    assert err.value.response["Error"]["ArgumentValue1"] == f"Not authorized to invoke function [{arn}]"
    lam.add_permission(
        FunctionName="guarded",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::guarded-bucket",
    )
    s3.put_bucket_notification_configuration(Bucket="guarded-bucket", NotificationConfiguration=config)
