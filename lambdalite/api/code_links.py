"""Signed links to stored code packages: GetFunction's ``Code.Location`` and
GetLayerVersion's ``Content.Location``.

AWS answers with a presigned S3 URL that works for 10 minutes; ours is
``/_lambdalite/code/<sha256>.zip?X-Amz-Date=...&X-Amz-Expires=600&X-Amz-Signature=...``,
where the signature seals the package's hash, the signing time and the lifetime with
the data directory's secret key (AES-GCM, so it cannot be forged or altered without
the key, and a server sharing the key verifies it too). Under ``--auth sigv4``
(``required``) a download must carry a valid, unexpired signature; the refusals are
S3's, as a presigned URL's are: ``AccessDenied`` (no signature; ``Request has
expired``), ``SignatureDoesNotMatch``, ``AuthorizationQueryParametersError``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from urllib.parse import quote

from lambdalite.auth.secrets import SecretBox, SecretBoxError
from lambdalite.clock import Clock, SystemClock
from lambdalite.protocol.errors import ServiceFault

__all__ = ["CODE_PATH", "LIFETIME_S", "CodeLinks", "LinkRefused"]

CODE_PATH = "/_lambdalite/code/"
LIFETIME_S = 600
"""AWS's presigned code URLs last 10 minutes."""
_STAMP = "%Y%m%dT%H%M%SZ"
_CONTEXT = "lambdalite code link"
"""Binds a sealed link to this use of the key (the same key seals secrets at rest)."""
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)


class LinkRefused(ServiceFault):
    """A download refused as S3 refuses a presigned URL (403, S3's code and words);
    ``details`` are the further elements of its ``<Error>``."""

    def __init__(
        self, code: str, message: str, status: int = 403, details: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(code, message, status)
        self.details: Mapping[str, str] = details or {}


class CodeLinks:
    """Makes and checks the links (see the module docstring)."""

    def __init__(self, box: SecretBox | None, *, required: bool = False, clock: Clock | None = None) -> None:
        """``box``: the key that signs (None: links are plain paths, and nothing can be
        required); ``required``: downloads must be signed (``--auth sigv4``)."""
        if required and box is None:
            raise ValueError("signed code links need a key")
        self._box = box
        self.required = required
        self._clock = clock or SystemClock()

    def url(self, base: str, sha256_hex: str) -> str:
        """The link to package ``sha256_hex`` under ``base`` (``http://host:port``),
        valid for LIFETIME_S from now."""
        path = f"{base}{CODE_PATH}{sha256_hex}.zip"
        if self._box is None:
            return path
        stamp = dt.datetime.fromtimestamp(self._clock.now(), dt.UTC).strftime(_STAMP)
        sealed = self._box.seal(_signed(sha256_hex, stamp, str(LIFETIME_S)), _CONTEXT)
        signature = base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
        return f"{path}?X-Amz-Date={stamp}&X-Amz-Expires={LIFETIME_S}&X-Amz-Signature={quote(signature)}"

    def check(self, sha256_hex: str, query: Mapping[str, str]) -> None:
        """Return when a download of ``sha256_hex`` with these query parameters may go
        ahead; raise LinkRefused otherwise. Nothing is checked unless ``required``."""
        if not self.required:
            return
        stamp, expires, signature = (
            query.get(name) for name in ("X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
        )
        if stamp is None or expires is None or signature is None:
            raise LinkRefused("AccessDenied", "Access Denied")
        try:
            signed_at = dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            raise LinkRefused(
                "AuthorizationQueryParametersError",
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
                400,
            ) from None
        if not expires.isdigit():
            raise LinkRefused("AuthorizationQueryParametersError", "X-Amz-Expires should be a number", 400)
        assert self._box is not None  # required implies a key (checked at construction)
        try:
            sealed = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            opened = self._box.unseal(sealed, _CONTEXT)
        except (binascii.Error, ValueError, SecretBoxError):
            raise LinkRefused("SignatureDoesNotMatch", _MISMATCH) from None
        if opened != _signed(sha256_hex, stamp, expires):
            raise LinkRefused("SignatureDoesNotMatch", _MISMATCH)
        now = self._clock.now()
        ends = signed_at + int(expires)
        if now > ends:
            raise LinkRefused(
                "AccessDenied",
                "Request has expired",
                details={"X-Amz-Expires": expires, "Expires": _iso(ends), "ServerTime": _iso(now)},
            )


def _signed(sha256_hex: str, stamp: str, expires: str) -> bytes:
    return f"GET\n{CODE_PATH}{sha256_hex}.zip\n{stamp}\n{expires}".encode()


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
