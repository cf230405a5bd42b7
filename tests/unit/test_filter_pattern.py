"""CloudWatch Logs filter patterns: terms, JSON and space-delimited, and AWS's refusals."""

from __future__ import annotations

import orjson
import pytest

from lambdalite.observe.filter_pattern import FilterPattern, InvalidFilterPattern

REQUEST = orjson.dumps(
    {
        "level": "ERROR",
        "latency": 250,
        "ratio": 0.5,
        "ip": "10.0.3.7",
        "user": {"id": 1, "name": "ana", "email": None, "admin": True},
        "tags": ["a", "b"],
        "items": [{"sku": "X-1", "qty": 2}],
        "path": "/api/v2/items",
    }
).decode()

ACCESS = '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326'


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ('{ $.level = "ERROR" }', True),
        ('{ $.level = "WARN" }', False),
        ("{$.level=ERROR}", True),
        ('{ $.level = "ERR*" }', True),
        ('{ $.level != "INFO" }', True),
        ("{ $.latency > 100 }", True),
        ("{ $.latency >= 250 }", True),
        ("{ $.latency < 250 }", False),
        ("{ $.latency <= 250.0 }", True),
        ("{ $.latency = 250 }", True),
        ("{ $.ratio < 1 }", True),
        ("{ $.ip = 10.0.* }", True),
        ("{ $.ip = 10.1.* }", False),
        ('{ $.level = "ERROR" && $.latency > 300 }', False),
        ('{ $.level = "ERROR" || $.latency > 300 }', True),
        ('{ ($.level = "INFO" || $.latency > 100) && $.user.id = 1 }', True),
        ('{ $.level = "INFO" || ($.latency > 100 && $.user.id = 2) }', False),
        ('{ $.user.name = "ana" }', True),
        ('{ $.tags[1] = "b" }', True),
        ('{ $.tags[2] = "b" }', False),
        ('{ $.items[0].sku = "X-*" }', True),
        ("{ $.items[0].qty > 1 }", True),
        ("{ $.user.email IS NULL }", True),
        ("{ $.user.name IS NULL }", False),
        ("{ $.user.missing IS NULL }", False),
        ("{ $.user.admin IS TRUE }", True),
        ("{ $.user.admin IS FALSE }", False),
        ("{ $.user.id EXISTS }", True),
        ("{ $.user.nope NOT EXISTS }", True),
        ("{ $.user.id NOT EXISTS }", False),
        ("{ $.nope = 1 }", False),
        ("{ $.nope != 1 }", False),  # a comparison on a missing field never matches
        ("{ $.level > 1 }", False),  # no numeric order for a string
        ("{ $.path = %^/api/v[12]/% }", True),
        ("{ $.path = %^/web% }", False),
    ],
)
def test_json_patterns(pattern: str, matches: bool) -> None:
    assert FilterPattern(pattern).matches(REQUEST) is matches


def test_json_patterns_do_not_match_text_or_non_objects() -> None:
    pattern = FilterPattern('{ $.level = "ERROR" }')
    assert not pattern.matches("ERROR something broke")
    assert not pattern.matches('["ERROR"]')


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ("[ip, user, time, request, status, bytes]", False),  # the request is one quoted field, so 7 != 6
        ("[ip, identity, user, time, request, status, bytes]", True),
        ("[ip, identity, user, time, request, status = 404, bytes]", True),
        ("[ip, identity, user, time, request, status = 4*, bytes > 1000]", True),
        ("[ip, identity, user, time, request, status = 5*, bytes]", False),
        ("[ip, identity, user, time, request, status, bytes > 3000]", False),
        ("[ip, ..., status = 404, bytes]", True),
        ("[..., status = 404 || status = 410, bytes]", True),
        ("[..., status = 500 || status = 410, bytes]", False),
        ("[ip = 127.0.0.*, user = frank, ...]", False),  # the second field is "-"
        ("[ip = 127.0.0.*, identity, user = frank, ...]", True),
        ('[..., request = "GET /apache*", status, bytes]', True),
        ("[..., time = 10/Oct/2000*, request, status, bytes]", True),
        ("[ip, ...]", True),
        ("[ip]", False),
    ],
)
def test_space_delimited_patterns(pattern: str, matches: bool) -> None:
    assert FilterPattern(pattern).matches(ACCESS) is matches


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "[ERROR 400] BAD REQUEST", True),
        ("ERROR", "error", False),
        ("ERROR timeout", "ERROR: timeout", True),
        ("ERROR timeout", "ERROR only", False),
        ('"Task timed out"', "2024 Task timed out after 3.00 seconds", True),
        ('"Task timed out"', "Task was timed out", False),
        ("ERROR ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS", True),
        ("ERROR ARGUMENTS", "[ERROR 400] BAD REQUEST", False),
        ('"INTERNAL SERVER ERROR"', "[ERROR 500] INTERNAL SERVER ERROR", True),
        ('"INTERNAL SERVER ERROR"', "INTERNAL ERROR SERVER", False),
        ("?ERROR ?WARN", "[WARN] low disk", True),
        ("?ERROR ?WARN", "[INFO] fine", False),
        ("ERROR -Exiting", "[ERROR] Exiting now", False),
        ("ERROR -Exiting", "[ERROR] carrying on", True),
        ('-"health check" GET', "GET /items", True),
        ('-"health check" GET', "GET /health check", False),
        ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
        ("%^\\[ERROR.40[0-9]\\]%", "[ERROR 404] gone", True),
        ("%^\\[ERROR.40[0-9]\\]%", "[ERROR 500] down", False),
        ('"say \\"hi\\""', 'they say "hi"', True),
    ],
)
def test_term_patterns(pattern: str, message: str, matches: bool) -> None:
    assert FilterPattern(pattern).matches(message) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('{ $.level = "ERROR"', "If a filter pattern starts with '{' it must end with '}'"),
        ("[ip, user", "If a filter pattern starts with '[' it must end with ']'"),
        ("{ }", "Invalid filter pattern"),
        ("{ $.level = }", "Invalid filter pattern"),
        ("{ $.level }", "Invalid filter pattern"),
        ("{ level = 1 }", "Invalid filter pattern"),
        ("{ $.a = 1 && }", "Invalid filter pattern"),
        ("{ ($.a = 1 }", "Invalid filter pattern"),
        ("{ $.a[x] = 1 }", "Invalid filter pattern"),
        ('{ $.a = "open }', "Invalid filter pattern"),
        ("{ $.a = %(x)% }", "Invalid filter pattern"),
        ("[a,, b]", "Invalid filter pattern"),
        ("[a = ]", "Invalid filter pattern"),
        ('"unterminated', "Invalid filter pattern"),
        ("%[%", "Invalid filter pattern"),
    ],
)
def test_unreadable_patterns_give_awss_message(pattern: str, message: str) -> None:
    with pytest.raises(InvalidFilterPattern) as err:
        FilterPattern(pattern)
    assert str(err.value) == message
