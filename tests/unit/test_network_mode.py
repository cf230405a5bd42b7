"""LAMBDALITE_NETWORK: which values name a mode, and which mode they name."""

from __future__ import annotations

import pytest

from lambdalite.control.network import has_network, network_mode_problem


@pytest.mark.parametrize(
    ("variables", "network"),
    [({}, True), ({"LAMBDALITE_NETWORK": "host"}, True), ({"LAMBDALITE_NETWORK": "none"}, False)],
)
def test_only_none_takes_the_network_away(variables: dict[str, str], network: bool) -> None:
    assert network_mode_problem(variables) is None
    assert has_network(variables) is network


@pytest.mark.parametrize("value", ["", "None", "off", "false", " none"])
def test_any_other_value_is_a_problem_named_in_aws_style(value: str) -> None:
    problem = network_mode_problem({"LAMBDALITE_NETWORK": value})
    assert problem == f"LAMBDALITE_NETWORK must be host or none; got '{value}'."
