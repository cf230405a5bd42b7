"""Answers as AWS answers them, through boto3 on a real server: the members of error
bodies, function states and revision ids, names and ARNs parsed as AWS parses them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ARN_PREFIX, ROLE, create_function, start_server, stop_server, zip_files

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': 'world'}\n"}


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    """``e.response`` of the ClientError ``call`` raises (its metadata only with the status)."""
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    response: dict[str, Any] = dict(err.value.response)
    response["ResponseMetadata"] = {"HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"]}
    return response


def test_resource_not_found_carries_type_and_a_capital_message(lam: Any) -> None:
    assert error_of(lam.get_function, FunctionName="shape-missing") == {
        "Error": {
            "Code": "ResourceNotFoundException",
            "Message": f"Function not found: {ARN_PREFIX}shape-missing",
        },
        "Type": "User",
        "Message": f"Function not found: {ARN_PREFIX}shape-missing",
        "ResponseMetadata": {"HTTPStatusCode": 404},
    }


def test_invalid_parameter_and_conflict_carry_type_and_a_lowercase_message(lam: Any) -> None:
    create_function(lam, "shape-fn", HELLO)
    message = "$LATEST version cannot be deleted without deleting the function."
    assert error_of(lam.delete_function, FunctionName="shape-fn", Qualifier="$LATEST") == {
        "Error": {"Code": "InvalidParameterValueException", "Message": message},
        "Type": "User",
        "message": message,
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }
    conflict = error_of(create_function, lam=lam, name="shape-fn", files=HELLO)
    assert conflict["Type"] == "User"
    assert conflict["message"] == conflict["Error"]["Message"] == "Function already exist: shape-fn"


def test_validation_exception_carries_only_its_message(lam: Any) -> None:
    response = error_of(lam.get_function, FunctionName="my-function!")
    assert set(response) == {"Error", "ResponseMetadata"}
    assert response["Error"]["Code"] == "ValidationException"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server whose functions stay Pending/InProgress for at least 0.5 s, as on AWS,
    so that a test can see them in that state."""
    data_dir = tmp_path_factory.mktemp("slow") / "data"
    srv = start_server(data_dir, env={"LAMBDALITE_STATE_SETTLE_S": "0.5"})
    yield srv.client("lambda")
    stop_server(srv)


def create_on(client: Any, name: str) -> dict[str, Any]:
    """CreateFunction's answer, without waiting for the function to be Active."""
    response: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_files(HELLO)},
    )
    return response


def test_create_answers_pending_then_the_function_turns_active_under_a_new_revision(slow: Any) -> None:
    created = create_on(slow, "st-create")
    assert (created["State"], created["StateReason"], created["StateReasonCode"]) == (
        "Pending",
        "The function is being created.",
        "Creating",
    )
    assert "LastUpdateStatus" not in created
    assert slow.get_function_configuration(FunctionName="st-create")["State"] == "Pending"
    with pytest.raises(slow.exceptions.ResourceConflictException) as err:
        slow.update_function_configuration(FunctionName="st-create", Timeout=5)
    assert err.value.response["message"] == (
        "The operation cannot be performed at this time. "
        "The function is currently in the following state: Pending"
    )
    slow.get_waiter("function_active_v2").wait(FunctionName="st-create", WaiterConfig={"Delay": 0.2})
    active = slow.get_function_configuration(FunctionName="st-create")
    assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
    assert "StateReason" not in active and "LastUpdateStatusReason" not in active
    assert active["RevisionId"] != created["RevisionId"]


def test_an_update_is_in_progress_then_successful_and_refuses_another_meanwhile(slow: Any) -> None:
    create_on(slow, "st-update")
    slow.get_waiter("function_active_v2").wait(FunctionName="st-update", WaiterConfig={"Delay": 0.2})
    before = slow.get_function_configuration(FunctionName="st-update")["RevisionId"]
    updated = slow.update_function_configuration(FunctionName="st-update", Timeout=5)
    assert (updated["State"], updated["LastUpdateStatus"]) == ("Active", "InProgress")
    assert (updated["LastUpdateStatusReason"], updated["LastUpdateStatusReasonCode"]) == (
        "The function is being created.",
        "Creating",
    )
    assert updated["RevisionId"] != before
    message = (
        "The operation cannot be performed at this time. "
        f"An update is in progress for resource: {ARN_PREFIX}st-update"
    )
    for call in (
        lambda: slow.update_function_code(FunctionName="st-update", ZipFile=zip_files(HELLO)),
        lambda: slow.publish_version(FunctionName="st-update"),
    ):
        with pytest.raises(slow.exceptions.ResourceConflictException) as err:
            call()
        assert (err.value.response["Type"], err.value.response["message"]) == ("User", message)
    slow.get_waiter("function_updated_v2").wait(FunctionName="st-update", WaiterConfig={"Delay": 0.2})
    done = slow.get_function_configuration(FunctionName="st-update")
    assert (done["LastUpdateStatus"], done["Timeout"]) == ("Successful", 5)
    assert done["RevisionId"] not in {before, updated["RevisionId"]}


