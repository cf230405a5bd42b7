"""IAM Condition blocks, evaluated as AWS documents them (pure functions).

A block maps an operator to ``{key: value-or-values}``. Operators AND together, the
keys of one operator AND together, the values of one key OR together (NOR for a
negated operator). A key absent from the request context makes a condition false,
a negated one true; ``...IfExists`` is true when the key is absent; ``Null`` tests
absence itself. ``ForAnyValue:``/``ForAllValues:`` compare a multi-valued key's
values with the policy's (ForAllValues is true for an absent or empty key).

Context keys are compared case-insensitively (``aws:SourceArn`` == ``aws:sourcearn``):
a ``Context`` holds them lower-cased.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

__all__ = ["ConditionError", "Context", "check_block", "conditions_hold", "wildcard"]

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]
"""Lower-cased condition keys -> one string or several (multi-valued keys)."""


class ConditionError(ValueError):
    """A condition block that is not well formed (MalformedPolicyDocument when stored)."""


@lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character, the rest literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> dt.datetime | None:
    text = text.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():  # epoch seconds are accepted too
        return dt.datetime.fromtimestamp(int(text), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _arn_like(value: str, pattern: str) -> bool:
    """ARNs compare part by part (six colon-separated parts), each with wildcards."""
    have, want = value.split(":", 5), pattern.split(":", 5)
    if len(have) != 6 or len(want) != 6:
        return False
    return all(wildcard(p).match(v) for v, p in zip(have, want, strict=True))


def _ip(value: str, pattern: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _compare(cast: Callable[[str], object | None], test: Callable[[object, object], bool]) -> Matcher:
    def match(value: str, pattern: str) -> bool:
        left, right = cast(value), cast(pattern)
        return left is not None and right is not None and test(left, right)

    return match


Matcher = Callable[[str, str], bool]

_MATCHERS: dict[str, tuple[Matcher, bool]] = {
    # operator -> (does value match pattern, is the operator negated)
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (lambda v, p: wildcard(p).match(v) is not None, False),
    "StringNotLike": (lambda v, p: wildcard(p).match(v) is not None, True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "NumericEquals": (_compare(_number, lambda a, b: a == b), False),
    "NumericNotEquals": (_compare(_number, lambda a, b: a == b), True),
    "NumericLessThan": (_compare(_number, lambda a, b: a < b), False),  # type: ignore[operator]
    "NumericLessThanEquals": (_compare(_number, lambda a, b: a <= b), False),  # type: ignore[operator]
    "NumericGreaterThan": (_compare(_number, lambda a, b: a > b), False),  # type: ignore[operator]
    "NumericGreaterThanEquals": (_compare(_number, lambda a, b: a >= b), False),  # type: ignore[operator]
    "DateEquals": (_compare(_date, lambda a, b: a == b), False),
    "DateNotEquals": (_compare(_date, lambda a, b: a == b), True),
    "DateLessThan": (_compare(_date, lambda a, b: a < b), False),  # type: ignore[operator]
    "DateLessThanEquals": (_compare(_date, lambda a, b: a <= b), False),  # type: ignore[operator]
    "DateGreaterThan": (_compare(_date, lambda a, b: a > b), False),  # type: ignore[operator]
    "DateGreaterThanEquals": (_compare(_date, lambda a, b: a >= b), False),  # type: ignore[operator]
    "Bool": (lambda v, p: v.lower() == p.lower(), False),
    "BinaryEquals": (lambda v, p: v == p, False),
    "IpAddress": (_ip, False),
    "NotIpAddress": (_ip, True),
}
OPERATORS = frozenset(_MATCHERS) | {"Null"}


def _values(raw: object) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise ConditionError(f"condition value {item!r} is not a string, number or boolean")
    return out


def _split(operator: str) -> tuple[str, str, bool]:
    """(set qualifier or "", base operator, IfExists)."""
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise ConditionError(f"unknown condition qualifier {qualifier!r}")
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in OPERATORS:
        raise ConditionError(f"unknown condition operator {operator!r}")
    return qualifier, base, if_exists


def check_block(block: object) -> None:
    """Raise ConditionError unless ``block`` is a well-formed Condition element."""
    if not isinstance(block, dict):
        raise ConditionError("Condition must be an object")
    for operator, pairs in block.items():
        _split(operator)
        if not isinstance(pairs, dict):
            raise ConditionError(f"{operator} must map keys to values")
        for value in pairs.values():
            _values(value)


def _holds(operator: str, key: str, policy_values: list[str], context: Context) -> bool:
    qualifier, base, if_exists = _split(operator)
    present = context.get(key.lower())
    if base == "Null":
        absent = present is None or (not isinstance(present, str) and len(present) == 0)
        return any((v.lower() == "true") == absent for v in policy_values)
    if present is None:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (not qualifier and _MATCHERS[base][1])
    match, negated = _MATCHERS[base]
    values = [present] if isinstance(present, str) else list(present)

    def one(value: str) -> bool:
        hit = any(match(value, pattern) for pattern in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(value) for value in values)
    if qualifier == "ForAnyValue":
        return any(one(value) for value in values)
    if not values:
        return negated
    return all(one(value) for value in values) if negated else any(one(value) for value in values)


def conditions_hold(block: Mapping[str, Mapping[str, object]], context: Context) -> bool:
    """Does every condition of a (checked) block hold in ``context``?"""
    return all(
        _holds(operator, key, _values(raw), context)
        for operator, pairs in block.items()
        for key, raw in pairs.items()
    )
