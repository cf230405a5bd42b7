"""Every durable store of the control plane, by protocol, and the SQLite set of them.

The composition root opens one ``Stores`` (SQLite today: ``open_sqlite``) and
hands each registry its store. A new kind of state (queues, mappings, topics,
rules, schedules, object metadata) is added the same way: a protocol and its
SQLite implementation in a module of ``store/``, a field here, a line in
``open_sqlite``; a PostgreSQL set for cluster mode is a second ``open_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambdalite.auth.secrets import SecretBox
from lambdalite.store.access_keys import AccessKeyStore, SqliteAccessKeyStore
from lambdalite.store.buses import BusStore, SqliteBusStore
from lambdalite.store.code_signing import CodeSigningStore, SqliteCodeSigningStore
from lambdalite.store.concurrency import ConcurrencyStore, SqliteConcurrencyStore
from lambdalite.store.event_invoke_configs import EventInvokeConfigStore, SqliteEventInvokeConfigStore
from lambdalite.store.functions import FunctionStore, SqliteFunctionStore
from lambdalite.store.iam import IamStore, SqliteIamStore
from lambdalite.store.layers import LayerStore, SqliteLayerStore
from lambdalite.store.mappings import MappingStore, SqliteMappingStore
from lambdalite.store.objects import ObjectStore, SqliteObjectStore
from lambdalite.store.policies import PolicyStore, SqlitePolicyStore
from lambdalite.store.queues import QueueStore, SqliteQueueStore
from lambdalite.store.scheduler_docs import SchedulerStore, SqliteSchedulerStore
from lambdalite.store.schedules import ScheduleStore, SqliteScheduleStore
from lambdalite.store.secrets import SecretStore, SqliteSecretStore
from lambdalite.store.sqlite import SqliteDatabase
from lambdalite.store.tags import SqliteTagStore, TagStore
from lambdalite.store.topics import SqliteTopicStore, TopicStore
from lambdalite.store.urls import SqliteUrlStore, UrlStore


@dataclass(frozen=True, slots=True)
class Stores:
    functions: FunctionStore
    tags: TagStore
    policies: PolicyStore
    urls: UrlStore
    concurrency: ConcurrencyStore
    layers: LayerStore
    code_signing: CodeSigningStore
    queues: QueueStore
    event_invoke_configs: EventInvokeConfigStore
    topics: TopicStore
    buses: BusStore
    schedules: ScheduleStore
    scheduler: SchedulerStore
    access_keys: AccessKeyStore
    iam: IamStore
    mappings: MappingStore
    close: Callable[[], None]
    """Release the backend (connections); the stores are unusable afterwards."""
    objects: ObjectStore | None = None
    """S3 buckets and objects (their files under ``s3/`` beside the database)."""
    secrets: SecretStore | None = None
    """Secrets Manager's secrets (None without a key to seal their values)."""


def open_sqlite(path: Path, box: SecretBox | None = None) -> Stores:
    """Every store in one SQLite database at ``path`` (created if missing; an
    existing database keeps its rows); ``box`` seals the functions' variables."""
    db = SqliteDatabase(path)
    return Stores(
        functions=SqliteFunctionStore(db, box),
        tags=SqliteTagStore(db),
        policies=SqlitePolicyStore(db),
        urls=SqliteUrlStore(db),
        concurrency=SqliteConcurrencyStore(db),
        layers=SqliteLayerStore(db),
        code_signing=SqliteCodeSigningStore(db),
        queues=SqliteQueueStore(db),
        event_invoke_configs=SqliteEventInvokeConfigStore(db),
        topics=SqliteTopicStore(db),
        buses=SqliteBusStore(db),
        schedules=SqliteScheduleStore(db),
        scheduler=SqliteSchedulerStore(db),
        access_keys=SqliteAccessKeyStore(db),
        iam=SqliteIamStore(db),
        mappings=SqliteMappingStore(db),
        close=db.close,
        objects=SqliteObjectStore(db, path.parent / "s3"),
        secrets=SqliteSecretStore(db, box) if box is not None else None,
    )
