"""``lambdalite keys create|list|delete``: access keys, managed through a running server's
``/_lambdalite/keys`` (signed like every other request, so it works under ``--auth sigv4``)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from lambdalite.cli import (
    KEY_HINT,
    SIGNATURE_REFUSALS,
    CliError,
    Endpoint,
    client_credentials,
    err,
    out,
    reporting,
    resolve_endpoint,
)

keys_app = typer.Typer(
    help="Manage the access keys lambdalite accepts under --auth sigv4.", no_args_is_help=True
)

KEYS_PATH = "/_lambdalite/keys"


def own_api_call(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One signed request to one of lambdalite's own surfaces (``/_lambdalite/...``); the
    decoded JSON answer (None when empty).
    An error answer becomes a CliError naming AWS's code and message."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    key_id, secret, region = client_credentials()
    if key_id is None:  # boto3's own chain (AWS_ACCESS_KEY_ID and friends)
        import botocore.session

        found = botocore.session.get_session().get_credentials()
        if found is None:
            raise CliError("no credentials to sign with")
        key_id, secret = found.access_key, found.secret_key
    data = orjson.dumps(body) if body is not None else b""
    request = AWSRequest(method=method, url=endpoint.rstrip("/") + path, data=data)
    if body is not None:
        request.headers["Content-Type"] = "application/json"
    SigV4Auth(Credentials(key_id, secret), "lambda", region).add_auth(request)
    prepared = request.prepare()
    outgoing = urllib.request.Request(
        prepared.url, data=data if body is not None else None, headers=dict(prepared.headers), method=method
    )
    try:
        with urllib.request.urlopen(outgoing, timeout=10) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = orjson.loads(raw).get("message", raw.decode(errors="replace"))
        except orjson.JSONDecodeError:
            message = raw.decode(errors="replace")
        code = exc.headers.get("x-amzn-ErrorType", str(exc.code))
        hint = f" ({KEY_HINT})" if code in SIGNATURE_REFUSALS else ""
        raise CliError(f"{code}: {message}{hint}") from None
    except OSError:
        raise CliError(f"cannot reach lambdalite at {endpoint} — is `lambdalite serve` running?") from None
    return orjson.loads(raw) if raw else None


@keys_app.command("create")
def create(
    user: Annotated[str, typer.Option("--user", help="The user the key belongs to.")] = "admin",
    endpoint: Endpoint = None,
) -> None:
    """Create an access key; its secret is shown this once."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        key = own_api_call(endpoint, "POST", KEYS_PATH, {"UserName": user})["AccessKey"]
        out.print(f"AccessKeyId:     {key['AccessKeyId']}", markup=False, highlight=False)
        out.print(f"SecretAccessKey: {key['SecretAccessKey']}", markup=False, highlight=False)
        out.print(f"UserName:        {key['UserName']}", markup=False, highlight=False)
        err.print("the secret is not shown again: keep it now", markup=False)


@keys_app.command("list")
def list_keys(endpoint: Endpoint = None) -> None:
    """List access keys (never their secrets)."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        keys = own_api_call(endpoint, "GET", KEYS_PATH)["AccessKeyMetadata"]
        table = Table()
        for column in ("access key id", "user", "created", "source"):
            table.add_column(column)
        for key in keys:
            source = "environment" if key.get("FromEnvironment") else "stored"
            table.add_row(key["AccessKeyId"], key["UserName"], key["CreateDate"], source)
        out.print(table)


@keys_app.command("delete")
def delete(
    access_key_id: Annotated[str, typer.Argument(help="The access key id.")],
    endpoint: Endpoint = None,
) -> None:
    """Delete an access key: requests signed with it are refused from now on."""
    endpoint = resolve_endpoint(endpoint)
    with reporting(endpoint):
        own_api_call(endpoint, "DELETE", f"{KEYS_PATH}/{access_key_id}")
        out.print(f"deleted {access_key_id}", markup=False, highlight=False)
