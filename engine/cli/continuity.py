"""``casework cases transfer|reopen|links``: move a case to another model, reopen a closed one.

Writes attributed to ``--actor`` acting in ``--role`` (like ``cases send``); both go
through the engine's one transaction per change (``docs/continuity.md``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.cli import _common as out

if TYPE_CHECKING:
    from engine.runtime.case_continuity import CaseLink
    from engine.runtime.engine import Engine

LINK_HEADERS = ["KIND", "DIRECTION", "CASE", "SOURCE SEQ", "TARGET SEQ", "ACTOR", "AT"]


def _payload(text: str | None) -> dict[str, Any]:
    """``--payload`` as a JSON object. Raises UsageError."""
    try:
        payload = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise out.UsageError(
            f"--payload is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(payload, dict):
        raise out.UsageError("--payload must be a JSON object")
    return payload


def _brief(view: Any) -> dict[str, Any]:
    d: dict[str, Any] = view.to_dict()
    d.pop("record", None)  # no case data on the terminal by default
    return d


def cmd_cases_transfer(args: argparse.Namespace) -> int:
    payload = _payload(args.payload)

    def body(engine: Engine) -> int:
        result = engine.transfer(
            args.case_id,
            args.to,
            payload,
            actor=args.actor,
            roles=args.role or [],
            event=args.event,
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        src, dst = result.source, result.target
        if args.json:
            out.print_json({"source": _brief(src), "target": _brief(dst)})
            return out.EXIT_OK
        print(f"case {src.id}: closed in {src.workflow} v{src.workflow_version} as {src.state}")
        print(f"case {dst.id}: opened in {dst.workflow} v{dst.workflow_version} in {dst.state}")
        clocks = [t for t in dst.pending_timers if t.scope == "clock"]
        for t in clocks:
            due = t.due_at.isoformat() if t.due_at else "paused"
            print(f"  clock {t.name}: {t.status}, due {due}")
        return out.EXIT_OK

    return out.run(args, body)


def cmd_cases_reopen(args: argparse.Namespace) -> int:
    payload = _payload(args.payload)

    def body(engine: Engine) -> int:
        view = engine.reopen(
            args.case_id,
            payload,
            actor=args.actor,
            roles=args.role or [],
            event=args.event,
            idempotency_key=args.idempotency_key,
            expected_version=args.expected_version,
        )
        if args.json:
            out.print_json(_brief(view))
        else:
            print(f"case {view.id}: reopened -> state {view.state} (version {view.version})")
        return out.EXIT_OK

    return out.run(args, body)


def _link_row(link: CaseLink) -> Sequence[Any]:
    return (
        link.kind,
        link.direction,
        link.case_id,
        link.source_seq,
        link.target_seq,
        link.actor,
        link.created_at,
    )


def cmd_cases_links(args: argparse.Namespace) -> int:
    def body(engine: Engine) -> int:
        links = engine.case_links(args.case_id)
        engine.record_access(args.case_id, actor=args.actor, what="cli:cases links")
        return out.listing(args, links, LINK_HEADERS, _link_row)

    return out.run(args, body, stored_definitions=True)


def _write_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--payload", metavar="JSON", help="event payload, a JSON object")
    p.add_argument("--role", action="append", metavar="ROLE", help="role to act in (repeatable)")
    p.add_argument("--idempotency-key")
    p.add_argument("--expected-version", type=int)


def register(cases_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``transfer``, ``reopen`` and ``links`` under ``casework cases``."""
    p = cases_sub.add_parser(
        "transfer",
        help="close a case in its workflow and continue it, linked, in another",
        description="Runs the transfer the case's workflow declares to --to: closes the "
        "case here and opens the linked case there in one transaction, the record mapped "
        "and the declared clocks carried with their due instants.",
    )
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--to", required=True, metavar="WORKFLOW", help="the target workflow")
    p.add_argument("--event", help="the transfer's event, when several lead to --to")
    _write_options(p)
    p.set_defaults(func=out.guarded(cmd_cases_transfer))

    p = cases_sub.add_parser(
        "reopen",
        help="reopen a closed case (the same case continues)",
        description="Runs the reopening the case's workflow declares from the state the "
        "case closed in; refused with the reason when the case is open, the window has "
        "passed or the roles do not allow it.",
    )
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--event", help="the reopening's event, when several are declared")
    _write_options(p)
    p.set_defaults(func=out.guarded(cmd_cases_reopen))

    p = cases_sub.add_parser("links", help="the cases a case is linked to by transfers")
    out.add_operator_options(p, actor=True)
    p.add_argument("case_id", metavar="ID")
    p.set_defaults(func=out.guarded(cmd_cases_links))
