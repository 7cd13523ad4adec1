"""A backlog of failing outbox rows is logged as counts, not one line a row."""

from __future__ import annotations

import logging

from engine_support import CLERK, RECORD

from engine.runtime.engine import Engine
from engine.runtime.views import ActionContext


def test_dead_lettered_backlog_is_one_line_of_counts_per_batch(engine: Engine, caplog) -> None:
    for _ in range(20):
        case = engine.open_case("enginetest", RECORD, **CLERK)
        engine.send(case.id, "contacted", **CLERK)
    with caplog.at_level(logging.DEBUG, logger="engine.runtime.delivery"):
        assert engine.deliver_outbox(limit=100) == 60
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.runtime.delivery"]
    assert len(lines) == 1
    assert lines[0].startswith("outbox: 60 item(s) dead-lettered: ")
    for action in ("left_intake", "log_contact", "notify_assessor"):
        assert f"{action} x20 (ActionNotRegistered)" in lines[0]


def test_retries_and_dead_letters_are_counted_apart(engine: Engine, caplog) -> None:
    def failing(ctx: ActionContext) -> None:
        raise RuntimeError("unreachable")

    engine.outbox_max_attempts = 2
    engine.register_action("log_contact", failing)
    for _ in range(3):
        case = engine.open_case("enginetest", RECORD, **CLERK)
        engine.send(case.id, "contacted", **CLERK)
    with caplog.at_level(logging.DEBUG, logger="engine.runtime.delivery"):
        engine.deliver_outbox()
    messages = [r.getMessage() for r in caplog.records if r.name == "engine.runtime.delivery"]
    assert "outbox: 3 item(s) to retry: log_contact x3 (RuntimeError)" in messages
    assert any(m.startswith("outbox: 6 item(s) dead-lettered: ") for m in messages)
