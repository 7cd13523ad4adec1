"""Supervisor commands: ``casework staff``, ``assign``, ``caseloads``, ``worklist``,
``reassign`` (docs/ownership.md).

``staff import FILE`` reads a YAML or JSON file (safe YAML only) of the form
``staff: [{id: cm-ana, teams: [north], roles: [case_manager], active: true}, ...]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out

if TYPE_CHECKING:
    from engine.runtime.engine import Engine
    from engine.runtime.ownership import BulkOutcome, Caseload
    from engine.runtime.worklists import WorklistEntry
    from engine.store.records import StaffRecord

STAFF_HEADERS = ["ID", "ACTIVE", "TEAMS", "ROLES", "SOURCE", "UPDATED"]
LOAD_HEADERS = ["HOLDER", "CASES", "WEIGHTED", "LOAD", "", "BY WORKFLOW (cases/target)"]
WORK_HEADERS = ["DUE", "", "", "CASE", "WORKFLOW", "STATE", "DEADLINE", "ASSIGNEE", "MAY SEND"]


def _read_staff_file(path: str) -> list[dict[str, Any]]:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise out.UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise out.UsageError(f"{path}{where}: not valid YAML or JSON") from None
    entries = data.get("staff") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise out.UsageError(f"{path}: expected 'staff:' with a list of entries")
    return entries


def cmd_staff_import(args: argparse.Namespace) -> int:
    entries = _read_staff_file(args.file)

    def body(engine: Engine) -> int:
        counts = engine.import_staff(entries, actor=args.actor)
        if args.json:
            out.print_json(counts)
        else:
            print(
                f"imported {counts['written']} people from {args.file}; "
                f"{counts['deactivated']} no longer listed made inactive"
            )
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def cmd_staff_set(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        rec = engine.put_staff(
            args.person,
            active=not args.inactive,
            teams=args.team or [],
            roles=args.person_role or [],
            actor=args.actor,
        )
        if args.json:
            out.print_json(_staff_dict(rec))
        else:
            state = "active" if rec.active else "inactive"
            print(f"{rec.id}: {state}, teams {', '.join(rec.teams) or '-'}")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def _staff_dict(s: StaffRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "active": s.active,
        "teams": list(s.teams),
        "roles": list(s.roles),
        "source": str(s.source),
        "updated_at": s.updated_at.isoformat(),
        "updated_by": s.updated_by,
    }


def cmd_staff_list(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        rows: list[StaffRecord] = []
        after = None
        while True:
            page = engine.list_staff(limit=500, after=after)
            rows.extend(page)
            if len(page) < 500:
                break
            after = page[-1].id
        if args.json:
            out.print_json([_staff_dict(s) for s in rows])
        else:
            table = [
                (
                    s.id,
                    "yes" if s.active else "no",
                    ",".join(s.teams),
                    ",".join(s.roles),
                    str(s.source),
                    s.updated_at,
                )
                for s in rows
            ]
            out.table(table, STAFF_HEADERS, wide=args.wide)
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def cmd_assign(args: argparse.Namespace) -> int:
    if (args.to is None) == (not args.unassign):
        raise out.UsageError("give --to PERSON or --unassign")

    def body(engine: Engine) -> int:
        done = engine.assign(
            args.case_id,
            None if args.unassign else args.to,
            team=args.team,
            reason=args.reason,
            actor=args.actor,
            roles=args.role or [],
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        if args.json:
            out.print_json(done.to_dict())
        elif not done.changed:
            print(f"case {done.case_id}: already held by {done.assignee or 'nobody'}; unchanged")
        else:
            was = done.previous_assignee or "nobody"
            now = done.assignee or "nobody"
            team = f" (team {done.team})" if done.team else ""
            change = f"{done.operation} {was} -> {now}{team}"
            print(f"case {done.case_id}: {change} (version {done.version})")
        return out.EXIT_OK

    return out.run(args, body)


def _load_row(c: Caseload) -> Sequence[Any]:
    parts = ", ".join(f"{w} {x:g}/{t:g}" if t else f"{w} {x:g}/-" for w, _, x, t in c.by_workflow)
    load = "-" if c.load is None else f"{c.load:.0%}"
    return (c.holder, c.cases, f"{c.weighted:g}", load, "OVER" if c.over_target else "", parts)


def cmd_caseloads(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        loads = engine.caseloads(by=args.by)
        if args.over_target:
            loads = [c for c in loads if c.over_target]
        if args.json:
            out.print_json({"by": args.by, "items": [c.to_dict() for c in loads]})
        else:
            headers = [args.by.upper(), *LOAD_HEADERS[1:]]
            out.table([_load_row(c) for c in loads], headers, wide=args.wide)
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def cmd_worklist(args: argparse.Namespace) -> int:
    from engine.runtime.views import Page

    within = out.parse_span(args.due_within) if args.due_within else None
    if args.assignee is None and args.team is None and args.role is None:
        raise out.UsageError("give --assignee, --team or --role")

    def body(engine: Engine) -> int:
        now = engine.clock.now()

        def fetch(cursor: str | None, n: int, _first: bool) -> Page[WorklistEntry]:
            try:
                page = engine.worklist(
                    assignee=args.assignee,
                    team=args.team,
                    role=args.role,
                    due_within=within,
                    overdue=args.overdue,
                    limit=n,
                    cursor=cursor,
                )
            except ValueError as exc:
                raise out.UsageError(str(exc)) from None
            return Page(items=page.items, next_cursor=page.next_cursor)

        items, nxt, _ = out.collect_page(fetch, out.page_limit(args), "deadlines", args.cursor)

        def row(e: WorklistEntry) -> Sequence[Any]:
            return (
                e.due_at,
                out.relative(e.due_at, now),
                "OVERDUE" if e.overdue else "",
                e.case_id,
                e.workflow,
                e.state,
                f"{e.name} (clock)" if e.source == "clock" else e.name,
                e.assignee or "-",
                ", ".join(e.may_send) or "-",
            )

        if args.json:
            out.paged_json([e.to_dict() for e in items], nxt, None)
        else:
            out.table([row(e) for e in items], WORK_HEADERS, wide=args.wide)
            out.more_rows_note(len(items), None, nxt, "deadlines")
        return out.EXIT_OK

    return out.run(args, body, stored_definitions=True)


def cmd_reassign(args: argparse.Namespace) -> int:
    if not (args.case or args.from_assignee or args.from_team):
        raise out.UsageError("give --from PERSON, --from-team TEAM or --case ID")

    def body(engine: Engine) -> int:
        def progress(n: int, total: int, r: BulkOutcome) -> None:
            if not args.json and (n == total or n % args.progress_every == 0):
                out.progress(f"... {n}/{total} cases")

        report = engine.bulk_reassign(
            to=args.to,
            reason=args.reason,
            actor=args.actor,
            roles=args.role or [],
            case_ids=args.case or None,
            from_assignee=args.from_assignee,
            from_team=args.from_team,
            workflow=args.workflow,
            team=args.team,
            dry_run=args.dry_run,
            key=args.key,
            progress=progress,
        )
        if args.json:
            out.print_json(report.to_dict())
        else:
            rows = [
                (
                    r.case_id,
                    r.outcome,
                    r.previous_assignee or "-",
                    r.assignee or "-",
                    r.detail or "",
                )
                for r in report.results
            ]
            out.table(rows, ["CASE", "OUTCOME", "FROM", "TO", "DETAIL"], wide=args.wide)
            counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
            print(f"{'dry run: ' if report.dry_run else ''}{counts or 'no cases'}")
        rejected = report.counts.get("rejected", 0)
        return out.EXIT_FAILED if rejected else out.EXIT_OK

    return out.run(args, body)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    staff = subparsers.add_parser("staff", help="the staff directory assignees come from")
    staff_sub = staff.add_subparsers(dest="staff_command", metavar="COMMAND", required=True)
    p = staff_sub.add_parser("import", help="make the directory follow a YAML/JSON file")
    out.add_operator_options(p, actor=True)
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=out.guarded(cmd_staff_import))
    p = staff_sub.add_parser("set", help="add or change one person")
    out.add_operator_options(p, actor=True)
    p.add_argument("person", metavar="PERSON")
    p.add_argument("--team", action="append", metavar="TEAM", help="repeatable")
    p.add_argument(
        "--person-role", action="append", metavar="ROLE", help="a workflow role held (repeatable)"
    )
    p.add_argument("--inactive", action="store_true", help="no new cases may be assigned")
    p.set_defaults(func=out.guarded(cmd_staff_set))
    p = staff_sub.add_parser("list", help="every person of the directory")
    out.add_operator_options(p)
    p.add_argument("--wide", action="store_true")
    p.set_defaults(func=out.guarded(cmd_staff_list))

    p = subparsers.add_parser("assign", help="assign, reassign or unassign one case")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--to", metavar="PERSON")
    g.add_argument("--unassign", action="store_true")
    p.add_argument("--team", metavar="TEAM")
    p.add_argument("--reason", required=True)
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--idempotency-key")
    p.add_argument("--expected-version", type=int)
    p.set_defaults(func=out.guarded(cmd_assign))

    p = subparsers.add_parser("caseloads", help="open cases per person or team vs the ratio")
    out.add_operator_options(p)
    p.add_argument("--by", choices=["assignee", "team"], default="assignee")
    p.add_argument("--over-target", action="store_true", help="only those over the ratio")
    p.add_argument("--wide", action="store_true")
    p.set_defaults(func=out.guarded(cmd_caseloads))

    p = subparsers.add_parser("worklist", help="what is due for a person, team or role")
    out.add_operator_options(p)
    p.add_argument("--assignee", metavar="PERSON")
    p.add_argument("--team", metavar="TEAM")
    p.add_argument("--role", metavar="ROLE")
    p.add_argument("--due-within", metavar="SPAN", help="e.g. 7d, 12h, P7D")
    p.add_argument("--overdue", action="store_true", help="only what is past due")
    out.add_paging_options(p, default_limit=100)
    p.set_defaults(func=out.guarded(cmd_worklist))

    p = subparsers.add_parser("reassign", help="move a set of cases to other people")
    out.add_operator_options(p, actor=True)
    p.add_argument("--from", dest="from_assignee", metavar="PERSON")
    p.add_argument("--from-team", metavar="TEAM")
    p.add_argument("--case", action="append", metavar="ID", help="repeatable")
    p.add_argument("--workflow", metavar="NAME", help="with --from: only this workflow's cases")
    p.add_argument("--to", action="append", required=True, metavar="PERSON", help="repeatable")
    p.add_argument("--team", metavar="TEAM")
    p.add_argument("--reason", required=True)
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="plan only: change nothing")
    p.add_argument("--key", metavar="KEY", help="idempotency key: a retry replays each case")
    p.add_argument("--progress-every", type=int, default=100, metavar="N")
    p.add_argument("--wide", action="store_true")
    p.set_defaults(func=out.guarded(cmd_reassign))
