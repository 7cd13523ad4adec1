"""Checks of field names and types: CEL references, writes and their types.

A mixin of the static checker (:mod:`checks`): it reports through ``add`` and
reads ``asm`` (the assembled workflow) and ``case_fields`` (the declared
top-level case fields, or None when case_schema declares none).
"""

from __future__ import annotations

from typing import Any

from engine.definitions.assemble import Assembled, Origin, as_dict, did_you_mean
from engine.definitions.expressions import (
    VARIABLES,
    ExpressionError,
    ExpressionTooCostly,
    compile_expression,
    field_references,
    unknown_variables,
)


class FieldChecks:
    asm: Assembled
    case_fields: set[str] | None

    def add(
        self,
        origin: Origin,
        sub: tuple[str | int, ...],
        message: str,
        code: str,
        *,
        key: bool = False,
        hint: str | None = None,
        severity: str = "error",
    ) -> None:
        raise NotImplementedError  # provided by the checker

    def check_writes(self, origin: Origin, writes: Any, payload_fields: set[str] | None) -> None:
        pairs: list[tuple[tuple[str | int, ...], str, str]] = []
        if isinstance(writes, list):
            pairs = [(("writes", i), w, w) for i, w in enumerate(writes) if isinstance(w, str)]
        elif isinstance(writes, dict):
            pairs = [(("writes", k), k, v) for k, v in writes.items() if isinstance(v, str)]
        for sub, case_field, payload_field in pairs:
            if self.case_fields is not None and case_field not in self.case_fields:
                self.add(
                    origin,
                    sub,
                    f"writes case field '{case_field}' that case_schema does not declare",
                    "unknown-write-field",
                    key=isinstance(writes, dict),
                    hint=did_you_mean(case_field, self.case_fields),
                )
            if payload_fields is not None and payload_field not in payload_fields:
                self.add(
                    origin,
                    sub,
                    f"writes payload field '{payload_field}' that the payload "
                    "schema does not declare",
                    "unknown-write-field",
                    hint=did_you_mean(payload_field, payload_fields),
                )

    def check_write_types(self, origin: Origin, writes: Any, payload: dict[str, Any]) -> None:
        """A payload field copied into a case field must have a type the case field accepts."""
        case_props = as_dict(as_dict(self.asm.data.get("case_schema")).get("properties"))
        payload_props = as_dict(payload.get("properties"))
        if isinstance(writes, list):
            pairs = [(("writes", i), w, w) for i, w in enumerate(writes) if isinstance(w, str)]
        elif isinstance(writes, dict):
            pairs = [(("writes", k), k, v) for k, v in writes.items() if isinstance(v, str)]
        else:
            return
        for sub, case_field, payload_field in pairs:
            wanted = _types(as_dict(case_props.get(case_field)).get("type"))
            given = _types(as_dict(payload_props.get(payload_field)).get("type"))
            if wanted is None or given is None:
                continue
            if "number" in wanted:
                wanted = wanted | {"integer"}
            if not given <= wanted:
                self.add(
                    origin,
                    sub,
                    f"payload field '{payload_field}' ({' or '.join(sorted(given))}) is "
                    f"written into case field '{case_field}' ({' or '.join(sorted(wanted))})",
                    "write-type-mismatch",
                    key=isinstance(writes, dict),
                )

    def check_cel(
        self,
        origin: Origin,
        sub: tuple[str | int, ...],
        source: str,
        *,
        payload: set[str] | None,
        allow_event: bool = True,
    ) -> None:
        try:
            compile_expression(source)
        except ExpressionError as exc:
            code = "cel-too-costly" if isinstance(exc, ExpressionTooCostly) else "cel-syntax"
            self.add(origin, sub, str(exc), code)
            return
        for name in unknown_variables(source):
            self.add(
                origin,
                sub,
                f"unknown variable '{name}': expressions see case, event, params and now",
                "unknown-variable",
                hint=did_you_mean(name, VARIABLES),
            )
        for ref in field_references(source):
            if ref.root == "case" and self.case_fields is not None:
                if ref.name not in self.case_fields:
                    self.add(
                        origin,
                        sub,
                        f"'case.{ref.name}' is not a field of case_schema",
                        "unknown-case-field",
                        hint=did_you_mean(ref.name, self.case_fields),
                    )
            elif ref.root == "event":
                if not allow_event:
                    self.add(
                        origin,
                        sub,
                        f"'event.{ref.name}': a timer expression has no event payload",
                        "unknown-event-field",
                    )
                elif payload is not None and ref.name not in payload:
                    self.add(
                        origin,
                        sub,
                        f"'event.{ref.name}' is not a field of the payload schema",
                        "unknown-event-field",
                        hint=did_you_mean(ref.name, payload),
                    )
            elif ref.root == "params":
                param = self.asm.parameters.get(ref.name)
                if param is None:
                    self.add(
                        origin,
                        sub,
                        f"parameter '{ref.name}' is not declared under parameters",
                        "unknown-param",
                        hint=did_you_mean(ref.name, self.asm.parameters),
                    )


def _types(value: Any) -> set[str] | None:
    """The JSON types a schema's ``type`` keyword allows, or None when it says nothing."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return set(value)
    return None
