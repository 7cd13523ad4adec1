"""Every diagnostic code the loader and checker emit, with what it means.

Codes are stable: editors, CI and ``casework validate --format json`` filter
on them. Severity is "error" unless listed in :data:`WARNING_CODES`.
"""

from __future__ import annotations

DIAGNOSTIC_CODES: dict[str, str] = {
    # reading the file
    "file-not-found": "the path does not exist or is not a regular file",
    "file-unreadable": "the file could not be read (permissions, I/O error)",
    "yaml-too-large": "the file is over 1 MiB",
    "yaml-encoding": "the file is not UTF-8",
    "yaml-empty": "the file is empty or only comments",
    "yaml-syntax": "YAML syntax error (indentation, unclosed bracket, several documents...)",
    "yaml-too-deep": "nesting deeper than 64 levels",
    "yaml-alias-bomb": "aliases expand to more than 100,000 extra nodes",
    "yaml-tag": "a tag such as !!python/object: workflow files are plain data",
    "yaml-merge-key": "a merge key (<<): use shared_transitions or include instead",
    "yaml-key-type": "a mapping key that is not a string",
    "yaml-not-mapping": "the top level is not a mapping",
    "duplicate-key": "a key written twice in one mapping (YAML would silently keep the last)",
    # the workflow language schema
    "unknown-property": "a property the language does not have (often a typo)",
    "missing-property": "a required property is missing",
    "wrong-type": "a value of the wrong type",
    "invalid-value": "a value outside the allowed ones (enum, pattern, range)",
    "invalid-name": "a state, role, parameter or field name that is not snake_case",
    "transition-target": "a transition without 'target' or 'internal: true', or with both",
    "timer-kind": "a timer without exactly one of after, business_days, at, every",
    "duplicate-item": "a list whose items must be unique repeats one",
    "empty-value": "an empty string or list where content is required",
    "schema": "another schema violation",
    # includes and merging
    "include-missing": "an included fragment file does not exist",
    "include-not-fragment": "an included file has no top-level 'fragment:' key",
    "include-absolute": "an include path is absolute; it must be relative to the file",
    "include-outside": "an include path leads out of the workflow's folder (../ or a symlink)",
    "duplicate-state": "a state defined in two places (workflow and fragment, or two fragments)",
    "duplicate-role": "a role defined in two places",
    "duplicate-parameter": "a parameter defined in two places",
    "unknown-state": "a shared transition's from/except, a clock or an item type's create.in "
    "names a case state that does not exist",
    "items-in-fragment": "a fragment declares item types (only the workflow file may)",
    "not-a-workflow": "a fragment file was loaded as a workflow",
    "duplicate-workflow": "two files define the same workflow name and version",
    # static checks
    "unknown-target": "a transition targets a state that does not exist",
    "initial-missing": "the initial state does not exist",
    "initial-not-intake": "the initial state is not in the intake phase",
    "no-final-state": "no state is final: no case could ever close",
    "unreachable-state": "no path leads from the initial state to this state",
    "cannot-close": "no final state can be reached from this state",
    "final-has-transitions": "a final state has transitions",
    "final-has-timers": "a final state has timers",
    "final-not-closure": "a final state is not in the closure phase",
    "empty-phase": "one of the six phases has no state",
    "previous-not-hold": "'@previous' is used from a state that is not a hold state",
    "timer-event-unhandled": "no transition of the timer's state handles the event it sends",
    "duplicate-timer": "two timers of one state share a name",
    "offset-without-at": "a timer has 'offset' without 'at'",
    "invalid-duration": "a duration that is not ISO 8601 or is zero",
    "unknown-param": "a $name or params.name that is not declared under parameters",
    "param-type": "a parameter used where its value's type does not fit",
    "cel-syntax": "a CEL expression that does not compile",
    "cel-too-costly": "a CEL expression nests comprehensions (map, filter, all, exists) "
    "deeper than the evaluation budget allows",
    "unknown-variable": "a CEL expression uses a variable other than case, event, params, now",
    "unknown-case-field": "a CEL expression reads a case field case_schema does not declare",
    "unknown-event-field": "a CEL expression reads a payload field the payload does not declare",
    "unknown-role": "a transition, open_roles or ownership.assign_roles names a role not "
    "declared under roles",
    "invalid-ownership": "ownership: a caseload_target that is not a parameter, a weight field "
    "case_schema does not declare, or requires_assignee without ownership",
    "assignee-required-at-open": "the initial state requires an assignee (a case opens unassigned)",
    "unknown-write-field": "writes names a case or payload field the schemas do not declare",
    "write-type-mismatch": "writes copies a payload field into a case field of another type",
    "unknown-set-field": "set names a case field case_schema does not declare",
    "invalid-case-schema": "case_schema is not a valid JSON Schema (2020-12)",
    "invalid-payload-schema": "a payload schema is not a valid JSON Schema (2020-12)",
    "pattern-not-linear": "a schema pattern needs lookaround or a backreference, which the "
    "linear-time regex engine does not run",
    "invalid-timezone": "timezone is not an IANA time zone name",
    "invalid-calendar": "no holiday calendar is known for the country/subdivision",
    "invalid-business-key": "a business key that is not a top-level string or integer field "
    "of case_schema, or one declared twice",
    "unknown-calendar": "a timer or clock names a calendar not declared under calendars",
    "duplicate-clock": "two clocks share a name",
    "clock-duration": "a clock without exactly one duration of its kind (deadline: after, "
    "business_days, every; watchdog: within, business_days)",
    "clock-reset-on": "a watchdog without reset_on, or reset_on on a deadline clock",
    "unknown-event": "a clock names an event no transition handles: it can never happen",
    "clock-event-unhandled": "a clock can fire in a state where no transition handles its event",
    "clock-never-starts": "no start of a clock leads to a state where it could run",
    "clock-never-stops": "no stop of a clock (or final state) can be reached while it runs",
    "clock-anchor-type": "a clock's anchor reads a case field that is not a date or date-time "
    "string",
    # work item types (items:)
    "invalid-item-schema": "an item type's schema is not a valid JSON Schema (2020-12) or not "
    "of type object",
    "item-initial-missing": "an item type's initial state is not one of its states",
    "unknown-item-state": "an item transition's target, an item clock's states or a state name "
    "compared with item.state (r.state) in CEL name a state the item type does not have",
    "unreachable-item-state": "no item transition leads from the item's initial state to this one",
    "unknown-item-type": "a CEL expression reads items.T for a type not declared under items, "
    "or a transfer carries items of a type this workflow does not declare",
    "unknown-item-field": "a CEL expression reads item.data.X (or r.data.X of items.T) that the "
    "item schema does not declare, or an item key that does not exist",
    "transfer-target-not-final": "a transfer's target (the state it closes the case in) is "
    "not a final state",
    "reopen-from-not-final": "a reopening lists a state under from that is not final",
    "reopen-target-final": "a reopening's target is a final state: a reopened case is open",
    "continuity-event-reused": "a transfer's or reopening's event is also another transition's "
    "or declaration's event",
    "unknown-clock": "a transfer carries a clock this workflow does not declare",
    "transfer-item-closed": "a transfer maps a final state of an item type: only open items "
    "are carried",
    # warnings
    "item-event-never-sent": "an item event no role may send and no item timer or clock sends",
    "case-event-unhandled": "an item's case_event that no case transition handles (always a no-op)",
    "payload-missing": "an event carries data (writes, event. in set) without a payload schema",
    "payload-field-unused": "a payload field is never written to the case record nor read",
    "no-way-out": "an open state no role can leave and that has no timer",
    "shadowed-transition": "a transition never taken: an earlier one for its event has no guard",
    # the checker itself
    "too-many-diagnostics": "more than 100 diagnostics for one file: the rest are counted",
    "internal-error": "a bug in the checker (please report it with the file)",
}

WARNING_CODES: frozenset[str] = frozenset(
    {
        "no-way-out",
        "shadowed-transition",
        "payload-missing",
        "payload-field-unused",
        "item-event-never-sent",
        "case-event-unhandled",
    }
)
