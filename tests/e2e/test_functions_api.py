"""The function control plane through boto3: create, read, list, update, delete."""

from __future__ import annotations

import base64
import hashlib
import io
import urllib.request
import zipfile
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, ROLE, create_function, zip_files

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"}


def test_create_function_returns_the_configuration_aws_returns(lam: Any) -> None:
    code = zip_files(HELLO)
    response = create_function(
        lam,
        "cfg-fn",
        HELLO,
        Description="first",
        Timeout=7,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert response["FunctionName"] == "cfg-fn"
    assert response["FunctionArn"] == f"{ARN_PREFIX}cfg-fn"
    assert response["Runtime"] == "python3.11"
    assert response["Role"] == ROLE
    assert response["Handler"] == "app.handler"
    assert response["CodeSize"] == len(code)
    assert response["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert response["Description"] == "first"
    assert response["Timeout"] == 7
    assert response["MemorySize"] == 256
    assert response["Version"] == "$LATEST"
    assert response["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert response["PackageType"] == "Zip"
    assert response["Architectures"] == ["x86_64"]
    assert response["EphemeralStorage"] == {"Size": 512}
    assert response["State"] == "Pending"  # as AWS answers; Active once the code is prepared
    assert "LastUpdateStatus" not in response
    assert len(response["LastModified"]) == len("2024-01-31T12:34:56.789+0000")
    assert response["LastModified"].endswith("+0000")
    assert response["RevisionId"]


def test_get_function_serves_the_zip_at_code_location(lam: Any) -> None:
    create_function(lam, "get-fn", HELLO)
    response = lam.get_function(FunctionName="get-fn")
    assert response["Configuration"]["FunctionName"] == "get-fn"
    assert response["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(response["Code"]["Location"]) as download:
        data = download.read()
    assert zipfile.ZipFile(io.BytesIO(data)).read("app.py").decode() == HELLO["app.py"]
    by_arn = lam.get_function_configuration(FunctionName=f"{ARN_PREFIX}get-fn")
    assert by_arn["FunctionName"] == "get-fn"
    partial = lam.get_function_configuration(FunctionName="000000000000:function:get-fn")
    assert partial["RevisionId"] == by_arn["RevisionId"]


def test_missing_function_is_404_with_awss_message(lam: Any) -> None:
    for call in (lam.get_function, lam.get_function_configuration, lam.delete_function, lam.invoke):
        with pytest.raises(lam.exceptions.ResourceNotFoundException) as err:
            call(FunctionName="nope")
        assert err.value.response["Error"]["Message"] == f"Function not found: {ARN_PREFIX}nope"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_creating_an_existing_function_is_a_conflict(lam: Any) -> None:
    create_function(lam, "dup-fn", HELLO)
    with pytest.raises(lam.exceptions.ResourceConflictException) as err:
        create_function(lam, "dup-fn", HELLO)
    assert err.value.response["Error"]["Message"] == "Function already exist: dup-fn"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_list_functions_pages_with_marker(lam: Any) -> None:
    for index in range(5):
        create_function(lam, f"page-{index}", HELLO)
    names: list[str] = []
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [n for n in names if n.startswith("page-")] == [f"page-{i}" for i in range(5)]
    everything = [
        f["FunctionName"] for p in lam.get_paginator("list_functions").paginate() for f in p["Functions"]
    ]
    assert set(everything) >= {f"page-{i}" for i in range(5)}


def test_update_configuration_changes_revision_and_waiter_works(lam: Any) -> None:
    created = create_function(lam, "upd-fn", HELLO)
    updated = lam.update_function_configuration(
        FunctionName="upd-fn",
        MemorySize=512,
        Timeout=10,
        Description="changed",
        Environment={"Variables": {"AB": "1"}},
        EphemeralStorage={"Size": 1024},
        Handler="app.handler",
        Runtime="python3.12",
        Role=ROLE,
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="upd-fn", WaiterConfig={"Delay": 1})
    assert updated["RevisionId"] != created["RevisionId"]
    config = lam.get_function_configuration(FunctionName="upd-fn")
    assert (config["MemorySize"], config["Timeout"], config["Description"]) == (512, 10, "changed")
    assert config["Environment"] == {"Variables": {"AB": "1"}}
    assert config["EphemeralStorage"] == {"Size": 1024}
    assert config["Runtime"] == "python3.12"
    assert config["CodeSha256"] == created["CodeSha256"]


def test_wrong_revision_id_is_precondition_failed(lam: Any) -> None:
    create_function(lam, "rev-fn", HELLO)
    for call in (
        lambda: lam.update_function_configuration(FunctionName="rev-fn", Timeout=5, RevisionId="wrong"),
        lambda: lam.update_function_code(FunctionName="rev-fn", ZipFile=zip_files(HELLO), RevisionId="wrong"),
    ):
        with pytest.raises(lam.exceptions.PreconditionFailedException) as err:
            call()
        assert err.value.response["Error"]["Message"] == (
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_update_code_changes_what_runs(lam: Any) -> None:
    create_function(lam, "code-fn", HELLO)
    assert lam.invoke(FunctionName="code-fn")["Payload"].read() == b'{"hello": "world"}'
    new = {"app.py": "def handler(event, context):\n    return 'v2'\n"}
    response = lam.update_function_code(FunctionName="code-fn", ZipFile=zip_files(new))
    lam.get_waiter("function_updated_v2").wait(FunctionName="code-fn", WaiterConfig={"Delay": 1})
    assert response["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_files(new)).digest()).decode()
    assert lam.invoke(FunctionName="code-fn")["Payload"].read() == b'"v2"'


def test_delete_function_removes_it(lam: Any) -> None:
    create_function(lam, "del-fn", HELLO)
    assert lam.delete_function(FunctionName="del-fn")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="del-fn")


def test_a_zip_that_is_not_a_zip_is_refused_and_nothing_is_stored(lam: Any) -> None:
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as err:
        lam.create_function(
            FunctionName="bad-zip",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": b"this is not a zip"},
        )
    assert err.value.response["Error"]["Message"] == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="bad-zip")


def test_unknown_operation_gets_an_aws_shaped_error(server: Any) -> None:
    request = urllib.request.Request(f"{server.endpoint}/2015-03-31/functions/x/nonsense", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 404
    assert err.value.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_malformed_json_body_is_an_aws_error_and_server_survives(server: Any, lam: Any) -> None:
    request = urllib.request.Request(
        f"{server.endpoint}/2015-03-31/functions",
        data=b"{not json",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert err.value.code == 400
    assert err.value.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert lam.list_functions()["ResponseMetadata"]["HTTPStatusCode"] == 200
