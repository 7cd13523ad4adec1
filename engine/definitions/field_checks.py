"""Checks of field names and types: CEL references, writes and their types.

A mixin of the static checker (:mod:`checks`): it reports through ``add`` and
reads ``asm`` (the assembled workflow) and ``case_fields`` (the declared
top-level case fields, or None when case_schema declares none).
"""

from __future__ import annotations

from typing import Any

from engine.definitions.assemble import Assembled, Origin, as_dict, did_you_mean
from engine.definitions.expressions import (
    ITEM_KEYS,
    ITEM_VARIABLES,
    VARIABLES,
    ExpressionError,
    ExpressionTooCostly,
    compile_expression,
    field_references,
    item_references,
    unknown_variables,
)


class FieldChecks:
    asm: Assembled
    case_fields: set[str] | None
    item_fields: dict[str, set[str] | None]  # item type -> its data fields (None: undeclared)

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

    def check_writes(
        self,
        origin: Origin,
        writes: Any,
        payload_fields: set[str] | None,
        *,
        item_type: str | None = None,
    ) -> None:
        """Each written field is declared by case_schema (or by ``item_type``'s data
        schema) and each payload field it copies by the payload schema."""
        pairs: list[tuple[tuple[str | int, ...], str, str]] = []
        if isinstance(writes, list):
            pairs = [(("writes", i), w, w) for i, w in enumerate(writes) if isinstance(w, str)]
        elif isinstance(writes, dict):
            pairs = [(("writes", k), k, v) for k, v in writes.items() if isinstance(v, str)]
        if item_type is None:
            fields, what = self.case_fields, "case field '{}' that case_schema does not declare"
        else:
            fields = self.item_fields.get(item_type)
            what = f"item data field '{{}}' that the schema of item type '{item_type}' lacks"
        for sub, case_field, payload_field in pairs:
            if fields is not None and case_field not in fields:
                self.add(
                    origin,
                    sub,
                    "writes " + what.format(case_field),
                    "unknown-write-field",
                    key=isinstance(writes, dict),
                    hint=did_you_mean(case_field, fields),
                )
            if fields is payload_fields and payload_field == case_field:
                continue  # an item's creation without payload: its schema checks both sides
            if payload_fields is not None and payload_field not in payload_fields:
                self.add(
                    origin,
                    sub,
                    f"writes payload field '{payload_field}' that the payload "
                    "schema does not declare",
                    "unknown-write-field",
                    hint=did_you_mean(payload_field, payload_fields),
                )

    def check_write_types(
        self,
        origin: Origin,
        writes: Any,
        payload: dict[str, Any],
        *,
        target_schema: Any = None,
    ) -> None:
        """A payload field copied into a case field (or a field of ``target_schema``, an
        item's data schema) must have a type the field accepts."""
        schema = self.asm.data.get("case_schema") if target_schema is None else target_schema
        case_props = as_dict(as_dict(schema).get("properties"))
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
                    f"written into {'case' if target_schema is None else 'item data'} field "
                    f"'{case_field}' ({' or '.join(sorted(wanted))})",
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
        item_type: str | None = None,
        item_allowed: bool = False,
    ) -> None:
        """Compile ``source`` and check every name it reads.

        ``item_type``: an expression of that item type (it sees ``item``, whose
        ``data`` fields are checked against the type's schema); ``item_allowed``:
        it may see ``item`` of any type (an action's arguments used by items).
        """
        try:
            compile_expression(source)
        except ExpressionError as exc:
            code = "cel-too-costly" if isinstance(exc, ExpressionTooCostly) else "cel-syntax"
            self.add(origin, sub, str(exc), code)
            return
        allowed = ITEM_VARIABLES if item_type is not None or item_allowed else VARIABLES
        for name in unknown_variables(source, allowed):
            hint = did_you_mean(name, allowed)
            if name == "item":
                hint = "only an item's own expressions see item; case expressions see items"
            self.add(
                origin,
                sub,
                f"unknown variable '{name}': expressions see "
                f"{', '.join(allowed[:-1])} and {allowed[-1]}",
                "unknown-variable",
                hint=hint,
            )
        self.check_item_references(origin, sub, source, item_type)
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

    def check_item_references(
        self, origin: Origin, sub: tuple[str | int, ...], source: str, item_type: str | None
    ) -> None:
        """``items.T`` names a declared type; ``item.X``/``r.X`` an item key;
        ``item.data.X``/``r.data.X`` a field of the item type's schema."""
        types = self.item_fields
        for ref in item_references(source):
            if ref.kind == "type":
                if ref.name not in types:
                    declared = ", ".join(types) if types else "none"
                    self.add(
                        origin,
                        sub,
                        f"'items.{ref.name}': no item type '{ref.name}' is declared under items "
                        f"(declared: {declared})",
                        "unknown-item-type",
                        hint=did_you_mean(ref.name, types),
                    )
                continue
            owner = item_type if ref.item_type is None else ref.item_type
            if ref.item_type is None and item_type is None:
                continue  # `item` in a case expression: unknown-variable says so
            where = "item" if ref.item_type is None else f"an item of type '{owner}'"
            if ref.kind == "key":
                if ref.name not in ITEM_KEYS:
                    self.add(
                        origin,
                        sub,
                        f"{where} has no key '{ref.name}' (it has {', '.join(ITEM_KEYS)}; "
                        "its fields are under data)",
                        "unknown-item-field",
                        hint=did_you_mean(ref.name, ITEM_KEYS)
                        or f"did you mean 'data.{ref.name}'?",
                    )
                continue
            if owner is None or owner not in types:
                continue
            fields = types[owner]
            if fields is not None and ref.name not in fields:
                self.add(
                    origin,
                    sub,
                    f"'data.{ref.name}' is not a field of the schema of item type '{owner}'",
                    "unknown-item-field",
                    hint=did_you_mean(ref.name, fields),
                )


def _types(value: Any) -> set[str] | None:
    """The JSON types a schema's ``type`` keyword allows, or None when it says nothing."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return set(value)
    return None
