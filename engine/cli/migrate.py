"""``casework migrate plan|run`` and ``casework import``: running cases onto a new version,
an existing caseload into the engine.

``migrate plan PLAN.yaml`` checks the plan against both versions (every finding
``file:LINE:COL: $.path: message``, exit 1) and prints the dry run: per v1
state, how many cases would move where, what happens to their timers and
clocks, and which cases could not move and why. ``migrate run PLAN.yaml``
moves them in batches with progress on stderr; run it again after an
interruption (the cases still on the old version are what is left). Exit 1
when some case could not move (listed, left untouched).

``import FILE`` (``.csv`` or ``.jsonl``) checks every row first and prints each
bad one as ``FILE:LINE: FIELD: message`` (exit 1, nothing written); then
writes in batches with progress. ``--check`` stops after the check. Running it
again writes nothing (cases are known by their business key).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.cli import _common as out
from engine.errors import DefinitionError

if TYPE_CHECKING:
    from engine.runtime.caseload_import import ImportReport
    from engine.runtime.engine import Engine
    from engine.runtime.migration import MigrationReport

_SHOWN = 20  # cannot-move cases listed in the text output (all of them with --json)


def _progress(args: argparse.Namespace, verb: str) -> Callable[[int, int], None] | None:
    if args.quiet:
        return None
    step = max(1, int(args.batch))
    last = [0]

    def report(done: int, total: int) -> None:
        if done - last[0] >= step * 10 or done >= total:
            last[0] = done
            out.progress(f"... {done} of {total} {verb}")

    return report


def _policies(per: dict[str, dict[str, int]]) -> str:
    return ", ".join(
        f"{name} {'/'.join(f'{p} {n}' for p, n in sorted(c.items()))}"
        for name, c in sorted(per.items())
    )


def _print_migration(rep: MigrationReport) -> None:
    verb = "would move" if rep.dry_run else "moved"
    out.heading(
        f"{rep.workflow} v{rep.from_version} -> v{rep.to_version}"
        f"{' (dry run: nothing written)' if rep.dry_run else ''}"
    )
    rows = [
        (
            s.source,
            s.target if s.target != s.source else "(same)",
            s.cases,
            s.movable,
            s.cannot_move,
            _policies(s.timers) or "-",
            _policies(s.clocks) or "-",
        )
        for s in rep.states.values()
        if s.cases or s.target != s.source
    ]
    out.table(
        rows,
        ["V1 STATE", "V2 STATE", "CASES", verb.upper(), "CANNOT", "TIMERS", "CLOCKS"],
        wide=True,
    )
    changes = []
    if rep.record_set:
        changes.append("sets " + ", ".join(rep.record_set))
    if rep.record_removed:
        changes.append("removes " + ", ".join(rep.record_removed))
    if changes:
        print(f"record: {'; '.join(changes)}")
    items: dict[str, int] = {}
    for st in rep.states.values():
        for what, n in st.items.items():
            items[what] = items.get(what, 0) + n
    if items:
        print("items: " + ", ".join(f"{what} ({n})" for what, n in sorted(items.items())))
    print(
        f"{rep.moved} {verb}, {len(rep.refused)} cannot move, "
        f"{rep.already} already on v{rep.to_version}"
        + (f", {rep.other_versions} on other versions" if rep.other_versions else "")
    )
    for c in rep.refused[:_SHOWN]:
        print(f"cannot move {c.case_id} ({c.state}): {c.reason}")
    if len(rep.refused) > _SHOWN:
        print(f"... and {len(rep.refused) - _SHOWN} more (--json lists every one)")


def _migrate(args: argparse.Namespace, *, dry: bool) -> int:
    def body(engine: Engine) -> int:
        try:
            plan = engine.migration_plan(args.plan)
        except DefinitionError as exc:
            for d in exc.diagnostics:
                out.error(str(d))
            if args.json:
                out.print_json({"errors": [d.to_dict() for d in exc.diagnostics]})
            return out.EXIT_FAILED
        verb = "examined" if dry else "examined (moved or not)"
        rep = engine.migrate(
            plan,
            actor=args.actor,
            dry_run=dry,
            batch=args.batch,
            progress=_progress(args, verb),
        )
        if args.json:
            out.print_json(rep.to_dict())
        else:
            _print_migration(rep)
        return out.EXIT_FAILED if rep.refused and not dry else out.EXIT_OK

    if args.batch < 1:
        raise out.UsageError("--batch must be at least 1")
    return out.run(args, body)


def cmd_migrate_plan(args: argparse.Namespace) -> int:
    return _migrate(args, dry=True)


def cmd_migrate_run(args: argparse.Namespace) -> int:
    return _migrate(args, dry=False)


def _print_import(rep: ImportReport, file: str) -> None:
    for p in rep.problems:
        print(f"{file}:{p.line}: {p.field}: {p.message}")
    if rep.problems:
        bad = len({p.line for p in rep.problems})
        print(f"{rep.rows} rows: {bad} bad ({len(rep.problems)} problems); nothing written")
    elif rep.validated_only:
        print(f"{rep.rows} rows: all good (--check: nothing written)")
    else:
        print(
            f"import {rep.import_id}: {rep.rows} rows, {rep.written} cases written, "
            f"{rep.already} already present"
        )


def cmd_import(args: argparse.Namespace) -> int:
    if args.batch < 1:
        raise out.UsageError("--batch must be at least 1")

    def body(engine: Engine) -> int:
        rep = engine.import_caseload(
            args.file,
            actor=args.actor,
            batch=args.batch,
            validate_only=args.check,
            progress=_progress(args, "rows"),
        )
        if args.json:
            out.print_json(rep.to_dict())
        else:
            _print_import(rep, args.file)
        return out.EXIT_FAILED if rep.problems else out.EXIT_OK

    return out.run(args, body, must_exist=False)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = subparsers.add_parser(
        "migrate", help="move running cases to another version of their workflow"
    )
    sub = migrate.add_subparsers(dest="migrate_command", metavar="COMMAND", required=True)
    for name, func, help_text, batch in (
        ("plan", cmd_migrate_plan, "check a plan and report what it would move (dry run)", 500),
        ("run", cmd_migrate_run, "move the cases, in batches; run again to resume", 200),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("plan", metavar="PLAN.yaml")
        out.add_operator_options(p, actor=True)
        p.add_argument(
            "--batch", type=int, default=batch, help="cases per transaction (default %(default)s)"
        )
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")
        p.set_defaults(func=out.guarded(func))
    p = subparsers.add_parser("import", help="import running cases from a CSV or JSON-lines file")
    p.add_argument("file", metavar="FILE")
    out.add_operator_options(p, actor=True)
    p.add_argument(
        "--batch", type=int, default=500, help="cases per transaction (default %(default)s)"
    )
    p.add_argument("--check", action="store_true", help="check every row, write nothing")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=out.guarded(cmd_import))
