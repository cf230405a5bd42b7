"""A body that is not JSON is described in the words of AWS's parser, never orjson's."""

from __future__ import annotations

import orjson
import pytest

from lambdalite.api.json_errors import describe

VALUE = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # Both as AWS answered them (aws-cli and SDK issues quote these bodies and texts).
        (
            b"0D\x97a",
            "Unexpected character ('D' (code 68)): Expected space separating root-level values\n"
            ' at [Source: (byte[])"0D\ufffda"; line: 1, column: 3]',
        ),
        (
            b"\x9b+-",
            f"Unexpected character ((CTRL-CHAR, code 155)): expected a valid value {VALUE}\n"
            ' at [Source: (byte[])"\ufffd+-"; line: 1, column: 2]',
        ),
        (
            b"hello",
            f"Unrecognized token 'hello': was expecting {VALUE}\n"
            ' at [Source: (byte[])"hello"; line: 1, column: 6]',
        ),
        (
            b"{not json",
            "Unexpected character ('n' (code 110)): was expecting double-quote to start field name\n"
            ' at [Source: (byte[])"{not json"; line: 1, column: 3]',
        ),
        (
            b'{"a" 1}',
            "Unexpected character ('1' (code 49)): was expecting a colon to separate field name and value\n"
            ' at [Source: (byte[])"{"a" 1}"; line: 1, column: 7]',
        ),
        (
            b"[1 2]",
            "Unexpected character ('2' (code 50)): was expecting comma to separate Array entries\n"
            ' at [Source: (byte[])"[1 2]"; line: 1, column: 5]',
        ),
        (
            b'{\n  "a": 1\n',
            "Unexpected end-of-input: expected close marker for Object"
            ' (start marker at [Source: (byte[])"{\n  "a": 1\n"; line: 1, column: 2])\n'
            ' at [Source: (byte[])"{\n  "a": 1\n"; line: 3, column: 1]',
        ),
        (
            b'"abc',
            'Unexpected end-of-input in VALUE_STRING\n at [Source: (byte[])""abc"; line: 1, column: 5]',
        ),
        (
            b"\x01",
            f"Unexpected character ((CTRL-CHAR, code 1)): expected a valid value {VALUE}\n"
            ' at [Source: (byte[])"\x01"; line: 1, column: 2]',
        ),
    ],
)
def test_jacksons_words_and_location(body: bytes, message: str) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    assert describe(body) == message


def test_long_bodies_are_quoted_up_to_500_characters() -> None:
    body = b'{"a": "' + b"x" * 1000
    assert describe(body).endswith(f'"[truncated {len(body) - 500} bytes]; line: 1, column: {len(body) + 1}]')


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[",
        b"-",
        b"1.",
        b"1e",
        b"01",
        b"tru",
        b'"\\q"',
        b'"\\u12g4"',
        b'"\\u12',
        b"{}}",
        b'"\x01"',
        b"\xc3\xa9",
    ],
)
def test_every_fault_is_described_without_orjsons_words(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError) as err:
        orjson.loads(body)
    message = describe(body)
    assert str(err.value) not in message and "char " not in message
    assert "\n at [Source: (byte[])" in message


def test_a_body_nested_deeper_than_jacksons_limit_is_worded_as_jackson_does() -> None:
    body = b"[" * 5000 + b"]" * 5000
    assert describe(body).startswith(
        "Document nesting depth (1001) exceeds the maximum allowed "
        "(1000, from `StreamReadConstraints.getMaxNestingDepth()`)\n at [Source: (byte[])"
    )
    assert describe(body).endswith("line: 1, column: 1002]")


def test_a_body_nested_within_the_limit_but_deeper_than_the_stack_still_gets_a_message() -> None:
    assert describe(b"[" * 990 + b"x").startswith("Unexpected ")
