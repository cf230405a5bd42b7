"""The IAM operations lambdalite serves: typed handlers on the protocol layer (query).

Users and their access keys (``auth.keys.AccessKeys``: the keys the verifier accepts),
roles with trust policies, inline policies of users and roles, customer managed
policies and the AWS managed ones (``managed``), attachments. Every write ends in
``directory.changed()`` so authorization sees it at once. Policy documents are
checked when stored (MalformedPolicyDocument) and answered URL-encoded, as IAM does
(botocore decodes them).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from lambdalite.auth.authorize_context import current_principal
from lambdalite.auth.keys import AccessKeys, KeyNotDeletable, KeyNotFound
from lambdalite.auth.policy import PolicyError, parse_policy
from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.iam import errors
from lambdalite.services.iam.directory import ADMIN_USER, IamDirectory
from lambdalite.services.iam.managed import MANAGED, managed_arn, managed_document
from lambdalite.store.iam import Owner

Request = dict[str, Any]
Result = dict[str, Any]

NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
MAX_KEYS_PER_USER = 2
MAX_INLINE_CHARS: dict[str, int] = {"user": 2048, "role": 10240}
"""IAM's quotas for a user's and a role's inline policies (characters, whitespace aside)."""
MAX_MANAGED_CHARS = 6144
DEFAULT_MAX_SESSION_S = 3600
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_id(prefix: str) -> str:
    """An IAM unique id (``AIDA...`` users, ``AROA...`` roles, ``ANPA...`` policies)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _name(value: str, member: str, pattern: re.Pattern[str] = NAME) -> str:
    if not pattern.match(value):
        raise errors.validation(value, member, "Member must satisfy regular expression pattern: [\\w+=,.@-]+")
    return value


def _path(request: Request) -> str:
    path = str(request.get("Path") or "/")
    if not (path.startswith("/") and path.endswith("/")):
        raise errors.validation(
            path,
            "path",
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        )
    return path


def checked_document(document: str, *, trust: bool = False) -> str:
    """``document`` when it is a policy (a trust policy: with Principals); else MalformedPolicyDocument."""
    try:
        policy = parse_policy(document, resource_policy=trust)
    except PolicyError as exc:
        raise errors.malformed_policy(exc.aws_message) from exc
    if trust:
        for statement in orjson.loads(document).get("Statement", []) or []:
            if isinstance(statement, dict) and ("Resource" in statement or "NotResource" in statement):
                raise errors.malformed_policy("Has prohibited field Resource")
        if any(s.principal is None and s.not_principal is None for s in policy.statements):
            raise errors.malformed_policy("Missing required field Principal")
    return document


def _compact(document: str) -> str:
    """The document without whitespace outside strings: what IAM counts against its quotas."""
    return orjson.dumps(orjson.loads(document)).decode()


def _caller_user() -> str:
    """The user name of the caller (a request without UserName speaks of its own user)."""
    principal = current_principal()
    if principal is not None and ":user/" in principal.arn:
        return principal.arn.rsplit("/", 1)[1]
    return ADMIN_USER


def _encoded(document: str) -> str:
    return quote(document, safe="")


class IamService:
    def __init__(
        self, directory: IamDirectory, keys: AccessKeys | None, clock: Callable[[], float] = time.time
    ) -> None:
        self._directory = directory
        self._store = directory.store
        self._keys = keys
        self._account = directory.account_id
        self._clock = clock

    # ---- users --------------------------------------------------------------------

    def _user(self, name: str) -> dict[str, Any]:
        record = self._store.get_entity("user", name)
        if record is not None:
            return record
        if name == ADMIN_USER:  # the built-in administrator: every key lambdalite creates at start
            return {
                "Path": "/",
                "UserName": ADMIN_USER,
                "UserId": "AIDAADMINISTRATOR0LL",
                "Arn": f"arn:aws:iam::{self._account}:user/{ADMIN_USER}",
                "CreateDate": 0.0,
            }
        raise errors.no_such_entity(f"The user with name {name} cannot be found.")

    async def create_user(self, request: Request) -> Result:
        name = _name(request["UserName"], "userName")
        path = _path(request)
        if self._directory.user_exists(name):
            raise errors.already_exists(f"User with name {name} already exists.")
        record = {
            "Path": path,
            "UserName": name,
            "UserId": new_id("AIDA"),
            "Arn": f"arn:aws:iam::{self._account}:user{path}{name}",
            "CreateDate": self._clock(),
            "Tags": request.get("Tags") or [],
        }
        self._store.put_entity("user", name, record)
        self._directory.changed()
        return {"User": record}

    async def get_user(self, request: Request) -> Result:
        return {"User": self._user(request.get("UserName") or _caller_user())}

    async def list_users(self, request: Request) -> Result:
        prefix = str(request.get("PathPrefix") or "/")
        users = [user for user in self._store.entities("user") if str(user["Path"]).startswith(prefix)]
        return {"Users": users, "IsTruncated": False}

    async def delete_user(self, request: Request) -> Result:
        name = request["UserName"]
        self._user(name)
        if name == ADMIN_USER:
            raise errors.delete_conflict("Cannot delete entity, must delete access keys first.")
        if self._store.inline("user", name):
            raise errors.delete_conflict("Cannot delete entity, must delete policies first.")
        if self._store.attached("user", name):
            raise errors.delete_conflict("Cannot delete entity, must detach all policies first.")
        if self._keys is not None and any(info.user_name == name for info in self._keys.list()):
            raise errors.delete_conflict("Cannot delete entity, must delete access keys first.")
        self._store.delete_entity("user", name)
        self._directory.changed()
        return {}

    # ---- access keys --------------------------------------------------------------

    def _access_keys(self) -> AccessKeys:
        if self._keys is None:
            raise ServiceFault("ServiceFailure", "Access keys are not available on this server.", 500)
        return self._keys

    def _key_user(self, request: Request) -> str:
        name = request.get("UserName")
        if name is None:
            return _caller_user()
        self._user(name)
        return str(name)

    async def create_access_key(self, request: Request) -> Result:
        keys = self._access_keys()
        user = self._key_user(request)
        if sum(1 for info in keys.list() if info.user_name == user) >= MAX_KEYS_PER_USER:
            raise errors.limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}")
        new = keys.create(user)
        key = {
            "UserName": new.user_name,
            "AccessKeyId": new.access_key_id,
            "Status": "Active",
            "SecretAccessKey": new.secret_access_key,
            "CreateDate": new.created_at,
        }
        return {"AccessKey": key}

    async def list_access_keys(self, request: Request) -> Result:
        keys = self._access_keys()
        user = self._key_user(request)
        metadata = [
            {
                "UserName": info.user_name,
                "AccessKeyId": info.access_key_id,
                "Status": "Active",
                "CreateDate": info.created_at,
            }
            for info in keys.list()
            if info.user_name == user
        ]
        return {"AccessKeyMetadata": metadata, "IsTruncated": False}

    async def delete_access_key(self, request: Request) -> Result:
        keys = self._access_keys()
        user = self._key_user(request)
        key_id = request["AccessKeyId"]
        if not any(info.access_key_id == key_id and info.user_name == user for info in keys.list()):
            raise errors.no_such_entity(f"The Access Key with id {key_id} cannot be found.")
        try:
            keys.delete(key_id)
        except KeyNotFound:
            raise errors.no_such_entity(f"The Access Key with id {key_id} cannot be found.") from None
        except KeyNotDeletable:
            raise errors.delete_conflict(
                f"The access key {key_id} is given by LAMBDALITE_ACCESS_KEY_ID and cannot be deleted."
            ) from None
        return {}

    # ---- roles --------------------------------------------------------------------

    def _role(self, name: str) -> dict[str, Any]:
        record = self._store.get_entity("role", name)
        if record is None:
            raise errors.no_such_entity(f"The role with name {name} cannot be found.")
        return record

    @staticmethod
    def _role_out(record: dict[str, Any]) -> dict[str, Any]:
        return record | {"AssumeRolePolicyDocument": _encoded(str(record["AssumeRolePolicyDocument"]))}

    async def create_role(self, request: Request) -> Result:
        name = _name(request["RoleName"], "roleName")
        path = _path(request)
        document = checked_document(request["AssumeRolePolicyDocument"], trust=True)
        max_session = int(request.get("MaxSessionDuration") or DEFAULT_MAX_SESSION_S)
        if not 3600 <= max_session <= 43200:
            raise errors.validation(
                str(max_session),
                "maxSessionDuration",
                "Member must have value less than or equal to 43200"
                if max_session > 43200
                else "Member must have value greater than or equal to 3600",
            )
        if self._store.get_entity("role", name) is not None:
            raise errors.already_exists(f"Role with name {name} already exists.")
        record: dict[str, Any] = {
            "Path": path,
            "RoleName": name,
            "RoleId": new_id("AROA"),
            "Arn": f"arn:aws:iam::{self._account}:role{path}{name}",
            "CreateDate": self._clock(),
            "AssumeRolePolicyDocument": document,
            "MaxSessionDuration": max_session,
            "Tags": request.get("Tags") or [],
        }
        if request.get("Description") is not None:
            record["Description"] = request["Description"]
        self._store.put_entity("role", name, record)
        self._directory.changed()
        return {"Role": self._role_out(record)}

    async def get_role(self, request: Request) -> Result:
        return {"Role": self._role_out(self._role(request["RoleName"]))}

    async def list_roles(self, request: Request) -> Result:
        prefix = str(request.get("PathPrefix") or "/")
        roles = [self._role_out(r) for r in self._store.entities("role") if str(r["Path"]).startswith(prefix)]
        return {"Roles": roles, "IsTruncated": False}

    async def update_assume_role_policy(self, request: Request) -> Result:
        record = self._role(request["RoleName"])
        record["AssumeRolePolicyDocument"] = checked_document(request["PolicyDocument"], trust=True)
        self._store.put_entity("role", record["RoleName"], record)
        self._directory.changed()
        return {}

    async def delete_role(self, request: Request) -> Result:
        name = request["RoleName"]
        self._role(name)
        if self._store.inline("role", name):
            raise errors.delete_conflict("Cannot delete entity, must delete policies first.")
        if self._store.attached("role", name):
            raise errors.delete_conflict("Cannot delete entity, must detach all policies first.")
        self._store.delete_entity("role", name)
        self._directory.changed()
        return {}

    # ---- inline policies ----------------------------------------------------------

    def _owner(self, kind: Owner, name: str) -> None:
        if kind == "user":
            self._user(name)
        else:
            self._role(name)

    def _put_inline(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        name = _name(request["PolicyName"], "policyName", POLICY_NAME)
        document = checked_document(request["PolicyDocument"])
        limit = MAX_INLINE_CHARS[kind]
        if len(_compact(document)) > limit:
            raise errors.limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} {owner}")
        self._store.put_inline(kind, owner, name, document)
        self._directory.changed()
        return {}

    def _get_inline(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        document = self._store.get_inline(kind, owner, request["PolicyName"])
        if document is None:
            raise errors.no_such_entity(
                f"The {kind} policy with name {request['PolicyName']} cannot be found."
            )
        return {owner_key: owner, "PolicyName": request["PolicyName"], "PolicyDocument": _encoded(document)}

    def _delete_inline(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        if not self._store.delete_inline(kind, owner, request["PolicyName"]):
            raise errors.no_such_entity(
                f"The {kind} policy with name {request['PolicyName']} cannot be found."
            )
        self._directory.changed()
        return {}

    def _list_inline(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        return {"PolicyNames": [name for name, _ in self._store.inline(kind, owner)], "IsTruncated": False}

    async def put_role_policy(self, request: Request) -> Result:
        return self._put_inline("role", request, "RoleName")

    async def get_role_policy(self, request: Request) -> Result:
        return self._get_inline("role", request, "RoleName")

    async def delete_role_policy(self, request: Request) -> Result:
        return self._delete_inline("role", request, "RoleName")

    async def list_role_policies(self, request: Request) -> Result:
        return self._list_inline("role", request, "RoleName")

    async def put_user_policy(self, request: Request) -> Result:
        return self._put_inline("user", request, "UserName")

    async def get_user_policy(self, request: Request) -> Result:
        return self._get_inline("user", request, "UserName")

    async def delete_user_policy(self, request: Request) -> Result:
        return self._delete_inline("user", request, "UserName")

    async def list_user_policies(self, request: Request) -> Result:
        return self._list_inline("user", request, "UserName")

    # ---- managed policies ---------------------------------------------------------

    def _policy(self, arn: str) -> dict[str, Any]:
        """The policy's record (AWS managed ones made up on the fly); NoSuchEntity otherwise."""
        record = self._store.get_entity("policy", arn)
        if record is not None:
            return record | {"AttachmentCount": self._store.attachment_count(arn)}
        if managed_document(arn) is not None:
            path_and_name = arn.rsplit("policy/", 1)[1]
            name = path_and_name.rsplit("/", 1)[-1]
            path = "/" + path_and_name[: -len(name)]
            return {
                "PolicyName": name,
                "PolicyId": "ANPA" + name.upper()[:17].ljust(17, "0"),
                "Arn": arn,
                "Path": path,
                "DefaultVersionId": "v1",
                "AttachmentCount": self._store.attachment_count(arn),
                "IsAttachable": True,
                "CreateDate": 0.0,
                "UpdateDate": 0.0,
            }
        raise errors.no_such_entity(f"Policy {arn} does not exist or is not attachable.")

    @staticmethod
    def _policy_out(record: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in record.items() if key != "Document"}

    async def create_policy(self, request: Request) -> Result:
        name = _name(request["PolicyName"], "policyName", POLICY_NAME)
        path = _path(request)
        document = checked_document(request["PolicyDocument"])
        if len(_compact(document)) > MAX_MANAGED_CHARS:
            raise errors.limit_exceeded(f"Cannot exceed quota for PolicySize: {MAX_MANAGED_CHARS}")
        arn = f"arn:aws:iam::{self._account}:policy{path}{name}"
        if self._store.get_entity("policy", arn) is not None:
            raise errors.already_exists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        now = self._clock()
        record: dict[str, Any] = {
            "PolicyName": name,
            "PolicyId": new_id("ANPA"),
            "Arn": arn,
            "Path": path,
            "DefaultVersionId": "v1",
            "AttachmentCount": 0,
            "IsAttachable": True,
            "CreateDate": now,
            "UpdateDate": now,
            "Document": document,
            "Tags": request.get("Tags") or [],
        }
        if request.get("Description") is not None:
            record["Description"] = request["Description"]
        self._store.put_entity("policy", arn, record)
        self._directory.changed()
        return {"Policy": self._policy_out(record)}

    async def get_policy(self, request: Request) -> Result:
        return {"Policy": self._policy_out(self._policy(request["PolicyArn"]))}

    async def get_policy_version(self, request: Request) -> Result:
        arn = request["PolicyArn"]
        record = self._policy(arn)
        if request["VersionId"] != "v1":
            raise errors.no_such_entity(
                f"Policy {arn} version {request['VersionId']} does not exist or is not attachable."
            )
        document = self._directory.managed_document(arn) or ""
        version = {
            "Document": _encoded(document),
            "VersionId": "v1",
            "IsDefaultVersion": True,
            "CreateDate": record["CreateDate"],
        }
        return {"PolicyVersion": version}

    async def list_policies(self, request: Request) -> Result:
        scope = request.get("Scope") or "All"
        policies: list[dict[str, Any]] = []
        if scope in ("All", "AWS"):
            policies.extend(self._policy(managed_arn(name)) for name in sorted(MANAGED))
        if scope in ("All", "Local"):
            policies.extend(self._policy(str(record["Arn"])) for record in self._store.entities("policy"))
        if request.get("OnlyAttached"):
            policies = [policy for policy in policies if policy["AttachmentCount"]]
        return {"Policies": [self._policy_out(policy) for policy in policies], "IsTruncated": False}

    async def delete_policy(self, request: Request) -> Result:
        arn = request["PolicyArn"]
        record = self._policy(arn)
        if managed_document(arn) is not None:
            raise errors.invalid_input(f"Policy {arn} is an AWS managed policy and cannot be deleted.")
        if record["AttachmentCount"]:
            raise errors.delete_conflict("Cannot delete a policy attached to entities.")
        self._store.delete_entity("policy", arn)
        self._directory.changed()
        return {}

    def _attach(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        self._policy(request["PolicyArn"])
        self._store.attach(kind, owner, request["PolicyArn"])
        self._directory.changed()
        return {}

    def _detach(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        if not self._store.detach(kind, owner, request["PolicyArn"]):
            raise errors.no_such_entity(f"Policy {request['PolicyArn']} was not found.")
        self._directory.changed()
        return {}

    def _attached(self, kind: Owner, request: Request, owner_key: str) -> Result:
        owner = request[owner_key]
        self._owner(kind, owner)
        attached = [
            {"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn}
            for arn in self._store.attached(kind, owner)
        ]
        return {"AttachedPolicies": attached, "IsTruncated": False}

    async def attach_role_policy(self, request: Request) -> Result:
        return self._attach("role", request, "RoleName")

    async def detach_role_policy(self, request: Request) -> Result:
        return self._detach("role", request, "RoleName")

    async def list_attached_role_policies(self, request: Request) -> Result:
        return self._attached("role", request, "RoleName")

    async def attach_user_policy(self, request: Request) -> Result:
        return self._attach("user", request, "UserName")

    async def detach_user_policy(self, request: Request) -> Result:
        return self._detach("user", request, "UserName")

    async def list_attached_user_policies(self, request: Request) -> Result:
        return self._attached("user", request, "UserName")
