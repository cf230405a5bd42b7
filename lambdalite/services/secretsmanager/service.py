"""The Secrets Manager operations (typed handlers on the protocol layer) over a
``SecretStore`` and a ``Clock``.

Semantics as AWS documents them: a secret's versions carry staging labels; a new
value takes AWSCURRENT and the old current version becomes AWSPREVIOUS (a version
left without labels is deprecated: kept, not listed as staged). DeleteSecret
schedules the deletion after a recovery window (7 to 30 days, 30 by default),
during which the secret can be described (and listed with
IncludePlannedDeletion) but not read or changed; ForceDeleteWithoutRecovery
deletes at once. A secret whose deletion date passed is gone (purged on the next
call that looks).
"""

from __future__ import annotations

import base64
import secrets as random
import uuid
from dataclasses import dataclass, field
from typing import Any

from lambdalite.clock import Clock
from lambdalite.protocol.errors import ServiceFault
from lambdalite.store.secrets import SecretStore

Request = dict[str, Any]
Result = dict[str, Any]

CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"
DAY_S = 86400.0
DEFAULT_WINDOW_DAYS = 30
NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
_SUFFIX_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def not_found(message: str = NOT_FOUND) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message)


def invalid_request(message: str) -> ServiceFault:
    return ServiceFault("InvalidRequestException", message)


def invalid_parameter(message: str) -> ServiceFault:
    return ServiceFault("InvalidParameterException", message)


@dataclass(slots=True)
class Version:
    version_id: str
    created: float
    stages: list[str]
    string: str | None = None
    binary: bytes | None = None


@dataclass(slots=True)
class Secret:
    arn: str
    name: str
    created: float
    changed: float
    description: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    deletion: float | None = None
    """When a scheduled deletion takes effect (None: not scheduled)."""
    deleted_at: float | None = None
    versions: dict[str, Version] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "name": self.name,
            "created": self.created,
            "changed": self.changed,
            "description": self.description,
            "tags": self.tags,
            "deletion": self.deletion,
            "deleted_at": self.deleted_at,
            "versions": {
                v.version_id: {"created": v.created, "stages": v.stages} for v in self.versions.values()
            },
        }

    def values(self) -> dict[str, Any]:
        return {
            v.version_id: {
                "string": v.string,
                "binary": base64.b64encode(v.binary).decode() if v.binary is not None else None,
            }
            for v in self.versions.values()
        }

    @classmethod
    def load(cls, record: dict[str, Any], values: dict[str, Any]) -> Secret:
        secret = cls(
            record["arn"],
            record["name"],
            record["created"],
            record["changed"],
            record.get("description"),
            list(record.get("tags") or []),
            record.get("deletion"),
            record.get("deleted_at"),
        )
        for version_id, meta in record.get("versions", {}).items():
            value = values.get(version_id, {})
            binary = value.get("binary")
            secret.versions[version_id] = Version(
                version_id,
                meta["created"],
                list(meta["stages"]),
                value.get("string"),
                base64.b64decode(binary) if binary is not None else None,
            )
        return secret

    def staged(self) -> dict[str, list[str]]:
        return {v.version_id: list(v.stages) for v in self.versions.values() if v.stages}


