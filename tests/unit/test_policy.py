"""Policy evaluation as AWS documents it: explicit deny wins, default deny, allow;
Action/NotAction and Resource/NotResource with wildcards; condition operators,
IfExists, Null, ForAnyValue/ForAllValues; resource policies' principals."""

from __future__ import annotations

from typing import Any

import pytest

from lambdalite.auth.policy import Decision, PolicyError, Request, evaluate, parse_policy
from lambdalite.auth.policy_conditions import conditions_hold

FN = "arn:aws:lambda:us-east-1:000000000000:function:"
ALICE = "arn:aws:iam::000000000000:user/alice"


def policy(*statements: dict[str, Any], resource_policy: bool = False) -> Any:
    return parse_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, resource_policy=resource_policy
    )


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(statements: list[dict[str, Any]], action: str, resource: str, **context: Any) -> Decision:
    request = Request(
        action, resource, ALICE, "000000000000", context={k.lower(): v for k, v in context.items()}
    )
    return evaluate([policy(*statements)], request)


def test_nothing_allowed_is_an_implicit_deny() -> None:
    assert evaluate([], Request("lambda:InvokeFunction", FN + "f")) is Decision.IMPLICIT_DENY
    assert decide([allow("sqs:SendMessage")], "lambda:InvokeFunction", FN + "f") is Decision.IMPLICIT_DENY


def test_an_allow_allows_and_an_explicit_deny_wins_over_it() -> None:
    assert decide([allow("lambda:InvokeFunction")], "lambda:InvokeFunction", FN + "f") is Decision.ALLOW
    both = [allow("lambda:*"), deny("lambda:InvokeFunction", FN + "secret")]
    assert decide(both, "lambda:InvokeFunction", FN + "secret") is Decision.EXPLICIT_DENY
    assert decide(both, "lambda:InvokeFunction", FN + "open") is Decision.ALLOW


def test_a_deny_in_another_policy_still_wins() -> None:
    request = Request("lambda:DeleteFunction", FN + "f", ALICE)
    assert evaluate([policy(allow("*")), policy(deny("lambda:Delete*"))], request) is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("pattern", "action", "allowed"),
    [
        ("lambda:*", "lambda:InvokeFunction", True),
        ("lambda:Get*", "lambda:GetFunction", True),
        ("lambda:Get*", "lambda:ListFunctions", False),
        ("LAMBDA:invokefunction", "lambda:InvokeFunction", True),  # actions ignore case
        ("lambda:Invoke?unction", "lambda:InvokeFunction", True),
        ("*", "sqs:SendMessage", True),
        ("sqs:Send*", "sqs:SendMessageBatch", True),
    ],
)
def test_actions_match_with_wildcards_ignoring_case(pattern: str, action: str, allowed: bool) -> None:
    expected = Decision.ALLOW if allowed else Decision.IMPLICIT_DENY
    assert decide([allow(pattern)], action, FN + "f") is expected


def test_resources_match_with_wildcards_and_case() -> None:
    statements = [allow("lambda:*", [FN + "app-*", FN + "exact"])]
    assert decide(statements, "lambda:GetFunction", FN + "app-one") is Decision.ALLOW
    assert decide(statements, "lambda:GetFunction", FN + "exact") is Decision.ALLOW
    assert decide(statements, "lambda:GetFunction", FN + "exact:1") is Decision.IMPLICIT_DENY
    assert decide(statements, "lambda:GetFunction", FN + "APP-one") is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource() -> None:
    everything_but_delete = {"Effect": "Allow", "NotAction": "lambda:Delete*", "Resource": "*"}
    assert decide([everything_but_delete], "lambda:InvokeFunction", FN + "f") is Decision.ALLOW
    assert decide([everything_but_delete], "lambda:DeleteFunction", FN + "f") is Decision.IMPLICIT_DENY
    outside = {"Effect": "Deny", "Action": "*", "NotResource": FN + "mine-*"}
    assert decide([allow("*"), outside], "lambda:InvokeFunction", FN + "theirs") is Decision.EXPLICIT_DENY
    assert decide([allow("*"), outside], "lambda:InvokeFunction", FN + "mine-1") is Decision.ALLOW


