"""CloudWatch Logs filter patterns, as FilterLogEvents (and ``aws logs tail
--filter-pattern``) takes them. Three kinds, told apart by the first character:

``{ ... }``  a JSON pattern, matched against messages that are JSON objects::

    { $.level = "ERROR" }            a string, with * wildcards: { $.ip = 10.0.* }
    { $.latency > 100 }              = != > >= < <= ; numbers compare as numbers
    { ($.a = 1 && $.b != "x") || $.c[0].d IS NULL }
    { $.user IS TRUE }  { $.user IS FALSE }  { $.id EXISTS }  { $.id NOT EXISTS }
    { $.path = %^/api/v[12]% }       a regular expression between % signs

``[ ... ]``  a space-delimited pattern: the message is split on spaces (text in
``"..."`` or ``[...]`` is one field), fields are named by position, ``...``
stands for any number of fields, and a field may carry conditions::

    [ip, user, ..., status_code = 4*, bytes > 1000]
    [level = ERROR || level = WARN, ...]

anything else: terms. Every plain term must occur (``ERROR timeout``), ``"an
exact phrase"`` is one term, ``?A ?B`` needs any one of them, ``-term``
excludes, ``%regex%`` searches a regular expression. Matching is case-sensitive,
as on AWS; an empty pattern matches every event.

A pattern we cannot read raises ``InvalidFilterPattern`` whose ``str()`` is the
message AWS's InvalidParameterException carries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

Matcher = Callable[[str], bool]

_INVALID = "Invalid filter pattern"
_UNCLOSED_JSON = "If a filter pattern starts with '{' it must end with '}'"
_UNCLOSED_DELIMITED = "If a filter pattern starts with '[' it must end with ']'"
_COMPARATORS = ("!=", ">=", "<=", "=", ">", "<")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NAME = re.compile(r"[A-Za-z0-9_\-@:]+")
_MISSING = object()
"""A JSON selector that leads nowhere (not the same as a JSON null)."""


class InvalidFilterPattern(ValueError):
    """A filter pattern we cannot read. ``str()`` is AWS's message."""

    def __init__(self, message: str = _INVALID) -> None:
        super().__init__(message)


class FilterPattern:
    """A compiled filter pattern; ``matches(message)`` says whether an event passes."""

    __slots__ = ("_match", "text")

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        stripped = pattern.strip()
        if stripped.startswith("{"):
            if not stripped.endswith("}"):
                raise InvalidFilterPattern(_UNCLOSED_JSON)
            self._match = _json_pattern(stripped[1:-1])
        elif stripped.startswith("["):
            if not stripped.endswith("]"):
                raise InvalidFilterPattern(_UNCLOSED_DELIMITED)
            self._match = _delimited_pattern(stripped[1:-1])
        else:
            self._match = _term_pattern(stripped)

    def matches(self, message: str) -> bool:
        return self._match(message)


# ---- values shared by JSON and space-delimited patterns -----------------------------


