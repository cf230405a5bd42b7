"""IAM's store, the directory authorization reads (cached, dropped on writes), temporary
credentials (sealed at rest, reloaded, expiring, forgotten), the authorizer's answers
and messages, and execution roles' credentials for environments."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from lambdalite.auth.authorize import AccessDenied, Authorizer, denied_message, principal_arn_key
from lambdalite.auth.credentials import Credential, Principal
from lambdalite.auth.policy import Decision
from lambdalite.auth.secrets import SecretBox
from lambdalite.models import FunctionConfig
from lambdalite.services.iam.directory import IamDirectory, owner_of, role_name_of
from lambdalite.services.sts.execution_roles import CREDENTIALS_S, MAX_ENVIRONMENT_S, ExecutionRoles
from lambdalite.services.sts.sessions import FORGET_AFTER_S, Credentials, Sessions
from lambdalite.store.iam import SqliteIamStore
from lambdalite.store.sqlite import SqliteDatabase

ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> SqliteIamStore:
    return SqliteIamStore(SqliteDatabase(tmp_path / "db"))


def statement(action: str, effect: str = "Allow") -> str:
    return orjson.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action, "Resource": "*"}]}
    ).decode()


def test_the_store_keeps_entities_inline_policies_attachments_and_cascades(store: SqliteIamStore) -> None:
    store.put_entity("role", "r", {"RoleName": "r", "Arn": "arn"})
    store.put_inline("role", "r", "b", "{}")
    store.put_inline("role", "r", "a", "{}")
    store.attach("role", "r", "arn:p")
    store.attach("role", "r", "arn:p")  # twice is once
    assert store.get_entity("role", "r") == {"RoleName": "r", "Arn": "arn"}
    assert [name for name, _ in store.inline("role", "r")] == ["a", "b"]
    assert store.attached("role", "r") == ["arn:p"] and store.attachment_count("arn:p") == 1
    assert store.delete_entity("role", "r")
    assert store.inline("role", "r") == [] and store.attached("role", "r") == []
    assert not store.delete_entity("role", "r") and store.get_entity("role", "r") is None


def test_owners_of_principal_arns() -> None:
    assert owner_of(ALICE) == ("user", "alice")
    assert owner_of(f"arn:aws:iam::{ACCOUNT}:user/team/bob") == ("user", "bob")
    assert owner_of(f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/s1") == ("role", "worker")
    assert owner_of(f"arn:aws:iam::{ACCOUNT}:root") is None
    assert role_name_of(f"arn:aws:iam::{ACCOUNT}:role/path/worker") == "worker"
    assert role_name_of(ALICE) is None


def test_the_directory_caches_policies_until_something_changes(store: SqliteIamStore) -> None:
    directory = IamDirectory(store, ACCOUNT)
    store.put_inline("user", "alice", "p", statement("lambda:*"))
    store.attach("user", "alice", "arn:aws:iam::aws:policy/AmazonSQSFullAccess")
    assert len(directory.identity_policies(ALICE)) == 2
    store.delete_inline("user", "alice", "p")
    assert len(directory.identity_policies(ALICE)) == 2  # cached
    directory.changed()
    assert len(directory.identity_policies(ALICE)) == 1


def test_the_authorizer_allows_the_admin_and_words_refusals_as_aws(store: SqliteIamStore) -> None:
    directory = IamDirectory(store, ACCOUNT)
    authorizer = Authorizer(directory, Clock())
    admin = Principal(f"arn:aws:iam::{ACCOUNT}:user/admin", ACCOUNT, "AKIA")
    alice = Principal(ALICE, ACCOUNT, "AKIB")
    authorizer.check(admin, "lambda:DeleteFunction", "arn:f")
    with pytest.raises(AccessDenied) as denied:
        authorizer.check(alice, "lambda:DeleteFunction", "arn:f")
    assert denied.value.message == (
        f"User: {ALICE} is not authorized to perform: lambda:DeleteFunction on resource: arn:f "
        "because no identity-based policy allows the lambda:DeleteFunction action"
    )
    assert denied.value.code == "AccessDeniedException" and denied.value.query_code == "AccessDenied"
    store.put_inline("user", "alice", "p", statement("lambda:*"))
    store.put_inline("user", "alice", "q", statement("lambda:Delete*", "Deny"))
    directory.changed()
    assert authorizer.decide(alice, "lambda:GetFunction", "arn:f") is Decision.ALLOW
    assert authorizer.decide(alice, "lambda:DeleteFunction", "arn:f") is Decision.EXPLICIT_DENY
    assert denied_message(ALICE, "a:B", "r", Decision.RESOURCE_DENY).endswith(
        "with an explicit deny in a resource-based policy"
    )


def test_the_context_names_the_principal_and_the_time(store: SqliteIamStore) -> None:
    authorizer = Authorizer(IamDirectory(store, ACCOUNT), Clock(0.0))
    session = Principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/s1", ACCOUNT, "ASIA")
    context = authorizer.context(session, {"Lambda:FunctionArn": "arn:f"})
    assert context["aws:principalarn"] == f"arn:aws:iam::{ACCOUNT}:role/worker" == principal_arn_key(session)
    assert context["aws:currenttime"] == "1970-01-01T00:00:00Z" and context["aws:epochtime"] == "0"
    assert context["aws:principaltype"] == "AssumedRole" and context["lambda:functionarn"] == "arn:f"
    assert authorizer.context(Principal(ALICE, ACCOUNT, "A"))["aws:username"] == "alice"


def test_temporary_credentials_are_sealed_reloaded_and_forgotten(
    store: SqliteIamStore, tmp_path: Path
) -> None:
    box = SecretBox.open(tmp_path / "key")
    clock = Clock()
    sessions = Sessions(store, box, ACCOUNT, clock)
    issued = sessions.issue("worker", "AROAX", "nightly", 900)
    credential = issued.credential
    assert credential.access_key_id.startswith("ASIA") and credential.session_token
    assert credential.expires_at == clock.now + 900
    assert credential.principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/nightly"
    assert credential.secret_access_key.encode() not in store.sessions()[0].encrypted_secret
    again = Sessions(store, box, ACCOUNT, clock).credential(credential.access_key_id)
    assert again == credential
    # Expired ones are still known (ExpiredToken) for a day, then forgotten.
    clock.now += 900 + FORGET_AFTER_S + 1
    sessions.issue("worker", "AROAX", "later", 900)
    assert sessions.credential(credential.access_key_id) is None
    assert len(store.sessions()) == 1


def test_credentials_look_in_keys_first_then_sessions(store: SqliteIamStore, tmp_path: Path) -> None:
    sessions = Sessions(store, SecretBox.open(tmp_path / "key"), ACCOUNT, Clock())
    issued = sessions.issue("worker", "AROAX", "s", 900).credential
    long_term = Credential("AKIA1", "secret", Principal(ALICE, ACCOUNT, "AKIA1"))

    class Keys:
        def credential(self, access_key_id: str) -> Credential | None:
            return long_term if access_key_id == "AKIA1" else None

    both = Credentials(Keys(), sessions)
    assert both.credential("AKIA1") is long_term
    assert both.credential(issued.access_key_id) == issued
    assert both.credential("nope") is None


def function(role: str) -> FunctionConfig:
    return FunctionConfig(
        name="caller",
        runtime="python3.12",
        role=role,
        handler="app.handler",
        code_sha256="0" * 64,
        code_size=1,
    )


def test_execution_roles_give_environments_credentials_that_outlive_them(
    store: SqliteIamStore, tmp_path: Path
) -> None:
    clock = Clock()
    directory = IamDirectory(store, ACCOUNT)
    store.put_entity("role", "worker", {"RoleName": "worker", "RoleId": "AROAWORKER", "Arn": "x"})
    roles = ExecutionRoles(
        Sessions(store, SecretBox.open(tmp_path / "key"), ACCOUNT, clock), directory, clock
    )
    first = roles.variables(function(f"arn:aws:iam::{ACCOUNT}:role/worker"))
    assert set(first) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }  # AWS_ENDPOINT_URL is the launch's: where this environment reaches lambdalite
    assert CREDENTIALS_S > MAX_ENVIRONMENT_S + 900
    # Shared while they would outlive an environment started now; renewed after.
    clock.now += CREDENTIALS_S - MAX_ENVIRONMENT_S - 901
    assert roles.variables(function(f"arn:aws:iam::{ACCOUNT}:role/worker")) == first
    clock.now += 2
    assert roles.variables(function(f"arn:aws:iam::{ACCOUNT}:role/worker")) != first
    # A role that does not exist still gets credentials: a role with no policies.
    assert roles.variables(function(f"arn:aws:iam::{ACCOUNT}:role/gone"))["AWS_ACCESS_KEY_ID"].startswith(
        "ASIA"
    )
