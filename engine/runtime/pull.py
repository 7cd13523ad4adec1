"""Pull delivery: workers in any language fetch and lock actions by name, with a lease.

Camunda external tasks and Zeebe job workers are the model. ``fetch_and_lock``
claims due pending items of the names asked for (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so racing workers get disjoint items), counts the attempt,
raises each item's fencing token (``lease_token``) and holds it until the
lease ends. The worker then ``extend``\\s, ``complete``\\s or ``fail``\\s it,
presenting the token. An item whose lease ran out is due again and the next
fetch takes it over with a new token, after which the old holder's calls are
refused with :class:`LeaseLost` (fencing): a completion after a takeover
never counts. A failure is retried after ``retry_after`` (or the action's
backoff), dead-lettered when ``permanent`` or when the retry policy's attempts
or age run out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from engine.errors import EngineError
from engine.runtime.audit_trail import append_access
from engine.runtime.context import EngineContext
from engine.runtime.delivery import _jitter, action_context, claimable
from engine.runtime.delivery_config import DeliveryConfig, DeliveryMode
from engine.runtime.views import ActionContext
from engine.store.interface import StoreTransaction
from engine.store.records import OutboxRecord, OutboxStatus

log = logging.getLogger(__name__)

MAX_LEASE = timedelta(hours=1)


class ActionNotFound(EngineError):
    """No pending action with that outbox id is delivered by pull."""

    code = "action-not-found"

    def __init__(self, item_id: int) -> None:
        self.item_id = item_id
        super().__init__(f"action {item_id} not found")


class ActionNotPulled(EngineError):
    """An action name asked for is not delivered by pull (webhook or Python instead)."""

    code = "action-not-pulled"

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"action {action!r} is not delivered by pull")


class LeaseLost(EngineError):
    """The lease token presented is no longer the action's: the lease was taken over,
    or the action was settled."""

    code = "lease-lost"

    def __init__(self, item_id: int, lease_token: int) -> None:
        self.item_id = item_id
        self.lease_token = lease_token
        super().__init__(f"the lease {lease_token} of action {item_id} is no longer held")


@dataclass(frozen=True, slots=True)
class LockedAction:
    """One action leased to a pull worker."""

    action: ActionContext
    lease_token: int
    locked_until: datetime
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        from engine.runtime.webhooks import action_data

        return {
            **action_data(self.action),
            "lease_token": self.lease_token,
            "locked_until": self.locked_until.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Settled:
    """How ``complete`` or ``fail`` left an action."""

    id: int
    status: OutboxStatus
    next_attempt_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        at = self.next_attempt_at
        return {
            "id": self.id,
            "status": self.status.value,
            "next_attempt_at": at.isoformat() if at else None,
        }


def pulled(ctx: EngineContext, name: str) -> bool:
    """True when ``name`` is left for pull workers (not claimed by the deliverer)."""
    only, skip = claimable(ctx)
    return name in skip if only is None else name not in only


def fetch_and_lock(
    ctx: EngineContext,
    actions: Sequence[str],
    *,
    worker: str,
    lease: timedelta,
    limit: int,
    actor: str,
) -> list[LockedAction]:
    """Lease up to ``limit`` due actions among ``actions`` to ``worker``.

    Each lease is recorded in the access log under ``actor``. Raises ActionNotPulled.
    """
    for name in actions:
        if not pulled(ctx, name):
            raise ActionNotPulled(name)
    lease = min(lease, MAX_LEASE)
    out: list[LockedAction] = []
    with ctx.store.write() as tx:
        now = ctx.now(tx)
        until = now + lease
        found = tx.claim_outbox(now, limit, only=sorted(set(actions)))
        tx.lease_outbox_batch([i.id for i in found if i.id is not None], until, worker=worker)
        for item in found:
            token = item.lease_token + 1
            what = f"fetch_action:{item.id}"
            append_access(tx, actor=actor, case_id=item.case_id, what=what, at=now)
            leased = replace(item, attempts=item.attempts + 1, lease_token=token)
            out.append(LockedAction(action_context(leased), token, until, item.created_at))
    return out


def _held(ctx: EngineContext, tx: StoreTransaction, item_id: int, lease_token: int) -> OutboxRecord:
    """The item, locked, if ``lease_token`` is still its token. Raises ActionNotFound, LeaseLost."""
    item = tx.get_outbox(item_id, lock=True)
    if item is None or not pulled(ctx, item.action):
        raise ActionNotFound(item_id)
    if item.status != OutboxStatus.PENDING or item.lease_token != lease_token:
        raise LeaseLost(item_id, lease_token)
    return item


def extend(ctx: EngineContext, item_id: int, lease_token: int, lease: timedelta) -> datetime:
    """Hold the action ``lease`` longer from now; returns the new end.

    Raises ActionNotFound, LeaseLost.
    """
    with ctx.store.write() as tx:
        _held(ctx, tx, item_id, lease_token)
        until = ctx.now(tx) + min(lease, MAX_LEASE)
        if not tx.extend_outbox_lease(item_id, lease_token, until):
            raise LeaseLost(item_id, lease_token)
    return until


def complete(ctx: EngineContext, item_id: int, lease_token: int) -> Settled:
    """Mark the action delivered. Raises ActionNotFound, LeaseLost."""
    with ctx.store.write() as tx:
        _held(ctx, tx, item_id, lease_token)
        if not tx.settle_outbox(item_id, OutboxStatus.DONE, None, None, lease_token=lease_token):
            raise LeaseLost(item_id, lease_token)
    return Settled(item_id, OutboxStatus.DONE, None)


def fail(
    ctx: EngineContext,
    item_id: int,
    lease_token: int,
    *,
    error: str,
    retry_after: timedelta | None = None,
    permanent: bool = False,
) -> Settled:
    """Record a failed attempt: retried after ``retry_after`` (or the backoff), or dead.

    ``error`` is a short code the worker chose (stored; never case data).
    Raises ActionNotFound, LeaseLost.
    """
    with ctx.store.write() as tx:
        item = _held(ctx, tx, item_id, lease_token)
        policy = ctx.retry_policy(item.action)
        now = ctx.now(tx)
        retry_at: datetime | None = None
        status = OutboxStatus.DEAD
        if not permanent and not policy.gives_up(item.attempts, now - item.created_at):
            status = OutboxStatus.PENDING
            delay = retry_after
            if delay is None:
                delay = policy.delay(item.attempts, _jitter.random())
            retry_at = now + delay
        if not tx.settle_outbox(item_id, status, error, retry_at, lease_token=lease_token):
            raise LeaseLost(item_id, lease_token)
    return Settled(item_id, status, retry_at)


class Actions:
    """``Engine.actions``: how actions are delivered, and the pull worker's calls."""

    def __init__(self, ctx: EngineContext) -> None:
        self._ctx = ctx

    @property
    def config(self) -> DeliveryConfig | None:
        return self._ctx.delivery

    def configure(self, config: DeliveryConfig | None) -> None:
        """Deliver by ``config`` from now on (None: registered Python handlers only).

        Logs the action names that still have no delivery (Python mode, no handler).
        """
        self._ctx.delivery = config
        missing = sorted({a for names in self.unhandled().values() for a in names})
        if missing:
            shown = ", ".join(missing[:8]) + (
                f" and {len(missing) - 8} more" if len(missing) > 8 else ""
            )
            log.warning(
                "delivery configured; %d action names still have no delivery (no handler, "
                "no webhook, not pulled) and are dead-lettered: %s",
                len(missing),
                shown,
            )
        else:
            log.info("delivery configured: every action name has a delivery")

    def unhandled(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """(workflow, version) -> the action names nobody delivers (no handler, webhook, pull)."""
        ctx = self._ctx

        class Delivered:
            def __contains__(self, name: object) -> bool:
                if not isinstance(name, str):
                    return False
                if name in ctx.actions:
                    return True
                config = ctx.delivery
                return (
                    config is not None and config.for_action(name).mode is not DeliveryMode.PYTHON
                )

        return ctx.registry.unhandled_actions(Delivered())

    def replay(self, item_id: int, *, actor: str) -> OutboxRecord:
        """Queue an action again, due now with a fresh retry budget, even one delivered:
        a receiver that lost it gets it again (same idempotency key). Audited in the
        access log. Raises ActionNotFound."""
        with self._ctx.store.write() as tx:
            item = tx.get_outbox(item_id, lock=True)
            if item is None:
                raise ActionNotFound(item_id)
            now = self._ctx.now(tx)
            tx.reset_outbox(item_id, now)
            append_access(
                tx, actor=actor, case_id=item.case_id, what=f"replay_action:{item_id}", at=now
            )
        return replace(item, status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)

    def fetch_and_lock(
        self,
        actions: Sequence[str],
        *,
        worker: str,
        lease: timedelta,
        limit: int = 10,
        actor: str,
    ) -> list[LockedAction]:
        """See :func:`fetch_and_lock`. Raises ActionNotPulled."""
        return fetch_and_lock(
            self._ctx, actions, worker=worker, lease=lease, limit=limit, actor=actor
        )

    def extend(self, item_id: int, lease_token: int, lease: timedelta) -> datetime:
        """Raises ActionNotFound, LeaseLost."""
        return extend(self._ctx, item_id, lease_token, lease)

    def complete(self, item_id: int, lease_token: int) -> Settled:
        """Raises ActionNotFound, LeaseLost."""
        return complete(self._ctx, item_id, lease_token)

    def fail(
        self,
        item_id: int,
        lease_token: int,
        *,
        error: str,
        retry_after: timedelta | None = None,
        permanent: bool = False,
    ) -> Settled:
        """Raises ActionNotFound, LeaseLost."""
        return fail(
            self._ctx,
            item_id,
            lease_token,
            error=error,
            retry_after=retry_after,
            permanent=permanent,
        )

    def close(self) -> None:
        """Release the webhook connections. Raises nothing."""
        if self._ctx.sender is not None:
            self._ctx.sender.close()
            self._ctx.sender = None
