"""Answers as AWS answers them, through boto3 on a real server: the members of error
bodies, function states and revision ids, names and ARNs parsed as AWS parses them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARN_PREFIX, ROLE, create_function, start_server, stop_server, zip_files

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': 'world'}\n"}


def error_of(call: Any, **kwargs: Any) -> dict[str, Any]:
    """``e.response`` of the ClientError ``call`` raises, without its metadata."""
    with pytest.raises(Exception) as err:
        call(**kwargs)
    response: dict[str, Any] = dict(err.value.response)  # type: ignore[attr-defined]
    response.pop("ResponseMetadata", None)
    return response


def test_resource_not_found_carries_type_and_a_capital_message(lam: Any) -> None:
    assert error_of(lam.get_function, FunctionName="shape-missing") == {
        "Error": {
            "Code": "ResourceNotFoundException",
            "Message": f"Function not found: {ARN_PREFIX}shape-missing",
        },
        "Type": "User",
        "Message": f"Function not found: {ARN_PREFIX}shape-missing",
    }


def test_invalid_parameter_and_conflict_carry_type_and_a_lowercase_message(lam: Any) -> None:
    create_function(lam, "shape-fn", HELLO)
    message = "$LATEST version cannot be deleted without deleting the function."
    assert error_of(lam.delete_function, FunctionName="shape-fn", Qualifier="$LATEST") == {
        "Error": {"Code": "InvalidParameterValueException", "Message": message},
        "Type": "User",
        "message": message,
    }
    conflict = error_of(create_function, lam=lam, name="shape-fn", files=HELLO)
    assert conflict["Type"] == "User"
    assert conflict["message"] == conflict["Error"]["Message"] == "Function already exist: shape-fn"


def test_validation_exception_carries_only_its_message(lam: Any) -> None:
    response = error_of(lam.get_function, FunctionName="a" * 200)
    assert set(response) == {"Error"}
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
