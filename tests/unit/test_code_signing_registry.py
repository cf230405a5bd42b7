"""The code signing registry on SQLite: what survives a restart, what goes with
a function, and the deployment check's three outcomes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from lambdalite.control import code_signing_package as package
from lambdalite.control.code_signing import CodeVerificationFailed, InvalidCodeSignature
from lambdalite.store.code_signing import SqliteCodeSigningStore
from lambdalite.store.sqlite import SqliteDatabase
from tests.conftest import zip_files
from tests.unit.control_plane import CODE, SETTINGS, open_registries

PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/team/AbCdEf1234"
PACKAGE = zip_files({"app.py": "def handler(e, c):\n    return 1\n"})


def config_body(policy: str) -> dict[str, object]:
    return {
        "AllowedPublishers": {"SigningProfileVersionArns": [PROFILE]},
        "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": policy},
    }


def test_configs_and_associations_survive_a_restart_and_go_with_their_function(tmp_path: Path) -> None:
    db = tmp_path / "lambdalite.db"
    registries, stores = open_registries(db, limit=10)
    signing = registries.code_signing
    first = signing.create(config_body("Warn"))
    second = signing.create(config_body("Enforce"))
    registries.functions.create("fn", SETTINGS, CODE)
    registries.functions.create("gone", SETTINGS, CODE)
    signing.put_function_config("fn", first.arn)
    signing.put_function_config("gone", second.arn)
    registries.functions.delete("gone")
    stores.close()

    registries, stores = open_registries(db, limit=10)
    signing = registries.code_signing
    assert [config.arn for config in signing.list_configs(None, 50)[0]] == [first.arn, second.arn]
    assert signing.function_config("fn") == first
    assert signing.functions_using(second.arn, None, 50) == ([], None)
    stores.close()


def test_the_deployment_check_enforces_warns_and_always_refuses_a_broken_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registries, stores = open_registries(tmp_path / "lambdalite.db", limit=10)
    key = package.new_key()
    db = SqliteDatabase(tmp_path / "lambdalite.db")
    SqliteCodeSigningStore(db).put_profile(PROFILE, package.public_bytes(key))
    signing = registries.code_signing
    enforce, warn = signing.create(config_body("Enforce")), signing.create(config_body("Warn"))
    signed = package.sign(PACKAGE, key, PROFILE, time.time())

    signing.check_package("fn", signed, enforce)
    signing.check_package("fn", PACKAGE, None)
    with pytest.raises(CodeVerificationFailed):
        signing.check_package("fn", PACKAGE, enforce)
    with caplog.at_level(logging.WARNING, "lambdalite.codesigning"):
        signing.check_package("fn", PACKAGE, warn)
    assert "the package is not signed" in caplog.text
    forged = package.sign(PACKAGE, package.new_key(), PROFILE, time.time())
    with pytest.raises(InvalidCodeSignature):
        signing.check_package("fn", forged, warn)
    db.close()
    stores.close()
