"""Versions, qualifiers and aliases through boto3, with AWS's exact errors.

The error texts are AWS's as recorded in LocalStack's parity snapshots
(tests/aws/services/lambda_/test_lambda_api.snapshot.json) or, where no
recording exists, as AWS-compatible emulators reproduce them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, Server, create_function, start_server, stop_server, zip_files

VERSIONED = {
    "app.py": (
        "import os\n"
        "CODE = 'v1'\n"
        "def handler(event, context):\n"
        "    return {'code': CODE, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
        "            'arn': context.invoked_function_arn}\n"
    )
}
VERSIONED_2 = {"app.py": VERSIONED["app.py"].replace("'v1'", "'v2'")}
TRIVIAL = {"app.py": "def handler(event, context):\n    return 1\n"}
WEIGHTS = "routingConfig.additionalVersionWeights"
WEIGHT_RANGE = (
    "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
    "Member must have value greater than or equal to 0.0, Member must not be null]"
)
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def sha_b64(files: dict[str, str | bytes]) -> str:
    return base64.b64encode(hashlib.sha256(zip_files(files)).digest()).decode()


def error_of(lam: Any, code: str, call: Callable[[], Any]) -> tuple[int, str]:
    """(HTTP status, message) of a call that must fail with AWS error ``code``."""
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    assert response["Error"]["Code"] == code
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def invoke(lam: Any, name: str, **kwargs: Any) -> tuple[str, Any]:
    """(X-Amz-Executed-Version, decoded payload) of a synchronous invoke."""
    response = lam.invoke(FunctionName=name, **kwargs)
    return response["ExecutedVersion"], json.loads(response["Payload"].read())


def update_code(lam: Any, name: str, files: dict[str, str | bytes], **kwargs: Any) -> dict[str, Any]:
    response: dict[str, Any] = lam.update_function_code(FunctionName=name, ZipFile=zip_files(files), **kwargs)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return response


# --- versions --------------------------------------------------------------------------------------


def test_publish_version_is_an_immutable_snapshot_that_invokes_its_own_code(lam: Any) -> None:
    created = create_function(lam, "ver-snap", VERSIONED, Description="latest words")
    v1 = lam.publish_version(FunctionName="ver-snap", Description="first release")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1"
    assert v1["FunctionArn"] == f"{ARN_PREFIX}ver-snap:1"
    assert v1["Description"] == "first release"
    assert v1["CodeSha256"] == created["CodeSha256"]
    assert v1["RevisionId"] != created["RevisionId"]
    assert v1["State"] == "Active"

    update_code(lam, "ver-snap", VERSIONED_2)
    v2 = lam.publish_version(FunctionName="ver-snap")
    assert (v2["Version"], v2["Description"]) == ("2", "latest words")
    assert v2["CodeSha256"] == sha_b64(VERSIONED_2)

    old = lam.get_function(FunctionName="ver-snap", Qualifier="1")["Configuration"]
    assert (old["Version"], old["CodeSha256"], old["FunctionArn"]) == (
        "1",
        created["CodeSha256"],
        f"{ARN_PREFIX}ver-snap:1",
    )
    latest = lam.get_function_configuration(FunctionName="ver-snap")
    assert (latest["Version"], latest["FunctionArn"]) == ("$LATEST", f"{ARN_PREFIX}ver-snap")
    explicit = lam.get_function_configuration(FunctionName="ver-snap", Qualifier="$LATEST")
    assert explicit["FunctionArn"] == f"{ARN_PREFIX}ver-snap:$LATEST"

    assert invoke(lam, "ver-snap", Qualifier="1") == (
        "1",
        {"code": "v1", "version": "1", "arn": f"{ARN_PREFIX}ver-snap:1"},
    )
    assert invoke(lam, "ver-snap:2")[1]["code"] == "v2"
    assert invoke(lam, "ver-snap")[0] == "$LATEST"


def test_publishing_an_unchanged_latest_returns_the_existing_version(lam: Any) -> None:
    create_function(lam, "ver-same", TRIVIAL)
    first = lam.publish_version(FunctionName="ver-same")
    again = lam.publish_version(FunctionName="ver-same", Description="ignored")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (again["Version"], again["RevisionId"]) == (first["Version"], first["RevisionId"])
    versions = lam.list_versions_by_function(FunctionName="ver-same")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]
    lam.update_function_configuration(FunctionName="ver-same", Timeout=9)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver-same", WaiterConfig={"Delay": 0.1})
    assert lam.publish_version(FunctionName="ver-same")["Version"] == "2"


def test_publish_preconditions_use_awss_errors(lam: Any) -> None:
    created = create_function(lam, "ver-pre", TRIVIAL)
    status, message = error_of(
        lam,
        "InvalidParameterValueException",
        lambda: lam.publish_version(FunctionName="ver-pre", CodeSha256="somenonexistentsha256"),
    )
    assert status == 400
    assert message == (
        f"CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST "
        f"({created['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
    )
    status, message = error_of(
        lam,
        "PreconditionFailedException",
        lambda: lam.publish_version(FunctionName="ver-pre", RevisionId="wrong"),
    )
    assert (status, message) == (412, REVISION_MISMATCH)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver-pre")["Versions"]] == [
        "$LATEST"
    ]
    # The revision the function has now it is Active (creating answered the Pending one).
    revision = lam.get_function_configuration(FunctionName="ver-pre")["RevisionId"]
    assert revision != created["RevisionId"]
    ok = lam.publish_version(FunctionName="ver-pre", CodeSha256=created["CodeSha256"], RevisionId=revision)
    assert ok["Version"] == "1"
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.publish_version(FunctionName="ver-nope")
    )
    assert (status, message) == (404, f"Function not found: {ARN_PREFIX}ver-nope")


def test_publish_on_create_and_on_update_code(lam: Any) -> None:
    created = create_function(lam, "ver-pub", VERSIONED, Publish=True)
    # AWS answers CreateFunction+Publish with version 1 under the unqualified ARN.
    assert (created["Version"], created["FunctionArn"]) == ("1", f"{ARN_PREFIX}ver-pub")
    updated = update_code(lam, "ver-pub", VERSIONED_2, Publish=True)
    assert (updated["Version"], updated["FunctionArn"]) == ("2", f"{ARN_PREFIX}ver-pub:2")
    assert invoke(lam, "ver-pub", Qualifier="1")[1]["code"] == "v1"
    assert invoke(lam, "ver-pub", Qualifier="2")[1]["code"] == "v2"
    without = update_code(lam, "ver-pub", VERSIONED)
    assert (without["Version"], without["FunctionArn"]) == ("$LATEST", f"{ARN_PREFIX}ver-pub")


def test_list_versions_pages_with_marker_and_paginator(lam: Any) -> None:
    create_function(lam, "ver-list", TRIVIAL)
    for timeout in range(4, 8):
        lam.update_function_configuration(FunctionName="ver-list", Timeout=timeout)
        lam.get_waiter("function_updated_v2").wait(FunctionName="ver-list", WaiterConfig={"Delay": 0.1})
        lam.publish_version(FunctionName="ver-list")
    seen: list[str] = []
    marker = None
    while True:
        kwargs: dict[str, Any] = {"FunctionName": "ver-list", "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_versions_by_function(**kwargs)
        assert len(page["Versions"]) <= 2
        seen += [v["Version"] for v in page["Versions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == ["$LATEST", "1", "2", "3", "4"]
    arns = [
        v["FunctionArn"]
        for p in lam.get_paginator("list_versions_by_function").paginate(FunctionName="ver-list")
        for v in p["Versions"]
    ]
    assert arns == [f"{ARN_PREFIX}ver-list:{v}" for v in ("$LATEST", "1", "2", "3", "4")]


def test_version_numbers_are_never_reused(lam: Any) -> None:
    create_function(lam, "ver-reuse", TRIVIAL, Publish=True)
    lam.update_function_configuration(FunctionName="ver-reuse", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver-reuse", WaiterConfig={"Delay": 0.1})
    assert lam.publish_version(FunctionName="ver-reuse")["Version"] == "2"
    assert (
        lam.delete_function(FunctionName="ver-reuse", Qualifier="2")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.get_function(FunctionName="ver-reuse", Qualifier="2")
    )
    assert (status, message) == (404, f"Function not found: {ARN_PREFIX}ver-reuse:2")
    lam.update_function_configuration(FunctionName="ver-reuse", Timeout=6)
    lam.get_waiter("function_updated_v2").wait(FunctionName="ver-reuse", WaiterConfig={"Delay": 0.1})
    assert lam.publish_version(FunctionName="ver-reuse")["Version"] == "3"
    versions = lam.list_versions_by_function(FunctionName="ver-reuse")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "3"]


# --- qualifiers -------------------------------------------------------------------------------------


def test_qualifiers_in_names_partial_and_full_arns(lam: Any) -> None:
    create_function(lam, "q-fn", VERSIONED, Publish=True)
    lam.create_alias(FunctionName="q-fn", Name="live", FunctionVersion="1")
    for name in ("q-fn:1", f"{ARN_PREFIX}q-fn:1", "000000000000:function:q-fn:1"):
        config = lam.get_function_configuration(FunctionName=name)
        assert (config["Version"], config["FunctionArn"]) == ("1", f"{ARN_PREFIX}q-fn:1")
    by_alias = lam.get_function(FunctionName="q-fn", Qualifier="live")["Configuration"]
    assert (by_alias["Version"], by_alias["FunctionArn"]) == ("1", f"{ARN_PREFIX}q-fn:live")
    executed, payload = invoke(lam, f"{ARN_PREFIX}q-fn:live")
    assert executed == "1"
    assert payload["arn"] == f"{ARN_PREFIX}q-fn:live"
    assert invoke(lam, "q-fn:$LATEST")[0] == "$LATEST"

    mismatch = "The derived qualifier from the function name does not match the specified qualifier."
    for call in (lam.get_function, lam.get_function_configuration, lam.invoke, lam.delete_function):
        status, message = error_of(
            lam, "InvalidParameterValueException", lambda c=call: c(FunctionName="q-fn:1", Qualifier="2")
        )
        assert (status, message) == (400, mismatch)

    for qualifier in ("7", "nosuchalias"):
        for call in (lam.get_function, lam.get_function_configuration, lam.invoke):
            status, message = error_of(
                lam,
                "ResourceNotFoundException",
                lambda c=call, q=qualifier: c(FunctionName="q-fn", Qualifier=q),
            )
            assert (status, message) == (404, f"Function not found: {ARN_PREFIX}q-fn:{qualifier}")
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.invoke(FunctionName=f"{ARN_PREFIX}q-fn:7")
    )
    assert (status, message) == (404, f"Function not found: {ARN_PREFIX}q-fn:7")


def test_delete_function_with_a_qualifier(lam: Any) -> None:
    create_function(lam, "del-ver", TRIVIAL, Publish=True)
    lam.update_function_configuration(FunctionName="del-ver", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="del-ver", WaiterConfig={"Delay": 0.1})
    lam.publish_version(FunctionName="del-ver")
    lam.update_function_configuration(FunctionName="del-ver", Timeout=6)
    lam.get_waiter("function_updated_v2").wait(FunctionName="del-ver", WaiterConfig={"Delay": 0.1})
    lam.publish_version(FunctionName="del-ver")
    lam.create_alias(FunctionName="del-ver", Name="prod", FunctionVersion="1")
    lam.create_alias(
        FunctionName="del-ver",
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
    )

    status, message = error_of(
        lam,
        "InvalidParameterValueException",
        lambda: lam.delete_function(FunctionName="del-ver", Qualifier="$LATEST"),
    )
    assert (status, message) == (400, "$LATEST version cannot be deleted without deleting the function.")
    status, message = error_of(
        lam, "InvalidParameterValueException", lambda: lam.delete_function(FunctionName="del-ver:prod")
    )
    assert (status, message) == (400, "Deletion of aliases is not currently supported.")
    for version, users in (("1", "canary, prod"), ("2", "canary")):
        status, message = error_of(
            lam,
            "ResourceConflictException",
            lambda v=version: lam.delete_function(FunctionName="del-ver", Qualifier=v),
        )
        assert (status, message) == (
            409,
            f"Unable to delete version because the following aliases reference it: [{users}]",
        )
    assert (
        lam.delete_function(FunctionName="del-ver", Qualifier="3")["ResponseMetadata"]["HTTPStatusCode"]
        == 204
    )
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="del-ver")["Versions"]] == [
        "$LATEST",
        "1",
        "2",
    ]

    lam.delete_function(FunctionName="del-ver")
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.get_function(FunctionName="del-ver", Qualifier="1")
    )
    assert (status, message) == (404, f"Function not found: {ARN_PREFIX}del-ver:1")
    # A new function of the same name starts again: no versions, no aliases, numbers from 1.
    create_function(lam, "del-ver", TRIVIAL)
    assert lam.list_aliases(FunctionName="del-ver")["Aliases"] == []
    assert lam.publish_version(FunctionName="del-ver")["Version"] == "1"


# --- aliases ----------------------------------------------------------------------------------------


def test_alias_lifecycle(lam: Any) -> None:
    create_function(lam, "al-life", VERSIONED, Publish=True)
    update_code(lam, "al-life", VERSIONED_2, Publish=True)
    created = lam.create_alias(
        FunctionName="al-life",
        Name="live",
        FunctionVersion="1",
        Description="custom-alias",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    expected = {
        "AliasArn": f"{ARN_PREFIX}al-life:live",
        "Name": "live",
        "FunctionVersion": "1",
        "Description": "custom-alias",
        "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.2}},
        "RevisionId": created["RevisionId"],
    }
    assert {k: v for k, v in created.items() if k != "ResponseMetadata"} == expected
    got = lam.get_alias(FunctionName="al-life", Name="live")
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == expected
    plain = lam.create_alias(FunctionName="al-life", Name="plain", FunctionVersion="2")
    assert (plain["Description"], "RoutingConfig" in plain) == ("", False)
    lam.create_alias(FunctionName="al-life", Name="edge", FunctionVersion="$LATEST")

    status, message = error_of(
        lam,
        "PreconditionFailedException",
        lambda: lam.update_alias(FunctionName="al-life", Name="live", FunctionVersion="2", RevisionId="x"),
    )
    assert (status, message) == (412, REVISION_MISMATCH)
    updated = lam.update_alias(
        FunctionName="al-life",
        Name="live",
        FunctionVersion="2",
        RoutingConfig={},
        RevisionId=created["RevisionId"],
    )
    assert (updated["FunctionVersion"], updated["Description"], "RoutingConfig" in updated) == (
        "2",
        "custom-alias",
        False,
    )
    assert updated["RevisionId"] != created["RevisionId"]
    assert invoke(lam, "al-life:live")[1]["code"] == "v2"

    listed = lam.list_aliases(FunctionName="al-life")["Aliases"]
    assert [a["Name"] for a in listed] == ["edge", "live", "plain"]
    for_two = lam.list_aliases(FunctionName="al-life", FunctionVersion="2")["Aliases"]
    assert [a["Name"] for a in for_two] == ["live", "plain"]
    first = lam.list_aliases(FunctionName="al-life", MaxItems=2)
    assert [a["Name"] for a in first["Aliases"]] == ["edge", "live"]
    rest = lam.list_aliases(FunctionName="al-life", MaxItems=2, Marker=first["NextMarker"])
    assert ([a["Name"] for a in rest["Aliases"]], rest.get("NextMarker")) == (["plain"], None)

    assert lam.delete_alias(FunctionName="al-life", Name="plain")["ResponseMetadata"]["HTTPStatusCode"] == 204
    # As AWS answers: GetAlias and UpdateAlias word "not found" differently; deleting again is 204.
    assert lam.delete_alias(FunctionName="al-life", Name="plain")["ResponseMetadata"]["HTTPStatusCode"] == 204
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.get_alias(FunctionName="al-life", Name="plain")
    )
    assert (status, message) == (404, f"Cannot find alias arn: {ARN_PREFIX}al-life:plain")
    status, message = error_of(
        lam,
        "ResourceNotFoundException",
        lambda: lam.update_alias(FunctionName="al-life", Name="plain", Description="d"),
    )
    assert (status, message) == (404, f"Alias not found: {ARN_PREFIX}al-life:plain")
    status, message = error_of(
        lam, "ResourceNotFoundException", lambda: lam.invoke(FunctionName="al-life", Qualifier="plain")
    )
    assert (status, message) == (404, f"Function not found: {ARN_PREFIX}al-life:plain")


def test_alias_errors_are_awss(server: Server) -> None:
    # botocore would refuse a negative weight itself; AWS's answer is what is tested here.
    lam = server.client(parameter_validation=False)
    create_function(lam, "al-err", TRIVIAL, Publish=True)
    lam.update_function_configuration(FunctionName="al-err", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="al-err", WaiterConfig={"Delay": 0.1})
    lam.publish_version(FunctionName="al-err")
    lam.create_alias(FunctionName="al-err", Name="custom", FunctionVersion="1")

    def create(**kwargs: Any) -> Callable[[], Any]:
        params = {"FunctionName": "al-err", "Name": "other", "FunctionVersion": "1", **kwargs}
        return lambda: lam.create_alias(**params)

    def weights(value: dict[str, float]) -> dict[str, Any]:
        return {"RoutingConfig": {"AdditionalVersionWeights": value}}

    cases: list[tuple[str, Callable[[], Any], int, str]] = [
        (
            "ResourceConflictException",
            create(Name="custom"),
            409,
            f"Alias already exists: {ARN_PREFIX}al-err:custom",
        ),
        (
            "ValidationException",
            create(Name="123"),
            400,
            "1 validation error detected: Value '123' at 'name' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ),
        (
            "ResourceNotFoundException",
            create(FunctionVersion="10"),
            404,
            f"Function not found: {ARN_PREFIX}al-err:10",
        ),
        (
            "ResourceNotFoundException",
            create(FunctionName="al-err-unknown"),
            404,
            f"Function not found: {ARN_PREFIX}al-err-unknown:1",
        ),
        (
            "InvalidParameterValueException",
            create(**weights({"2": 0.5, "3": 0.2})),
            400,
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ),
        (
            "ValidationException",
            create(**weights({"2": 2})),
            400,
            f"1 validation error detected: Value '{{2=2.0}}' at '{WEIGHTS}' failed to satisfy constraint: "
            + WEIGHT_RANGE,
        ),
        (
            "ValidationException",
            create(**weights({"2": -1})),
            400,
            f"1 validation error detected: Value '{{2=-1.0}}' at '{WEIGHTS}' failed to satisfy constraint: "
            + WEIGHT_RANGE,
        ),
        (
            "InvalidParameterValueException",
            create(**weights({"1": 0.5})),
            400,
            "Invalid function version 1. Function version 1 is already included in routing configuration.",
        ),
        (
            "InvalidParameterValueException",
            create(FunctionVersion="$LATEST", **weights({"2": 0.5})),
            400,
            "$LATEST is not supported for an alias pointing to more than 1 version",
        ),
        (
            "ValidationException",
            create(**weights({"$LATEST": 0.5})),
            400,
            "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' "
            "failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less "
            "than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy "
            "regular expression pattern: [0-9]+]",
        ),
        (
            "ResourceNotFoundException",
            create(**weights({"10": 0.5})),
            404,
            f"Function not found: {ARN_PREFIX}al-err:10",
        ),
        (
            "ResourceNotFoundException",
            lambda: lam.get_alias(FunctionName="al-err", Name="non-existent"),
            404,
            f"Cannot find alias arn: {ARN_PREFIX}al-err:non-existent",
        ),
        (
            "ResourceNotFoundException",
            lambda: lam.get_alias(FunctionName="al-err-unknown", Name="custom"),
            404,
            f"Function not found: {ARN_PREFIX}al-err-unknown",
        ),
        (
            "InvalidParameterValueException",
            lambda: lam.update_alias(
                FunctionName="al-err", Name="custom", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}
            ),
            400,
            "Invalid function version 1. Function version 1 is already included in routing configuration.",
        ),
    ]
    for code, call, status, message in cases:
        assert error_of(lam, code, call) == (status, message), message
    # Nothing a refused request tried was written.
    assert [a["Name"] for a in lam.list_aliases(FunctionName="al-err")["Aliases"]] == ["custom"]
    assert "RoutingConfig" not in lam.get_alias(FunctionName="al-err", Name="custom")
    # The routing boundaries are accepted.
    for weight in (0.0, 1.0):
        lam.update_alias(
            FunctionName="al-err", Name="custom", RoutingConfig={"AdditionalVersionWeights": {"2": weight}}
        )


def test_alias_weights_split_invocations_and_report_the_version_that_ran(lam: Any) -> None:
    create_function(lam, "al-weight", TRIVIAL, Publish=True)
    lam.update_function_configuration(FunctionName="al-weight", Timeout=5)
    lam.get_waiter("function_updated_v2").wait(FunctionName="al-weight", WaiterConfig={"Delay": 0.1})
    lam.publish_version(FunctionName="al-weight")
    lam.create_alias(
        FunctionName="al-weight",
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    total = 10_000
    counts = {"1": 0, "2": 0}
    for _ in range(total):
        counts[lam.invoke(FunctionName="al-weight:canary")["ExecutedVersion"]] += 1
    assert sum(counts.values()) == total
    assert abs(counts["2"] / total - 0.3) < 0.02, counts


# --- persistence ------------------------------------------------------------------------------------


def test_versions_and_aliases_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        lam = server.client()
        create_function(lam, "persist", VERSIONED, Publish=True)
        update_code(lam, "persist", VERSIONED_2, Publish=True)
        lam.update_function_configuration(FunctionName="persist", Timeout=9)
        lam.get_waiter("function_updated_v2").wait(FunctionName="persist", WaiterConfig={"Delay": 0.1})
        lam.publish_version(FunctionName="persist")
        lam.delete_function(FunctionName="persist", Qualifier="3")
        alias = lam.create_alias(
            FunctionName="persist",
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
        )
    finally:
        stop_server(server)
    server = start_server(data_dir)
    try:
        lam = server.client()
        versions = lam.list_versions_by_function(FunctionName="persist")["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
        assert lam.get_alias(FunctionName="persist", Name="live")["RevisionId"] == alias["RevisionId"]
        assert lam.get_alias(FunctionName="persist", Name="live")["RoutingConfig"] == {
            "AdditionalVersionWeights": {"2": 0.25}
        }
        assert invoke(lam, "persist", Qualifier="1")[1]["code"] == "v1"
        assert invoke(lam, "persist:2")[1]["code"] == "v2"
        assert invoke(lam, "persist:live")[0] in ("1", "2")
        # The counter survived too: number 3 was given out before the restart.
        lam.update_function_configuration(FunctionName="persist", Timeout=10)
        lam.get_waiter("function_updated_v2").wait(FunctionName="persist", WaiterConfig={"Delay": 0.1})
        assert lam.publish_version(FunctionName="persist")["Version"] == "4"
    finally:
        stop_server(server)
