"""A function's network access: ``LAMBDALITE_NETWORK`` and ``LAMBDALITE_HOST_PORTS``.

AWS has no field for it, and AWS itself turns platform behaviour on through
environment variables (AWS_LAMBDA_EXEC_WRAPPER, ...), so lambdalite does the
same, in a function's Environment.Variables. Like every setting there, they
belong to the function's configuration: a published version keeps the values
it was published with, and a change takes effect with the next environment.

``LAMBDALITE_NETWORK``
    ``host`` (or no variable, the default): outbound network through the host,
    as a function outside a VPC has the internet on AWS. At the namespace level
    (as root) each environment has a network namespace of its own
    (``sandbox.netns``): the internet yes; the host's loopback services, its
    own addresses and private ranges no; lambdalite's endpoint at
    ``AWS_ENDPOINT_URL``; its Runtime API inside the namespace, where no other
    environment reaches it. ``none``: no network at all, only a loopback device
    with the Runtime API (``sandbox.spec``, "Without network"). Only the
    namespace level can take the network away; the process level refuses to
    run a ``none`` function rather than run it with the network.

``LAMBDALITE_HOST_PORTS``
    A small model of a security group's egress rules towards the host: a
    comma-separated list of TCP ports of the host's loopback services (say
    ``5432,6379``) that the function may reach, at the host address of
    ``AWS_ENDPOINT_URL`` (``LAMBDALITE_HOST_ADDRESS``), and no other. Needs
    the namespace level with a network of its own (at the process level the
    host's loopback is reachable anyway); meaningless with ``none``.
"""

from __future__ import annotations

from collections.abc import Mapping

NETWORK_VARIABLE = "LAMBDALITE_NETWORK"
HOST_PORTS_VARIABLE = "LAMBDALITE_HOST_PORTS"
HOST_NETWORK = "host"
NO_NETWORK = "none"
NETWORK_MODES = (HOST_NETWORK, NO_NETWORK)
MAX_HOST_PORTS = 16
"""As many as a security group's rules a function is likely to need, and few enough to check."""


def network_mode_problem(variables: Mapping[str, str]) -> str | None:
    """Why ``variables`` name no valid network mode or host ports, or None when they do."""
    mode = variables.get(NETWORK_VARIABLE)
    if mode is not None and mode not in NETWORK_MODES:
        return f"{NETWORK_VARIABLE} must be {' or '.join(NETWORK_MODES)}; got '{mode}'."
    ports = variables.get(HOST_PORTS_VARIABLE)
    if ports is None:
        return None
    if mode == NO_NETWORK:
        return (
            f"{HOST_PORTS_VARIABLE} cannot open host ports to a function with "
            f"{NETWORK_VARIABLE}={NO_NETWORK}."
        )
    items = ports.split(",")
    if len(items) > MAX_HOST_PORTS or not all(_is_port(item) for item in items):
        return (
            f"{HOST_PORTS_VARIABLE} must be a comma-separated list of at most {MAX_HOST_PORTS} "
            f"TCP ports (1-65535); got '{ports}'."
        )
    return None


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535


def has_network(variables: Mapping[str, str]) -> bool:
    """False only when the function asks for no network."""
    return variables.get(NETWORK_VARIABLE) != NO_NETWORK


def host_ports(variables: Mapping[str, str]) -> tuple[int, ...]:
    """The host ports opened to the function (validated variables), sorted, no duplicates."""
    ports = variables.get(HOST_PORTS_VARIABLE)
    return tuple(sorted({int(item) for item in ports.split(",")})) if ports else ()


def unavailable_message(level: str) -> str:
    """The init error of a ``none`` function on a level that cannot honour it."""
    return (
        f"{NETWORK_VARIABLE}={NO_NETWORK} needs the namespace isolation level, and this server "
        f"runs at the {level} level (see `lambdalite doctor`): the function was not started "
        "rather than given the host's network."
    )
