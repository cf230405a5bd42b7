"""``lambdalite signing``: signing profiles and signed code packages (AWS Signer's part,
done locally; the format is ``control.code_signing_package``'s).

    lambdalite signing create-profile NAME --key-out KEY.pem [--data-dir data]
    lambdalite signing sign PACKAGE.zip --key KEY.pem --profile-version-arn ARN [-o SIGNED.zip]

``create-profile`` writes the profile's public key into the data directory's
database (a running server sees it at the next deployment) and the private key
to ``--key-out`` (mode 0600); it prints the profile version ARN to allow in a
code signing config. ``sign`` needs no server.
"""

from __future__ import annotations

import os
import secrets
import string
import time
import zipfile
from pathlib import Path
from typing import Annotated

import typer

signing_app = typer.Typer(
    name="signing",
    help="Signing profiles and signed code packages, for code signing configurations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_VERSION_ALPHABET = string.ascii_letters + string.digits
_PROFILE_NAME = r"^[a-zA-Z0-9_]{2,64}$"


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg="red")
    raise typer.Exit(1)


@signing_app.command("create-profile")
def create_profile(
    name: Annotated[str, typer.Argument(help="Profile name (2-64 letters, digits or _).")],
    key_out: Annotated[Path, typer.Option("--key-out", help="Where to write the private key (PEM).")],
    data_dir: Annotated[
        Path | None, typer.Option(help="The server's data directory [default: ./data].")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region in the ARN [default: us-east-1].")] = None,
    account_id: Annotated[
        str | None, typer.Option(help="Account id in the ARN [default: 000000000000].")
    ] = None,
) -> None:
    """Create a signing profile version (an Ed25519 key pair) and register its public key."""
    import re

    from lambdalite.config import Settings
    from lambdalite.control import code_signing_package as package
    from lambdalite.store.code_signing import SqliteCodeSigningStore
    from lambdalite.store.sqlite import SqliteDatabase

    if not re.match(_PROFILE_NAME, name):
        _fail(f"invalid profile name {name!r}: use 2-64 letters, digits or _")
    if key_out.exists():
        _fail(f"{key_out} exists; choose another --key-out")
    settings = Settings.load({"data_dir": data_dir, "region": region, "account_id": account_id})
    version = "".join(secrets.choice(_VERSION_ALPHABET) for _ in range(10))
    arn = f"arn:aws:signer:{settings.region}:{settings.account_id}:/signing-profiles/{name}/{version}"
    key = package.new_key()
    key_out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(package.private_pem(key))
    db = SqliteDatabase(settings.data_dir / "lambdalite.db")
    try:
        SqliteCodeSigningStore(db).put_profile(arn, package.public_bytes(key))
    finally:
        db.close()
    typer.echo(arn)


@signing_app.command("sign")
def sign(
    package_path: Annotated[Path, typer.Argument(help="The .zip to sign.")],
    key: Annotated[Path, typer.Option("--key", help="The profile's private key (PEM).")],
    profile_version_arn: Annotated[
        str, typer.Option("--profile-version-arn", help="The ARN create-profile printed.")
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Signed .zip [default: replace PACKAGE].")
    ] = None,
    validity_days: Annotated[int, typer.Option(help="Days the signature is valid.")] = 135 * 30,
) -> None:
    """Add a signature entry to a code package."""
    from lambdalite.control import code_signing_package as package

    if not package.PROFILE_VERSION_ARN.match(profile_version_arn):
        _fail(f"not a signing profile version ARN: {profile_version_arn}")
    try:
        private_key = package.load_private_pem(key.read_bytes())
        signed = package.sign(
            package_path.read_bytes(), private_key, profile_version_arn, time.time(), validity_days * 86400
        )
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        _fail(str(exc))
        return
    (output or package_path).write_bytes(signed)
    typer.echo(str(output or package_path))
