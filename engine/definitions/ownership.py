"""Ownership: who may assign a case, to which teams, its caseload weight and target ratio.

A workflow declares it at the top level::

    ownership:
      assign_roles: [supervisor]           # who may assign, reassign, unassign, transfer
      teams: [act_north, act_south]        # optional: the teams its cases may belong to
      caseload_target: $caseload_target    # clients per case manager: a parameter (source!)
      weights:                             # optional acuity weights of one record field
        field: risk_level
        values: {high: 2, medium: 1.5, low: 1}
        default: 1
        source: Agency acuity policy ...

and a state may say ``requires_assignee: true``: no event sent by a person or a
service enters it while the case has no assignee (the engine's own timers are not
stopped by it). This module is the language's half: the IR (:class:`Ownership`),
building it from YAML, and its static checks (codes ``invalid-ownership`` and
``assignee-required-at-open``). The runtime half is ``engine/runtime/ownership.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.definitions.assemble import Assembled, as_dict, as_list, did_you_mean
from engine.definitions.diagnostics import Diagnostic
from engine.errors import AssignDenied

MAX_WEIGHT = 100.0


@dataclass(frozen=True, slots=True)
class Weights:
    """Caseload weight (acuity) of a case: ``values[record[field]]``, else ``default``."""

    field: str
    values: tuple[tuple[str, float], ...]
    default: float = 1.0
    source: str = ""

    def of(self, record: Mapping[str, Any]) -> float:
        value = record.get(self.field)
        for name, weight in self.values:
            if value == name:
                return weight
        return self.default


@dataclass(frozen=True, slots=True)
class Ownership:
    """The workflow's ``ownership:`` block, resolved."""

    assign_roles: tuple[str, ...]
    teams: tuple[str, ...] = ()  # (): any team of the staff directory
    caseload_target: float | None = None  # weighted open cases per assignee, the model's ratio
    target_parameter: str | None = None  # the parameter it came from (its source names the rule)
    weights: Weights | None = None

    def weight_of(self, record: Mapping[str, Any]) -> float:
        return 1.0 if self.weights is None else self.weights.of(record)

    def check_may_assign(self, workflow: str, roles: Iterable[str]) -> None:
        """Raise AssignDenied unless one of ``roles`` is one of ``assign_roles``."""
        if not any(r in self.assign_roles for r in roles):
            raise AssignDenied(workflow=workflow, allowed_roles=self.assign_roles)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _target(asm: Assembled, raw: Any) -> tuple[float | None, str | None]:
    if isinstance(raw, str) and raw.startswith("$"):
        param = asm.parameters.get(raw[1:])
        if param is None:
            return None, raw[1:]
        return _number(as_dict(param.data).get("value")), raw[1:]
    return _number(raw), None


def build_ownership(asm: Assembled) -> Ownership | None:
    """The IR of a checked workflow's ``ownership`` (None when it declares none)."""
    raw = asm.data.get("ownership")
    if not isinstance(raw, dict):
        return None
    target, parameter = _target(asm, raw.get("caseload_target"))
    weights = None
    w = as_dict(raw.get("weights"))
    if w:
        weights = Weights(
            field=str(w["field"]),
            values=tuple((str(k), float(v)) for k, v in as_dict(w.get("values")).items()),
            default=float(w.get("default", 1)),
            source=str(w.get("source", "")),
        )
    return Ownership(
        assign_roles=tuple(str(r) for r in as_list(raw.get("assign_roles"))),
        teams=tuple(str(t) for t in as_list(raw.get("teams"))),
        caseload_target=target,
        target_parameter=parameter,
        weights=weights,
    )


def ownership_diagnostics(asm: Assembled) -> list[Diagnostic]:
    """Roles declared, the target a positive number from a parameter with a source, the
    weight field declared, ``requires_assignee`` only with ownership and never initial."""
    out: list[Diagnostic] = []
    raw = asm.data.get("ownership")
    origin = asm.origin("ownership")
    code = "invalid-ownership"
    if isinstance(raw, dict):
        for j, role in enumerate(as_list(raw.get("assign_roles"))):
            if isinstance(role, str) and role not in asm.roles:
                out.append(
                    origin.diag(
                        ("assign_roles", j),
                        f"role '{role}' is not declared under roles",
                        "unknown-role",
                        hint=did_you_mean(role, asm.roles),
                    )
                )
        target = raw.get("caseload_target")
        if target is not None:
            value, parameter = _target(asm, target)
            if parameter is not None and parameter not in asm.parameters:
                out.append(
                    origin.diag(
                        ("caseload_target",),
                        f"parameter '{parameter}' is not declared under parameters",
                        "unknown-param",
                        hint=did_you_mean(parameter, asm.parameters),
                    )
                )
            elif parameter is None:
                out.append(
                    origin.diag(
                        ("caseload_target",),
                        "caseload_target must name a parameter ($name) whose source cites "
                        "the model's caseload ratio",
                        code,
                    )
                )
            elif value is None or not 0 < value <= 10_000:
                out.append(
                    origin.diag(
                        ("caseload_target",),
                        f"parameter '{parameter}' is used as caseload_target but its value "
                        "is not a positive number up to 10000",
                        "param-type",
                    )
                )
        w = raw.get("weights")
        if isinstance(w, dict):
            props = as_dict(as_dict(asm.data.get("case_schema")).get("properties"))
            name = w.get("field")
            if isinstance(name, str) and name not in props:
                out.append(
                    origin.diag(
                        ("weights", "field"),
                        f"weight field '{name}' is not a top-level field of case_schema",
                        code,
                        hint=did_you_mean(name, set(props)),
                    )
                )
    for state_name, state in asm.states.items():
        if state.data.get("requires_assignee") is not True:
            continue
        where = state.origin.child("requires_assignee")
        if not isinstance(raw, dict):
            out.append(
                where.diag(
                    (),
                    f"state '{state_name}' requires an assignee but the workflow declares "
                    "no ownership (who may assign)",
                    code,
                    key=True,
                )
            )
        elif state_name == asm.data.get("initial"):
            out.append(
                where.diag(
                    (),
                    f"state '{state_name}' is the initial state: a case opens unassigned, "
                    "so it can never require an assignee",
                    "assignee-required-at-open",
                    key=True,
                )
            )
    return out