def test_a_version_published_with_an_update_is_pending_like_it(slow: Any) -> None:
    create_on(slow, "st-publish")
    slow.get_waiter("function_active_v2").wait(FunctionName="st-publish", WaiterConfig={"Delay": 0.2})
    version = slow.update_function_code(
        FunctionName="st-publish", ZipFile=zip_files({"app.py": "x = 1\n"}), Publish=True
    )
    assert (version["Version"], version["State"], version["StateReasonCode"]) == ("1", "Pending", "Creating")
    assert slow.get_function(FunctionName="st-publish", Qualifier="1")["Configuration"]["State"] == "Pending"
    latest = slow.get_function_configuration(FunctionName="st-publish")
    assert latest["LastUpdateStatus"] == "InProgress"
    slow.get_waiter("function_active_v2").wait(
        FunctionName="st-publish", Qualifier="1", WaiterConfig={"Delay": 0.2}
    )
    settled = slow.get_function_configuration(FunctionName="st-publish", Qualifier="1")
    assert (settled["State"], settled["LastUpdateStatus"]) == ("Active", "Successful")
    assert settled["RevisionId"] != version["RevisionId"]
    # Versions are listed without their states, as AWS lists them.
    listed = slow.list_versions_by_function(FunctionName="st-publish")["Versions"]
    assert all("State" not in item and "LastUpdateStatus" not in item for item in listed)


