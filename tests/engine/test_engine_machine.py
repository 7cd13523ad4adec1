"""The transitions-backed machine: built once per version, never bound to a model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from engine_support import V1

from engine.definitions import load_workflow
from engine.errors import EventRejected
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.registry import Registry

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def compiled() -> CompiledWorkflow:
    return CompiledWorkflow(load_workflow(V1 / "enginetest.yaml"))


def _apply(c: CompiledWorkflow, event: str, record: dict, **kw):
    args = {
        "case_id": "c1",
        "state": "intake",
        "previous_state": None,
        "event": event,
        "payload": {},
        "record": record,
        "roles": ["clerk"],
        "now": NOW,
    }
    args.update(kw)
    return c.apply(**args)


def test_apply_leaves_machine_without_models(compiled: CompiledWorkflow) -> None:
    applied = _apply(compiled, "contacted", {"patient_id": "P-0001", "attempts": 0})
    assert (applied.from_state, applied.to_state, applied.entered) == ("intake", "assessing", True)
    assert applied.actions == ("left_intake", "log_contact", "notify_assessor")
    assert compiled.machine.models == []


def test_failing_set_expression_rejects_with_guard_error(compiled: CompiledWorkflow) -> None:
    # without `attempts` the guard fails to evaluate (next transition tried) and so does `set`
    with pytest.raises(EventRejected) as err:
        _apply(compiled, "attempt_failed", {"patient_id": "P-0001"})
    assert err.value.reason == "guard_error"
    assert "attempts" in err.value.detail


def test_previous_target_needs_a_previous_state(compiled: CompiledWorkflow) -> None:
    with pytest.raises(EventRejected) as err:
        _apply(compiled, "resume", {"patient_id": "P-0001"}, state="on_hold")
    assert err.value.reason == "wrong_state"
    back = _apply(
        compiled, "resume", {"patient_id": "P-0001"}, state="on_hold", previous_state="intake"
    )
    assert back.to_state == "intake"
    assert back.record["hold_reason"] is None


def test_system_sender_bypasses_roles_only_for_timers(compiled: CompiledWorkflow) -> None:
    record = {"patient_id": "P-0001", "attempts": 0}
    with pytest.raises(EventRejected):
        _apply(compiled, "contact_overdue", record, roles=["system"])
    applied = _apply(compiled, "contact_overdue", record, roles=["system"], system=True)
    assert applied.entered is False
    assert applied.actions == ("escalate",)


def test_registry_compiles_each_version_once() -> None:
    from engine.runtime import registry as reg_module

    r = Registry()
    r._defs = {("enginetest", 1): load_workflow(V1 / "enginetest.yaml")}
    r._latest = {"enginetest": 1}
    first = r.compiled("enginetest", 1)
    assert r.compiled("enginetest", 1) is first
    assert reg_module.CompiledWorkflow is CompiledWorkflow


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0", (True, 0)),
        ("-3", (True, -3)),
        ('"completed"', (True, "completed")),
        ("null", (True, None)),
        ("true", (True, True)),
        ("case.attempts + 1", (False, None)),
        ('"a" + "b"', (False, None)),
        ('"x\\\\n"', (False, None)),
        ("1.5", (False, None)),
    ],
)
def test_constant_set_expressions_skip_cel(source: str, expected: tuple) -> None:
    from engine.runtime.machine import _literal

    assert _literal(source) == expected
