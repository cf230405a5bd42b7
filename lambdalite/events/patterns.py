"""The one event-pattern matcher: EventBridge rules, SNS filter policies and queue
mapping filters, in the pattern language AWS documents.

A pattern is a JSON object whose leaves are arrays of match conditions, nested as
the event is nested::

    {"source": ["aws.ec2"],
     "detail": {"state": ["running", {"prefix": "stop"}],
                "size": [{"numeric": [">", 0, "<=", 100]}],
                "$or": [{"ip": [{"cidr": "10.0.0.0/8"}]}, {"tag": [{"exists": false}]}]}}

Conditions: an exact value (string, number, true, false, null); ``prefix`` and
``suffix`` (a string, or ``{"equals-ignore-case": s}``); ``equals-ignore-case``;
``wildcard`` (``*`` for any run, ``\\*`` a literal star); ``numeric`` (``=``,
or one lower bound ``>``/``>=`` and/or one upper bound ``<``/``<=``); ``exists``;
``cidr`` (IPv4/IPv6); ``anything-but`` (a value or list of values, or
``{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}``). ``$or`` takes a
list of at least two sub-patterns. A field whose event value is an array matches
when any element does; arrays of objects are flattened into their fields.

``compile_pattern(text_or_value, dialect)`` validates a pattern as the dialect's
service does and raises ``PatternError`` with AWS's reason; a ``Pattern`` tests
one document (``pattern.matches(document)``). ``PatternIndex`` holds many
patterns by key and finds every key whose pattern matches a document without
testing each pattern in turn: exact values, prefixes, suffixes and
case-insensitive values are looked up in hash tables per field; only the
operators that cannot be hashed (numeric ranges, wildcards, cidr, anything-but)
are tested one by one, and only for the fields the document has.

Dialects (the differences AWS documents):
- ``EVENTS``: EventBridge rules and TestEventPattern, and event source mapping filters.
- ``SNS_ATTRIBUTES``: a filter policy on message attributes: flat (no nested keys),
  no ``wildcard``; String attributes match strings, Number attributes numbers,
  String.Array attributes their elements; Binary attributes are never matched.
- ``SNS_BODY``: a filter policy on a JSON message body: nested like EVENTS, no
  ``wildcard``.
Event source mapping filters (``FilterCriteria``) use EVENTS patterns on the
record; ``RecordFilter`` applies AWS's rule for the payload (``body`` of an SQS
record, ``data`` of a stream's): a JSON object is matched field by field, anything
else only as the string it is.
Both SNS dialects limit a policy to 5 keys and 150 value combinations.
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
import math
import re
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

__all__ = [
    "Dialect",
    "Pattern",
    "PatternError",
    "PatternIndex",
    "RecordFilter",
    "compile_pattern",
    "flatten",
    "sns_attribute_document",
]

Path = tuple[str, ...]
K = TypeVar("K", bound=Hashable)

SNS_MAX_KEYS = 5
SNS_MAX_COMBINATIONS = 150


class Dialect(enum.Enum):
    EVENTS = "events"
    SNS_ATTRIBUTES = "sns-attributes"
    SNS_BODY = "sns-body"

    @property
    def sns(self) -> bool:
        return self is not Dialect.EVENTS


class PatternError(ValueError):
    """A pattern the service refuses; ``reason`` is AWS's wording of why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- values ------------------------------------------------------------------


def _key(value: Any) -> Hashable:
    """The hash key of an exact value: numbers by magnitude (5 == 5.0), and never
    confused with booleans (True == 1 in Python)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    return ("num", float(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def flatten(document: Any) -> dict[Path, list[Any]]:
    """Field path -> its leaf values (strings, numbers, booleans, null). Arrays
    contribute each element; objects inside arrays are flattened into their fields."""
    out: dict[Path, list[Any]] = {}

    def walk(value: Any, path: Path) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, (*path, name))
        elif isinstance(value, list):
            for item in value:
                walk(item, path)
        elif path:
            out.setdefault(path, []).append(value)

    walk(document, ())
    return out


def sns_attribute_document(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The document an attribute-scope filter policy is matched against: String
    attributes as strings, Number attributes as numbers, String.Array attributes as
    their parsed elements; Binary (and unparseable) attributes are left out."""
    document: dict[str, Any] = {}
    for name, attribute in attributes.items():
        data_type = str(attribute.get("DataType", ""))
        text = attribute.get("StringValue")
        if text is None:
            continue
        if data_type.startswith("Number"):
            try:
                document[name] = float(text)
            except ValueError:
                continue
        elif data_type.startswith("String.Array"):
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, list):
                document[name] = [item for item in parsed if not isinstance(item, dict | list)]
        elif data_type.startswith("String"):
            document[name] = text
    return document


