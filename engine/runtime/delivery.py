"""Delivering actions from the outbox, after the state change committed.

Each action name is delivered one way (:mod:`engine.runtime.delivery_config`):
by a Python handler registered on the :class:`~engine.runtime.engine.Engine`,
by a signed webhook (:mod:`engine.runtime.webhooks`), or pulled by a worker
in any language (:mod:`engine.runtime.pull`, which this module leaves alone).

Claiming is a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
that counts the attempt, raises the item's fencing token and leases the row
(``next_attempt_at`` moves a lease ahead), so a second deliverer does not
pick it up while the action runs and a crashed deliverer's rows come back
after the lease: delivery is at least once, and the idempotency key (the
outbox id) lets the receiver make it exactly once. The attempt runs outside
any transaction; the outcomes of a claimed batch are recorded together (one
transaction at least every second), each only while its token is still the
item's (a deliverer whose lease ran out and was taken over records nothing).
A failure is retried after the action's retry policy's backoff (with jitter);
after its ``max_attempts``, or once it is ``max_age`` old, the row is
dead-lettered with the exception type (never its message: it may carry case
data). An action nobody delivers is dead-lettered at once. Neither ever undoes
the state change. Actions of one case are queued in history order, but
retries and parallel deliverers can deliver them out of order: a receiver
that cares orders by ``history_seq``.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from engine.runtime.context import EngineContext
from engine.runtime.delivery_config import DeliveryMode
from engine.runtime.views import ActionContext
from engine.store.records import OutboxRecord, OutboxStatus

log = logging.getLogger(__name__)

#: outcomes are recorded at least this often while a claimed batch is delivered
SETTLE_EVERY_SECONDS = 1.0

_jitter = random.Random()  # noqa: S311 (spreading retries, not a secret)


def claimable(ctx: EngineContext) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(only these names or None for any, never these): what the deliverer claims."""
    config = ctx.delivery
    if config is None:
        return None, ()
    pulled = config.names_with_mode(DeliveryMode.PULL)
    if config.default_mode is DeliveryMode.PULL:
        pushed = {
            *config.names_with_mode(DeliveryMode.PYTHON),
            *config.names_with_mode(DeliveryMode.WEBHOOK),
            *(n for n in ctx.actions if n not in pulled),
        }
        return tuple(sorted(pushed)), ()
    return None, pulled


MAX_NAMED = 8  # actions named in one summary line; the rest are counted


def deliver_outbox(ctx: EngineContext, *, limit: int = 100) -> int:
    """Attempt every due pending outbox row (up to ``limit``); returns the count.

    Failures are logged as counts per batch (a backlog of dead rows is a few
    lines, not one a row): which actions, how many times, which exception type.
    """
    only, skip = claimable(ctx)
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        found = tx.claim_outbox(now, limit, only=only, skip=skip)
        claimed: list[OutboxRecord] = []
        by_lease: dict[timedelta, list[int]] = {}
        for item in found:
            assert item.id is not None
            by_lease.setdefault(ctx.retry_policy(item.action).lease, []).append(item.id)
            claimed.append(
                replace(item, attempts=item.attempts + 1, lease_token=item.lease_token + 1)
            )
        for lease, ids in by_lease.items():
            tx.lease_outbox_batch(ids, now + lease)
    outcomes: list[tuple[OutboxRecord, str | None]] = []
    last = time.monotonic()
    for item in claimed:
        outcomes.append((item, _attempt(ctx, item)))
        if time.monotonic() - last >= SETTLE_EVERY_SECONDS:  # slow receivers: record as we go
            _settle(ctx, outcomes)
            outcomes, last = [], time.monotonic()
    if outcomes:
        _settle(ctx, outcomes)
    return len(claimed)


def action_context(item: OutboxRecord) -> ActionContext:
    assert item.id is not None
    return ActionContext(
        idempotency_key=f"outbox-{item.id}",
        outbox_id=item.id,
        case_id=item.case_id,
        action=item.action,
        event=item.event,
        workflow=item.workflow_name,
        workflow_version=item.workflow_version,
        attempt=item.attempts,
        history_seq=item.history_seq,
        arguments=dict(item.arguments or {}),
    )


def _attempt(ctx: EngineContext, item: OutboxRecord) -> str | None:
    """Run one attempt; None when it succeeded, else the error to record."""
    mode = DeliveryMode.PYTHON
    if ctx.delivery is not None:
        mode = ctx.delivery.for_action(item.action, has_handler=item.action in ctx.actions).mode
    if mode is DeliveryMode.WEBHOOK:
        assert ctx.delivery is not None
        from engine.runtime.webhooks import WebhookFailed, WebhookSender

        if ctx.sender is None:
            ctx.sender = WebhookSender()
        try:
            ctx.sender.send(ctx.delivery.endpoint(item.action), action_context(item))
        except WebhookFailed as exc:
            return str(exc)  # "HTTP <status>": the status only
        except Exception as exc:  # connection refused, timeout: retry or dead-letter
            return type(exc).__name__
        return None
    fn = ctx.actions.get(item.action)
    if fn is None:
        return "ActionNotRegistered"
    try:
        fn(action_context(item))
    except Exception as exc:  # the host's action failed: retry or dead-letter
        return type(exc).__name__
    return None


def _settle(ctx: EngineContext, outcomes: list[tuple[OutboxRecord, str | None]]) -> None:
    """Record a batch's outcomes in one transaction (each fenced by its lease token).

    An outcome whose lease was taken over meanwhile is dropped: the new
    holder's counts.
    """
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        rows = []
        failed: Counter[tuple[OutboxStatus, str, str]] = Counter()
        for item, error in outcomes:
            assert item.id is not None
            status, retry_at = _outcome(ctx, item, error, now)
            rows.append((item.id, item.lease_token, status, error, retry_at))
            if error is not None:
                failed[(status, item.action, error)] += 1
        tx.settle_outbox_batch(rows)
    _log_failures(failed)


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


def _outcome(
    ctx: EngineContext, item: OutboxRecord, error: str | None, now: datetime
) -> tuple[OutboxStatus, datetime | None]:
    if error is None:
        return OutboxStatus.DONE, None
    if error == "ActionNotRegistered":
        return OutboxStatus.DEAD, None
    policy = ctx.retry_policy(item.action)
    if policy.gives_up(item.attempts, now - item.created_at):
        return OutboxStatus.DEAD, None
    return OutboxStatus.PENDING, now + policy.delay(item.attempts, _jitter.random())
