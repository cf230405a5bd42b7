"""The authorizer remembers its decisions, and forgets them when anything they rest on
changes: the principal's policies (every IAM write), the resource's policy (a new revision),
the condition keys the policies read; a policy that reads the time is evaluated every time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from lambdalite.auth import authorize
from lambdalite.auth.authorize import Authorizer, condition_keys
from lambdalite.auth.credentials import Principal
from lambdalite.auth.policy import Decision, Policy, parse_policy
from lambdalite.services.iam.directory import IamDirectory
from lambdalite.store.iam import SqliteIamStore
from lambdalite.store.sqlite import SqliteDatabase

ACCOUNT = "123456789012"
ALICE = Principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, "AKIAALICE")
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
INVOKE = "lambda:InvokeFunction"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def document(*statements: dict[str, Any]) -> str:
    return orjson.dumps({"Version": "2012-10-17", "Statement": list(statements)}).decode()


def allow(action: str = "lambda:*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **extra}


@pytest.fixture
def store(tmp_path: Path) -> SqliteIamStore:
    return SqliteIamStore(SqliteDatabase(tmp_path / "db"))


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The actions the authorizer evaluated policies for (a remembered decision is not)."""
    seen: list[str] = []
    real = authorize.evaluate

    def counting(identity: Any, request: Any, resource: Any = None) -> Decision:
        seen.append(request.action)
        return real(identity, request, resource)

    monkeypatch.setattr(authorize, "evaluate", counting)
    return seen


def setup(store: SqliteIamStore, *statements: dict[str, Any], now: float = 1_700_000_000.0) -> Authorizer:
    store.put_inline("user", "alice", "rights", document(*statements))
    return Authorizer(IamDirectory(store, ACCOUNT), Clock(now))


def test_a_decision_is_remembered_per_principal_action_and_resource(
    store: SqliteIamStore, evaluations: list[str]
) -> None:
    authorizer = setup(store, allow("lambda:Invoke*"))
    for _ in range(5):
        assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.ALLOW
    assert evaluations == [INVOKE]
    assert authorizer.decide(ALICE, "lambda:DeleteFunction", FUNCTION) is Decision.IMPLICIT_DENY
    assert authorizer.decide(ALICE, INVOKE, FUNCTION + "-other") is Decision.ALLOW
    bob = Principal(f"arn:aws:iam::{ACCOUNT}:user/bob", ACCOUNT, "AKIABOB")
    assert authorizer.decide(bob, INVOKE, FUNCTION) is Decision.IMPLICIT_DENY
    assert len(evaluations) == 4


def test_every_iam_write_is_seen_at_once(store: SqliteIamStore) -> None:
    authorizer = setup(store, allow())
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.ALLOW
    store.put_inline("user", "alice", "no", document({"Effect": "Deny", "Action": INVOKE, "Resource": "*"}))
    authorizer.directory.changed()  # what the IAM service calls after each write
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.EXPLICIT_DENY
    store.delete_inline("user", "alice", "no")
    store.delete_inline("user", "alice", "rights")
    authorizer.directory.changed()
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.IMPLICIT_DENY


def test_a_new_revision_of_the_resource_policy_is_a_new_decision(store: SqliteIamStore) -> None:
    authorizer = setup(store)

    def resource_policy(effect: str) -> Policy:
        statement = {
            "Effect": effect,
            "Principal": {"AWS": ALICE.arn},
            "Action": INVOKE,
            "Resource": FUNCTION,
        }
        return parse_policy(document(statement), resource_policy=True)

    granted, revoked = resource_policy("Allow"), resource_policy("Deny")
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, resource_policy=granted) is Decision.ALLOW
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, resource_policy=revoked) is Decision.RESOURCE_DENY
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.IMPLICIT_DENY
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, resource_policy=granted) is Decision.ALLOW


def test_the_condition_keys_a_policy_reads_are_part_of_the_decision(
    store: SqliteIamStore, evaluations: list[str]
) -> None:
    from_office = allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    authorizer = setup(store, from_office)
    inside, outside = {"aws:SourceIp": "10.1.2.3"}, {"AWS:SOURCEIP": "192.0.2.1"}
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, inside) is Decision.ALLOW
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, outside) is Decision.IMPLICIT_DENY
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, inside) is Decision.ALLOW
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, outside) is Decision.IMPLICIT_DENY
    assert len(evaluations) == 2
    # A key no policy reads does not split what is remembered.
    evaluations.clear()
    unread = {"aws:SourceIp": "10.1.2.3", "lambda:FunctionArn": FUNCTION}
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, unread) is Decision.ALLOW
    assert authorizer.decide(ALICE, INVOKE, FUNCTION, {**unread, "lambda:FunctionArn": "x"}) is Decision.ALLOW
    assert evaluations == []


def test_a_policy_that_reads_the_time_is_evaluated_every_time(
    store: SqliteIamStore, evaluations: list[str]
) -> None:
    until = allow(Condition={"DateLessThan": {"aws:CurrentTime": "2023-11-14T22:14:00Z"}})
    authorizer = setup(store, until, now=1_699_999_999.0)  # 2023-11-14T22:13:19Z
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.ALLOW
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.ALLOW
    authorizer._clock = Clock(1_700_000_100.0)  # past the date
    assert authorizer.decide(ALICE, INVOKE, FUNCTION) is Decision.IMPLICIT_DENY
    assert len(evaluations) == 3


def test_condition_keys_are_read_from_every_statement_lower_cased() -> None:
    policy = parse_policy(
        document(
            allow(Condition={"StringEquals": {"aws:SourceAccount": "1"}}),
            allow(Condition={"ForAnyValue:StringLike": {"Lambda:FunctionArn": "*"}}),
        )
    )
    assert condition_keys([policy]) == {"aws:sourceaccount", "lambda:functionarn"}
    timed = parse_policy(document(allow(Condition={"NumericLessThan": {"aws:EpochTime": "1"}})))
    assert condition_keys([policy, timed]) == {"*"}
    assert condition_keys([]) == frozenset()
