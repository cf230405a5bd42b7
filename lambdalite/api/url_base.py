"""Where the ``FunctionUrl`` the API returns points: chosen once, at start-up.

lambdalite serves every function URL on its own port, by Host
(``<url-id>.<domain>``) and by path (``/_lambdalite/url/<url-id>/``). The
``FunctionUrl`` it hands out must work from any HTTP client on the machine,
so ``--url-base`` (``Settings.url_base``) picks its form:

``auto`` (the default)
    ``http://<url-id>.lambda-url.<region>.localhost:<port>/`` if the system
    resolver answers for such a name (glibc with systemd-resolved or
    nss-myhostname does; plain ``files dns`` does not, and Python's
    ``requests`` and Node's ``fetch`` then fail where curl, which resolves
    ``*.localhost`` itself, succeeds); otherwise the path form.
``host``
    always the ``.lambda-url.<region>.localhost`` form.
``path``
    always ``http://<listen address>:<port>/_lambdalite/url/<url-id>/``, which
    needs no DNS (``0.0.0.0``/``::`` are given as ``127.0.0.1``).
``SCHEME://DOMAIN[:PORT]``
    a wildcard domain the operator controls (``*.DOMAIN`` pointing at this
    machine, or at a proxy in front of it): ``SCHEME://<url-id>.DOMAIN[:PORT]/``.
    Requests whose Host ends in ``.DOMAIN`` are served as function URLs.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

URL_PATH = "/_lambdalite/url/"
"""The path form of a function URL: ``/_lambdalite/url/<url-id>/<path>``."""
LOCAL_DOMAIN = "lambda-url.{region}.localhost"
"""The host form's domain when the operator names none."""
_PROBE_LABEL = "lambdalite-probe"
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})


class UrlBaseError(ValueError):
    """``--url-base`` is none of auto, host, path or SCHEME://DOMAIN[:PORT]."""


@dataclass(frozen=True, slots=True)
class UrlBase:
    """How a url-id becomes the FunctionUrl the API returns.

    ``domain`` set: the host form ``{scheme}://{url_id}.{domain}{port_suffix}/``.
    ``domain`` None: the path form ``{scheme}://{authority}/_lambdalite/url/{url_id}/``.
    """

    scheme: str
    authority: str
    """``host:port`` of the path form, or the ``:port`` suffix (may be empty) of the host form."""
    domain: str | None = None

    def url(self, url_id: str) -> str:
        if self.domain is None:
            return f"{self.scheme}://{self.authority}{URL_PATH}{url_id}/"
        return f"{self.scheme}://{url_id}.{self.domain}{self.authority}/"

    @property
    def host_mark(self) -> bytes | None:
        """What a request's Host contains when it is addressed to a function URL of
        this base's domain (None for the path form)."""
        return None if self.domain is None else f".{self.domain}".encode()


PROBE_TIMEOUT_S = 1.0
"""How long start-up waits for the resolver: a machine whose DNS server is unreachable
would otherwise hold it for the resolver's own timeouts (5 s a try)."""


def resolves(
    name: str,
    timeout_s: float = PROBE_TIMEOUT_S,
    lookup: Callable[[str], object] = lambda name: socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP),
) -> bool:
    """True if the system resolver (what ``requests``, ``urllib`` and Node use) answers
    for ``name`` within ``timeout_s``; a lookup still running then is left to finish
    on its own (a daemon thread) and counts as no answer."""
    answers: list[bool] = []

    def ask() -> None:
        try:
            answers.append(bool(lookup(name)))
        except (OSError, UnicodeError):
            answers.append(False)

    thread = threading.Thread(target=ask, name="url-base-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answers) and answers[0]


def choose(
    setting: str,
    host: str,
    port: int,
    region: str,
    resolver: Callable[[str], bool] = resolves,
    scheme: str = "http",
) -> UrlBase:
    """The UrlBase for ``--url-base setting`` on a server listening on ``host:port``
    (``scheme``: https when the port serves TLS; an explicit SCHEME://DOMAIN keeps its own).

    ``resolver`` is asked only for ``auto`` (once, for a probe name of the local
    domain). Raises UrlBaseError for a setting of no known form."""
    value = setting.strip()
    local = LOCAL_DOMAIN.format(region=region)
    if value in ("", "auto"):
        value = "host" if resolver(f"{_PROBE_LABEL}.{local}") else "path"
    if value == "host":
        return UrlBase(scheme, f":{port}", local)
    if value == "path":
        address = "127.0.0.1" if host in _ANY_ADDRESS else host
        if ":" in address and not address.startswith("["):
            address = f"[{address}]"
        return UrlBase(scheme, f"{address}:{port}")
    parts = urlsplit(value)
    try:
        explicit_port = parts.port
    except ValueError as exc:
        raise UrlBaseError(f"--url-base {setting!r}: the port is not a number") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise UrlBaseError(
            f"--url-base {setting!r}: use auto, host, path or SCHEME://DOMAIN[:PORT] "
            "(a wildcard domain whose names reach this server)"
        )
    if parts.query or parts.fragment or parts.username is not None:
        raise UrlBaseError(f"--url-base {setting!r}: a domain takes no path, query or credentials")
    suffix = "" if explicit_port is None else f":{explicit_port}"
    return UrlBase(parts.scheme, suffix, parts.hostname.rstrip("."))
