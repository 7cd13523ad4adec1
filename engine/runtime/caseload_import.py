"""Importing an existing caseload: one running case per row of a CSV or JSON-lines file.

A row names the ``workflow`` (its newest version), the ``state`` the case is in,
its ``record``, and the dates its deadlines count from: ``entered_at`` (when it
entered that state: its state timers count from it), ``opened_at`` (default
``entered_at``) and, per case clock that runs, ``clocks.NAME`` (the instant it
started, or ``anchor`` for a clock that counts from the record's date; empty: the
clock does not run). JSON lines::

    {"workflow": "outreach", "state": "assessing", "entered_at": "2026-11-23",
     "record": {"patient_id": "P-1", "last_assessment_date": "2026-03-01"},
     "clocks": {"annual_reassessment": "anchor"}}

CSV: the same names as columns, the record as ``record.FIELD`` columns (typed by
the case schema: integers, numbers, booleans; JSON for objects and arrays) or
one ``record`` column of JSON, clocks as ``clock.NAME`` columns.

:func:`import_caseload` reads the file twice and holds no row in between, so
memory stays flat in the number of rows: first every row is checked (the
workflow and state exist, the record meets the schema, the business key is
there and not repeated in the file, no date the deadlines count from lies in
the future) and every bad row is reported with its line and field, writing
nothing; then the rows are written in batches, one transaction each. A case
is imported once: its id is derived from its workflow's unique business key,
and a row whose case exists (imported before) or whose key an open case
holds is skipped, so running the import again changes nothing. Each case gets
one history row (event ``@import``, outcome ``imported``, with the import's
id, line and dates) and its timers and clocks due where they would be had it
run here all along: an assessment due 14 days after entry, entered 10 days
ago, has 4 days left; one already past due is due now and fires once. The
state's ``on_enter`` actions are not queued (it entered that state elsewhere).
Each run appends one access-log row.
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.definitions.business_keys import MAX_KEY_TEXT, key_text
from engine.definitions.clocks import Clock
from engine.definitions.expressions import ExpressionError
from engine.definitions.model import TimerKind, WorkflowDefinition
from engine.errors import EngineError, PayloadInvalid, UnknownWorkflow
from engine.runtime.audit import GENESIS, head_hash
from engine.runtime.audit_trail import append_access
from engine.runtime.business_keys import key_records
from engine.runtime.clocks import anchor_instant
from engine.runtime.context import EngineContext
from engine.runtime.json_policy import MAX_RECORD_BYTES, check_json
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.timers import first_due
from engine.runtime.transact import HistoryFacts, history_record
from engine.store.interface import StoreTransaction
from engine.store.records import (
    CaseKeyRecord,
    CaseRecord,
    HistoryOutcome,
    HistoryRecord,
    TimerRecord,
    TimerScope,
    TimerStatus,
)
from engine.timing.calendar import zone
from engine.timing.due import parse_at_value, timezone_of

__all__ = ["ImportProblem", "ImportReport", "import_caseload"]

IMPORT_EVENT = "@import"
_NAMESPACE = uuid.UUID("6f1c2a52-7c1e-4d0b-9a38-3f0c2b9d5e11")  # case ids of imported cases
_COLUMNS = ("workflow", "state", "entered_at", "opened_at", "record")

Progress = Callable[[int, int], None]  # (rows done, rows in the file)


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One bad row: where (line of the file, field) and what, never the value."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    """What an import found or did."""

    file: str
    import_id: str
    rows: int = 0
    written: int = 0
    already: int = 0  # rows whose business key a case already has: skipped
    problems: list[ImportProblem] = field(default_factory=list)
    validated_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "import_id": self.import_id,
            "rows": self.rows,
            "written": self.written,
            "already_present": self.already,
            "validated_only": self.validated_only,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    workflow: str
    state: str
    record: dict[str, Any]
    entered_at: datetime
    opened_at: datetime
    clocks: dict[str, datetime]  # clock name -> the instant its deadline counts from
    key: tuple[str, str]  # (unique business key, value as text)


class _Bad(Exception):
    def __init__(self, problems: list[ImportProblem]) -> None:
        self.problems = problems


def _raw_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line, raw row) of a .csv or JSON-lines file; a line that is no row gives
    (line, _Bad)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            line = reader.line_num
            for raw in reader:
                yield line + 1, raw
                line = reader.line_num
        return
    with path.open(encoding="utf-8") as fh:
        for n, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError:
                yield n, _Bad([ImportProblem(n, "$", "not a JSON object")])
                continue
            yield n, value


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Checker:
    """Turns raw rows into checked :class:`_Row` values (or the row's problems)."""

    def __init__(self, ctx: EngineContext, now: datetime) -> None:
        self.ctx = ctx
        self.now = now
        self._defs: dict[str, tuple[WorkflowDefinition, CompiledWorkflow, str] | str] = {}

    def workflow(self, name: str) -> tuple[WorkflowDefinition, CompiledWorkflow, str]:
        """The definition, its compiled form and its unique key; raises _Bad-ready text."""
        got = self._defs.get(name)
        if got is None:
            try:
                d = self.ctx.registry.get(name)
            except UnknownWorkflow:
                got = f"no workflow named {name!r} is registered"
            else:
                unique = [k.name for k in d.business_keys if k.unique]
                got = (
                    (d, self.ctx.registry.compiled(d.name, d.version), unique[0])
                    if unique
                    else f"workflow {name!r} declares no unique business key: an import "
                    "needs one to know a case it already brought in"
                )
            self._defs[name] = got
        if isinstance(got, str):
            raise ValueError(got)
        return got

    def check(self, line: int, raw: Any) -> _Row:
        if isinstance(raw, _Bad):
            raise raw
        if isinstance(raw, dict) and any(k is None for k in raw):
            raise _Bad([ImportProblem(line, "$", "more values than the header has columns")])
        if not isinstance(raw, dict):
            raise _Bad([ImportProblem(line, "$", "a row is a JSON object")])
        problems: list[ImportProblem] = []

        def bad(where: str, message: str) -> None:
            problems.append(ImportProblem(line, where, message))

        name = raw.get("workflow")
        if not isinstance(name, str) or not name:
            raise _Bad([ImportProblem(line, "workflow", "missing")])
        try:
            d, compiled, key_name = self.workflow(name)
        except ValueError as exc:
            raise _Bad([ImportProblem(line, "workflow", str(exc))]) from None
        state_name = raw.get("state")
        state = d.states.get(state_name) if isinstance(state_name, str) else None
        if state is None:
            bad("state", f"unknown state of {d.name} v{d.version}" if state_name else "missing")
        elif state.final:
            bad("state", f"'{state.name}' is final: an import brings running cases")
        elif state.hold:
            bad(
                "state",
                f"'{state.name}' is a hold state: import the case in the state it "
                "returns to, then send the event that puts it on hold",
            )
        record = self._record(raw, d, bad)
        if record is not None:
            record = {**compiled.defaults, **record}
            try:
                check_json(record, what="case record", max_bytes=MAX_RECORD_BYTES)
                compiled.case_check.validate(record)
            except PayloadInvalid as exc:
                bad(f"record{exc.json_path.removeprefix('$')}", exc.problem)
                record = None
        key_value = key_text(record.get(key_name)) if record is not None else None
        if record is not None and key_value is None:
            bad(f"record.{key_name}", "the business key is missing (a string or an integer)")
        elif key_value is not None and len(key_value) > MAX_KEY_TEXT:
            bad(
                f"record.{key_name}",
                f"a business key value is limited to {MAX_KEY_TEXT} characters",
            )
        tz = zone(timezone_of(d, record))
        entered = self._instant(raw.get("entered_at"), "entered_at", tz, bad)
        opened = self._instant(raw.get("opened_at"), "opened_at", tz, bad)
        counts = state is not None and any(t.kind is not TimerKind.AT for t in state.timers)
        if entered is None and "entered_at" not in {p.field for p in problems}:
            if counts:
                bad(
                    "entered_at",
                    f"needed: the timers of '{state_name}' count from the state's entry",
                )
            else:
                entered = opened or self.now
        if (
            opened is None
            and entered is not None
            and "opened_at" not in {p.field for p in problems}
        ):
            opened = entered
        if opened is not None and entered is not None and opened > entered:
            bad("opened_at", "after entered_at")
        clocks = self._clocks(raw, d, record, tz, bad)
        if problems:
            raise _Bad(problems)
        assert state is not None
        assert record is not None
        assert key_value is not None
        assert entered is not None
        assert opened is not None
        return _Row(
            line, d.name, state.name, record, entered, opened, clocks, (key_name, key_value)
        )

    def _record(
        self, raw: dict[str, Any], d: WorkflowDefinition, bad: Callable[[str, str], None]
    ) -> dict[str, Any] | None:
        record: dict[str, Any] = {}
        given = raw.get("record")
        if isinstance(given, str):  # a CSV column of JSON
            if given.strip():
                try:
                    given = json.loads(given)
                except ValueError:
                    bad("record", "not a JSON object")
                    return None
            else:
                given = None
        if given is not None and not isinstance(given, dict):
            bad("record", "a JSON object")
            return None
        record.update(given or {})
        props = d.case_schema.get("properties")
        props = props if isinstance(props, dict) else {}
        ok = True
        for column, text in raw.items():
            if not isinstance(column, str) or not column.startswith("record."):
                continue
            name = column.removeprefix("record.")
            if text is None or text == "":
                continue
            try:
                record[name] = _typed(text, props.get(name))
            except ValueError as exc:
                bad(column, str(exc))
                ok = False
        return record if ok else None

    def _instant(
        self, value: Any, where: str, tz: Any, bad: Callable[[str, str], None]
    ) -> datetime | None:
        if value is None or value == "":
            return None
        try:
            instant = parse_at_value(value, tz)
        except (ExpressionError, OverflowError, ValueError):
            bad(where, "not an ISO date or RFC 3339 timestamp")
            return None
        if instant is not None and instant > self.now:
            bad(where, "in the future: the deadlines count from dates that have passed")
        return instant

    def _clocks(
        self,
        raw: dict[str, Any],
        d: WorkflowDefinition,
        record: dict[str, Any] | None,
        tz: Any,
        bad: Callable[[str, str], None],
    ) -> dict[str, datetime]:
        given: dict[str, Any] = {}
        nested = raw.get("clocks")
        if isinstance(nested, dict):
            given.update(nested)
        elif nested not in (None, ""):
            bad("clocks", "a JSON object of clock name to start instant")
        for column, value in raw.items():
            if isinstance(column, str) and column.startswith("clock."):
                given[column.removeprefix("clock.")] = value
        out: dict[str, datetime] = {}
        for name, value in given.items():
            where = f"clocks.{name}"
            clock = d.clock(name)
            if clock is None:
                bad(where, f"{d.name} v{d.version} declares no clock {name!r}")
                continue
            if value is None or value == "":
                continue  # the clock does not run
            if value is True or value == "anchor":
                if clock.anchor is None:
                    bad(where, "needed: the instant the clock started (it has no anchor)")
                    continue
                start = self.now
            else:
                got = self._instant(value, where, tz, bad)
                if got is None:
                    continue
                start = got
            if record is None:
                continue
            counted = self._anchor(clock, d, record, start, bad)
            if counted is not None:
                out[name] = counted
        return out

    def _anchor(
        self,
        clock: Clock,
        d: WorkflowDefinition,
        record: dict[str, Any],
        start: datetime,
        bad: Callable[[str, str], None],
    ) -> datetime | None:
        if clock.anchor is None:
            return start
        try:
            instant = anchor_instant(clock, d, record, start, "")
        except PayloadInvalid as exc:
            bad(f"record{exc.json_path.removeprefix('$')}", exc.problem)
            return None
        if instant > self.now:
            bad(
                f"record{_anchor_path(clock)}",
                f"in the future: clock {clock.name!r} counts from it",
            )
            return None
        return instant


def _anchor_path(clock: Clock) -> str:
    src = (clock.anchor or "").strip()
    return "." + src.removeprefix("case.") if src.startswith("case.") else ""


def _typed(text: str, schema: Any) -> Any:
    """A CSV cell as the schema's type says (strings stay strings)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    if "integer" in kinds:
        try:
            return int(text)
        except ValueError:
            if len(kinds) == 1:
                raise ValueError("not an integer") from None
    if "number" in kinds:
        try:
            return float(text)
        except ValueError:
            if len(kinds) == 1:
                raise ValueError("not a number") from None
    if "boolean" in kinds:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        if len(kinds) == 1:
            raise ValueError("not true or false")
    if "object" in kinds or "array" in kinds:
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
    return text


def case_id_for(workflow: str, key: tuple[str, str]) -> str:
    """The id an imported case gets: the same for the same workflow and key, always."""
    return str(uuid.uuid5(_NAMESPACE, f"{workflow}\x1f{key[0]}\x1f{key[1]}"))


def _build(
    checker: _Checker, row: _Row, *, actor: str, import_id: str, now: datetime
) -> tuple[CaseRecord, HistoryRecord, list[CaseKeyRecord], list[TimerRecord]]:
    """One imported case: its row, its history row, its key rows, its timers and clocks."""
    d, _compiled, _key = checker.workflow(row.workflow)
    case_id = case_id_for(d.name, row.key)
    state = d.states[row.state]
    payload: dict[str, Any] = {
        "import": import_id,
        "line": row.line,
        "entered_at": row.entered_at.isoformat(),
        "opened_at": row.opened_at.isoformat(),
    }
    if row.clocks:
        payload["clocks"] = {n: t.isoformat() for n, t in sorted(row.clocks.items())}
    hist = history_record(
        case_id=case_id,
        seq=1,
        event=IMPORT_EVENT,
        from_state=None,
        to_state=state.name,
        outcome=HistoryOutcome.IMPORTED,
        workflow_version=d.version,
        facts=HistoryFacts(actor, (), payload, None),
        now=now,
        prev_hash=GENESIS,
        record=row.record,
        head=head_hash(
            workflow_name=d.name,
            workflow_version=d.version,
            state=state.name,
            phase=state.phase.value,
            previous_state=None,
            state_entry_seq=1,
            opened_at=row.opened_at,
            closed_at=None,
        ),
    )
    case = CaseRecord(
        case_id,
        d.name,
        d.version,
        state.name,
        state.phase.value,
        row.record,
        1,
        None,
        1,
        hist.hash,
        None,
        row.opened_at,
        now,
        None,
    )
    timers: list[TimerRecord] = []
    for tm in state.timers:
        due = first_due(
            tm, entered_at=row.entered_at, definition=d, case=row.record, case_id=case_id
        )
        if due is None:
            continue
        timers.append(
            TimerRecord(
                None,
                case_id,
                tm.name,
                tm.event,
                state.name,
                1,
                due,
                TimerStatus.PENDING,
                tm.kind == TimerKind.EVERY,
                tm.pausable,
                None,
                row.entered_at,
            )
        )
    for name, counted_from in sorted(row.clocks.items()):
        clock = d.clock(name)
        assert clock is not None
        due = first_due(
            clock.as_timer(),
            entered_at=counted_from,
            definition=d,
            case=row.record,
            case_id=case_id,
        )
        assert due is not None
        timers.append(
            TimerRecord(
                None,
                case_id,
                clock.name,
                clock.event,
                state.name,
                1,
                due,
                TimerStatus.PENDING,
                clock.recurring,
                clock.pausable,
                None,
                counted_from,
                scope=TimerScope.CLOCK,
            )
        )
    return case, hist, key_records(d, case), timers


def _write_batch(
    tx: StoreTransaction,
    checker: _Checker,
    rows: list[_Row],
    *,
    actor: str,
    import_id: str,
    now: datetime,
) -> int:
    """Insert the batch's new cases (a statement per table); how many were new. A row
    whose case exists (imported before) or whose key an open case holds is skipped."""
    ids = {case_id_for(r.workflow, r.key): r for r in rows}
    present = tx.present_cases(list(ids))
    by_key: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        by_key.setdefault((r.workflow, r.key[0]), []).append(r.key[1])
    held: set[tuple[str, str, str]] = set()
    for (workflow, name), values in by_key.items():
        held.update((workflow, name, v) for v in tx.key_holders(workflow, name, values))
    cases: list[tuple[CaseRecord, HistoryRecord]] = []
    keys: list[CaseKeyRecord] = []
    timers: list[TimerRecord] = []
    for case_id, r in ids.items():
        if case_id in present or (r.workflow, *r.key) in held:
            continue
        case, hist, k, tm = _build(checker, r, actor=actor, import_id=import_id, now=now)
        cases.append((case, hist))
        keys.extend(k)
        timers.extend(tm)
    tx.import_cases(cases, keys, timers)
    return len(cases)


def import_caseload(
    ctx: EngineContext,
    path: str | Path,
    *,
    actor: str,
    batch: int = 500,
    validate_only: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of ``path``, then (when none is bad, and not ``validate_only``)
    write them in batches of ``batch`` cases per transaction; see the module docstring.

    Returns the report (its ``problems`` when rows are bad: then nothing was written).
    Raises EngineError for a file that cannot be read or changed between the passes.
    """
    if batch < 1:
        raise EngineError("batch must be at least 1")
    p = Path(path)
    if not p.is_file():
        raise EngineError(f"no file at {p}")
    if p.suffix.lower() not in (".csv", ".jsonl", ".ndjson", ".json"):
        raise EngineError(f"{p.name}: an import reads .csv or .jsonl (JSON lines) files")
    digest = _digest(p)
    import_id = f"imp-{uuid.uuid4().hex[:12]}"
    report = ImportReport(file=str(p), import_id=import_id, validated_only=validate_only)
    with ctx.store.read() as tx:
        now = ctx.now(tx)
    checker = _Checker(ctx, now)
    keys: set[str] = (
        set()
    )  # sha256 (16 hex) of (workflow, key) of each row: a key repeated in the file
    try:
        for line, raw in _raw_rows(p):
            report.rows += 1
            try:
                row = checker.check(line, raw)
            except _Bad as bad:
                report.problems.extend(bad.problems)
                continue
            mark = hashlib.sha256(f"{row.workflow}\x1f{row.key[1]}".encode()).hexdigest()[:16]
            if mark in keys:
                report.problems.append(
                    ImportProblem(
                        line, f"record.{row.key[0]}", "the business key is on an earlier row too"
                    )
                )
            keys.add(mark)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EngineError(
            f"{p.name}: cannot be read as UTF-8 {p.suffix[1:]} ({type(exc).__name__})"
        ) from None
    keys.clear()
    if report.problems or validate_only:
        return report
    done = 0
    rows = _raw_rows(p)
    while True:
        chunk = [r for _, r in zip(range(batch), rows, strict=False)]
        if not chunk:
            break
        checked = []
        for line, raw in chunk:
            try:
                checked.append(checker.check(line, raw))
            except _Bad:
                raise EngineError(f"{p.name} changed while it was imported (line {line})") from None
        with ctx.store.write() as tx:
            at = ctx.now(tx)
            written = _write_batch(tx, checker, checked, actor=actor, import_id=import_id, now=at)
        report.written += written
        report.already += len(checked) - written
        done += len(chunk)
        if progress is not None:
            progress(done, report.rows)
    if _digest(p) != digest:  # pragma: no cover - a file edited during the run
        raise EngineError(f"{p.name} changed while it was imported")
    with ctx.store.write() as tx:
        append_access(
            tx,
            actor=actor,
            case_id=None,
            what=f"import {import_id} sha256 {digest[:16]}: {report.rows} rows, "
            f"{report.written} written, {report.already} already present",
            at=ctx.now(tx),
        )
    return report
