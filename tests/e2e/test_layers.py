"""Lambda layers through boto3: every operation and error with AWS's exact texts, and
functions finding their layers where AWS runtimes look (at both isolation levels).

Texts are AWS's as LocalStack's parity snapshots record them
(tests/aws/services/lambda_/test_lambda_api.snapshot.json, TestLambdaLayer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ACCOUNT,
    REGION,
    Server,
    create_function,
    error_of,
    open_to_sandboxes,
    start_server,
    stop_server,
    zip_files,
)

LAYER_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:"
TRIVIAL = {"app.py": "def handler(event, context):\n    return 1\n"}
NODE = shutil.which("node")


def publish(lam: Any, name: str, files: dict[str, str | bytes], **kwargs: Any) -> dict[str, Any]:
    modes = kwargs.pop("modes", None)
    response: dict[str, Any] = lam.publish_layer_version(
        LayerName=name, Content={"ZipFile": zip_files(files, modes)}, **kwargs
    )
    return response


def invoke(lam: Any, name: str, payload: Any = None) -> Any:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read())


@pytest.fixture(scope="module")
def process_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = open_to_sandboxes(tmp_path_factory.mktemp("lambdalite-process") / "data")
    server = start_server(data_dir, "--isolation", "process", env={"LAMBDALITE_KEEP_ALIVE_S": "60"})
    yield server
    stop_server(server)


@pytest.fixture(params=["default", "process"])
def any_lam(request: pytest.FixtureRequest, lam: Any) -> Any:
    """The module's server (namespace level where the host allows) and a process-level one."""
    if request.param == "default":
        return lam
    return request.getfixturevalue("process_server").client("lambda")


# --- layer versions ------------------------------------------------------------------------------


