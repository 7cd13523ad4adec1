"""What the facade, timer firing and outbox delivery of one :class:`Engine` share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from engine.clock import Clock
from engine.runtime.delivery_config import DeliveryConfig, RetryPolicy
from engine.runtime.registry import Registry
from engine.runtime.views import ActionContext
from engine.store.interface import CaseStore, StoreTransaction

if TYPE_CHECKING:
    from engine.runtime.webhooks import WebhookSender

Action = Callable[[ActionContext], None]


@dataclass
class EngineContext:
    """The store, definitions, clock and registered actions of one :class:`Engine`."""

    store: CaseStore
    registry: Registry
    clock: Clock
    use_db_clock: bool  # PostgreSQL with the system clock: "now" is the database's now()
    actions: dict[str, Action] = field(default_factory=dict)
    outbox_max_attempts: int = 5
    outbox_base_delay: timedelta = timedelta(seconds=10)
    outbox_max_delay: timedelta = timedelta(hours=1)
    outbox_lease: timedelta = timedelta(minutes=5)
    timer_batch: int = 100
    #: how each action is delivered; None: Python handlers only, with the policy above
    delivery: DeliveryConfig | None = None
    sender: WebhookSender | None = None  # made on the first webhook delivery

    def now(self, tx: StoreTransaction | None = None) -> datetime:
        """The transaction's instant: the database clock on PostgreSQL, else the Clock."""
        if self.use_db_clock and tx is not None:
            return tx.now()
        return self.clock.now()

    def backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self.outbox_base_delay * (2 ** max(0, attempts - 1))
        return min(delay, self.outbox_max_delay)

    def retry_policy(self, action: str) -> RetryPolicy:
        """The retry policy of ``action``: its configured one, else the fields above."""
        if self.delivery is not None:
            return self.delivery.for_action(action, has_handler=action in self.actions).retry
        return RetryPolicy(
            max_attempts=self.outbox_max_attempts,
            max_age=timedelta.max,
            base_delay=self.outbox_base_delay,
            max_delay=self.outbox_max_delay,
            jitter=0.0,
            lease=self.outbox_lease,
        )
