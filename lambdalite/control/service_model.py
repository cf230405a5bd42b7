"""The Lambda service model botocore ships, read once: shapes and their constraints.

Validation takes member names, types, lengths, patterns and enums from here
instead of writing them again by hand, so a new botocore brings new runtimes
and members with it. Where the model is looser than what AWS enforces on a
standard function, ``SERVICE_LIMITS`` holds AWS's numbers and ``shape()``
reports those instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import botocore.loaders

SERVICE_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        # The model allows Timeout up to 5400 s and MemorySize/EphemeralStorage up to 32768 MB
        # because Lambda Managed Instances may use them. A standard function, which is what
        # lambdalite runs, is limited by AWS to 1-900 s, 128-10240 MB and 512-10240 MB of /tmp,
        # and AWS's ValidationException names these bounds ("less than or equal to 10240").
        "Timeout": (1, 900),
        "MemorySize": (128, 10240),
        "EphemeralStorageSize": (512, 10240),
    }
)
"""Shape name -> (min, max) that AWS enforces where the model says more."""

AWS_ENUM_ORDER: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # AWS lists these values in its own order in its validation messages (as recorded).
        "RecursiveLoop": ("Terminate", "Allow"),
    }
)
"""Shape name -> the enum in the order AWS's messages print it, where it differs from the model's."""


@dataclass(frozen=True, slots=True)
class Shape:
    """One shape of the model with the constraints validation needs.

    ``members`` maps a structure's member names to their shape names, in the
    model's order; ``locations`` holds the members that travel outside the JSON
    body (``uri``, ``querystring``, ``header``). ``member`` is a list's element
    shape; ``key``/``value`` a map's.
    """

    name: str
    type: str
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    sensitive: bool = False
    members: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    required: frozenset[str] = frozenset()
    locations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    member: str | None = None
    key: str | None = None
    value: str | None = None

    def body_members(self) -> Mapping[str, str]:
        """The structure's members that travel in the JSON body, in model order."""
        return {name: shape for name, shape in self.members.items() if name not in self.locations}


@functools.cache
def service_model() -> Mapping[str, Any]:
    """The raw model (``botocore/data/lambda/<version>/service-2.json``), loaded once."""
    model: Mapping[str, Any] = botocore.loaders.Loader().load_service_model("lambda", "service-2")
    return model


@functools.cache
def shape(name: str) -> Shape:
    """The named shape, with ``SERVICE_LIMITS`` applied. KeyError if the model has no such shape."""
    raw: Mapping[str, Any] = service_model()["shapes"][name]
    low, high = raw.get("min"), raw.get("max")
    if name in SERVICE_LIMITS:
        limit_low, limit_high = SERVICE_LIMITS[name]
        low = limit_low if low is None else max(low, limit_low)
        high = limit_high if high is None else min(high, limit_high)
    members: Mapping[str, Any] = raw.get("members", {})
    return Shape(
        name=name,
        type=raw["type"],
        min=low,
        max=high,
        pattern=raw.get("pattern"),
        enum=AWS_ENUM_ORDER.get(name, tuple(raw.get("enum", ()))),
        sensitive=bool(raw.get("sensitive", False)),
        members=MappingProxyType({member: spec["shape"] for member, spec in members.items()}),
        required=frozenset(raw.get("required", ())),
        locations=MappingProxyType(
            {member: spec["location"] for member, spec in members.items() if "location" in spec}
        ),
        member=raw["member"]["shape"] if "member" in raw else None,
        key=raw["key"]["shape"] if "key" in raw else None,
        value=raw["value"]["shape"] if "value" in raw else None,
    )


def input_shape(operation: str) -> Shape:
    """The request structure of an operation, for example ``CreateFunction``."""
    return shape(service_model()["operations"][operation]["input"]["shape"])


def member_shape(structure: str, member: str) -> Shape:
    """The shape of ``structure.member``."""
    return shape(shape(structure).members[member])


@functools.cache
def pattern(shape_name: str) -> re.Pattern[str] | None:
    """The shape's pattern compiled as AWS applies it: to the whole value, ASCII classes.

    None if the shape has no pattern, or one in Java syntax Python cannot read
    (``\\p{L}`` in tag keys): such a value is not checked here.
    """
    text = shape(shape_name).pattern
    if text is None:
        return None
    try:
        return re.compile(text, re.ASCII)
    except re.error:
        return None


def matches(shape_name: str, value: str) -> bool:
    """True if the shape has no pattern or ``value`` matches it entirely."""
    compiled = pattern(shape_name)
    return compiled is None or compiled.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ErrorMembers:
    """Where an exception's body carries its kind and its message, as its shape names them.

    botocore copies a modelled exception's body members to the top of
    ``error.response`` by these exact names, so ``ResourceNotFoundException``
    must send ``Message`` and ``InvalidParameterValueException`` ``message``.
    """

    type: str | None
    """The member for ``User``/``Service`` (``Type``), or None when the shape has none."""
    message: str
    """``Message`` or ``message``."""


_UNMODELLED = ErrorMembers(type=None, message="message")
"""An error code the model does not describe (``ValidationException``,
``RequestEntityTooLargeException``): AWS sends only the message, which botocore
reads from ``message`` or ``Message`` alike."""


@functools.cache
def error_members(code: str) -> ErrorMembers:
    """The body members of the exception shape named ``code``."""
    raw: Mapping[str, Any] | None = service_model()["shapes"].get(code)
    if raw is None or not raw.get("exception"):
        return _UNMODELLED
    members: Mapping[str, Any] = raw.get("members", {})
    return ErrorMembers(
        type="Type" if "Type" in members else None,
        message="Message" if "Message" in members else "message",
    )
