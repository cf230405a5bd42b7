"""What AWS says about a request body that is not JSON.

Lambda's front end reads bodies with Jackson and passes its parser's message on
(``InvalidRequestContentException`` "Could not parse request body into json:
..."), for example::

    Unexpected character ('h' (code 104)): expected a valid value (JSON String,
    Number, Array, Object or token 'null', 'true' or 'false')
     at [Source: (byte[])"hello"; line: 1, column: 2]

orjson's own messages ("unexpected character: line 1 column 2 (char 1)") are an
implementation detail that must not reach clients, so ``describe`` walks a body
that orjson refused and words the first fault as Jackson does: the same kinds of
fault, the same sentences, and the location (a 1-based line and Jackson's
column, which counts one past the offending character).

Only bodies that already failed to parse come here, so the walk favours being
plain over being fast.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

_VALUE = "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
_SOURCE_LIMIT = 500
"""Jackson quotes at most this many characters of the body in the location."""


class _Fault(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        """Where Jackson reports it: the index just after the bytes it had read."""


_MAX_DEPTH = 1000
"""Jackson's ``StreamReadConstraints`` nesting limit (orjson's is 1024)."""


def describe(body: bytes) -> str:
    """Jackson's message for the first fault in ``body`` (which must not be valid JSON),
    with its location. A body this walk finds no fault in gets a generic message."""
    try:
        _too_deep(body)
        _Walker(body).document()
    except _Fault as fault:
        return f"{fault.message}\n at {_location(body, fault.position)}"
    except RecursionError:
        # Nested deeper than Python's stack allows, but within Jackson's limit: no finer word.
        pass
    return f"Unexpected end-of-input\n at {_location(body, len(body))}"


def _too_deep(body: bytes) -> None:
    """Raise Jackson's nesting fault if ``body`` opens more than ``_MAX_DEPTH`` containers
    (scanned without recursion: the walker below recurses once per level)."""
    depth = 0
    in_string = escaped = False
    for index, byte in enumerate(body):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > _MAX_DEPTH:
                raise _Fault(
                    f"Document nesting depth ({depth}) exceeds the maximum allowed "
                    f"({_MAX_DEPTH}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                    index + 1,
                )
        elif byte in b"]}":
            depth -= 1


def _location(body: bytes, position: int) -> str:
    text = body.decode("utf-8", "replace")
    if len(text) > _SOURCE_LIMIT:
        quoted = f'"{text[:_SOURCE_LIMIT]}"[truncated {len(body) - _SOURCE_LIMIT} bytes]'
    else:
        quoted = f'"{text}"'
    before = body[:position]
    line = before.count(b"\n") + 1
    column = position - (before.rfind(b"\n") + 1) + 1
    return f"[Source: (byte[]){quoted}; line: {line}, column: {column}]"


def _character(body: bytes, index: int) -> str:
    """Jackson's way of naming the character at ``index``, inside its own parentheses:
    ('x' (code 120)), ('€' (code 8364 / 0x20ac)), (CTRL-CHAR, code 155). A byte that
    does not start a UTF-8 sequence is named by its own value, as Jackson names it."""
    code = body[index]
    if code >= 0x80:
        with contextlib.suppress(_Fault):
            code = ord(_utf8_char(body, index))
    char = chr(code)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"(CTRL-CHAR, code {code})"
    if code > 0xFF:
        return f"'{char}' (code {code} / 0x{code:x})"
    return f"'{char}' (code {code})"


def _utf8_char(body: bytes, index: int) -> str:
    for length in (2, 3, 4):
        try:
            return body[index : index + length].decode("utf-8")
        except UnicodeDecodeError:
            continue
    raise _Fault(f"Invalid UTF-8 start byte 0x{body[index]:x}", index + 1)


@dataclass(slots=True)
class _Walker:
    body: bytes
    i: int = 0

    def document(self) -> None:
        self.skip_space()
        if self.i == len(self.body):
            raise _Fault("No content to map due to end-of-input", self.i)
        self.value()
        self.skip_space()
        if self.i < len(self.body):
            raise self.unexpected("Expected space separating root-level values")

    def skip_space(self) -> None:
        while self.i < len(self.body) and self.body[self.i] in b" \t\r\n":
            self.i += 1

    def unexpected(self, expectation: str) -> _Fault:
        return _Fault(f"Unexpected character ({_character(self.body, self.i)}): {expectation}", self.i + 1)

    def end_of_input(self, what: str, start: int) -> _Fault:
        return _Fault(
            f"Unexpected end-of-input: expected close marker for {what} "
            f"(start marker at {_location(self.body, start + 1)})",
            self.i,
        )

    def value(self) -> None:
        if self.i == len(self.body):
            raise _Fault(f"Unexpected end-of-input: expected a valid value {_VALUE}", self.i)
        byte = self.body[self.i]
        if byte == ord("{"):
            self.container(ord("}"), "Object")
        elif byte == ord("["):
            self.container(ord("]"), "Array")
        elif byte == ord('"'):
            self.string()
        elif byte == ord("-") or ord("0") <= byte <= ord("9"):
            self.number()
        elif chr(byte).isalpha() if byte < 0x80 else False:
            self.word()
        else:
            raise self.unexpected(f"expected a valid value {_VALUE}")

    def container(self, close: int, what: str) -> None:
        start = self.i
        self.i += 1
        self.skip_space()
        if self.i < len(self.body) and self.body[self.i] == close:
            self.i += 1
            return
        while True:
            if what == "Object":
                if self.i == len(self.body):
                    raise self.end_of_input(what, start)
                if self.body[self.i] != ord('"'):
                    raise self.unexpected("was expecting double-quote to start field name")
                self.string()
                self.skip_space()
                if self.i == len(self.body):
                    raise self.end_of_input(what, start)
                if self.body[self.i] != ord(":"):
                    raise self.unexpected("was expecting a colon to separate field name and value")
                self.i += 1
                self.skip_space()
            elif self.i == len(self.body):
                raise self.end_of_input(what, start)
            self.value()
            self.skip_space()
            if self.i == len(self.body):
                raise self.end_of_input(what, start)
            byte = self.body[self.i]
            if byte == close:
                self.i += 1
                return
            if byte != ord(","):
                raise self.unexpected(f"was expecting comma to separate {what} entries")
            self.i += 1
            self.skip_space()

    def string(self) -> None:
        self.i += 1
        while self.i < len(self.body):
            byte = self.body[self.i]
            if byte == ord('"'):
                self.i += 1
                return
            if byte == ord("\\"):
                self.escape()
            elif byte < 0x20:
                raise _Fault(
                    f"Illegal unquoted character ({_character(self.body, self.i)}): "
                    "has to be escaped using backslash to be included in string value",
                    self.i + 1,
                )
            elif byte >= 0x80:
                self.i += len(_utf8_char(self.body, self.i).encode("utf-8"))
            else:
                self.i += 1
        raise _Fault("Unexpected end-of-input in VALUE_STRING", self.i)

    def escape(self) -> None:
        self.i += 1
        if self.i == len(self.body):
            raise _Fault("Unexpected end-of-input in VALUE_STRING", self.i)
        byte = self.body[self.i]
        if byte == ord("u"):
            digits = self.body[self.i + 1 : self.i + 5]
            for offset, digit in enumerate(digits):
                if chr(digit) not in "0123456789abcdefABCDEF":
                    self.i += 1 + offset
                    raise self.unexpected("expected a hex-digit for character escape sequence")
            if len(digits) < 4:
                self.i += 1 + len(digits)
                raise _Fault("Unexpected end-of-input in character escape sequence", self.i)
            self.i += 5
        elif chr(byte) in '"\\/bfnrt':
            self.i += 1
        else:
            raise _Fault(f"Unrecognized character escape ({_character(self.body, self.i)})", self.i + 1)

    def number(self) -> None:
        if self.body[self.i] == ord("-"):
            self.i += 1
            self.need_digit("expected digit (0-9) to follow minus sign, for valid numeric value")
        if self.body[self.i] == ord("0") and self.body[self.i + 1 : self.i + 2].isdigit():
            raise _Fault("Invalid numeric value: Leading zeroes not allowed", self.i + 2)
        self.digits()
        if self.i < len(self.body) and self.body[self.i] == ord("."):
            self.i += 1
            self.need_digit("Decimal point not followed by a digit")
            self.digits()
        if self.i < len(self.body) and self.body[self.i] in b"eE":
            self.i += 1
            if self.i < len(self.body) and self.body[self.i] in b"+-":
                self.i += 1
            self.need_digit("Exponent indicator not followed by a digit")
            self.digits()

    def need_digit(self, expectation: str) -> None:
        """A digit must come next; ``expectation`` is what Jackson says when it does not."""
        if self.i == len(self.body):
            raise _Fault("Unexpected end-of-input in a Number value", self.i)
        if not self.body[self.i : self.i + 1].isdigit():
            raise self.unexpected(expectation)

    def digits(self) -> None:
        while self.i < len(self.body) and self.body[self.i : self.i + 1].isdigit():
            self.i += 1

    def word(self) -> None:
        start = self.i
        while self.i < len(self.body) and self.body[self.i] < 0x80 and chr(self.body[self.i]).isalnum():
            self.i += 1
        token = self.body[start : self.i].decode("ascii", "replace")
        if token not in {"true", "false", "null"}:
            raise _Fault(f"Unrecognized token '{token}': was expecting {_VALUE}", self.i)