# -- conditions --------------------------------------------------------------


class Kind(enum.Enum):
    EXACT = "exact"
    IGNORE_CASE = "equals-ignore-case"
    PREFIX = "prefix"
    PREFIX_IC = "prefix-ignore-case"
    SUFFIX = "suffix"
    SUFFIX_IC = "suffix-ignore-case"
    WILDCARD = "wildcard"
    NUMERIC = "numeric"
    EXISTS = "exists"
    CIDR = "cidr"
    NOT_VALUES = "anything-but"
    NOT_PREFIX = "anything-but-prefix"
    NOT_SUFFIX = "anything-but-suffix"
    NOT_IGNORE_CASE = "anything-but-ignore-case"
    NOT_WILDCARD = "anything-but-wildcard"


@dataclass(frozen=True, slots=True)
class Condition:
    """One match condition of a field. ``arg`` depends on ``kind``: the value's hash
    key (EXACT), a string (prefixes, suffixes, lower-cased for the -ignore-case
    kinds), a compiled regex (WILDCARD), ranges (NUMERIC: lower, lower inclusive,
    upper, upper inclusive), a bool (EXISTS), a network (CIDR), a frozenset of keys
    or lower-cased strings, or a tuple of regexes (NOT_WILDCARD)."""

    kind: Kind
    arg: Any

    def test(self, value: Any) -> bool:
        """Does one leaf value satisfy the condition (EXISTS is decided by the field)?"""
        kind = self.kind
        arg = self.arg
        if kind is Kind.EXACT:
            return bool(_key(value) == arg)
        if kind is Kind.EXISTS:
            return bool(arg)
        if kind is Kind.NUMERIC:
            if not _is_number(value):
                return False
            low, low_in, high, high_in = arg
            if low is not None and (value < low or (value == low and not low_in)):
                return False
            return not (high is not None and (value > high or (value == high and not high_in)))
        if kind is Kind.NOT_VALUES:
            return bool(_key(value) not in arg)
        if not isinstance(value, str):
            return False
        if kind is Kind.IGNORE_CASE:
            return bool(value.lower() == arg)
        if kind is Kind.PREFIX:
            return value.startswith(arg)
        if kind is Kind.PREFIX_IC:
            return value.lower().startswith(arg)
        if kind is Kind.SUFFIX:
            return value.endswith(arg)
        if kind is Kind.SUFFIX_IC:
            return value.lower().endswith(arg)
        if kind is Kind.WILDCARD:
            return arg.fullmatch(value) is not None
        if kind is Kind.CIDR:
            try:
                return ipaddress.ip_address(value) in arg
            except ValueError:
                return False
        if kind is Kind.NOT_PREFIX:
            return not value.startswith(arg)
        if kind is Kind.NOT_SUFFIX:
            return not value.endswith(arg)
        if kind is Kind.NOT_IGNORE_CASE:
            return value.lower() not in arg
        if kind is Kind.NOT_WILDCARD:
            return not any(regex.fullmatch(value) for regex in arg)
        return False


