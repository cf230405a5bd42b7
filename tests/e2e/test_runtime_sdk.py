"""The SDK is part of the runtime: boto3 in Python functions, the AWS SDK for
JavaScript v3 in Node functions (require and import), a function's own copy
wins, and each nodejs runtime runs on its own Node.js major when installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from lambdalite.runtimes import lookup, sdk
from tests.conftest import create_function

pytestmark = pytest.mark.skipif(
    not sdk.python_sdk_path() or not sdk.node_sdk_path(),
    reason="the runtimes' SDKs are not installed (lambdalite runtimes install)",
)

BOTO3 = """
import boto3, botocore
def handler(event, context):
    client = boto3.client("s3", region_name="eu-west-1")
    service = client.meta.service_model.service_name
    return {"boto3": boto3.__version__, "file": boto3.__file__, "service": service}
"""


def test_a_python_handler_imports_the_runtimes_boto3(lam: Any) -> None:
    create_function(lam, "boto3-py", {"app.py": BOTO3}, Runtime="python3.12")
    result = json.loads(lam.invoke(FunctionName="boto3-py")["Payload"].read())
    assert result["service"] == "s3"
    interpreter = lookup.python_interpreters().get((3, 12))
    host_has_boto3 = (
        interpreter is None or subprocess.run([interpreter, "-c", "import boto3"]).returncode == 0
    )
    if not host_has_boto3:
        assert (result["boto3"], result["file"]) == (
            sdk.BOTO3_VERSION,
            str(sdk.PYTHON_SDK_DIR / "boto3" / "__init__.py"),
        )


def test_a_functions_own_boto3_wins(lam: Any) -> None:
    own = {
        "app.py": "import boto3\ndef handler(e, c):\n    return boto3.__version__\n",
        "boto3/__init__.py": "__version__ = 'shipped-by-the-function'\n",
    }
    create_function(lam, "own-boto3", own, Runtime="python3.12")
    assert json.loads(lam.invoke(FunctionName="own-boto3")["Payload"].read()) == "shipped-by-the-function"


NODE_CJS = """
const { S3Client } = require('@aws-sdk/client-s3');
exports.handler = async () => {
  const client = new S3Client({ region: 'eu-west-1' });
  return { region: await client.config.region(), node: process.version };
};
"""
NODE_ESM = """
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export const handler = async () => {
  const sqs = new SQSClient({ region: 'eu-west-1' });
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  return { region: await sqs.config.region(), doc: typeof doc.send, node: process.version };
};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs20.x", "nodejs22.x"])
def test_a_node_handler_requires_and_imports_the_sdk_on_its_own_major(lam: Any, runtime: str) -> None:
    major = runtime.removeprefix("nodejs").removesuffix(".x")
    name = f"sdk-cjs-{major}"
    create_function(lam, name, {"index.js": NODE_CJS}, Runtime=runtime, Handler="index.handler")
    result = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert result["region"] == "eu-west-1"
    exact = lookup.installed_nodes().get(int(major)) or lookup.node_interpreter()
    if exact is not None and exact[1].startswith(f"{major}."):
        assert result["node"].startswith(f"v{major}.")
    name = f"sdk-esm-{major}"
    create_function(lam, name, {"index.mjs": NODE_ESM}, Runtime=runtime, Handler="index.handler")
    response = lam.invoke(FunctionName=name)
    result = json.loads(response["Payload"].read())
    assert response.get("FunctionError") is None, result
    assert (result["region"], result["doc"]) == ("eu-west-1", "function")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_a_node_functions_own_sdk_wins(lam: Any) -> None:
    files = {
        "index.mjs": (
            "import { S3Client } from '@aws-sdk/client-s3';\nexport const handler = async () => S3Client;\n"
        ),
        "node_modules/@aws-sdk/client-s3/package.json": '{"name": "@aws-sdk/client-s3", "main": "own.js"}',
        "node_modules/@aws-sdk/client-s3/own.js": "exports.S3Client = 'shipped-by-the-function';\n",
    }
    create_function(lam, "own-sdk-node", files, Runtime="nodejs20.x", Handler="index.handler")
    assert json.loads(lam.invoke(FunctionName="own-sdk-node")["Payload"].read()) == "shipped-by-the-function"


def test_lambdalite_runtimes_lists_each_runtime_and_the_sdks() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lambdalite", "runtimes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for runtime in lookup.SUPPORTED_RUNTIMES:
        assert runtime in done.stdout
    assert f"python SDK: boto3 {sdk.BOTO3_VERSION} in {sdk.PYTHON_SDK_DIR}" in done.stdout
    assert f"nodejs SDK: @aws-sdk/* (v3) {sdk.JS_SDK_VERSION}" in done.stdout