@pytest.mark.parametrize(
    ("block", "context", "holds"),
    [
        ({"StringEquals": {"aws:SourceAccount": "111"}}, {"aws:sourceaccount": "111"}, True),
        ({"StringEquals": {"aws:SourceAccount": ["222", "111"]}}, {"aws:sourceaccount": "111"}, True),
        ({"StringEquals": {"aws:SourceAccount": "111"}}, {"aws:sourceaccount": "222"}, False),
        ({"StringEquals": {"aws:SourceAccount": "111"}}, {}, False),  # absent: false
        ({"StringNotEquals": {"aws:SourceAccount": "111"}}, {}, True),  # absent, negated: true
        ({"StringNotEquals": {"aws:SourceAccount": ["1", "2"]}}, {"aws:sourceaccount": "2"}, False),
        ({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, True),
        ({"StringLike": {"k": "ab*"}}, {"k": "abc"}, True),
        ({"StringNotLike": {"k": "ab*"}}, {"k": "abc"}, False),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111:topic-*"}},
            {"aws:sourcearn": "arn:aws:sns:us-east-1:111:topic-a"},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:111:t"}},
            {"aws:sourcearn": "arn:aws:sns:us-east-1:222:t"},
            False,
        ),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::b*"}}, {"aws:sourcearn": "arn:aws:s3:::other"}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:securetransport": "false"}, True),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:securetransport": "false"}, False),
        ({"NumericLessThan": {"n": "10"}}, {"n": "9"}, True),
        ({"NumericGreaterThanEquals": {"n": 10}}, {"n": "9"}, False),
        ({"NumericEquals": {"n": "x"}}, {"n": "1"}, False),
        (
            {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:currenttime": "2026-12-07T10:00:00Z"},
            True,
        ),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:currenttime": "2026-12-07T10:00:00Z"},
            False,
        ),
        ({"DateEquals": {"aws:EpochTime": "0"}}, {"aws:epochtime": "1970-01-01T00:00:00Z"}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.2.3"}, True),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"aws:sourceip": "192.168.0.1"}, True),
        ({"Null": {"aws:SourceArn": "true"}}, {}, True),
        ({"Null": {"aws:SourceArn": "false"}}, {}, False),
        ({"ForAnyValue:StringEquals": {"tags": ["a", "b"]}}, {"tags": ["c", "b"]}, True),
        ({"ForAnyValue:StringEquals": {"tags": ["a"]}}, {}, False),
        ({"ForAllValues:StringEquals": {"tags": ["a", "b"]}}, {"tags": ["a", "b"]}, True),
        ({"ForAllValues:StringEquals": {"tags": ["a", "b"]}}, {"tags": ["a", "z"]}, False),
        ({"ForAllValues:StringEquals": {"tags": ["a"]}}, {}, True),  # absent: vacuously true
        # Two operators, and two keys of one operator, must both hold.
        ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, {"a": "1", "b": "22"}, True),
    ],
)
def test_condition_operators(block: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    assert conditions_hold(block, context) is holds


def test_condition_keys_ignore_case() -> None:
    assert conditions_hold({"StringEquals": {"AWS:SourceAccount": "1"}}, {"aws:sourceaccount": "1"})


def test_a_statement_applies_only_when_its_condition_holds() -> None:
    statement = allow("lambda:InvokeFunction")
    statement["Condition"] = {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}
    assert decide([statement], "lambda:InvokeFunction", FN + "f") is Decision.IMPLICIT_DENY
    granted = decide(
        [statement], "lambda:InvokeFunction", FN + "f", **{"lambda:FunctionUrlAuthType": "AWS_IAM"}
    )
    assert granted is Decision.ALLOW


def test_a_resource_policy_allows_the_principal_it_names() -> None:
    resource = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ALICE},
            "Action": "lambda:InvokeFunction",
            "Resource": FN + "f",
        },
        resource_policy=True,
    )
    asked = Request("lambda:InvokeFunction", FN + "f", ALICE, "000000000000")
    assert evaluate([], asked, resource) is Decision.ALLOW
    bob = Request("lambda:InvokeFunction", FN + "f", "arn:aws:iam::000000000000:user/bob", "000000000000")
    assert evaluate([], bob, resource) is Decision.IMPLICIT_DENY
    # An identity policy's deny still wins over the resource policy's allow.
    assert evaluate([policy(deny("lambda:*"))], asked, resource) is Decision.EXPLICIT_DENY


def test_resource_policy_principals_accounts_roles_and_services() -> None:
    def one(principal: Any, **extra: Any) -> Any:
        statement = {
            "Effect": "Allow",
            "Principal": principal,
            "Action": "lambda:InvokeFunction",
            "Resource": "*",
        }
        return policy(statement | extra, resource_policy=True)

    session = "arn:aws:sts::000000000000:assumed-role/worker/s1"
    by_session = Request("lambda:InvokeFunction", FN + "f", session, "000000000000")
    assert evaluate([], by_session, one({"AWS": "arn:aws:iam::000000000000:role/worker"})) is Decision.ALLOW
    assert evaluate([], by_session, one({"AWS": "000000000000"})) is Decision.ALLOW
    assert evaluate([], by_session, one({"AWS": "arn:aws:iam::000000000000:root"})) is Decision.ALLOW
    assert evaluate([], by_session, one("*")) is Decision.ALLOW
    assert evaluate([], by_session, one({"AWS": "111111111111"})) is Decision.IMPLICIT_DENY
    service = Request(
        "lambda:InvokeFunction",
        FN + "f",
        service="sns.amazonaws.com",
        context={"aws:sourcearn": "arn:aws:sns:r:1:t"},
    )
    assert evaluate([], service, one({"Service": "sns.amazonaws.com"})) is Decision.ALLOW
    assert evaluate([], service, one({"Service": "s3.amazonaws.com"})) is Decision.IMPLICIT_DENY
    conditioned = one(
        {"Service": "sns.amazonaws.com"}, Condition={"ArnLike": {"AWS:SourceArn": "arn:aws:sns:r:1:other"}}
    )
    assert evaluate([], service, conditioned) is Decision.IMPLICIT_DENY
    resource_deny = policy(
        {"Effect": "Deny", "Principal": "*", "Action": "lambda:*", "Resource": "*"}, resource_policy=True
    )
    assert evaluate([policy(allow("*"))], by_session, resource_deny) is Decision.RESOURCE_DENY


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "This policy contains invalid Json"),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}',
            "Policy statement must contain actions.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}',
            "Policy statement must contain resources.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}',
            "Syntax errors in policy.",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", '
            '"Principal": "*"}]}',
            "Policy document should not specify a principal.",
        ),
        ('{"Version": "2099-01-01", "Statement": []}', "Syntax errors in policy."),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", '
            '"Condition": {"StringSortOf": {"a": "b"}}}]}',
            "Syntax errors in policy.",
        ),
        ("[]", "Syntax errors in policy."),
    ],
)
def test_malformed_documents_say_what_iam_says(document: str, message: str) -> None:
    with pytest.raises(PolicyError) as error:
        parse_policy(document)
    assert error.value.aws_message == message


def test_a_single_statement_object_and_string_lists_are_accepted() -> None:
    single = parse_policy(
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["a:B"], "Resource": ["*"]}}'
    )
    assert evaluate([single], Request("a:B", "x")) is Decision.ALLOW