@dataclass(frozen=True, slots=True)
class Clause:
    """A field and its conditions: satisfied when any condition holds for any of the
    field's values (``exists: false`` holds when the field has no value)."""

    path: Path
    conditions: tuple[Condition, ...]

    def satisfied(self, values: Sequence[Any] | None) -> bool:
        for condition in self.conditions:
            if condition.kind is Kind.EXISTS:
                if bool(values) == condition.arg:
                    return True
            elif values and any(condition.test(value) for value in values):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled pattern: it matches when every clause of one of its alternatives
    holds (a pattern without ``$or`` has one alternative)."""

    alternatives: tuple[tuple[Clause, ...], ...]
    source: Any
    """The pattern as parsed JSON."""

    def matches(self, document: Any) -> bool:
        return self.matches_flat(flatten(document))

    def matches_flat(self, flat: Mapping[Path, Sequence[Any]]) -> bool:
        return any(
            all(clause.satisfied(flat.get(clause.path)) for clause in alternative)
            for alternative in self.alternatives
        )


# -- compiling ---------------------------------------------------------------


def compile_pattern(pattern: str | bytes | Mapping[str, Any], dialect: Dialect = Dialect.EVENTS) -> Pattern:
    """Parse (when given text) and validate ``pattern``; raise PatternError with the
    service's reason when it is not valid."""
    value: Any = pattern
    if isinstance(pattern, str | bytes):
        try:
            value = orjson.loads(pattern)
        except orjson.JSONDecodeError as exc:
            raise PatternError(_json_reason(dialect, exc)) from exc
    if not isinstance(value, dict):
        raise PatternError(
            "Filter is not an object" if not dialect.sns else "Filter policy must be an object"
        )
    compiler = _Compiler(dialect)
    alternatives = compiler.object(value, ())
    if dialect.sns:
        _check_sns_complexity(alternatives)
    return Pattern(tuple(tuple(alternative) for alternative in alternatives), value)


def _json_reason(dialect: Dialect, exc: orjson.JSONDecodeError) -> str:
    if dialect.sns:
        return "failed to parse JSON."
    return f"Filter is not valid JSON: {exc.msg}"


class _Compiler:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def object(self, value: Mapping[str, Any], path: Path) -> list[list[Clause]]:
        """The alternatives (each a list of clauses) of one pattern object."""
        if not value:
            raise PatternError("Empty objects are not allowed")
        groups: list[list[list[Clause]]] = []
        for name, item in value.items():
            if name == "$or":
                groups.append(self.or_branches(item, path))
            elif isinstance(item, dict):
                if self.dialect is Dialect.SNS_ATTRIBUTES:
                    raise PatternError(
                        "Filter policy scope MessageAttributes does not support nested filter policy"
                    )
                groups.append(self.object(item, (*path, name)))
            elif isinstance(item, list):
                groups.append([[Clause((*path, name), self.conditions(item))]])
            else:
                raise PatternError(f'"{name}" must be an object or an array')
        return [list(itertools.chain.from_iterable(combo)) for combo in itertools.product(*groups)]

    def or_branches(self, item: Any, path: Path) -> list[list[Clause]]:
        if not isinstance(item, list):
            raise PatternError("Or relationship field must be an array")
        if len(item) < 2:
            raise PatternError("Or relationship array must have at least two elements")
        branches: list[list[Clause]] = []
        for branch in item:
            if not isinstance(branch, dict):
                raise PatternError("Or relationship array must contain only objects")
            branches.extend(self.object(branch, path))
        return branches

    def conditions(self, items: list[Any]) -> tuple[Condition, ...]:
        if not items:
            raise PatternError("Empty arrays are not allowed")
        return tuple(self.condition(item) for item in items)

    def condition(self, item: Any) -> Condition:
        if isinstance(item, dict):
            return self.operator(item)
        if isinstance(item, list):
            raise PatternError("Match value must be String, number, true, false, or null")
        if _is_number(item) and not math.isfinite(item):
            raise PatternError("Match value must be String, number, true, false, or null")
        return Condition(Kind.EXACT, _key(item))

    def operator(self, item: Mapping[str, Any]) -> Condition:
        if len(item) != 1:
            raise PatternError("Only one key allowed in match expression")
        ((name, arg),) = item.items()
        if name == "prefix":
            return self.affix(arg, "prefix", Kind.PREFIX, Kind.PREFIX_IC)
        if name == "suffix":
            return self.affix(arg, "suffix", Kind.SUFFIX, Kind.SUFFIX_IC)
        if name == "equals-ignore-case":
            return Condition(Kind.IGNORE_CASE, _string(arg, "equals-ignore-case match pattern").lower())
        if name == "wildcard" and not self.dialect.sns:
            return Condition(Kind.WILDCARD, _wildcard(_string(arg, "wildcard match pattern")))
        if name == "exists":
            if not isinstance(arg, bool):
                raise PatternError("exists match pattern must be either true or false.")
            return Condition(Kind.EXISTS, arg)
        if name == "numeric":
            return Condition(Kind.NUMERIC, _numeric(arg))
        if name == "cidr":
            return Condition(Kind.CIDR, _cidr(arg))
        if name == "anything-but":
            return self.anything_but(arg)
        raise PatternError(f"Unrecognized match type {name}")

    @staticmethod
    def affix(arg: Any, name: str, plain: Kind, ignoring_case: Kind) -> Condition:
        if isinstance(arg, dict) and len(arg) == 1 and "equals-ignore-case" in arg:
            return Condition(
                ignoring_case, _string(arg["equals-ignore-case"], f"{name} match pattern").lower()
            )
        return Condition(plain, _string(arg, f"{name} match pattern"))

    def anything_but(self, arg: Any) -> Condition:
        if isinstance(arg, dict):
            if len(arg) != 1:
                raise PatternError("Only one key allowed in match expression")
            ((name, inner),) = arg.items()
            if name == "prefix":
                return Condition(Kind.NOT_PREFIX, _string(inner, "prefix match pattern"))
            if name == "suffix":
                return Condition(Kind.NOT_SUFFIX, _string(inner, "suffix match pattern"))
            if name == "equals-ignore-case":
                values = _strings(inner, "Inside anything-but/equals-ignore-case list")
                return Condition(Kind.NOT_IGNORE_CASE, frozenset(value.lower() for value in values))
            if name == "wildcard" and not self.dialect.sns:
                values = _strings(inner, "Inside anything-but/wildcard list")
                return Condition(Kind.NOT_WILDCARD, tuple(_wildcard(value) for value in values))
            raise PatternError(f"Unsupported anything-but pattern: {name}")
        values = arg if isinstance(arg, list) else [arg]
        if not values:
            raise PatternError("Empty arrays are not allowed")
        for value in values:
            if not (isinstance(value, str) or _is_number(value)):
                raise PatternError("Inside anything but list, start|null|boolean is not supported.")
        return Condition(Kind.NOT_VALUES, frozenset(_key(value) for value in values))


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise PatternError(f"{what} must be a string")
    return value


