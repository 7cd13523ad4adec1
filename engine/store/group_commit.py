"""Group commit: rows from concurrent callers written in one transaction.

Every caller returns only once the transaction holding its row committed
(durable: SQLite's ``synchronous=FULL``), or raises what that transaction
raised. The first caller to find no write in progress writes everything
queued so far; callers arriving meanwhile queue and wait, and the next of
them writes the next batch. Used for the access log on SQLite, where each
audited read used to be a write transaction of its own behind the single
writer lock: under concurrent reads the batches grow and the commits (one
fsync each) shrink in number.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("done", "error", "item")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """``submit(item)`` returns when ``write`` committed a batch holding ``item``."""

    def __init__(self, write: Callable[[Sequence[T]], None]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._queue: list[_Slot[T]] = []
        self._writing = False

    def submit(self, item: T) -> None:
        slot = _Slot(item)
        with self._cond:
            self._queue.append(slot)
            while self._writing and not slot.done:
                self._cond.wait()
            if not slot.done:  # no write in progress: this caller writes the queue
                self._writing = True
                batch, self._queue = self._queue, []
        if not slot.done:
            error: BaseException | None = None
            try:
                self._write([s.item for s in batch])
            except BaseException as exc:  # every caller of the batch gets it
                error = exc
            with self._cond:
                for s in batch:
                    s.done, s.error = True, error
                self._writing = False
                self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
