"""The XML writer the query and rest-xml protocols share: its one parameter (digits of
a second in timestamps) and the model traits it follows for maps and lists, each read
back by botocore's own XML parsers of both protocols."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.model import ServiceModel, StructureShape
from botocore.parsers import QueryParser, RestXMLParser

from lambdalite.protocol.xml_writer import XmlWriter, as_datetime, text

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, 999_999, tzinfo=dt.UTC)


def model(protocol: str) -> ServiceModel:
    """One operation whose output holds a map in each layout, lists and a timestamp."""
    output: dict[str, Any] = {
        "type": "structure",
        "members": {
            "Plain": {"shape": "PlainMap"},
            "Renamed": {"shape": "RenamedMap"},
            "Flat": {"shape": "FlatMap", "locationName": "Attribute"},
            "Items": {"shape": "Items"},
            "FlatItems": {"shape": "FlatItems", "locationName": "Thing"},
            "When": {"shape": "Stamp"},
        },
    }
    if protocol == "query":
        output["resultWrapper"] = "GetResult"
    return ServiceModel(
        {
            "metadata": {"protocol": protocol, "apiVersion": "2020-01-01", "endpointPrefix": "x"},
            "operations": {
                "Get": {
                    "name": "Get",
                    "http": {"method": "GET", "requestUri": "/"},
                    "output": {"shape": "Out"},
                }
            },
            "shapes": {
                "Out": output,
                "PlainMap": {"type": "map", "key": {"shape": "S"}, "value": {"shape": "S"}},
                "RenamedMap": {
                    "type": "map",
                    "key": {"shape": "S", "locationName": "Name"},
                    "value": {"shape": "S", "locationName": "Value"},
                },
                "FlatMap": {
                    "type": "map",
                    "flattened": True,
                    "key": {"shape": "S", "locationName": "Name"},
                    "value": {"shape": "S", "locationName": "Value"},
                },
                "Items": {"type": "list", "member": {"shape": "S", "locationName": "Item"}},
                "FlatItems": {"type": "list", "flattened": True, "member": {"shape": "S"}},
                "Stamp": {"type": "timestamp"},
                "S": {"type": "string"},
            },
        }
    )


VALUES = {
    "Plain": {"a": "1", "b<": "2&"},
    "Renamed": {"c": "3"},
    "Flat": {"d": "4", "e": "5"},
    "Items": ["x", "y"],
    "FlatItems": ["p", "q"],
    "When": WHEN,
}


def write(output: StructureShape, writer: XmlWriter) -> str:
    parts: list[str] = []
    writer.members(output, VALUES, parts)
    return "".join(parts)


def test_maps_follow_the_model_entry_key_and_value_names() -> None:
    output = model("query").operation_model("Get").output_shape
    assert isinstance(output, StructureShape)
    xml = write(output, XmlWriter(fraction_digits=3))
    assert "<Plain><entry><key>a</key><value>1</value></entry>" in xml
    assert "<entry><key>b&lt;</key><value>2&amp;</value></entry></Plain>" in xml
    assert "<Renamed><entry><Name>c</Name><Value>3</Value></entry></Renamed>" in xml
    # Flattened: the map's own tag per entry, no wrapper and no <entry>.
    assert "<Attribute><Name>d</Name><Value>4</Value></Attribute><Attribute><Name>e</Name>" in xml
    assert "<Items><Item>x</Item><Item>y</Item></Items>" in xml
    assert "<Thing>p</Thing><Thing>q</Thing>" in xml


@pytest.mark.parametrize("protocol", ["query", "rest-xml"])
def test_both_protocols_parsers_read_the_layout_back(protocol: str) -> None:
    service = model(protocol)
    output = service.operation_model("Get").output_shape
    assert isinstance(output, StructureShape)
    inner = write(output, XmlWriter(fraction_digits=6))
    if protocol == "query":
        body = f"<GetResponse><GetResult>{inner}</GetResult></GetResponse>"
        parsed = QueryParser().parse({"status_code": 200, "headers": {}, "body": body.encode()}, output)
    else:
        body = f"<Out>{inner}</Out>"
        parsed = RestXMLParser().parse({"status_code": 200, "headers": {}, "body": body.encode()}, output)
    parsed.pop("ResponseMetadata", None)
    assert parsed == VALUES


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        (6, "2024-05-06T07:08:09.999999Z"),
        # Truncated, never rounded into the next second.
        (3, "2024-05-06T07:08:09.999Z"),
        (0, "2024-05-06T07:08:09Z"),
    ],
)
def test_timestamps_carry_the_writers_digits_of_a_second(digits: int, expected: str) -> None:
    writer = XmlWriter(fraction_digits=digits)
    assert writer.timestamp(WHEN) == expected
    # Epoch seconds and a datetime in another zone name the same instant.
    assert writer.timestamp(1714979289) == expected[:19] + ("." + "0" * digits if digits else "") + "Z"
    eastern = WHEN.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert writer.timestamp(eastern) == expected


def test_fraction_digits_outside_a_microsecond_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction_digits"):
        XmlWriter(fraction_digits=7)
    with pytest.raises(ValueError, match="fraction_digits"):
        XmlWriter(fraction_digits=-1)


def test_scalars_and_escaping() -> None:
    writer = XmlWriter(fraction_digits=3)
    output = model("rest-xml").operation_model("Get").output_shape
    assert isinstance(output, StructureShape)
    string = output.members["Items"].member  # type: ignore[attr-defined]
    assert writer.scalar(string, 'a"b\rc<') == "a&quot;b&#13;c&lt;"
    assert text("x & y") == "x &amp; y"
    assert as_datetime(0) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