def test_fields_aws_always_returns(lam: Any) -> None:
    created = create_function(lam, "st-fields", HELLO, Environment={"Variables": {}})
    assert created["Environment"] == {"Variables": {}}
    arn = created["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert arn.startswith("arn:aws:lambda:us-east-1::runtime:") and len(arn.rsplit(":", 1)[1]) == 64
    plain = create_function(lam, "st-no-env", HELLO)
    assert "Environment" not in plain


def test_names_and_arns_are_parsed_as_aws_parses_them(lam: Any) -> None:
    other_region = "arn:aws:lambda:ap-southeast-1:000000000000:function:arn-fn"
    for call in (lam.get_function, lam.delete_function, lam.invoke):
        response = error_of(call, FunctionName=other_region)
        assert response["Error"]["Code"] == "ResourceNotFoundException"
        assert (
            response["Message"]
            == "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')"
        )
    # "...:function" with no name names a function called "function".
    incomplete = error_of(lam.get_function, FunctionName="arn:aws:lambda:us-east-1:000000000000:function")
    assert incomplete["Message"] == f"Function not found: {ARN_PREFIX}function"
    # A name part over 64 characters is simply not found (the model allows the ARN's 170).
    assert (
        error_of(lam.get_function, FunctionName="a" * 65)["Message"]
        == f"Function not found: {ARN_PREFIX}{'a' * 65}"
    )
    mismatch = error_of(lam.get_function, FunctionName=f"{ARN_PREFIX}arn-fn:$LATEST", Qualifier="1")
    assert (
        mismatch["message"]
        == "The derived qualifier from the function name does not match the specified qualifier."
    )
    both = error_of(lam.get_function, FunctionName="my-function!", Qualifier="q" * 129)
    assert both["Error"]["Message"].startswith(
        "2 validation errors detected: Value '" + "q" * 129 + "' at 'qualifier'"
    )


def test_create_refuses_other_regions_accounts_and_long_names_in_awss_words(lam: Any) -> None:
    def create(name: str) -> dict[str, Any]:
        return error_of(create_function, lam=lam, name=name, files=HELLO)

    assert create("arn:aws:lambda:eu-west-1:000000000000:function:x")["Message"] == (
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    )
    denied = create("arn:aws:lambda:us-east-1:123456789012:function:x")
    assert (denied["Error"]["Code"], denied["ResponseMetadata"]["HTTPStatusCode"]) == (
        "AccessDeniedException",
        403,
    )
    long_name = create("a" * 65)
    assert long_name["Error"]["Code"] == "InvalidParameterValueException"
    assert long_name["message"] == (
        f"1 validation error detected: Value '{'a' * 65}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )
    unknown = error_of(
        lam.create_function,
        FunctionName="rt",
        Runtime="PYTHON3.9",
        Role=ROLE,
        Handler="a.b",
        Code={"ZipFile": zip_files(HELLO)},
    )
    assert unknown["message"].startswith(
        "Value PYTHON3.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        "[nodejs20.x, python3.14, provided.al2023,"
    )
    assert unknown["message"].endswith("] or be a valid ARN")


def test_recursion_config_is_kept_per_function_with_awss_validation(lam: Any) -> None:
    create_function(lam, "rec-fn", HELLO)
    assert lam.get_function_recursion_config(FunctionName="rec-fn")["RecursiveLoop"] == "Terminate"
    assert (
        lam.put_function_recursion_config(FunctionName="rec-fn", RecursiveLoop="Allow")["RecursiveLoop"]
        == "Allow"
    )
    assert lam.get_function_recursion_config(FunctionName="rec-fn")["RecursiveLoop"] == "Allow"
    invalid = error_of(lam.put_function_recursion_config, FunctionName="rec-fn", RecursiveLoop="Sometimes")
    assert invalid["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy "
        "constraint: Member must satisfy enum value set: [Terminate, Allow]",
    }
    assert error_of(lam.get_function_recursion_config, FunctionName="rec-missing")["Message"] == (
        f"Function not found: {ARN_PREFIX}rec-missing"
    )


def test_listing_every_version_and_the_total_code_size(lam: Any) -> None:
    before = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    created = create_function(lam, "all-fn", HELLO, Publish=True)
    listed = [
        (f["FunctionArn"], f["Version"])
        for page in lam.get_paginator("list_functions").paginate(
            FunctionVersion="ALL", PaginationConfig={"PageSize": 1}
        )
        for f in page["Functions"]
        if f["FunctionName"] == "all-fn"
    ]
    assert listed == [(f"{ARN_PREFIX}all-fn:$LATEST", "$LATEST"), (f"{ARN_PREFIX}all-fn:1", "1")]
    invalid = error_of(lam.list_functions, FunctionVersion="invalid")
    assert invalid["Error"]["Message"] == (
        "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL]"
    )
    # $LATEST and version 1 each count, and so does a layer version.
    after = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert after - before == 2 * created["CodeSize"]
    layer = lam.publish_layer_version(LayerName="all-layer", Content={"ZipFile": zip_files({"f": "x"})})
    with_layer = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    assert with_layer - after == layer["Content"]["CodeSize"]


def test_alias_not_found_is_worded_per_operation_and_deleting_one_twice_is_fine(lam: Any) -> None:
    create_function(lam, "al-words", HELLO)
    assert error_of(lam.update_alias, FunctionName="al-words", Name="nope", Description="d")["Message"] == (
        f"Alias not found: {ARN_PREFIX}al-words:nope"
    )
    assert error_of(lam.get_alias, FunctionName="al-words", Name="nope")["Message"] == (
        f"Cannot find alias arn: {ARN_PREFIX}al-words:nope"
    )
    assert lam.delete_alias(FunctionName="al-words", Name="nope")["ResponseMetadata"]["HTTPStatusCode"] == 204
    latest_routing = error_of(
        lam.create_alias,
        FunctionName="al-words",
        Name="weighted",
        FunctionVersion="$LATEST",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
    )
    assert "Type" not in latest_routing  # AWS sends this one without a Type
    assert (
        latest_routing["message"] == "$LATEST is not supported for an alias pointing to more than 1 version"
    )


def test_a_function_left_pending_by_a_crash_turns_active_after_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("crash") / "data"
    first = start_server(data_dir, env={"LAMBDALITE_STATE_SETTLE_S": "30"})
    try:
        created = create_on(first.client("lambda"), "st-crash")
        assert created["State"] == "Pending"
    finally:
        first.process.kill()  # kill -9: no chance to settle
        first.process.wait()
    again = start_server(data_dir)
    try:
        lam = again.client("lambda")
        lam.get_waiter("function_active_v2").wait(FunctionName="st-crash", WaiterConfig={"Delay": 0.2})
        active = lam.get_function_configuration(FunctionName="st-crash")
        assert (active["State"], active["LastUpdateStatus"]) == ("Active", "Successful")
        assert active["RevisionId"] != created["RevisionId"]
    finally:
        stop_server(again)
