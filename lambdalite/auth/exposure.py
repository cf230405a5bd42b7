"""The rule that keeps an unauthenticated server off the network: ``--auth none`` only
while every address the server listens on is loopback."""

from __future__ import annotations

import ipaddress
import socket

AUTH_MODES = ("sigv4", "none")


def is_loopback(host: str) -> bool:
    """Does ``host`` (an address or a name) stand only for loopback addresses?
    A name that does not resolve counts as exposed."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


def check_exposure(auth: str, host: str) -> None:
    """Raise SystemExit with a clear message for an unknown ``auth``, or for ``none`` on an
    address other machines can reach."""
    if auth not in AUTH_MODES:
        raise SystemExit(f"unknown --auth {auth!r}: use sigv4 or none")
    if auth == "none" and not is_loopback(host):
        raise SystemExit(
            f"refusing to listen on {host} with --auth none: it is not a loopback address, so anyone "
            "who can reach it could deploy and run code. Start with --auth sigv4 (or LAMBDALITE_AUTH=sigv4) "
            "to require signed requests, or listen on 127.0.0.1."
        )
