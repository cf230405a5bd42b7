"""TLS for the public port: the operator's certificate and key as a server context.

Every surface on the port (Lambda, Logs, the sibling services, function URLs,
lambdalite's own routes) is then served over HTTPS, HTTP/1.1 only (ALPN), with
asyncio's ``ssl`` under the same HTTP layer. The Runtime API listeners functions
use are internal and stay plain.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsConfigError(Exception):
    """The certificate or key cannot be used (missing, unreadable, not matching)."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context for ``cert`` (PEM, the chain after the leaf) and ``key`` (PEM):
    TLS 1.2 or newer, ALPN ``http/1.1``. Raises TlsConfigError saying what is wrong."""
    for path, what in ((cert, "certificate"), (key, "key")):
        if not path.is_file():
            raise TlsConfigError(f"the TLS {what} {path} is not a readable file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"cannot use the TLS certificate {cert} with the key {key}: {exc}") from exc
    return context
