"""The tamper-evident history: each row's hash covers its fields and the previous hash.

``hash = sha256(canonical JSON of the row's fields, including prev_hash)``;
the first row of a case chains to ``GENESIS``. Editing, deleting or
reordering any row breaks the chain from that row on, and the cases table
keeps the newest hash so a truncated tail is caught too. Each row also
carries ``record_hash``, the hash of the case record after the change
(covered by the row hash), so an edit of ``cases.record`` that bypassed the
engine is caught against the newest row, and ``head_hash`` (revision 0009),
the hash of the rest of the case's head (state, phase, previous state, state
entry, workflow version, opening and closing instants), so an edit of
``cases.state``, ``phase`` or ``closed_at`` is caught the same way.

The access log is one chain too (:func:`access_hash`, by ``seq`` from 1), and
the checkpoints of :mod:`engine.runtime.checkpoints` anchor both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

HASHED_FIELDS = (
    "case_id",
    "seq",
    "event",
    "from_state",
    "to_state",
    "actor",
    "roles",
    "payload",
    "idempotency_key",
    "workflow_version",
    "recorded_at",
    "outcome",
    "timer",
    "lateness_seconds",
    "prev_hash",
)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same text for the same data, always."""
    return _CANONICAL.encode(value)


def _norm(key: str, value: Any) -> Any:
    if key == "recorded_at" and isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if key == "roles":
        return list(value)
    if key == "lateness_seconds" and value is not None:
        return round(float(value), 6)
    return value


def row_hash(row: Mapping[str, Any]) -> str:
    """The hash of one history row (a mapping with every ``HASHED_FIELDS`` key)."""
    doc = {k: _norm(k, row[k]) for k in HASHED_FIELDS}
    if row.get("record_hash") is not None:  # rows written before revision 0002 have none
        doc["record_hash"] = row["record_hash"]
    if row.get("head_hash") is not None:  # rows written before revision 0009 have none
        doc["head_hash"] = row["head_hash"]
    if row.get("client") is not None:  # only rows written on an end user's behalf have one
        doc["client"] = row["client"]
    if row.get("item_id") is not None:  # only item events' rows name an item (revision 0011)
        doc["item_id"] = row["item_id"]
        doc["item_from"] = row.get("item_from")
        doc["item_to"] = row.get("item_to")
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """sha256 of a case record's canonical JSON."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def fingerprint(value: Any) -> str:
    """sha256 of a request's canonical JSON (for idempotency)."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def head_hash(
    *,
    workflow_name: str,
    workflow_version: int,
    state: str,
    phase: str,
    previous_state: str | None,
    state_entry_seq: int,
    opened_at: datetime,
    closed_at: datetime | None,
) -> str:
    """sha256 of a case's head after a change: every column of ``cases`` an audit must
    cover besides the record, the version and the hash (``overdue_since`` is operational)."""
    doc = {
        "workflow_name": workflow_name,
        "workflow_version": workflow_version,
        "state": state,
        "phase": phase,
        "previous_state": previous_state,
        "state_entry_seq": state_entry_seq,
        "opened_at": _instant(opened_at),
        "closed_at": _instant(closed_at),
    }
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def access_hash(
    *,
    seq: int,
    actor: str,
    case_id: str | None,
    what: str,
    at: datetime,
    prev_hash: str,
    client: str | None = None,
) -> str:
    """sha256 of one access-log row, chained to the row before (``GENESIS`` for seq 1);
    ``client`` (the API client acting for ``actor``) is covered when set."""
    doc: dict[str, Any] = {
        "seq": seq,
        "actor": actor,
        "case_id": case_id,
        "what": what,
        "at": _instant(at),
        "prev_hash": prev_hash,
    }
    if client is not None:
        doc["client"] = client
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()
