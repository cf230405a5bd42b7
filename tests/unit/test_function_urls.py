"""Function URL rules (url ids, qualifiers, CORS) and URL configs in the registry over SQLite."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pytest

from lambdalite.control import function_urls
from lambdalite.control.aliases import AliasInput
from lambdalite.control.function_urls import UrlInput
from lambdalite.control.validation import FunctionSettings
from lambdalite.errors import InvalidParameterValue, ResourceNotFound, Validation
from lambdalite.models import LATEST
from lambdalite.store.code import StoredCode
from tests.unit.control_plane import open_registries

SETTINGS = FunctionSettings(
    runtime="python3.11", role="arn:aws:iam::000000000000:role/r", handler="app.handler"
)
CODE = StoredCode(sha256_hex="aa" * 32, size=10, unzipped_size=20)
NONE_AUTH = UrlInput(auth_type="NONE", invoke_mode=None, cors=None)


def test_url_ids_are_32_lowercase_alphanumerics_and_differ() -> None:
    ids = {function_urls.new_url_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[a-z0-9]{32}", url_id) for url_id in ids)


def test_qualifiers_are_the_function_or_an_alias() -> None:
    assert function_urls.check_qualifier(None) == LATEST
    assert function_urls.check_qualifier("live") == "live"
    for refused in ("$LATEST", "7"):
        with pytest.raises(Validation):
            function_urls.check_qualifier(refused)


def test_response_stream_is_refused_and_buffered_taken() -> None:
    with pytest.raises(InvalidParameterValue):
        function_urls.parse_url_config(
            {"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}, "CreateFunctionUrlConfig"
        )
    parsed = function_urls.parse_url_config(
        {"AuthType": "AWS_IAM", "InvokeMode": "BUFFERED"}, "CreateFunctionUrlConfig"
    )
    assert (parsed.auth_type, parsed.invoke_mode, parsed.cors) == ("AWS_IAM", "BUFFERED", None)


def test_cors_allows_listed_origins_and_echoes_them_with_credentials() -> None:
    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["*"], "AllowCredentials": True}
    assert function_urls.preflight_headers(cors, "https://b.example") == []
    assert function_urls.preflight_headers(cors, "https://A.example") == [
        ("access-control-allow-origin", "https://A.example"),
        ("access-control-allow-methods", "*"),
        ("access-control-allow-credentials", "true"),
        ("vary", "Origin"),
    ]
    assert function_urls.response_headers({"AllowOrigins": ["*"]}, "https://x") == [
        ("access-control-allow-origin", "*")
    ]


def test_url_configs_persist_and_go_with_their_alias_and_function(tmp_path: Path) -> None:
    db = tmp_path / "lambdalite.db"
    registry, _ = open_registries(db)
    registry.functions.create("fn", SETTINGS, CODE, publish=True)
    registry.functions.create_alias("fn", AliasInput(name="live", function_version="1"))
    cors = MappingProxyType({"AllowOrigins": ["*"], "MaxAge": 5})
    plain = registry.urls.create_url_config("fn", LATEST, UrlInput("AWS_IAM", None, cors))
    aliased = registry.urls.create_url_config("fn", "live", NONE_AUTH)
    with pytest.raises(ResourceNotFound):
        registry.urls.create_url_config("fn", "nope", NONE_AUTH)

    reopened, _ = open_registries(db)
    assert reopened.urls.url_config("fn", LATEST) == plain
    assert reopened.urls.url_by_id(aliased.url_id) == aliased
    assert dict(reopened.urls.url_config("fn", LATEST).cors) == {"AllowOrigins": ["*"], "MaxAge": 5}

    reopened.functions.delete_alias("fn", "live")
    assert reopened.urls.url_by_id(aliased.url_id) is None
    reopened.functions.delete("fn")
    assert reopened.urls.url_by_id(plain.url_id) is None
    again, _ = open_registries(db)
    assert again.urls.url_by_id(plain.url_id) is None
    assert again.urls.url_by_id(aliased.url_id) is None
