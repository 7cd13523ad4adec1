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
from collections import Counter
from dataclasses import replace
from datetime import datetime

from engine.runtime.context import EngineContext
from engine.runtime.views import ActionContext
from engine.store.records import OutboxRecord, OutboxStatus

log = logging.getLogger(__name__)


MAX_NAMED = 8  # actions named in one summary line; the rest are counted


def deliver_outbox(ctx: EngineContext, *, limit: int = 100) -> int:
    """Attempt every due pending outbox row (up to ``limit``); returns the count.

    Failures are logged as counts per batch (a backlog of dead rows is a few
    lines, not one a row): which actions, how many times, which exception type.
    """
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        claimed: list[OutboxRecord] = []
        for item in tx.claim_outbox(now, limit):
            assert item.id is not None
            attempts = item.attempts + 1
            tx.lease_outbox(item.id, attempts, now + ctx.outbox_lease)
            claimed.append(replace(item, attempts=attempts))
    failed: Counter[tuple[OutboxStatus, str, str]] = Counter()
    for item in claimed:
        status, error = _deliver(ctx, item)
        if error is not None:
            failed[(status, item.action, error)] += 1
    _log_failures(failed)
    return len(claimed)


def _log_failures(failed: Counter[tuple[OutboxStatus, str, str]]) -> None:
    for status, verb, level in (
        (OutboxStatus.DEAD, "dead-lettered", logging.WARNING),
        (OutboxStatus.PENDING, "to retry", logging.INFO),
    ):
        rows = [(n, action, error) for (s, action, error), n in failed.most_common() if s == status]
        if not rows:
            continue
        named = ", ".join(f"{action} x{n} ({error})" for n, action, error in rows[:MAX_NAMED])
        more = f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
        total = sum(n for n, _, _ in rows)
        log.log(level, "outbox: %d item(s) %s: %s%s", total, verb, named, more)


def _deliver(ctx: EngineContext, item: OutboxRecord) -> tuple[OutboxStatus, str | None]:
    assert item.id is not None
    item_id = item.id
    attempts = item.attempts
    fn = ctx.actions.get(item.action)
    status: OutboxStatus
    error: str | None
    retry_at: datetime | None = None
    if fn is None:
        status, error = OutboxStatus.DEAD, "ActionNotRegistered"
    else:
        action_ctx = ActionContext(
            idempotency_key=f"outbox-{item_id}",
            outbox_id=item_id,
            case_id=item.case_id,
            action=item.action,
            event=item.event,
            workflow=item.workflow_name,
            workflow_version=item.workflow_version,
            attempt=attempts,
        )
        try:
            fn(action_ctx)
        except Exception as exc:  # the host's action failed: retry or dead-letter
            error = type(exc).__name__
            if attempts >= ctx.outbox_max_attempts:
                status = OutboxStatus.DEAD
            else:
                status = OutboxStatus.PENDING
                retry_at = ctx.clock.now() + ctx.backoff(attempts)
        else:
            status, error = OutboxStatus.DONE, None
    with ctx.store.write() as tx:
        if retry_at is not None and ctx.use_db_clock:
            retry_at = ctx.now(tx) + ctx.backoff(attempts)
        tx.settle_outbox(item_id, status, error, retry_at)
    return status, error