def test_publish_get_list_and_delete_layer_versions(lam: Any) -> None:
    content = zip_files({"python/lib_one.py": "X = 1\n"})
    first = lam.publish_layer_version(
        LayerName="ly-basic",
        Content={"ZipFile": content},
        Description="first",
        LicenseInfo="MIT",
        CompatibleRuntimes=["python3.11", "python3.12"],
        CompatibleArchitectures=["x86_64"],
    )
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["LayerArn"] == f"{LAYER_PREFIX}ly-basic"
    assert first["LayerVersionArn"] == f"{LAYER_PREFIX}ly-basic:1"
    assert first["Version"] == 1
    assert first["Description"] == "first"
    assert first["LicenseInfo"] == "MIT"
    assert first["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert first["CompatibleArchitectures"] == ["x86_64"]
    assert first["Content"]["CodeSize"] == len(content)
    assert first["Content"]["CodeSha256"] == base64.b64encode(hashlib.sha256(content).digest()).decode()
    with urllib.request.urlopen(first["Content"]["Location"]) as response:
        assert response.read() == content

    second = publish(lam, "ly-basic", {"python/lib_two.py": "X = 2\n"}, CompatibleRuntimes=["nodejs20.x"])
    assert second["Version"] == 2 and "LicenseInfo" not in second
    # AWS answers with the list a layer was published without as [] when the other was given ...
    assert second["CompatibleArchitectures"] == []
    # ... and with neither when neither was (TestLambdaLayer::test_layer_s3_content's recording).
    bare = publish(lam, "ly-bare", {"a.py": ""})
    assert "CompatibleRuntimes" not in bare and "CompatibleArchitectures" not in bare
    listed = lam.list_layer_versions(LayerName="ly-bare")["LayerVersions"]
    assert "CompatibleRuntimes" not in listed[0] and "CompatibleArchitectures" not in listed[0]
    # AWS accepts every runtime name it knows in a layer, deprecated ones too.
    old = publish(lam, "ly-bare", {"a.py": ""}, CompatibleRuntimes=["python3.7", "go1.x", "provided"])
    assert old["CompatibleRuntimes"] == ["python3.7", "go1.x", "provided"]
    lam.delete_layer_version(LayerName="ly-bare", VersionNumber=1)
    lam.delete_layer_version(LayerName="ly-bare", VersionNumber=2)

    got = lam.get_layer_version(LayerName="ly-basic", VersionNumber=1)
    assert got["LayerVersionArn"] == first["LayerVersionArn"]
    # Each answer signs its own link (as AWS presigns one per call): the same package behind both.
    got_location, first_location = got["Content"].pop("Location"), first["Content"].pop("Location")
    assert got["Content"] == first["Content"]
    assert got_location.split("?")[0] == first_location.split("?")[0]
    by_arn = lam.get_layer_version_by_arn(Arn=f"{LAYER_PREFIX}ly-basic:2")
    assert by_arn["Version"] == 2 and by_arn["CompatibleRuntimes"] == ["nodejs20.x"]
    by_layer_arn = lam.get_layer_version(LayerName=f"{LAYER_PREFIX}ly-basic", VersionNumber=2)
    assert by_layer_arn["Version"] == 2

    versions = lam.list_layer_versions(LayerName="ly-basic")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    assert versions[1] == {
        k: v for k, v in first.items() if k not in ("Content", "LayerArn", "ResponseMetadata")
    }
    python = lam.list_layer_versions(LayerName="ly-basic", CompatibleRuntime="python3.12")["LayerVersions"]
    assert [v["Version"] for v in python] == [1]
    arm = lam.list_layer_versions(LayerName="ly-basic", CompatibleArchitecture="arm64")["LayerVersions"]
    assert arm == []
    page = lam.list_layer_versions(LayerName="ly-basic", MaxItems=1)
    assert [v["Version"] for v in page["LayerVersions"]] == [2]
    rest = lam.list_layer_versions(LayerName="ly-basic", Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1] and "NextMarker" not in rest

    layers = {item["LayerName"]: item for item in lam.list_layers()["Layers"]}
    assert layers["ly-basic"]["LayerArn"] == f"{LAYER_PREFIX}ly-basic"
    assert layers["ly-basic"]["LatestMatchingVersion"]["Version"] == 2
    matching = {item["LayerName"]: item for item in lam.list_layers(CompatibleRuntime="python3.11")["Layers"]}
    assert matching["ly-basic"]["LatestMatchingVersion"]["Version"] == 1

    assert (
        lam.delete_layer_version(LayerName="ly-basic", VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert (
        lam.delete_layer_version(LayerName="ly-basic", VersionNumber=2)["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="ly-basic")["LayerVersions"]] == [1]
    # A version number is never given out twice.
    assert publish(lam, "ly-basic", {"python/x.py": ""})["Version"] == 3


def test_layer_version_errors(lam: Any) -> None:
    publish(lam, "ly-errors", {"python/e.py": ""})
    not_found = (404, "The resource you requested does not exist.")
    assert (
        error_of(
            "ResourceNotFoundException", lambda: lam.get_layer_version(LayerName="ly-errors", VersionNumber=9)
        )
        == not_found
    )
    assert (
        error_of(
            "ResourceNotFoundException", lambda: lam.get_layer_version(LayerName="ly-none", VersionNumber=1)
        )
        == not_found
    )
    assert (
        error_of(
            "ResourceNotFoundException",
            lambda: lam.get_layer_version_by_arn(Arn=f"{LAYER_PREFIX}ly-errors:9"),
        )
        == not_found
    )
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.get_layer_version(LayerName="ly-errors", VersionNumber=0),
    ) == (400, "Layer Version Cannot be less than 1")
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.delete_layer_version(LayerName="ly-errors", VersionNumber=-1),
    ) == (400, "Layer Version Cannot be less than 1")
    status, message = error_of(
        "ValidationException", lambda: lam.get_layer_version_by_arn(Arn=f"{LAYER_PREFIX}ly-errors")
    )
    # AWS's words for the pattern (botocore's model wraps it in one more pair of parentheses).
    assert (status, message) == (
        400,
        f"1 validation error detected: Value '{LAYER_PREFIX}ly-errors' at 'arn' "
        "failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
        "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:"
        "layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)",
    )
    # AWS's own runtime sets, in its order; both members' errors at once.
    status, message = error_of(
        "ValidationException",
        lambda: publish(
            lam,
            "ly-errors",
            {"a": ""},
            CompatibleRuntimes=["python3.11", "cobol"],
            CompatibleArchitectures=["sparc", "x86_64"],
        ),
    )
    assert (status, message) == (
        400,
        "2 validation errors detected: Value '[python3.11, cobol]' at 'compatibleRuntimes' failed to "
        "satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, provided.al2023, "
        "python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, "
        "ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6, "
        "nodejs18.x, provided.al2, java8.al2]; "
        "Value '[sparc, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must "
        "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    )
    status, message = error_of("ValidationException", lambda: lam.list_layers(CompatibleRuntime="cobol"))
    assert (status, message) == (
        400,
        "1 validation error detected: Value 'cobol' at 'compatibleRuntime' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, "
        "ruby2.7, python2.7-greengrass, dotnetcore2.0, python3.8, java21, dotnet6, dotnetcore2.1, python3.9, "
        "java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, java25, java17, nodejs, nodejs4.3, java8.al2, "
        "go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, provided.al2023, nodejs22.x, python3.10, "
        "java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, nodejs14.x, nodejs8.9, "
        "nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, nodejs4.3-edge, "
        "nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7]",
    )
    assert error_of(
        "ValidationException",
        lambda: lam.list_layer_versions(LayerName="ly-errors", CompatibleArchitecture="sparc"),
    ) == (
        400,
        "1 validation error detected: Value 'sparc' at 'compatibleArchitecture' "
        "failed to satisfy constraint: "
        "Member must satisfy enum value set: [x86_64, arm64]",
    )
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.publish_layer_version(LayerName="ly-errors", Content={"ZipFile": b"not a zip"}),
    ) == (400, "Could not unzip uploaded file. Please check your file, then try to upload again.")
    # Nothing was published by the failed calls.
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="ly-errors")["LayerVersions"]] == [1]


# --- layer version permissions ------------------------------------------------------------------


def test_layer_version_permissions(lam: Any) -> None:
    publish(lam, "ly-perm", {"python/p.py": ""})
    arn = f"{LAYER_PREFIX}ly-perm:1"
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.get_layer_version_policy(LayerName="ly-perm", VersionNumber=1),
    ) == (404, "No policy is associated with the given resource.")

    added = lam.add_layer_version_permission(
        LayerName="ly-perm", VersionNumber=1, StatementId="s1", Action="lambda:GetLayerVersion", Principal="*"
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = {
        "Sid": "s1",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": arn,
    }
    assert json.loads(added["Statement"]) == statement
    policy = lam.get_layer_version_policy(LayerName="ly-perm", VersionNumber=1)
    assert json.loads(policy["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [statement],
    }
    assert policy["RevisionId"] == added["RevisionId"]

    assert error_of(
        "ResourceConflictException",
        lambda: lam.add_layer_version_permission(
            LayerName="ly-perm",
            VersionNumber=1,
            StatementId="s1",
            Action="lambda:GetLayerVersion",
            Principal="*",
        ),
    ) == (
        409,
        "The statement id (s1) provided already exists. Please provide a new statement id, or remove the "
        "existing statement.",
    )
    mismatch = (
        412,
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetLayerPolicy API to retrieve the latest Revision Id",
    )
    assert (
        error_of(
            "PreconditionFailedException",
            lambda: lam.add_layer_version_permission(
                LayerName="ly-perm",
                VersionNumber=1,
                StatementId="s2",
                Action="lambda:GetLayerVersion",
                Principal=ACCOUNT,
                RevisionId="wrong",
            ),
        )
        == mismatch
    )
    assert (
        error_of(
            "PreconditionFailedException",
            lambda: lam.remove_layer_version_permission(
                LayerName="ly-perm", VersionNumber=1, StatementId="s1", RevisionId="wrong"
            ),
        )
        == mismatch
    )
    assert error_of(
        "ValidationException",
        lambda: lam.add_layer_version_permission(
            LayerName="ly-perm",
            VersionNumber=1,
            StatementId="s3",
            Action="lambda:InvokeFunction",
            Principal="*",
        ),
    ) == (
        400,
        "1 validation error detected: Value 'lambda:InvokeFunction' at 'action' "
        "failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
    )
    missing = (404, f"Layer version {LAYER_PREFIX}ly-perm:7 does not exist.")
    assert (
        error_of(
            "ResourceNotFoundException",
            lambda: lam.add_layer_version_permission(
                LayerName="ly-perm",
                VersionNumber=7,
                StatementId="s1",
                Action="lambda:GetLayerVersion",
                Principal="*",
            ),
        )
        == missing
    )
    assert (
        error_of(
            "ResourceNotFoundException",
            lambda: lam.get_layer_version_policy(LayerName="ly-perm", VersionNumber=7),
        )
        == missing
    )
    assert (
        error_of(
            "ResourceNotFoundException",
            lambda: lam.remove_layer_version_permission(
                LayerName="ly-perm", VersionNumber=7, StatementId="s1"
            ),
        )
        == missing
    )

    removed = lam.remove_layer_version_permission(
        LayerName="ly-perm", VersionNumber=1, StatementId="s1", RevisionId=added["RevisionId"]
    )
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.remove_layer_version_permission(LayerName="ly-perm", VersionNumber=1, StatementId="s1"),
    ) == (404, "Statement s1 is not found in resource policy.")
    assert error_of(
        "ResourceNotFoundException",
        lambda: lam.get_layer_version_policy(LayerName="ly-perm", VersionNumber=1),
    ) == (404, "No policy is associated with the given resource.")


# --- functions referencing layers ---------------------------------------------------------------


def test_function_layer_references_and_their_errors(lam: Any) -> None:
    one = publish(lam, "ly-ref", {"python/r.py": "V = 1\n"})
    two = publish(lam, "ly-ref", {"python/r.py": "V = 2\n"})
    other = publish(lam, "ly-ref-other", {"python/o.py": ""})
    created = create_function(
        lam, "ly-fn", TRIVIAL, Layers=[one["LayerVersionArn"], other["LayerVersionArn"]]
    )
    expected = [
        {"Arn": one["LayerVersionArn"], "CodeSize": one["Content"]["CodeSize"]},
        {"Arn": other["LayerVersionArn"], "CodeSize": other["Content"]["CodeSize"]},
    ]
    assert created["Layers"] == expected
    assert lam.get_function(FunctionName="ly-fn")["Configuration"]["Layers"] == expected

    revision = lam.get_function_configuration(FunctionName="ly-fn")["RevisionId"]
    updated = lam.update_function_configuration(FunctionName="ly-fn", Layers=[two["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName="ly-fn", WaiterConfig={"Delay": 0.1})
    assert updated["Layers"] == [{"Arn": two["LayerVersionArn"], "CodeSize": two["Content"]["CodeSize"]}]
    assert updated["RevisionId"] != revision
    cleared = lam.update_function_configuration(FunctionName="ly-fn", Layers=[])
    lam.get_waiter("function_updated_v2").wait(FunctionName="ly-fn", WaiterConfig={"Delay": 0.1})
    assert "Layers" not in cleared

    six = [publish(lam, f"ly-six-{i}", {"f": ""})["LayerVersionArn"] for i in range(6)]
    assert error_of(
        "InvalidParameterValueException", lambda: create_function(lam, "ly-bad", TRIVIAL, Layers=six)
    ) == (400, "Cannot reference more than 5 layers.")
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.update_function_configuration(FunctionName="ly-fn", Layers=six),
    ) == (400, "Cannot reference more than 5 layers.")
    assert error_of(
        "InvalidParameterValueException",
        lambda: create_function(
            lam, "ly-bad", TRIVIAL, Layers=[one["LayerVersionArn"], two["LayerVersionArn"]]
        ),
    ) == (
        400,
        "Two different versions of the same layer are not allowed to be referenced in the same function. "
        f"{one['LayerVersionArn']} and {two['LayerVersionArn']} are versions of the same layer.",
    )
    assert error_of(
        "InvalidParameterValueException",
        lambda: lam.update_function_configuration(FunctionName="ly-fn", Layers=[f"{LAYER_PREFIX}ly-ref:99"]),
    ) == (400, f"Layer version {LAYER_PREFIX}ly-ref:99 does not exist.")
    status, message = error_of(
        "ValidationException",
        lambda: create_function(lam, "ly-bad", TRIVIAL, Layers=[f"{LAYER_PREFIX}ly-ref"]),
    )
    assert status == 400
    assert message.startswith(
        f"1 validation error detected: Value '[{LAYER_PREFIX}ly-ref]' at 'layers' "
        "failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy regular expression pattern: "
    )
    assert error_of("ResourceNotFoundException", lambda: lam.get_function(FunctionName="ly-bad"))[0] == 404

    # A function keeps its layer after the layer version is deleted, as on AWS.
    lam.update_function_configuration(FunctionName="ly-fn", Layers=[one["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName="ly-fn", WaiterConfig={"Delay": 0.1})
    lam.delete_layer_version(LayerName="ly-ref", VersionNumber=1)
    assert lam.get_function_configuration(FunctionName="ly-fn")["Layers"][0]["Arn"] == one["LayerVersionArn"]


PY_HANDLER = """
import dateutil, shared, from_python, from_site_packages

def handler(event, context):
    return {
        "shared": shared.WHO,
        "python": from_python.V,
        "site": from_site_packages.V,
        "dateutil": getattr(dateutil, "FROM_LAYER", False),
    }
"""


def test_python_function_imports_from_layers_and_the_later_layer_wins(any_lam: Any) -> None:
    lam = any_lam
    base = publish(
        lam,
        "ly-py-base",
        {
            "python/shared.py": "WHO = 'base'\n",
            "python/from_python.py": "V = 'python dir'\n",
            # Whichever Python 3 runs python3.11 here, its own site-packages directory.
            **{
                f"python/lib/python3.{minor}/site-packages/from_site_packages.py": "V = 'site-packages'\n"
                for minor in range(9, 15)
            },
            # A package the zygote has imported (botocore uses it): the layer's copy must win.
            "python/dateutil/__init__.py": "FROM_LAYER = True\n",
        },
    )
    top = publish(lam, "ly-py-top", {"python/shared.py": "WHO = 'top'\n"})
    create_function(
        lam, "ly-py", {"app.py": PY_HANDLER}, Layers=[base["LayerVersionArn"], top["LayerVersionArn"]]
    )
    assert invoke(lam, "ly-py") == {
        "shared": "top",
        "python": "python dir",
        "site": "site-packages",
        "dateutil": True,
    }
    # Swapping the order makes the other layer win, in new environments.
    lam.update_function_configuration(
        FunctionName="ly-py", Layers=[top["LayerVersionArn"], base["LayerVersionArn"]]
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName="ly-py", WaiterConfig={"Delay": 0.1})
    assert invoke(lam, "ly-py")["shared"] == "base"


@pytest.mark.skipif(NODE is None, reason="node is not installed on this host")
def test_node_function_requires_from_a_layer(any_lam: Any) -> None:
    lam = any_lam
    layer = publish(
        lam,
        "ly-node",
        {
            "nodejs/node_modules/greeter/index.js": "exports.greet = (n) => `hello ${n} from a layer`;\n",
            "nodejs/node20/node_modules/versioned/index.js": "exports.v = 'node20 dir';\n",
        },
    )
    code = (
        "const { greet } = require('greeter');\n"
        "const { v } = require('versioned');\n"
        "exports.handler = async (event) => ({ greeting: greet(event.name), v });\n"
    )
    create_function(
        lam,
        "ly-node-fn",
        {"index.js": code},
        Runtime="nodejs20.x",
        Handler="index.handler",
        Layers=[layer["LayerVersionArn"]],
    )
    assert invoke(lam, "ly-node-fn", {"name": "ada"}) == {
        "greeting": "hello ada from a layer",
        "v": "node20 dir",
    }


PROVIDED_BOOTSTRAP = """#!{python}
import json, os, subprocess, urllib.request
api = 'http://' + os.environ['AWS_LAMBDA_RUNTIME_API'] + '/2018-06-01/runtime/invocation/'
while True:
    with urllib.request.urlopen(api + 'next') as response:
        request_id = response.headers['Lambda-Runtime-Aws-Request-Id']
        event = json.loads(response.read())
    out = subprocess.run(['layer-tool', event['arg']], capture_output=True, text=True).stdout.strip()
    data = json.dumps(out).encode()
    reply = urllib.request.Request(api + request_id + '/response', data=data, method='POST')
    urllib.request.urlopen(reply).read()
"""


def test_provided_function_runs_a_binary_from_the_layers_bin(any_lam: Any) -> None:
    lam = any_lam
    layer = publish(
        lam, "ly-bin", {"bin/layer-tool": '#!/bin/sh\necho "tool says $1"\n'}, modes={"bin/layer-tool": 0o755}
    )
    create_function(
        lam,
        "ly-bin-fn",
        # A system interpreter: at the process level as root the bootstrap runs as the
        # environment's own uid, which cannot exec one below /root (pyenv).
        {
            "bootstrap": PROVIDED_BOOTSTRAP.format(
                python=shutil.which("python3", path="/usr/bin:/bin") or sys.executable
            )
        },
        Runtime="provided.al2023",
        Handler="x.y",
        modes={"bootstrap": 0o755},
        Layers=[layer["LayerVersionArn"]],
    )
    assert invoke(lam, "ly-bin-fn", {"arg": "hi"}) == "tool says hi"


def test_layers_and_functions_using_them_survive_a_restart(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        lam = server.client("lambda")
        layer = publish(lam, "ly-persist", {"python/persisted.py": "V = 'kept'\n"}, Description="d")
        lam.add_layer_version_permission(
            LayerName="ly-persist",
            VersionNumber=1,
            StatementId="s",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
        code = {"app.py": "import persisted\ndef handler(e, c):\n    return persisted.V\n"}
        create_function(lam, "ly-persist-fn", code, Layers=[layer["LayerVersionArn"]])
    finally:
        stop_server(server)
    server = start_server(tmp_path / "data")
    try:
        lam = server.client("lambda")
        got = lam.get_layer_version(LayerName="ly-persist", VersionNumber=1)
        assert got["Description"] == "d" and got["Content"]["CodeSha256"] == layer["Content"]["CodeSha256"]
        assert (
            json.loads(lam.get_layer_version_policy(LayerName="ly-persist", VersionNumber=1)["Policy"])[
                "Statement"
            ][0]["Sid"]
            == "s"
        )
        assert (
            lam.get_function_configuration(FunctionName="ly-persist-fn")["Layers"][0]["Arn"]
            == (layer["LayerVersionArn"])
        )
        assert invoke(lam, "ly-persist-fn") == "kept"
        assert publish(lam, "ly-persist", {"python/x.py": ""})["Version"] == 2
    finally:
        stop_server(server)
