"""What authorization asks of IAM: a principal's identity policies, a role's trust
policy, whether a role exists. Answers are cached in memory and dropped on every
IAM write (``changed()``), so the warm path of an authorized request reads no database.
"""

from __future__ import annotations

import orjson

from lambdalite.auth.policy import Policy, PolicyError, parse_policy
from lambdalite.services.iam.managed import managed_document
from lambdalite.store.iam import IamStore, Owner

ADMIN_USER = "admin"


def owner_of(principal_arn: str) -> tuple[Owner, str] | None:
    """(``user``, NAME) for ``arn:aws:iam::A:user[/path]/NAME``; (``role``, NAME) for a
    role or a role session (``arn:aws:sts::A:assumed-role/NAME/SESSION``); else None."""
    parts = principal_arn.split(":", 5)
    if len(parts) != 6:
        return None
    resource = parts[5]
    if parts[2] == "iam" and resource.startswith("user/"):
        return "user", resource.rsplit("/", 1)[1]
    if parts[2] == "iam" and resource.startswith("role/"):
        return "role", resource.rsplit("/", 1)[1]
    if parts[2] == "sts" and resource.startswith("assumed-role/"):
        pieces = resource.split("/")
        return ("role", pieces[1]) if len(pieces) >= 2 else None
    return None


def role_name_of(role_arn: str) -> str | None:
    """NAME of ``arn:aws:iam::ACCOUNT:role[/path]/NAME``."""
    owner = owner_of(role_arn)
    return owner[1] if owner is not None and owner[0] == "role" and ":iam:" in role_arn else None


class IamDirectory:
    def __init__(self, store: IamStore, account_id: str) -> None:
        self.store = store
        self.account_id = account_id
        self.admin_arn = f"arn:aws:iam::{account_id}:user/{ADMIN_USER}"
        """The built-in administrator's ARN (it may do everything), made once: every
        authorized request compares with it."""
        self._policies: dict[tuple[Owner, str], tuple[Policy, ...]] = {}

    def changed(self) -> None:
        """Something IAM holds was written: forget every cached answer."""
        self._policies.clear()

    def is_admin(self, principal_arn: str) -> bool:
        return principal_arn == self.admin_arn

    def user_exists(self, name: str) -> bool:
        return name == ADMIN_USER or self.store.get_entity("user", name) is not None

    def role_arn(self, name: str) -> str | None:
        role = self.store.get_entity("role", name)
        return None if role is None else str(role["Arn"])

    def trust_policy(self, role_name: str) -> Policy | None:
        role = self.store.get_entity("role", role_name)
        if role is None:
            return None
        try:
            return parse_policy(str(role["AssumeRolePolicyDocument"]), resource_policy=True)
        except PolicyError:
            return None

    def managed_document(self, arn: str) -> str | None:
        """A managed policy's document (AWS's or the account's), or None when there is none."""
        aws = managed_document(arn)
        if aws is not None:
            return orjson.dumps(aws).decode()
        record = self.store.get_entity("policy", arn)
        return None if record is None else str(record["Document"])

    def identity_policies(self, principal_arn: str) -> tuple[Policy, ...]:
        """The inline and attached policies of the user or role behind ``principal_arn``."""
        owner = owner_of(principal_arn)
        if owner is None:
            return ()
        cached = self._policies.get(owner)
        if cached is not None:
            return cached
        kind, name = owner
        documents = [document for _, document in self.store.inline(kind, name)]
        for arn in self.store.attached(kind, name):
            document = self.managed_document(arn)
            if document is not None:
                documents.append(document)
        policies: list[Policy] = []
        for document in documents:
            try:
                policies.append(parse_policy(document))
            except PolicyError:
                continue  # documents are checked when stored; a bad one grants nothing
        found = tuple(policies)
        self._policies[owner] = found
        return found
