"""What a rule's target receives: JSON paths and input templates."""

from __future__ import annotations

import json

import pytest

from lambdalite.services.events.transform import MISSING, PathError, extract, fill_template, parse_path

EVENT = {"detail": {"id": "o-1", "n": 3, "tags": ["a", "b"], "odd key": 'say "hi"', "obj": {"k": 1}}}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$", EVENT),
        ("$.detail.id", "o-1"),
        ("$.detail.tags[1]", "b"),
        ("$.detail['odd key']", 'say "hi"'),
        ("$.detail.missing", MISSING),
        ("$.detail.tags[5]", MISSING),
    ],
)
def test_paths(path: str, value: object) -> None:
    assert extract(EVENT, parse_path(path)) == value


@pytest.mark.parametrize("path", ["detail.id", "$..id", "$.detail[x]", "$.a b"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(PathError):
        parse_path(path)


def test_templates_quote_outside_strings_and_inline_inside() -> None:
    values = {
        "id": "o-1",
        "n": 3,
        "quoted": 'say "hi"',
        "obj": {"k": 1},
        "none": MISSING,
    }
    template = (
        '{"id": <id>, "n": <n>, "text": "order <id> x<n>: <quoted>", '
        '"obj": <obj>, "gone": <none>, "g2": "<none>"}'
    )
    filled = fill_template(template, values)
    assert json.loads(filled) == {
        "id": "o-1",
        "n": 3,
        "text": 'order o-1 x3: say "hi"',
        "obj": {"k": 1},
        "gone": None,
        "g2": "",
    }
    # A plain-text template (a quoted string), and an unknown placeholder left as it is.
    assert fill_template('"<id> is <state>"', values) == '"o-1 is <state>"'
