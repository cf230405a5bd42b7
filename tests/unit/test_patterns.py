"""The event-pattern matcher: each operator matching and not, validation reasons,
the SNS dialects' differences and limits, and the index agreeing with one-by-one tests."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lambdalite.events.patterns import (
    Dialect,
    PatternError,
    PatternIndex,
    RecordFilter,
    compile_pattern,
    sns_attribute_document,
)

EVENT: dict[str, Any] = {
    "source": "aws.ec2",
    "detail-type": "EC2 Instance State-change Notification",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-1", "arn:aws:s3:::bucket"],
    "detail": {
        "state": "running",
        "instance-id": "i-1234567890abcdef0",
        "count": 5,
        "ratio": 0.25,
        "ok": True,
        "nothing": None,
        "ip": "10.0.4.7",
        "ip6": "2001:db8::1",
        "file": "photos/cat.PNG",
        "tags": ["blue", "green"],
        "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 9}],
        "nested": {"deeper": {"leaf": "x"}},
        "empty": "",
    },
}


def check(pattern: dict[str, Any], event: dict[str, Any] = EVENT, dialect: Dialect = Dialect.EVENTS) -> bool:
    """Test one-by-one and through the index, and insist they agree."""
    compiled = compile_pattern(pattern, dialect)
    index: PatternIndex[str] = PatternIndex()
    index.put("p", compiled)
    one = compiled.matches(event)
    assert (index.matching(event) == {"p"}) == one
    return one


def reason(pattern: Any, dialect: Dialect = Dialect.EVENTS) -> str:
    with pytest.raises(PatternError) as err:
        compile_pattern(pattern, dialect)
    return err.value.reason


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.ec2"]}, True),
        ({"source": ["aws.s3"]}, False),
        ({"source": ["aws.s3", "aws.ec2"]}, True),
        ({"detail": {"count": [5]}}, True),
        ({"detail": {"count": [5.0]}}, True),
        ({"detail": {"count": ["5"]}}, False),
        ({"detail": {"ok": [True]}}, True),
        ({"detail": {"ok": [1]}}, False),
        ({"detail": {"nothing": [None]}}, True),
        ({"detail": {"state": [None]}}, False),
        ({"detail": {"empty": [""]}}, True),
        ({"detail": {"tags": ["green"]}}, True),
        ({"detail": {"tags": ["red"]}}, False),
        ({"detail": {"items": {"sku": ["b-2"]}}}, True),
        ({"detail": {"nested": {"deeper": {"leaf": ["x"]}}}}, True),
        ({"detail": {"nested": {"deeper": {"leaf": ["y"]}}}}, False),
        ({"detail": {"missing": ["x"]}}, False),
    ],
)
def test_exact_values_arrays_and_nesting(pattern: dict[str, Any], expected: bool) -> None:
    assert check(pattern) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"prefix": "run"}, True),
        ({"prefix": "stop"}, False),
        ({"prefix": ""}, True),
        ({"prefix": {"equals-ignore-case": "RUN"}}, True),
        ({"prefix": {"equals-ignore-case": "STO"}}, False),
        ({"suffix": "ing"}, True),
        ({"suffix": "ed"}, False),
        ({"suffix": {"equals-ignore-case": "NING"}}, True),
        ({"equals-ignore-case": "RUNNING"}, True),
        ({"equals-ignore-case": "RUN"}, False),
        ({"wildcard": "r*g"}, True),
        ({"wildcard": "r*x"}, False),
        ({"wildcard": "*un*"}, True),
        ({"anything-but": "stopped"}, True),
        ({"anything-but": ["stopped", "running"]}, False),
        ({"anything-but": {"prefix": "stop"}}, True),
        ({"anything-but": {"prefix": "run"}}, False),
        ({"anything-but": {"suffix": "ing"}}, False),
        ({"anything-but": {"suffix": "ed"}}, True),
        ({"anything-but": {"equals-ignore-case": ["RUNNING"]}}, False),
        ({"anything-but": {"equals-ignore-case": "STOPPED"}}, True),
        ({"anything-but": {"wildcard": "r*"}}, False),
        ({"anything-but": {"wildcard": ["x*", "y*"]}}, True),
        ({"exists": True}, True),
        ({"exists": False}, False),
    ],
)
def test_string_operators(condition: dict[str, Any], expected: bool) -> None:
    assert check({"detail": {"state": [condition]}}) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"numeric": [">", 0]}, True),
        ({"numeric": [">", 5]}, False),
        ({"numeric": [">=", 5]}, True),
        ({"numeric": ["<", 5]}, False),
        ({"numeric": ["<=", 5]}, True),
        ({"numeric": [">", 0, "<", 10]}, True),
        ({"numeric": [">", 5, "<", 10]}, False),
        ({"numeric": ["=", 5]}, True),
        ({"numeric": ["=", 5.5]}, False),
        ({"anything-but": 5}, False),
        ({"anything-but": [4, 6]}, True),
    ],
)
def test_numeric_operators(condition: dict[str, Any], expected: bool) -> None:
    assert check({"detail": {"count": [condition]}}) is expected


def test_numeric_never_matches_a_string() -> None:
    assert not check({"detail": {"state": [{"numeric": [">", 0]}]}})


@pytest.mark.parametrize(
    ("field", "cidr", "expected"),
    [
        ("ip", "10.0.0.0/16", True),
        ("ip", "10.1.0.0/16", False),
        ("ip", "10.0.4.7/32", True),
        ("ip6", "2001:db8::/32", True),
        ("ip6", "2001:db9::/32", False),
        ("state", "10.0.0.0/8", False),
    ],
)
def test_cidr(field: str, cidr: str, expected: bool) -> None:
    assert check({"detail": {field: [{"cidr": cidr}]}}) is expected


def test_exists_false_matches_an_absent_field_only() -> None:
    assert check({"detail": {"missing": [{"exists": False}]}})
    assert not check({"detail": {"state": [{"exists": False}]}})
    # An object is not a leaf: exists matches leaves only.
    assert not check({"detail": {"nested": [{"exists": True}]}})
    assert check({"detail": {"nested": [{"exists": False}]}})
    assert check({"detail": {"nothing": [{"exists": True}]}})


def test_wildcard_escapes() -> None:
    assert check({"detail": {"file": [{"wildcard": "photos/*.PNG"}]}})
    event = {"a": "x*y", "b": "x\\y"}
    assert check({"a": [{"wildcard": "x\\*y"}]}, event)
    assert not check({"a": [{"wildcard": "x\\*y"}]}, {"a": "xzy"})
    assert check({"b": [{"wildcard": "x\\\\y"}]}, event)


def test_or_of_alternatives_and_nested_or() -> None:
    pattern = {
        "source": ["aws.ec2"],
        "$or": [{"detail": {"count": [{"numeric": [">", 100]}]}}, {"detail": {"state": ["running"]}}],
    }
    assert check(pattern)
    pattern["$or"][1] = {"detail": {"state": ["stopped"]}}
    assert not check(pattern)
    nested = {"detail": {"$or": [{"state": ["stopped"]}, {"tags": ["blue"]}]}}
    assert check(nested)


def test_all_fields_must_match() -> None:
    assert check({"source": ["aws.ec2"], "detail": {"state": ["running"], "count": [5]}})
    assert not check({"source": ["aws.ec2"], "detail": {"state": ["running"], "count": [6]}})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{"a": ', None),
        ("[]", "Filter is not an object"),
        ({"detail": {}}, "Empty objects are not allowed"),
        ({"a": []}, "Empty arrays are not allowed"),
        ({"a": "x"}, '"a" must be an object or an array'),
        ({"a": [["x"]]}, "Match value must be String, number, true, false, or null"),
        ({"a": [{"prefix": 1}]}, "prefix match pattern must be a string"),
        ({"a": [{"suffix": None}]}, "suffix match pattern must be a string"),
        ({"a": [{"equals-ignore-case": 1}]}, "equals-ignore-case match pattern must be a string"),
        ({"a": [{"wildcard": 1}]}, "wildcard match pattern must be a string"),
        ({"a": [{"wildcard": "a**"}]}, "Consecutive wildcard characters at pos 2"),
        ({"a": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 1"),
        ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
        ({"a": [{"numeric": 5}]}, "Value of numeric must be an array."),
        ({"a": [{"numeric": [">", "x"]}]}, "Value of > must be numeric"),
        ({"a": [{"numeric": ["~", 1]}]}, "Unrecognized numeric range operator: ~"),
        (
            {"a": [{"numeric": [">", 1, ">", 2]}]},
            "Bottom range of numeric match pattern is defined more than once",
        ),
        (
            {"a": [{"numeric": ["<", 1, "<", 2]}]},
            "Top range of numeric match pattern is defined more than once",
        ),
        ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
        ({"a": [{"cidr": "10.0.0.1"}]}, "Malformed CIDR, one '/' required: 10.0.0.1"),
        ({"a": [{"cidr": "10.0.0.300/8"}]}, "Nonsensical CIDR IP address: 10.0.0.300/8"),
        ({"a": [{"anything-but": [True]}]}, "Inside anything but list, start|null|boolean is not supported."),
        ({"a": [{"anything-but": {"bogus": "x"}}]}, "Unsupported anything-but pattern: bogus"),
        ({"a": [{"bogus": "x"}]}, "Unrecognized match type bogus"),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
        ({"$or": [{"a": ["x"]}]}, "Or relationship array must have at least two elements"),
        ({"$or": {"a": ["x"]}}, "Or relationship field must be an array"),
    ],
)
def test_validation_reasons(pattern: Any, expected: str | None) -> None:
    got = reason(pattern)
    if expected is None:
        assert got.startswith("Filter is not valid JSON")
    else:
        assert got == expected


def test_sns_attribute_scope_is_flat_and_typed() -> None:
    attributes = {
        "store": {"DataType": "String", "StringValue": "example_corp"},
        "price": {"DataType": "Number", "StringValue": "210.75"},
        "colors": {"DataType": "String.Array", "StringValue": '["red", "blue"]'},
        "blob": {"DataType": "Binary", "BinaryValue": b"x"},
    }
    document = sns_attribute_document(attributes)
    dialect = Dialect.SNS_ATTRIBUTES
    assert check({"store": ["example_corp"]}, document, dialect)
    assert check({"price": [{"numeric": [">=", 100]}]}, document, dialect)
    assert not check({"price": ["210.75"]}, document, dialect)
    assert check({"colors": ["blue"]}, document, dialect)
    assert check({"blob": [{"exists": False}]}, document, dialect)
    assert reason({"a": {"b": ["x"]}}, dialect) == (
        "Filter policy scope MessageAttributes does not support nested filter policy"
    )
    assert reason({"a": [{"wildcard": "x*"}]}, dialect) == "Unrecognized match type wildcard"


def test_sns_limits() -> None:
    six = {f"k{i}": ["v"] for i in range(6)}
    assert reason(six, Dialect.SNS_ATTRIBUTES) == "Filter policy can not have more than 5 keys"
    too_many = {f"k{i}": [f"v{j}" for j in range(4)] for i in range(4)}  # 4**4 = 256 combinations
    assert reason(too_many, Dialect.SNS_BODY) == "Filter policy is too complex"
    assert compile_pattern({"a": {"b": ["x"]}}, Dialect.SNS_BODY).matches({"a": {"b": "x"}})


def test_the_index_agrees_with_one_by_one_matching() -> None:
    rng = random.Random(7)
    conditions: list[Any] = [
        "a",
        "b",
        1,
        {"prefix": "a"},
        {"suffix": "z"},
        {"equals-ignore-case": "B"},
        {"numeric": [">", 2]},
        {"anything-but": "a"},
        {"exists": False},
        {"wildcard": "*q*"},
    ]
    index: PatternIndex[int] = PatternIndex()
    patterns = {}
    for number in range(300):
        fields = rng.sample(["f1", "f2", "f3", "f4"], rng.randint(1, 3))
        pattern = {field: rng.sample(conditions, rng.randint(1, 2)) for field in fields}
        patterns[number] = compile_pattern(pattern)
        index.put(number, patterns[number])
    values: list[Any] = ["a", "b", "az", "B", "xqz", 1, 3, None]
    for _ in range(300):
        event = {
            field: rng.choice(values) for field in rng.sample(["f1", "f2", "f3", "f4"], rng.randint(0, 4))
        }
        expected = {number for number, pattern in patterns.items() if pattern.matches(event)}
        assert index.matching(event) == expected
    index.remove(0)
    assert 0 not in index


def test_record_filters_match_json_bodies_by_field_and_others_as_text() -> None:
    keep = RecordFilter(
        ['{"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}}', '{"body": ["ping"]}']
    )
    assert keep.keeps({"messageId": "1", "body": '{"kind": "order", "total": 20}'})
    assert not keep.keeps({"messageId": "2", "body": '{"kind": "order", "total": 5}'})
    assert keep.keeps({"messageId": "3", "body": "ping"})
    assert not keep.keeps({"messageId": "4", "body": "pong"})
    assert RecordFilter([]).keeps({"body": "anything"})
    attributes = RecordFilter(['{"attributes": {"ApproximateReceiveCount": ["1"]}}'])
    assert attributes.keeps({"body": "x", "attributes": {"ApproximateReceiveCount": "1"}})
    with pytest.raises(PatternError):
        RecordFilter(['{"body": "x"}'])
