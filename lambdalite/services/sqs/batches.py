"""The rules every SQS batch operation shares: 1 to 10 entries with distinct, well-formed
ids (else the whole request fails), and one answer per entry (Successful or Failed)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lambdalite.protocol.errors import ServiceFault
from lambdalite.services.sqs import errors

MAX_BATCH = 10
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

Entry = dict[str, Any]


def check_batch(entries: list[Entry], entry_name: str) -> None:
    """Raise the error AWS answers for the whole batch (empty, too long, bad or repeated ids)."""
    if not entries:
        raise errors.empty_batch(entry_name)
    if len(entries) > MAX_BATCH:
        raise errors.too_many_entries(len(entries))
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id", "")
        if not _BATCH_ID.match(entry_id):
            raise errors.invalid_batch_id()
        if entry_id in seen:
            raise errors.ids_not_distinct(entry_id)
        seen.add(entry_id)


def each(entries: list[Entry], action: Callable[[Entry], None]) -> dict[str, Any]:
    """Run ``action`` per entry: a ServiceFault fails that entry only."""
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry in entries:
        try:
            action(entry)
        except ServiceFault as fault:
            failed.append(failure(entry["Id"], fault))
        else:
            successful.append({"Id": entry["Id"]})
    return {"Successful": successful, "Failed": failed}


def failure(entry_id: str, fault: ServiceFault) -> dict[str, Any]:
    return {
        "Id": entry_id,
        "SenderFault": fault.sender_fault,
        "Code": fault.fault_code,
        "Message": fault.message,
    }


def attributes_size(attributes: Mapping[str, Mapping[str, Any]] | None) -> int:
    """What message attributes add to a message's size (names, types, values)."""
    if not attributes:
        return 0
    size = 0
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        payload = value.get("BinaryValue")
        size += len(payload) if payload is not None else len(str(value.get("StringValue", "")).encode())
    return size
