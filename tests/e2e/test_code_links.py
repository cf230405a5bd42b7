"""GetFunction's Code.Location and GetLayerVersion's Content.Location under ``--auth
sigv4``: signed links that download the package as they are, while a link without its
signature, or with it altered, is refused with S3's presigned-URL errors."""

from __future__ import annotations

import io
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.conftest import Server, create_function, start_server, stop_server, zip_files
from tests.e2e.test_iam import TRUST_LAMBDA, admin

HANDLER = {"app.py": "def handler(event, context):\n    return 'code'\n"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("links") / "data", "--auth", "sigv4")
    admin(server, "iam").create_role(RoleName="lambda-role", AssumeRolePolicyDocument=TRUST_LAMBDA)
    yield server
    stop_server(server)


def download(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return parts._replace(query=urlencode(query)).geturl()


MISMATCH = (
    b"<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match "
    b"the signature you provided. Check your key and signing method.</Message>"
)
"""S3's answer to a presigned URL whose signature does not match, as AWS words it."""


def test_code_location_is_a_signed_link(server: Server) -> None:
    lam = admin(server, "lambda")
    create_function(lam, "linked", HANDLER)
    location = lam.get_function(FunctionName="linked")["Code"]["Location"]
    query = dict(parse_qsl(urlsplit(location).query))
    assert query["X-Amz-Expires"] == "600" and query["X-Amz-Signature"]
    status, body = download(location)
    assert status == 200
    assert zipfile.ZipFile(io.BytesIO(body)).read("app.py").decode() == HANDLER["app.py"]
    # The bare path, as served before links were signed, is refused.
    status, body = download(location.split("?", 1)[0])
    assert status == 403
    assert b"<Code>AccessDenied</Code><Message>Access Denied</Message>" in body
    # Another package's hash under this link's signature does not match it.
    sha = urlsplit(location).path.rsplit("/", 1)[1]
    other = location.replace(sha, "0" * 64 + ".zip")
    status, body = download(other)
    assert status == 403 and MISMATCH in body
    # Nor does a longer life than the one signed.
    status, body = download(with_query(location, X_Amz_Expires="604800"))
    assert status == 403 and MISMATCH in body


def test_a_layers_content_location_is_signed_too(server: Server) -> None:
    lam = admin(server, "lambda")
    content = zip_files({"python/shared.py": "X = 1\n"})
    layer = lam.publish_layer_version(LayerName="linked-layer", Content={"ZipFile": content})
    status, body = download(layer["Content"]["Location"])
    assert (status, body) == (200, content)
    fetched: Any = lam.get_layer_version(LayerName="linked-layer", VersionNumber=layer["Version"])
    assert download(fetched["Content"]["Location"]) == (200, content)
    assert download(with_query(fetched["Content"]["Location"], X_Amz_Signature=None))[0] == 403
