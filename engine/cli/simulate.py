"""``casework simulate``: run one case through a workflow in virtual time.

Examples::

    casework simulate brokerage --script referral.txt
    casework simulate workflows/brokerage.yaml --script - --start 2026-03-02T08:30 --json
    casework simulate brokerage --deadlines

The workflow is a YAML file or the name of a bundled workflow. The script
(``-`` for stdin) has one step per line, e.g. ``day 0 open {...}``, ``day 3
first_contact_made as case_manager``, ``day 20 nothing``, ``+P2D
contact_failed``; see docs/timers.md. Nothing is written anywhere: the case
lives in an in-memory database for the length of the run.

Exit codes: 0 the script ran, 1 a step failed (the message names the script
line and the events allowed at that point) or the workflow is invalid, 2
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import DefinitionError, EngineError


def _read_script(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def cmd_simulate(args: argparse.Namespace) -> int:
    from engine.simulation.script import parse_script
    from engine.simulation.simulator import DEFAULT_START, parse_start, resolve_workflow, simulate
    from engine.simulation.timeline import local_parts, render_deadlines, render_timeline

    if not args.deadlines and not args.script:
        sys.stderr.write("casework simulate: error: give --script FILE or --deadlines\n")
        return 2
    try:
        if args.deadlines:
            from engine.definitions import load_workflow
            from engine.timing.calendar import zone
            from engine.timing.deadlines import deadlines

            definition = load_workflow(resolve_workflow(args.workflow))
            start = parse_start(args.start or DEFAULT_START, definition.timezone)
            record = json.loads(args.record) if args.record else {}
            if not isinstance(record, dict):
                sys.stderr.write("casework simulate: error: --record must be a JSON object\n")
                return 2
            rows = deadlines(definition, start=start, case=record)
            start_local = local_parts(start, zone(definition.timezone))
            if args.json:
                _dump(
                    {
                        "workflow": definition.name,
                        "version": definition.version,
                        "timezone": definition.timezone,
                        "start": start.isoformat(),
                        "start_local": start_local.to_dict(),
                        "deadlines": [r.to_dict() for r in rows],
                    }
                )
            else:
                sys.stdout.write(
                    render_deadlines(
                        definition.name,
                        definition.version,
                        definition.timezone,
                        start_local,
                        rows,
                    )
                )
            return 0
        try:
            text = _read_script(args.script)
        except OSError as exc:
            sys.stderr.write(f"casework simulate: error: cannot read script ({exc.strerror})\n")
            return 1
        steps = parse_script(text)
        timeline = simulate(args.workflow, steps, start=args.start)
    except DefinitionError as exc:
        sys.stderr.write(f"casework simulate: {exc.message}\n")
        return 1
    except EngineError as exc:
        if args.json:
            _dump(exc.to_dict(), err=True)
        sys.stderr.write(f"casework simulate: error: {exc.message}\n")
        return 1
    except json.JSONDecodeError:
        sys.stderr.write("casework simulate: error: --record is not valid JSON\n")
        return 2
    if args.json:
        _dump(timeline.to_dict())
    else:
        sys.stdout.write(render_timeline(timeline))
    return 0


def _dump(data: object, *, err: bool = False) -> None:
    out = sys.stderr if err else sys.stdout
    json.dump(data, out, indent=2, sort_keys=False, ensure_ascii=False)
    out.write("\n")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run a case through a workflow in virtual time and print the timeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="workflow YAML file or bundled name")
    p.add_argument("--script", metavar="FILE", help="the steps to run (- for stdin)")
    p.add_argument(
        "--start",
        metavar="DATETIME",
        default=None,
        help="virtual start (ISO; local time of the workflow unless an offset is given; "
        "default 2026-01-05T09:00, a Monday)",
    )
    p.add_argument(
        "--deadlines",
        action="store_true",
        help="list every timer of every state and when it would fire, instead of a script",
    )
    p.add_argument(
        "--record",
        metavar="JSON",
        help="with --deadlines: case record for `at` timers (default {})",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_simulate)
