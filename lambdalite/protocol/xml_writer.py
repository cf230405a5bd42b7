"""The XML that the query and rest-xml protocols write: a value of a botocore shape as
elements, appended to a list of string parts that the caller joins once.

Both protocols lay values out alike, following the model's serialization traits:

- a structure is one element per member that has a value, named by the member's
  ``locationName`` (its own name otherwise), in the model's order;
- a list is ``<Tag><member>..</member>...</Tag>`` (the element's ``locationName`` in
  place of ``member``), or, flattened, the elements repeated in place of ``<Tag>``
  (named by the element's ``locationName``, else ``Tag``);
- a map is ``<Tag><entry><key>..</key><value>..</value></entry>...</Tag>`` (``key`` and
  ``value`` renamed by their ``locationName``), or, flattened, ``<Tag><key/><value/></Tag>``
  repeated; botocore's XML parser reads maps that way for both protocols;
- a boolean is ``true``/``false``, a blob base64, a timestamp ISO 8601 in UTC.

They differ in one thing, which an ``XmlWriter`` is built with: how many digits of a
second a timestamp carries (the query services we serve have always sent microseconds;
S3 sends milliseconds, ``2024-05-06T07:08:09.000Z``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, Shape, StructureShape

from lambdalite.protocol.shapes import encode_blob

__all__ = ["XmlWriter", "as_datetime", "text"]

# XML 1.0 cannot carry \r as is (a parser turns it into \n): it goes as a reference,
# and so does '"' (attribute-safe, harmless in text).
_ENTITIES = {'"': "&quot;", "\r": "&#13;"}


def text(value: str) -> str:
    """``value`` escaped as XML character data."""
    return escape(value, _ENTITIES)


def as_datetime(value: Any) -> dt.datetime:
    """A timestamp value (an aware datetime, or epoch seconds) as a UTC datetime."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def _tag(shape: Shape, default: str) -> str:
    name: str = shape.serialization.get("name", default)
    return name


class XmlWriter:
    """Writes shape values as XML elements (see the module's docstring for the layout).

    ``fraction_digits`` (0 to 6) is how many digits of a second a timestamp carries:
    6 gives ``2024-05-06T07:08:09.000000Z``, 3 ``2024-05-06T07:08:09.000Z`` (truncated,
    never rounded up into the next second), 0 ``2024-05-06T07:08:09Z``.
    """

    __slots__ = ("_fraction_digits",)

    def __init__(self, fraction_digits: int) -> None:
        if not 0 <= fraction_digits <= 6:
            raise ValueError(f"fraction_digits must be 0..6, not {fraction_digits}")
        self._fraction_digits = fraction_digits

    def members(self, shape: StructureShape, value: Mapping[str, Any], parts: list[str]) -> None:
        """Append one element per member of ``shape`` that ``value`` holds (None is absent)."""
        for name, member in shape.members.items():
            item = value.get(name)
            if item is not None:
                self.element(member, _tag(member, name), item, parts)

    def element(self, shape: Shape, tag: str, value: Any, parts: list[str]) -> None:
        """Append ``value`` of ``shape`` as the element ``tag`` (for a flattened list or
        map, as the elements that stand in its place)."""
        if isinstance(shape, StructureShape):
            parts.append(f"<{tag}>")
            self.members(shape, value, parts)
            parts.append(f"</{tag}>")
        elif isinstance(shape, ListShape):
            self._list(shape, tag, value, parts)
        elif isinstance(shape, MapShape):
            self._map(shape, tag, value, parts)
        else:
            parts.append(f"<{tag}>{self.scalar(shape, value)}</{tag}>")

    def _list(self, shape: ListShape, tag: str, value: Any, parts: list[str]) -> None:
        if shape.serialization.get("flattened"):
            element_tag = _tag(shape.member, tag)
            for item in value:
                self.element(shape.member, element_tag, item, parts)
            return
        parts.append(f"<{tag}>")
        element_tag = _tag(shape.member, "member")
        for item in value:
            self.element(shape.member, element_tag, item, parts)
        parts.append(f"</{tag}>")

    def _map(self, shape: MapShape, tag: str, value: Mapping[str, Any], parts: list[str]) -> None:
        key_tag = _tag(shape.key, "key")
        value_tag = _tag(shape.value, "value")
        flattened = shape.serialization.get("flattened")
        # A flattened map repeats its own tag per entry; otherwise the entries sit in it.
        entry_tag = tag if flattened else "entry"
        if not flattened:
            parts.append(f"<{tag}>")
        for key, item in value.items():
            parts.append(f"<{entry_tag}><{key_tag}>{text(key)}</{key_tag}>")
            self.element(shape.value, value_tag, item, parts)
            parts.append(f"</{entry_tag}>")
        if not flattened:
            parts.append(f"</{tag}>")

    def scalar(self, shape: Shape, value: Any) -> str:
        """The text of a scalar ``value`` of ``shape`` (escaped)."""
        kind = shape.type_name
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "blob":
            return encode_blob(value)
        if kind == "timestamp":
            return self.timestamp(value)
        return text(str(value))

    def timestamp(self, value: Any) -> str:
        """``value`` (a datetime, or epoch seconds) as ISO 8601 in UTC with this writer's
        digits of a second."""
        when = as_datetime(value)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
        if self._fraction_digits:
            stamp += "." + f"{when.microsecond:06d}"[: self._fraction_digits]
        return stamp + "Z"
