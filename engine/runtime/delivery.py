"""Delivering actions from the outbox, after the state change committed.

Claiming is a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
that counts the attempt and leases the row (``next_attempt_at`` moves a lease
ahead), so a second deliverer does not pick it up while the action runs and a
crashed deliverer's rows come back after the lease: delivery is at least
once. The host action runs outside any transaction with an
:class:`ActionContext` whose ``idempotency_key`` is the outbox id. A failure
is retried with exponential backoff; after ``outbox_max_attempts`` the row is
dead-lettered with the exception type (never its message: it may carry case
data). An action nobody registered is dead-lettered at once. Neither ever
undoes the state change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from engine.runtime.core import Core
from engine.runtime.views import ActionContext

log = logging.getLogger(__name__)


def deliver_outbox(core: Core, *, limit: int = 100) -> int:
    """Attempt every due pending outbox row (up to ``limit``); returns the count."""
    store = core.store
    with store.write() as conn:
        now = core.now(conn)
        rows = store.claim_outbox(conn, now, limit)
        claimed: list[dict[str, Any]] = []
        for r in rows:
            attempts = int(r["attempts"]) + 1
            store.update_outbox(
                conn,
                int(r["id"]),
                {"attempts": attempts, "next_attempt_at": now + core.outbox_lease},
            )
            claimed.append({**r, "attempts": attempts})
    for row in claimed:
        _deliver(core, row)
    return len(claimed)


def _deliver(core: Core, row: Mapping[str, Any]) -> None:
    item_id = int(row["id"])
    attempts = int(row["attempts"])
    fn = core.actions.get(row["action"])
    values: dict[str, Any]
    if fn is None:
        log.warning("outbox %s: action %r is not registered: dead-lettered", item_id, row["action"])
        values = {"status": "dead", "last_error": "ActionNotRegistered", "next_attempt_at": None}
    else:
        ctx = ActionContext(
            idempotency_key=f"outbox-{item_id}",
            outbox_id=item_id,
            case_id=row["case_id"],
            action=row["action"],
            event=row["event"],
            workflow=row["workflow_name"],
            workflow_version=int(row["workflow_version"]),
            attempt=attempts,
        )
        try:
            fn(ctx)
        except Exception as exc:  # the host's action failed: retry or dead-letter
            error = type(exc).__name__
            if attempts >= core.outbox_max_attempts:
                log.warning(
                    "outbox %s: action %r failed (%s): dead-lettered", item_id, row["action"], error
                )
                values = {"status": "dead", "last_error": error, "next_attempt_at": None}
            else:
                log.info(
                    "outbox %s: action %r failed (%s): retrying", item_id, row["action"], error
                )
                values = {"status": "pending", "last_error": error}
                values["next_attempt_at"] = core.clock.now() + core.backoff(attempts)
        else:
            values = {"status": "done", "last_error": None, "next_attempt_at": None}
    with core.store.write() as conn:
        if values.get("next_attempt_at") is not None and core.use_db_clock:
            values["next_attempt_at"] = core.now(conn) + core.backoff(attempts)
        core.store.update_outbox(conn, item_id, values)
