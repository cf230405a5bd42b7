"""Lambda code from the object store: CreateFunction, UpdateFunctionCode and
PublishLayerVersion with S3Bucket/S3Key, and AWS's errors for a missing bucket or key."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ROLE, Server, start_server, stop_server, zip_files

GET_OBJECT = "Error occurred while GetObject. S3 Error Code: "
MISSING_BUCKET = GET_OBJECT + "NoSuchBucket. S3 Error Message: The specified bucket does not exist"
MISSING_KEY = GET_OBJECT + "NoSuchKey. S3 Error Message: The specified key does not exist."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("s3code") / "data")
    yield srv
    stop_server(srv)


def handler_zip(answer: str) -> bytes:
    return zip_files({"app.py": f"def handler(event, context):\n    return {answer!r}\n"})


def invoke(lam: Any, name: str) -> Any:
    return json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_functions_and_layers_from_the_object_store(server: Server) -> None:
    s3, lam = server.client("s3"), server.client("lambda")
    s3.create_bucket(Bucket="code")
    s3.upload_fileobj(io.BytesIO(handler_zip("v1")), "code", "fn.zip")
    created = lam.create_function(
        FunctionName="from-s3",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": "code", "S3Key": "fn.zip"},
    )
    assert created["CodeSize"] == len(handler_zip("v1"))
    lam.get_waiter("function_active_v2").wait(FunctionName="from-s3", WaiterConfig={"Delay": 0.1})
    assert invoke(lam, "from-s3") == "v1"
    s3.put_object(Bucket="code", Key="fn.zip", Body=handler_zip("v2"))
    lam.update_function_code(FunctionName="from-s3", S3Bucket="code", S3Key="fn.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName="from-s3", WaiterConfig={"Delay": 0.1})
    assert invoke(lam, "from-s3") == "v2"
    s3.put_object(Bucket="code", Key="layer.zip", Body=zip_files({"python/shared.py": "X = 1\n"}))
    layer = lam.publish_layer_version(LayerName="from-s3", Content={"S3Bucket": "code", "S3Key": "layer.zip"})
    assert layer["Version"] == 1 and layer["Content"]["CodeSize"] > 0


@pytest.mark.parametrize(
    ("bucket", "key", "message"),
    [("no-such-code-bucket", "fn.zip", MISSING_BUCKET), ("code2", "nope.zip", MISSING_KEY)],
)
def test_a_missing_bucket_or_key_is_awss_error(server: Server, bucket: str, key: str, message: str) -> None:
    s3, lam = server.client("s3"), server.client("lambda")
    s3.create_bucket(Bucket="code2")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.create_function(
            FunctionName="nope",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"S3Bucket": bucket, "S3Key": key},
        )
    assert err.value.response["Error"]["Message"] == message
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.publish_layer_version(LayerName="nope", Content={"S3Bucket": bucket, "S3Key": key})
    assert err.value.response["Error"]["Message"] == message
