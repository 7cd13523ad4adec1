"""The store's closed vocabularies are exactly the strings stored in the database and JSON."""

from __future__ import annotations

import json

from engine.store.records import (
    HistoryOutcome,
    OutboxStatus,
    RejectionReason,
    TimerScope,
    TimerStatus,
)


def test_timer_status_values_are_the_stored_strings() -> None:
    assert [s.value for s in TimerStatus] == ["pending", "paused", "fired", "cancelled", "overdue"]


def test_timer_scope_values_are_the_stored_strings() -> None:
    assert [s.value for s in TimerScope] == ["state", "clock", "item", "item_clock"]


def test_outbox_status_values_are_the_stored_strings() -> None:
    assert [s.value for s in OutboxStatus] == ["pending", "done", "dead"]


def test_history_outcome_values_are_the_stored_strings() -> None:
    assert [s.value for s in HistoryOutcome] == [
        "opened",
        "transitioned",
        "internal",
        "timer",
        "timer_ignored",
        "item_created",
        "assigned",
        "transferred_out",
        "transferred_in",
        "reopened",
        "migrated",
        "imported",
    ]


def test_rejection_reason_values_are_the_strings_in_problems() -> None:
    assert [s.value for s in RejectionReason] == [
        "wrong_state",
        "guard_false",
        "role_missing",
        "guard_error",
        "unknown_item_type",
        "case_state",
        "item_limit",
        "item_closed",
        "assignee_missing",
    ]


def test_members_equal_and_serialise_as_their_strings() -> None:
    assert TimerStatus.PENDING == "pending"
    assert json.dumps([TimerStatus.PAUSED, HistoryOutcome.TIMER_IGNORED]) == (
        '["paused", "timer_ignored"]'
    )
    assert f"{OutboxStatus.DEAD}" == "dead"
