"""LAMBDALITE_NETWORK: which values name a mode, and which mode they name."""

from __future__ import annotations

import pytest

from lambdalite.control.network import has_network, host_ports, network_mode_problem


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


@pytest.mark.parametrize(
    ("ports", "opened"), [("5432", (5432,)), ("6379,5432,6379", (5432, 6379)), ("1,65535", (1, 65535))]
)
def test_host_ports_name_the_opened_ports(ports: str, opened: tuple[int, ...]) -> None:
    variables = {"LAMBDALITE_HOST_PORTS": ports}
    assert network_mode_problem(variables) is None
    assert host_ports(variables) == opened
    assert host_ports({}) == ()


@pytest.mark.parametrize(
    "ports", ["", "0", "65536", "80,", "http", " 80", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"]
)
def test_bad_host_ports_are_a_problem(ports: str) -> None:
    problem = network_mode_problem({"LAMBDALITE_HOST_PORTS": ports})
    assert problem == (
        "LAMBDALITE_HOST_PORTS must be a comma-separated list of at most 16 TCP ports (1-65535); "
        f"got '{ports}'."
    )


def test_host_ports_without_network_are_a_problem() -> None:
    problem = network_mode_problem({"LAMBDALITE_NETWORK": "none", "LAMBDALITE_HOST_PORTS": "5432"})
    assert (
        problem == "LAMBDALITE_HOST_PORTS cannot open host ports to a function with LAMBDALITE_NETWORK=none."
    )
