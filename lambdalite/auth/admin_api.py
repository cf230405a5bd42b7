"""``/_lambdalite/keys``: lambdalite's own small admin surface for access keys
(what ``lambdalite keys create|list|delete`` calls), shaped like IAM's access-key answers:

    POST   /_lambdalite/keys          {"UserName": "alice"}  -> 201 {"AccessKey": {..., "SecretAccessKey"}}
    GET    /_lambdalite/keys                                 -> 200 {"AccessKeyMetadata": [...]}
    DELETE /_lambdalite/keys/<AccessKeyId>                   -> 204

The secret is shown once, in CreateAccessKey's answer. Under ``--auth sigv4`` these
requests are verified like every other and need ``iam:CreateAccessKey``,
``iam:ListAccessKeys`` or ``iam:DeleteAccessKey`` (``auth.authorize_routes``).
"""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

import orjson

from lambdalite.auth.keys import USER_NAME, AccessKeys, KeyInfo, KeyNotDeletable, KeyNotFound
from lambdalite.errors import LambdaError, UnknownOperation, Validation
from lambdalite.http.message import HttpRequest, Response

KEYS_PATH = "/_lambdalite/keys"


class NoSuchEntity(LambdaError):
    code: ClassVar[str] = "NoSuchEntity"
    status: ClassVar[int] = 404


class DeleteConflict(LambdaError):
    code: ClassVar[str] = "DeleteConflict"
    status: ClassVar[int] = 409


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metadata(info: KeyInfo) -> dict[str, Any]:
    return {
        "UserName": info.user_name,
        "AccessKeyId": info.access_key_id,
        "Status": "Active",
        "CreateDate": _iso(info.created_at),
        "FromEnvironment": info.from_environment,
    }


class KeysService:
    def __init__(self, keys: AccessKeys | None) -> None:
        self._keys_or_none = keys

    @property
    def _keys(self) -> AccessKeys:
        if self._keys_or_none is None:  # a router built without keys (unit tests)
            raise UnknownOperation("Unknown operation")
        return self._keys_or_none

    async def handle(self, request: HttpRequest) -> Response:
        rest = request.path[len(KEYS_PATH) :]
        if rest in ("", "/"):
            if request.method == "GET":
                body = {"AccessKeyMetadata": [_metadata(info) for info in self._keys.list()]}
                return Response(200, orjson.dumps(body))
            if request.method == "POST":
                return self._create(request.body)
        elif request.method == "DELETE" and rest.count("/") == 1:
            return self._delete(rest[1:])
        raise UnknownOperation("Unknown operation")

    def _create(self, raw: bytes) -> Response:
        try:
            body = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError:
            raise Validation("The request body is not valid JSON.") from None
        user = body.get("UserName", "admin") if isinstance(body, dict) else None
        if not isinstance(user, str) or not USER_NAME.match(user):
            raise Validation(
                f"1 validation error detected: Value '{user}' at 'userName' failed to satisfy constraint: "
                "Member must satisfy regular expression pattern: [\\w+=,.@-]+"
            )
        new = self._keys.create(user)
        key = {
            "UserName": new.user_name,
            "AccessKeyId": new.access_key_id,
            "Status": "Active",
            "SecretAccessKey": new.secret_access_key,
            "CreateDate": _iso(new.created_at),
        }
        return Response(201, orjson.dumps({"AccessKey": key}))

    def _delete(self, access_key_id: str) -> Response:
        try:
            self._keys.delete(access_key_id)
        except KeyNotFound:
            raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.") from None
        except KeyNotDeletable:
            raise DeleteConflict(
                f"The access key {access_key_id} is given by LAMBDALITE_ACCESS_KEY_ID and cannot be deleted."
            ) from None
        return Response(204)
