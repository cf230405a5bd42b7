"""How a queue's or topic's policy combines with the caller's identity policies
(``services.access``): same account either allows, another account needs both, an
explicit deny in either refuses, a service principal needs the resource policy (with
its source conditions) or its role's policies; AddPermission's statements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.auth.authorize import Authorizer
from lambdalite.auth.authorize_context import ServiceCaller, acting_as, invoking_as_service
from lambdalite.auth.credentials import Principal
from lambdalite.protocol.front import Call, calling
from lambdalite.services.access import (
    LabelExists,
    LabelMissing,
    Reason,
    ResourceAccess,
    resource_policy,
    with_statement,
    without_statement,
)
from lambdalite.services.iam.directory import IamDirectory
from lambdalite.store.iam import SqliteIamStore
from lambdalite.store.sqlite import SqliteDatabase

ACCOUNT = "123456789012"
OTHER = "210987654321"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:news"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/orders"
ALICE = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, "AKIA1")
OLGA = Principal(f"arn:aws:iam::{OTHER}:user/olga", OTHER, "AKIA2")


def policy(*statements: dict[str, Any]) -> str:
    return orjson.dumps({"Version": "2012-10-17", "Statement": list(statements)}).decode()


def rule(effect: str, principal: Any = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect, "Action": "sqs:SendMessage", "Resource": QUEUE, **extra}
    if principal is not None:
        statement["Principal"] = principal
    return statement


@pytest.fixture
def store(tmp_path: Path) -> SqliteIamStore:
    return SqliteIamStore(SqliteDatabase(tmp_path / "db"))


@pytest.fixture
def directory(store: SqliteIamStore) -> IamDirectory:
    return IamDirectory(store, ACCOUNT)


@pytest.fixture
def access(directory: IamDirectory) -> ResourceAccess:
    return ResourceAccess(Authorizer(directory, lambda: 1_000_000.0))


def give(
    directory: IamDirectory, kind: str, name: str, *statements: dict[str, Any], label: str = "p"
) -> None:
    directory.store.put_inline(kind, name, label, policy(*statements))
    directory.changed()


def reason(access: ResourceAccess, who: Principal, document: str | None) -> Reason | None:
    parsed = None if document is None else access.policy(QUEUE, document)
    refusal = access.decide(who, "sqs:SendMessage", QUEUE, parsed)
    return None if refusal is None else refusal.reason


def test_in_its_own_account_either_policy_allows(access: ResourceAccess, directory: IamDirectory) -> None:
    assert reason(access, ALICE, None) is Reason.NO_IDENTITY_ALLOW
    assert reason(access, ALICE, policy(rule("Allow", {"AWS": ALICE.arn}))) is None
    assert reason(access, ALICE, policy(rule("Allow", {"AWS": ACCOUNT}))) is None
    # Another principal named: the statement does not speak about alice.
    assert reason(access, ALICE, policy(rule("Allow", {"AWS": OLGA.arn}))) is Reason.NO_IDENTITY_ALLOW
    give(directory, "user", "alice", rule("Allow"))
    assert reason(access, ALICE, None) is None


def test_an_explicit_deny_in_either_refuses(access: ResourceAccess, directory: IamDirectory) -> None:
    give(directory, "user", "alice", rule("Allow"))
    deny = policy(rule("Deny", "*"))
    assert reason(access, ALICE, deny) is Reason.RESOURCE_DENY
    give(directory, "user", "alice", rule("Deny"), label="q")
    assert reason(access, ALICE, policy(rule("Allow", "*"))) is Reason.IDENTITY_DENY


def test_another_account_needs_both(access: ResourceAccess, directory: IamDirectory) -> None:
    grant = policy(rule("Allow", {"AWS": f"arn:aws:iam::{OTHER}:root"}))
    assert reason(access, OLGA, grant) is Reason.NO_IDENTITY_ALLOW
    give(directory, "user", "olga", rule("Allow"))
    assert reason(access, OLGA, None) is Reason.NO_RESOURCE_ALLOW
    assert reason(access, OLGA, grant) is None
    refusal = access.decide(OLGA, "sqs:SendMessage", QUEUE, None)
    assert refusal is not None and refusal.message("sqs:sendmessage") == (
        f"User: {OLGA.arn} is not authorized to perform: sqs:sendmessage on resource: {QUEUE} "
        "because no resource-based policy allows the sqs:sendmessage action"
    )


def test_a_service_needs_the_resource_policy_for_its_source(access: ResourceAccess) -> None:
    caller = ServiceCaller("events.amazonaws.com", RULE, ACCOUNT)

    def service_reason(document: str | None) -> Reason | None:
        parsed = None if document is None else access.policy(QUEUE, document)
        refusal = access.decide_service(caller, "sqs:SendMessage", QUEUE, parsed)
        return None if refusal is None else refusal.reason

    events = {"Service": "events.amazonaws.com"}
    assert service_reason(None) is Reason.NO_RESOURCE_ALLOW
    assert service_reason(policy(rule("Allow", {"Service": "sns.amazonaws.com"}))) is Reason.NO_RESOURCE_ALLOW
    assert service_reason(policy(rule("Allow", events))) is None
    other_rule = {"ArnEquals": {"aws:SourceArn": RULE + "-2"}}
    assert service_reason(policy(rule("Allow", events, Condition=other_rule))) is Reason.NO_RESOURCE_ALLOW
    this_rule = {"ArnLike": {"aws:SourceArn": f"arn:aws:events:*:{ACCOUNT}:rule/*"}}
    assert service_reason(policy(rule("Allow", events, Condition=this_rule))) is None
    other_account = {"StringEquals": {"aws:SourceAccount": OTHER}}
    assert service_reason(policy(rule("Allow", events, Condition=other_account))) is Reason.NO_RESOURCE_ALLOW
    assert service_reason(policy(rule("Allow", events), rule("Deny", "*"))) is Reason.RESOURCE_DENY


def test_a_service_acting_with_a_role_may_be_allowed_by_the_role(
    access: ResourceAccess, directory: IamDirectory
) -> None:
    caller = ServiceCaller("scheduler.amazonaws.com", "arn:s", ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/sender")
    refusal = access.decide_service(caller, "sqs:SendMessage", QUEUE, None)
    assert refusal is not None and refusal.who == f"arn:aws:sts::{ACCOUNT}:assumed-role/sender/sender"
    give(directory, "role", "sender", rule("Allow"))
    assert access.decide_service(caller, "sqs:SendMessage", QUEUE, None) is None


def test_the_acting_service_or_caller_comes_from_the_context(access: ResourceAccess) -> None:
    assert access.check_caller("sqs:SendMessage", QUEUE, None) is None  # nobody verified
    with acting_as(ALICE):
        refusal = access.check_caller("sqs:SendMessage", QUEUE, policy(rule("Allow", {"AWS": ALICE.arn})))
        assert refusal is None
        with calling(Call("SendMessage", "json", "h", "r", "10.1.2.3")):
            only_there = rule(
                "Allow", {"AWS": ALICE.arn}, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
            )
            assert access.check_caller("sqs:SendMessage", QUEUE, policy(only_there)) is None
        with calling(Call("SendMessage", "json", "h", "r", "192.168.0.1")):
            refusal = access.check_caller("sqs:SendMessage", QUEUE, policy(only_there))
            assert refusal is not None and refusal.reason is Reason.NO_IDENTITY_ALLOW
    assert access.check_service("sqs:SendMessage", QUEUE, "") is None  # no service acting
    with invoking_as_service("sns.amazonaws.com", TOPIC, ACCOUNT):
        refusal = access.check_service("sqs:SendMessage", QUEUE, "")
    assert refusal is not None and refusal.who == "sns.amazonaws.com"


def test_a_stored_document_that_is_no_policy_allows_nothing(access: ResourceAccess) -> None:
    assert access.policy(QUEUE, '{"Statement": 3}') is None
    assert access.policy(QUEUE, "") is None
    assert resource_policy("  ") is None


def test_add_permission_statements_are_added_and_removed_by_label() -> None:
    first = with_statement("", "a", [ACCOUNT], ["SQS:SendMessage"], QUEUE, f"{QUEUE}/SQSDefaultPolicy")
    document = orjson.loads(first)
    assert document["Id"] == f"{QUEUE}/SQSDefaultPolicy"
    assert document["Statement"] == [
        {
            "Sid": "a",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "SQS:SendMessage",
            "Resource": QUEUE,
        }
    ]
    second = with_statement(
        first, "b", [ACCOUNT, OTHER], ["SQS:ReceiveMessage", "SQS:DeleteMessage"], QUEUE, ""
    )
    assert orjson.loads(second)["Statement"][1]["Principal"]["AWS"] == [
        f"arn:aws:iam::{ACCOUNT}:root",
        f"arn:aws:iam::{OTHER}:root",
    ]
    resource_policy(second)  # what AddPermission writes is a policy
    with pytest.raises(LabelExists):
        with_statement(second, "a", [ACCOUNT], ["SQS:SendMessage"], QUEUE, "")
    assert [s["Sid"] for s in orjson.loads(without_statement(second, "a"))["Statement"]] == ["b"]
    assert without_statement(first, "a") == ""
    with pytest.raises(LabelMissing):
        without_statement(first, "zzz")