@dataclass(frozen=True, slots=True)
class _Value:
    """The right-hand side of a comparison: a number, a string (``*`` wildcards), a
    regular expression, or a JSON literal (true, false, null)."""

    text: str
    number: float | None = None
    regex: re.Pattern[str] | None = None
    literal: object = _MISSING

    def equals(self, actual: Any) -> bool:
        if self.literal is not _MISSING:
            return actual is self.literal or (actual is None and self.literal is None)
        if self.regex is not None:
            return isinstance(actual, str | int | float) and self.regex.search(_as_text(actual)) is not None
        if self.number is not None:
            number = _as_number(actual)
            if number is not None:
                return number == self.number
        if actual is None or isinstance(actual, bool | dict | list):
            return False
        return _wildcard(self.text).fullmatch(_as_text(actual)) is not None

    def compare(self, op: str, actual: Any) -> bool:
        if actual is _MISSING:
            return False
        if op == "=":
            return self.equals(actual)
        if op == "!=":
            return not self.equals(actual)
        number = _as_number(actual)
        if number is None or self.number is None:
            return False
        if op == ">":
            return number > self.number
        if op == ">=":
            return number >= self.number
        if op == "<":
            return number < self.number
        return number <= self.number


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _wildcard(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")), re.DOTALL)


def _regex(text: str) -> re.Pattern[str]:
    # AWS takes a subset of regular expression syntax and no groups; Python's re reads
    # that subset the same way.
    if not text or "(" in text or ")" in text:
        raise InvalidFilterPattern()
    try:
        return re.compile(text)
    except re.error as exc:
        raise InvalidFilterPattern() from exc


def _value(token: _Token) -> _Value:
    if token.kind == "string":
        return _Value(token.text)
    if token.kind == "regex":
        return _Value(token.text, regex=_regex(token.text))
    if token.kind != "word":
        raise InvalidFilterPattern()
    literals: dict[str, object] = {"true": True, "false": False, "null": None}
    if token.text in literals:
        return _Value(token.text, literal=literals[token.text])
    if _NUMBER.fullmatch(token.text):
        return _Value(token.text, number=float(token.text))
    return _Value(token.text)


# ---- tokens --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    """``op`` (comparators, && || ( ) ,), ``string`` ("..."), ``regex`` (%...%) or ``word``."""
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == '"':
            value, i = _quoted(text, i)
            tokens.append(_Token("string", value))
        elif char == "%":
            end = text.find("%", i + 1)
            if end < 0:
                raise InvalidFilterPattern()
            tokens.append(_Token("regex", text[i + 1 : end]))
            i = end + 1
        elif text.startswith(("&&", "||"), i):
            tokens.append(_Token("op", text[i : i + 2]))
            i += 2
        elif char in "(),":
            tokens.append(_Token("op", char))
            i += 1
        elif op := next((op for op in _COMPARATORS if text.startswith(op, i)), None):
            tokens.append(_Token("op", op))
            i += len(op)
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] not in '"(),=!<>&|%':
                end += 1
            if end == i:
                raise InvalidFilterPattern()
            tokens.append(_Token("word", text[i:end]))
            i = end
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The string in double quotes at ``start`` (``\\"`` and ``\\\\`` escape) and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise InvalidFilterPattern()


class _Parser:
    """A cursor over tokens for the two structured kinds of pattern."""

    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise InvalidFilterPattern()
        self.position += 1
        return token

    def take_op(self, *ops: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "op" and token.text in ops:
            self.position += 1
            return token.text
        return None

    def take_words(self, *words: str) -> bool:
        """Consume these words (case-insensitive) if they come next."""
        end = self.position + len(words)
        found = self.tokens[self.position : end]
        if len(found) == len(words) and all(
            t.kind == "word" and t.text.upper() == w for t, w in zip(found, words, strict=True)
        ):
            self.position = end
            return True
        return False

    def done(self) -> bool:
        return self.position == len(self.tokens)


Condition = Callable[[Any], bool]
"""A test of one context: the parsed JSON message, or the named fields of a line."""


def _boolean(parser: _Parser, atom: Callable[[_Parser], Condition]) -> Condition:
    """``atom (&& atom)* (|| ...)*`` with parentheses; && binds tighter than ||."""

    def primary() -> Condition:
        if parser.take_op("("):
            inner = disjunction()
            if not parser.take_op(")"):
                raise InvalidFilterPattern()
            return inner
        return atom(parser)

    def conjunction() -> Condition:
        parts = [primary()]
        while parser.take_op("&&"):
            parts.append(primary())
        return parts[0] if len(parts) == 1 else lambda ctx: all(part(ctx) for part in parts)

    def disjunction() -> Condition:
        parts = [conjunction()]
        while parser.take_op("||"):
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else lambda ctx: any(part(ctx) for part in parts)

    return disjunction()


# ---- JSON patterns ----------------------------------------------------------------


def _json_pattern(body: str) -> Matcher:
    parser = _Parser(_tokens(body))
    if parser.done():
        raise InvalidFilterPattern()
    condition = _boolean(parser, _json_comparison)
    if not parser.done():
        raise InvalidFilterPattern()

    def match(message: str) -> bool:
        try:
            document = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        return isinstance(document, dict) and condition(document)

    return match


def _json_comparison(parser: _Parser) -> Condition:
    token = parser.take()
    if token.kind != "word" or not token.text.startswith("$"):
        raise InvalidFilterPattern()
    path = _selector(token.text)
    if parser.take_words("IS", "NULL"):
        return lambda doc: _select(doc, path) is None
    if parser.take_words("IS", "TRUE"):
        return lambda doc: _select(doc, path) is True
    if parser.take_words("IS", "FALSE"):
        return lambda doc: _select(doc, path) is False
    if parser.take_words("NOT", "EXISTS"):
        return lambda doc: _select(doc, path) is _MISSING
    if parser.take_words("EXISTS"):
        return lambda doc: _select(doc, path) is not _MISSING
    op = parser.take_op(*_COMPARATORS)
    if op is None:
        raise InvalidFilterPattern()
    value = _value(parser.take())
    return lambda doc: value.compare(op, _select(doc, path))


def _selector(text: str) -> tuple[str | int, ...]:
    """``$.a.b[0].c`` as ("a", "b", 0, "c")."""
    steps: list[str | int] = []
    i = 1
    while i < len(text):
        if text[i] == ".":
            match = _NAME.match(text, i + 1)
            if match is None:
                raise InvalidFilterPattern()
            steps.append(match.group())
            i = match.end()
        elif text[i] == "[":
            end = text.find("]", i)
            if end < 0 or not text[i + 1 : end].isdigit():
                raise InvalidFilterPattern()
            steps.append(int(text[i + 1 : end]))
            i = end + 1
        else:
            raise InvalidFilterPattern()
    if not steps:
        raise InvalidFilterPattern()
    return tuple(steps)


def _select(document: Any, path: tuple[str | int, ...]) -> Any:
    current = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return _MISSING
        elif not isinstance(current, dict) or step not in current:
            return _MISSING
        current = current[step]
    return current


# ---- space-delimited patterns ------------------------------------------------------

_ELLIPSIS = "..."


def _delimited_pattern(body: str) -> Matcher:
    fields = _split_fields(body)
    names: list[str | None] = []  # None for an ellipsis
    conditions: list[Condition] = []
    for field in fields:
        if field.strip() == _ELLIPSIS:
            names.append(None)
            continue
        parser = _Parser(_tokens(field))
        first = parser.peek()
        if first is None or first.kind != "word":
            raise InvalidFilterPattern()
        names.append(first.text)
        if len(parser.tokens) > 1:
            conditions.append(_boolean(parser, _field_comparison))
            if not parser.done():
                raise InvalidFilterPattern()
        else:
            parser.take()

    def match(message: str) -> bool:
        bound = _bind(names, _split_message(message))
        return bound is not None and all(condition(bound) for condition in conditions)

    return match


def _split_fields(body: str) -> list[str]:
    """The pattern's fields, split on commas outside quotes."""
    fields: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char == '"':
            _, end = _quoted(body, i)
            current.append(body[i:end])
            i = end
            continue
        if char == ",":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    fields.append("".join(current))
    if any(not field.strip() for field in fields):
        raise InvalidFilterPattern()
    return fields


def _field_comparison(parser: _Parser) -> Condition:
    name = parser.take()
    if name.kind != "word":
        raise InvalidFilterPattern()
    op = parser.take_op(*_COMPARATORS)
    if op is None:
        raise InvalidFilterPattern()
    value = _value(parser.take())
    return lambda fields: value.compare(op, fields.get(name.text, _MISSING))


def _split_message(message: str) -> list[str]:
    """Space-separated values; ``"..."`` and ``[...]`` are one value each, without them."""
    values: list[str] = []
    for match in re.finditer(r'"([^"]*)"|\[([^\]]*)\]|(\S+)', message):
        quoted, bracketed, plain = match.groups()
        values.append(next(v for v in (quoted, bracketed, plain) if v is not None))
    return values


def _bind(names: Sequence[str | None], values: Sequence[str]) -> dict[str, str] | None:
    """Name the values by position (an ellipsis takes any number of them), or None
    when the line does not have the pattern's shape. The first binding that fits wins."""
    fixed = sum(1 for name in names if name is not None)
    if fixed > len(values) or (None not in names and fixed != len(values)):
        return None
    for bound in _bindings(names, 0, values, 0):
        return bound
    return None


def _bindings(names: Sequence[str | None], n: int, values: Sequence[str], v: int) -> Iterator[dict[str, str]]:
    if n == len(names):
        if v == len(values):
            yield {}
        return
    name = names[n]
    if name is None:
        for skip in range(len(values) - v + 1):
            yield from _bindings(names, n + 1, values, v + skip)
        return
    if v < len(values):
        for rest in _bindings(names, n + 1, values, v + 1):
            yield {name: values[v], **rest}


# ---- term patterns -----------------------------------------------------------------


def _term_pattern(text: str) -> Matcher:
    required: list[Matcher] = []
    optional: list[Matcher] = []
    excluded: list[Matcher] = []
    for prefix, term in _terms(text):
        {"": required, "?": optional, "-": excluded}[prefix].append(term)

    def match(message: str) -> bool:
        if any(term(message) for term in excluded):
            return False
        if not all(term(message) for term in required):
            return False
        return not optional or any(term(message) for term in optional)

    return match


def _terms(text: str) -> Iterator[tuple[str, Matcher]]:
    """(prefix, matcher) per term: a word, a quoted phrase or a %regex%, each
    optionally after ``?`` or ``-``."""
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        prefix = ""
        if text[i] in "?-" and i + 1 < len(text) and not text[i + 1].isspace():
            prefix, i = text[i], i + 1
        if text[i] == '"':
            phrase, i = _quoted(text, i)
            if phrase:
                yield prefix, _contains(phrase)
            continue
        end = i
        while end < len(text) and not text[end].isspace():
            end += 1
        word = text[i:end]
        i = end
        if len(word) > 1 and word.startswith("%") and word.endswith("%"):
            yield prefix, _searches(_regex(word[1:-1]))
        else:
            yield prefix, _contains(word)


def _contains(term: str) -> Matcher:
    return lambda message: term in message


def _searches(pattern: re.Pattern[str]) -> Matcher:
    return lambda message: pattern.search(message) is not None