def _strings(value: Any, where: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise PatternError("Empty arrays are not allowed")
    for item in values:
        if not isinstance(item, str):
            raise PatternError(f"{where}, only strings are allowed.")
    return values


def _wildcard(text: str) -> re.Pattern[str]:
    """``*`` any run of characters, ``\\*`` a star, ``\\\\`` a backslash."""
    parts: list[str] = []
    position = 0
    previous_star = False
    while position < len(text):
        char = text[position]
        if char == "\\":
            following = text[position + 1 : position + 2]
            if following not in ("*", "\\"):
                raise PatternError(f"Invalid escape character at pos {position}")
            parts.append(re.escape(following))
            position += 2
            previous_star = False
            continue
        if char == "*":
            if previous_star:
                raise PatternError(f"Consecutive wildcard characters at pos {position}")
            parts.append(".*")
            previous_star = True
        else:
            parts.append(re.escape(char))
            previous_star = False
        position += 1
    return re.compile("".join(parts), re.DOTALL)


def _numeric(arg: Any) -> tuple[float | None, bool, float | None, bool]:
    if not isinstance(arg, list) or not arg:
        raise PatternError("Value of numeric must be an array.")
    if len(arg) % 2:
        raise PatternError("Value of numeric must be an array of operator and value pairs.")
    low: float | None = None
    high: float | None = None
    low_in = high_in = False
    equal = False
    for operator, bound in zip(arg[::2], arg[1::2], strict=True):
        if not isinstance(operator, str):
            raise PatternError("Value of numeric must be an array of operator and value pairs.")
        if not _is_number(bound) or not math.isfinite(bound):
            raise PatternError(f"Value of {operator} must be numeric")
        if operator == "=":
            if len(arg) != 2:
                raise PatternError("Numeric equality can not be combined with a range")
            low = high = float(bound)
            low_in = high_in = equal = True
        elif operator in (">", ">="):
            if low is not None:
                raise PatternError("Bottom range of numeric match pattern is defined more than once")
            low, low_in = float(bound), operator == ">="
        elif operator in ("<", "<="):
            if high is not None:
                raise PatternError("Top range of numeric match pattern is defined more than once")
            high, high_in = float(bound), operator == "<="
        else:
            raise PatternError(f"Unrecognized numeric range operator: {operator}")
    if not equal and low is not None and high is not None and low >= high:
        raise PatternError("Bottom must be less than top")
    return low, low_in, high, high_in


def _cidr(arg: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(arg, str):
        raise PatternError("prefix match pattern must be a string")
    if "/" not in arg:
        raise PatternError(f"Malformed CIDR, one '/' required: {arg}")
    try:
        return ipaddress.ip_network(arg, strict=False)
    except ValueError as exc:
        raise PatternError(f"Nonsensical CIDR IP address: {arg}") from exc


def _check_sns_complexity(alternatives: list[list[Clause]]) -> None:
    """AWS's limits on a filter policy: at most 5 keys (attribute names, or leaf
    fields of a body policy) in any alternative, and at most 150 combinations of
    values (the product of each field's value count, summed over alternatives)."""
    combinations = 0
    for alternative in alternatives:
        if len(alternative) > SNS_MAX_KEYS:
            raise PatternError(f"Filter policy can not have more than {SNS_MAX_KEYS} keys")
        product = 1
        for clause in alternative:
            product *= len(clause.conditions)
        combinations += product
    if combinations > SNS_MAX_COMBINATIONS:
        raise PatternError("Filter policy is too complex")


# -- the index ---------------------------------------------------------------


_HASHED = {Kind.EXACT: 0, Kind.IGNORE_CASE: 1, Kind.PREFIX: 2, Kind.SUFFIX: 2}
"""The kinds found by hash lookups, by how selective they tend to be (lower: more)."""


def _anchor_rank(clause: Clause) -> int | None:
    """How good ``clause`` is as an alternative's anchor; None when a condition of
    it cannot be looked up (then it cannot be one)."""
    ranks = [_HASHED.get(condition.kind) for condition in clause.conditions]
    if any(rank is None for rank in ranks):
        return None
    return max(rank for rank in ranks if rank is not None)


class _FieldIndex:
    """The anchor conditions on one field, in hash tables by kind."""

    __slots__ = ("exact", "ignore_case", "prefix_lengths", "prefixes", "suffix_lengths", "suffixes")

    def __init__(self) -> None:
        self.exact: dict[Hashable, list[int]] = {}
        self.ignore_case: dict[str, list[int]] = {}
        self.prefixes: dict[str, list[int]] = {}
        self.prefix_lengths: set[int] = set()
        self.suffixes: dict[str, list[int]] = {}
        self.suffix_lengths: set[int] = set()

    def add(self, condition: Condition, alternative: int) -> None:
        kind = condition.kind
        if kind is Kind.EXACT:
            self.exact.setdefault(condition.arg, []).append(alternative)
        elif kind is Kind.IGNORE_CASE:
            self.ignore_case.setdefault(condition.arg, []).append(alternative)
        elif kind is Kind.PREFIX:
            self.prefixes.setdefault(condition.arg, []).append(alternative)
            self.prefix_lengths.add(len(condition.arg))
        else:
            self.suffixes.setdefault(condition.arg, []).append(alternative)
            self.suffix_lengths.add(len(condition.arg))

    def collect(self, values: Sequence[Any], into: set[int]) -> None:
        for value in values:
            found = self.exact.get(_key(value))
            if found:
                into.update(found)
            if not isinstance(value, str):
                continue
            if self.ignore_case:
                found = self.ignore_case.get(value.lower())
                if found:
                    into.update(found)
            size = len(value)
            for length in self.prefix_lengths:
                if length <= size:
                    found = self.prefixes.get(value[:length])
                    if found:
                        into.update(found)
            for length in self.suffix_lengths:
                if length <= size:
                    found = self.suffixes.get(value[size - length :])
                    if found:
                        into.update(found)


class PatternIndex(Generic[K]):
    """Many patterns by key; ``matching(document)`` -> the keys whose pattern matches.

    Each alternative of each pattern is filed under one *anchor*: a clause whose
    conditions are all exact values, case-insensitive values, prefixes or
    suffixes (of those, the one whose values the fewest other clauses share). A
    document's fields look their values up in the anchors' hash tables; only the
    alternatives found that way (and the few with no possible anchor) have their
    other clauses tested. Adding or removing a
    pattern rebuilds the tables on the next match."""

    def __init__(self) -> None:
        self._patterns: dict[K, Pattern] = {}
        self._dirty = True
        self._fields: dict[Path, _FieldIndex] = {}
        self._unanchored: list[int] = []
        self._rest: list[tuple[Clause, ...]] = []
        self._alternative_key: list[K] = []

    def __len__(self) -> int:
        return len(self._patterns)

    def __contains__(self, key: object) -> bool:
        return key in self._patterns

    def put(self, key: K, pattern: Pattern) -> None:
        self._patterns[key] = pattern
        self._dirty = True

    def remove(self, key: K) -> None:
        if self._patterns.pop(key, None) is not None:
            self._dirty = True

    def keys(self) -> Iterator[K]:
        return iter(self._patterns)

    def _build(self) -> None:
        self._fields = {}
        self._unanchored = []
        self._rest = []
        self._alternative_key = []
        alternatives = [(key, alt) for key, pattern in self._patterns.items() for alt in pattern.alternatives]
        # How many clauses look each value up: the anchor is the clause whose values
        # are shared by the fewest others (a common ``source`` makes a poor anchor).
        shared: Counter[tuple[Path, Kind, Hashable]] = Counter()
        for _, alternative in alternatives:
            for clause in alternative:
                if _anchor_rank(clause) is not None:
                    shared.update((clause.path, c.kind, c.arg) for c in clause.conditions)
        for key, alternative in alternatives:
            number = len(self._rest)
            self._alternative_key.append(key)
            ranked = [
                (sum(shared[(clause.path, c.kind, c.arg)] for c in clause.conditions), rank, n)
                for n, clause in enumerate(alternative)
                if (rank := _anchor_rank(clause)) is not None
            ]
            if not ranked:
                self._unanchored.append(number)
                self._rest.append(alternative)
                continue
            anchor_at = min(ranked)[2]
            anchor = alternative[anchor_at]
            self._rest.append(alternative[:anchor_at] + alternative[anchor_at + 1 :])
            field = self._fields.setdefault(anchor.path, _FieldIndex())
            for condition in anchor.conditions:
                field.add(condition, number)
        self._dirty = False

    def matching(self, document: Any) -> set[K]:
        return self.matching_flat(flatten(document))

    def matching_flat(self, flat: Mapping[Path, Sequence[Any]]) -> set[K]:
        if self._dirty:
            self._build()
        candidates: set[int] = set(self._unanchored)
        fields = self._fields
        for path, values in flat.items():
            field = fields.get(path)
            if field is not None and values:
                field.collect(values, candidates)
        keys = self._alternative_key
        rest = self._rest
        found: set[K] = set()
        for alternative in candidates:
            key = keys[alternative]
            if key in found:
                continue
            if all(clause.satisfied(flat.get(clause.path)) for clause in rest[alternative]):
                found.add(key)
        return found


class RecordFilter:
    """An event source mapping's FilterCriteria: a record is kept when any of the
    patterns matches it (no patterns: every record is kept)."""

    def __init__(self, patterns: Sequence[str], payload_key: str = "body") -> None:
        """Compile ``patterns`` (each a JSON text); PatternError names the first bad one's reason."""
        self._patterns = [compile_pattern(text, Dialect.EVENTS) for text in patterns]
        self._payload_key = payload_key

    def keeps(self, record: Mapping[str, Any]) -> bool:
        if not self._patterns:
            return True
        document = dict(record)
        payload = record.get(self._payload_key)
        if isinstance(payload, str | bytes):
            try:
                parsed = orjson.loads(payload)
            except orjson.JSONDecodeError:
                parsed = None
            document[self._payload_key] = parsed if isinstance(parsed, dict) else payload
        flat = flatten(document)
        return any(pattern.matches_flat(flat) for pattern in self._patterns)