class SecretsService:
    """Every Secrets Manager operation lambdalite serves. Runs on the event loop's thread."""

    def __init__(self, store: SecretStore, clock: Clock, region: str, account_id: str) -> None:
        self._store = store
        self._clock = clock
        self._prefix = f"arn:aws:secretsmanager:{region}:{account_id}:secret:"
        self._secrets: dict[str, Secret] = {}
        for record, values in store.all_secrets():
            secret = Secret.load(record, values)
            self._secrets[secret.arn] = secret

    # -- for event source mappings -------------------------------------------

    def secret_string(self, secret_id: str) -> str:
        """The AWSCURRENT SecretString of a secret (ARN or name); ServiceFault as GetSecretValue."""
        value = self._current_value(self._readable(secret_id), None, None)
        if value.string is None:
            raise not_found(
                f"Secrets Manager can't find the specified secret value for staging label: {CURRENT}"
            )
        return value.string

    # -- operations ---------------------------------------------------------

    async def create_secret(self, request: Request) -> Result:
        name = request["Name"]
        self._purge()
        existing = self._by_name(name)
        if existing is not None:
            if existing.deletion is not None:
                raise invalid_request(
                    "You can't create this secret because a secret with this name "
                    "is already scheduled for deletion."
                )
            raise ServiceFault(
                "ResourceExistsException", f"The operation failed because the secret {name} already exists."
            )
        self._check_value(request)
        now = self._clock.now()
        suffix = "".join(random.choice(_SUFFIX_CHARS) for _ in range(6))
        secret = Secret(
            self._prefix + f"{name}-{suffix}",
            name,
            now,
            now,
            request.get("Description"),
            list(request.get("Tags") or []),
        )
        result: Result = {"ARN": secret.arn, "Name": name}
        if "SecretString" in request or "SecretBinary" in request:
            result["VersionId"] = self._add_version(secret, request, [CURRENT]).version_id
        self._save(secret)
        return result

    async def put_secret_value(self, request: Request) -> Result:
        secret = self._readable(request["SecretId"])
        self._check_value(request)
        if "SecretString" not in request and "SecretBinary" not in request:
            raise invalid_request("You must provide either SecretString or SecretBinary.")
        token = request.get("ClientRequestToken")
        if token is not None and token in secret.versions:
            known = secret.versions[token]
            same = known.string == request.get("SecretString") and known.binary == request.get("SecretBinary")
            if not same:
                raise ServiceFault(
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                )
            return {"ARN": secret.arn, "Name": secret.name, "VersionId": token, "VersionStages": known.stages}
        stages = list(request.get("VersionStages") or [CURRENT])
        version = self._add_version(secret, request, stages)
        secret.changed = self._clock.now()
        self._save(secret)
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.version_id,
            "VersionStages": stages,
        }

    async def get_secret_value(self, request: Request) -> Result:
        secret = self._readable(request["SecretId"])
        version = self._current_value(secret, request.get("VersionId"), request.get("VersionStage"))
        result: Result = {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.version_id,
            "VersionStages": version.stages,
            "CreatedDate": version.created,
        }
        if version.string is not None:
            result["SecretString"] = version.string
        if version.binary is not None:
            result["SecretBinary"] = version.binary
        return result

    async def delete_secret(self, request: Request) -> Result:
        window = request.get("RecoveryWindowInDays")
        force = bool(request.get("ForceDeleteWithoutRecovery"))
        if force and window is not None:
            raise invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
            )
        if window is not None and not 7 <= window <= 30:
            raise invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
            )
        secret = self._find(request["SecretId"])
        now = self._clock.now()
        if force:
            self._secrets.pop(secret.arn, None)
            self._store.delete_secret(secret.arn)
            return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": now}
        if secret.deletion is not None:
            raise invalid_request(MARKED_FOR_DELETION)
        secret.deleted_at = now
        secret.deletion = now + (window or DEFAULT_WINDOW_DAYS) * DAY_S
        self._save(secret)
        return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": secret.deletion}

    async def describe_secret(self, request: Request) -> Result:
        secret = self._find(request["SecretId"])
        result = self._entry(secret)
        result["VersionIdsToStages"] = result.pop("SecretVersionsToStages")
        return result

    async def list_secrets(self, request: Request) -> Result:
        self._purge()
        include_deleted = bool(request.get("IncludePlannedDeletion"))
        chosen = [s for s in self._secrets.values() if include_deleted or s.deletion is None]
        if request.get("SortOrder") == "asc":
            chosen.sort(key=lambda s: s.created)
        else:
            chosen.sort(key=lambda s: s.created, reverse=True)
        limit = request.get("MaxResults") or 100
        if not 1 <= limit <= 100:
            raise invalid_parameter("Invalid value for MaxResults. It must be between 1 and 100.")
        start = 0
        token = request.get("NextToken")
        if token is not None:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError as exc:
                raise ServiceFault("InvalidNextTokenException", "The NextToken value is invalid.") from exc
        page = chosen[start : start + limit]
        result: Result = {"SecretList": [self._entry(s) for s in page]}
        if start + limit < len(chosen):
            result["NextToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        return result

    # -- helpers ------------------------------------------------------------

    def _entry(self, secret: Secret) -> Result:
        entry: Result = {
            "ARN": secret.arn,
            "Name": secret.name,
            "CreatedDate": secret.created,
            "LastChangedDate": secret.changed,
            "SecretVersionsToStages": secret.staged(),
        }
        if secret.description is not None:
            entry["Description"] = secret.description
        if secret.tags:
            entry["Tags"] = secret.tags
        if secret.deleted_at is not None:
            entry["DeletedDate"] = secret.deleted_at
        return entry

    def _check_value(self, request: Request) -> None:
        if "SecretString" in request and "SecretBinary" in request:
            raise invalid_parameter("You can't specify both a binary secret value and a string secret value.")

    def _add_version(self, secret: Secret, request: Request, stages: list[str]) -> Version:
        version_id = request.get("ClientRequestToken") or str(uuid.uuid4())
        for other in secret.versions.values():
            if CURRENT in stages and CURRENT in other.stages:
                other.stages = [s for s in other.stages if s != CURRENT]
                for older in secret.versions.values():
                    older.stages = [s for s in older.stages if s != PREVIOUS]
                other.stages.append(PREVIOUS)
                break
        for other in secret.versions.values():
            other.stages = [s for s in other.stages if s in (CURRENT, PREVIOUS) or s not in stages]
        version = Version(
            version_id, self._clock.now(), stages, request.get("SecretString"), request.get("SecretBinary")
        )
        secret.versions[version_id] = version
        return version

    def _current_value(self, secret: Secret, version_id: str | None, stage: str | None) -> Version:
        if version_id is not None:
            version = secret.versions.get(version_id)
            if version is None or (stage is not None and stage not in version.stages):
                raise not_found(
                    f"Secrets Manager can't find the specified secret value for VersionId: {version_id}"
                )
            return version
        wanted = stage or CURRENT
        for version in secret.versions.values():
            if wanted in version.stages:
                return version
        raise not_found(f"Secrets Manager can't find the specified secret value for staging label: {wanted}")

    def _purge(self) -> None:
        now = self._clock.now()
        for arn, secret in list(self._secrets.items()):
            if secret.deletion is not None and secret.deletion <= now:
                del self._secrets[arn]
                self._store.delete_secret(arn)

    def _by_name(self, name: str) -> Secret | None:
        return next((s for s in self._secrets.values() if s.name == name), None)

    def _find(self, secret_id: str) -> Secret:
        """The secret by name, full ARN, or partial ARN (without the random suffix)."""
        self._purge()
        secret = self._secrets.get(secret_id) or self._by_name(secret_id)
        if secret is None and secret_id.startswith(self._prefix):
            secret = self._by_name(secret_id[len(self._prefix) :])
        if secret is None:
            raise not_found()
        return secret

    def _readable(self, secret_id: str) -> Secret:
        secret = self._find(secret_id)
        if secret.deletion is not None:
            raise invalid_request(MARKED_FOR_DELETION)
        return secret

    def _save(self, secret: Secret) -> None:
        self._store.put_secret(secret.arn, secret.record(), secret.values())
        self._secrets[secret.arn] = secret
