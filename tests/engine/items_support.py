"""The work-item runtime tests' workflow: itemcase.yaml plus a ``referral`` item type.

The item type is built here as the frozen IR (engine/definitions/items.py) so
these tests do not depend on the YAML language of items.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.clock import Clock
from engine.definitions import load_workflows
from engine.definitions.durations import parse_duration
from engine.definitions.items import ItemClock, ItemCreate, ItemState, ItemType
from engine.definitions.model import Timer, TimerKind, Transition, WorkflowDefinition
from engine.runtime.engine import Engine

ITEMCASE = Path(__file__).parent / "fixtures" / "items" / "itemcase.yaml"
CM = {"actor": "cm-17", "roles": ["case_manager"]}
PROVIDER = {"actor": "prov-3", "roles": ["provider"]}
PATIENT = {"patient_id": "P-0001"}
#: every referral settled (closed): the case moves to monitoring
ALL_SETTLED = "items.referral.all(r, r.closed)"

REFERRAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["provider", "service"],
    "properties": {
        "provider": {"type": "string", "maxLength": 64},
        "service": {"enum": ["housing", "food", "transport"]},
        "reason": {"enum": ["full", "not_eligible"]},
        "attempts": {"type": "integer", "minimum": 0},
    },
}


def _t(source: str, event: str, target: str | None, **kw: Any) -> Transition:
    return Transition(source=source, event=event, target=target, **kw)


def referral_type(max_items: int = 3) -> ItemType:
    no_answer = Timer(
        name="no_answer",
        state="sent",
        event="no_answer",
        kind=TimerKind.AFTER,
        after=parse_duration("P14D"),
    )
    states = {
        "sent": ItemState("sent", timers=(no_answer,), on_enter=("notify_provider",)),
        "waitlisted": ItemState("waitlisted"),
        "accepted": ItemState("accepted", final=True),
        "declined": ItemState("declined", final=True),
    }
    transitions = (
        _t("sent", "accepted", "accepted", roles=("provider",), case_event="all_settled"),
        _t(
            "sent",
            "declined",
            "declined",
            roles=("provider",),
            payload_schema={
                "type": "object",
                "required": ["reason"],
                "properties": {"reason": {"enum": ["full", "not_eligible"]}},
            },
            writes=(("reason", "reason"),),
            case_event="all_settled",
        ),
        _t("sent", "waitlist", "waitlisted", roles=("provider",)),
        _t("waitlisted", "accepted", "accepted", roles=("provider",), case_event="all_settled"),
        _t("sent", "no_answer", None, sets=(("attempts", "item.data.attempts + 1"),)),
        _t(
            "sent",
            "chase",
            None,
            roles=("case_manager",),
            guard="item.data.attempts < 2",
            sets=(("attempts", "item.data.attempts + 1"),),
            actions=("chase_provider",),
        ),
        _t("sent", "decision_overdue", "declined"),
        _t("waitlisted", "decision_overdue", "declined"),
    )
    clock = ItemClock(
        name="decision_due",
        states=("sent", "waitlisted"),
        event="decision_overdue",
        kind=TimerKind.AFTER,
        after=parse_duration("P30D"),
    )
    create = ItemCreate(
        roles=("case_manager",),
        case_states=("linking",),
        sets=(("attempts", "0"),),
        actions=("send_referral",),
        case_event="referral_added",
    )
    return ItemType(
        name="referral",
        data_schema=REFERRAL_SCHEMA,
        initial="sent",
        states=states,
        transitions=transitions,
        create=create,
        clocks=(clock,),
        max_items=max_items,
        title="Referral to a community provider",
    )


def itemcase_definition(max_items: int = 3) -> WorkflowDefinition:
    (base,) = load_workflows([ITEMCASE])
    transitions = tuple(
        replace(t, guard=ALL_SETTLED) if t.event == "all_settled" else t for t in base.transitions
    )
    return replace(base, transitions=transitions, item_types={"referral": referral_type(max_items)})


def open_engine(database_url: str, clock: Clock, max_items: int = 3) -> Engine:
    return Engine._from_definitions(database_url, [itemcase_definition(max_items)], clock=clock)
