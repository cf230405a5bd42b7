"""A function's network access, chosen with the ``LAMBDALITE_NETWORK`` variable.

AWS has no field for it, and AWS itself turns platform behaviour on through
environment variables (AWS_LAMBDA_EXEC_WRAPPER, ...), so lambdalite does the
same: ``LAMBDALITE_NETWORK=none`` in a function's Environment.Variables runs
its environments in a network namespace of their own, with only a loopback
device and the Runtime API in it (``sandbox.spec``, "Without network"). Like
every setting there, it belongs to the function's configuration: a published
version keeps the value it was published with, and a change takes effect
with the next environment, as any configuration change does.

``host`` (or no variable) is the default: the host's network, as a function
outside a VPC has the internet on AWS. Only the namespace level can take the
network away; the process level refuses to run a ``none`` function rather
than run it with the network.
"""

from __future__ import annotations

from collections.abc import Mapping

NETWORK_VARIABLE = "LAMBDALITE_NETWORK"
HOST_NETWORK = "host"
NO_NETWORK = "none"
NETWORK_MODES = (HOST_NETWORK, NO_NETWORK)


def network_mode_problem(variables: Mapping[str, str]) -> str | None:
    """Why ``variables`` name no valid network mode, or None when they do."""
    mode = variables.get(NETWORK_VARIABLE)
    if mode is None or mode in NETWORK_MODES:
        return None
    return f"{NETWORK_VARIABLE} must be {' or '.join(NETWORK_MODES)}; got '{mode}'."


def has_network(variables: Mapping[str, str]) -> bool:
    """False only when the function asks for no network."""
    return variables.get(NETWORK_VARIABLE) != NO_NETWORK


def unavailable_message(level: str) -> str:
    """The init error of a ``none`` function on a level that cannot honour it."""
    return (
        f"{NETWORK_VARIABLE}={NO_NETWORK} needs the namespace isolation level, and this server "
        f"runs at the {level} level (see `lambdalite doctor`): the function was not started "
        "rather than given the host's network."
    )
