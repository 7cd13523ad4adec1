"""Idempotency keys: replay a stored result, remember a new one, retry a lost race.

A request with a key stores its result under the key with the request's
fingerprint (:func:`engine.runtime.audit.fingerprint`) in the transaction of
the change. A retry with the same key and fingerprint replays the result;
another request with the key is :class:`IdempotencyKeyReused`. Two requests
with one key at once: the second insert of the key raises DuplicateKey, its
transaction rolls back, and :func:`run_idempotent` runs it again, now replaying.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from engine.errors import DuplicateKey, IdempotencyKeyReused
from engine.runtime.convert import case_view_from_dict
from engine.runtime.views import CaseView
from engine.store.interface import CaseStore, StoreTransaction
from engine.store.records import IdempotencyRecord

RETRIES = 3

T = TypeVar("T")


def run_idempotent(
    store: CaseStore, key: str | None, attempt: Callable[[StoreTransaction], CaseView]
) -> CaseView:
    """Run ``attempt`` in a write transaction; again when a concurrent request stored a
    unique key first: with an idempotency key the retry replays its result; a business
    key taken by another open case is then found by the retry's check
    (:mod:`engine.runtime.business_keys`). Raises DuplicateKey when the retries run out,
    and whatever ``attempt`` raises."""
    for n in range(RETRIES):
        try:
            with store.write() as tx:
                return attempt(tx)
        except DuplicateKey:
            if n == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def replay(tx: StoreTransaction, key: str | None, fp: str | None) -> CaseView | None:
    """The stored result for ``key``, or None. Raises IdempotencyKeyReused on another request."""
    if key is None:
        return None
    entry = tx.get_idempotency(key)
    if entry is None:
        return None
    if entry.fingerprint != fp:
        raise IdempotencyKeyReused(key)
    return case_view_from_dict(entry.response)


def remember(
    tx: StoreTransaction, key: str | None, fp: str | None, view: CaseView, now: datetime
) -> None:
    """Store ``view`` under ``key``. Raises DuplicateKey when a concurrent request did first."""
    if key is None or fp is None:
        return
    tx.insert_idempotency(IdempotencyRecord(key, fp, view.id, view.to_dict(), now))


def run_idempotent_any(
    store: CaseStore, key: str | None, attempt: Callable[[StoreTransaction], T]
) -> T:
    """:func:`run_idempotent` for any result (an assignment, say)."""
    for n in range(RETRIES):
        try:
            with store.write() as tx:
                return attempt(tx)
        except DuplicateKey:
            if n == RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
