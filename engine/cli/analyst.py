"""Analyst commands: ``validate``, ``describe``, ``diagram`` and ``schema``.

Exit codes a CI can rely on: 0 valid (warnings allowed), 1 invalid, 2 usage
error (a path that does not exist, no YAML found, an unknown workflow name,
an output file that cannot be written). Bad input never gives a traceback:
an invalid workflow prints its located diagnostics and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from engine.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    add_database_options,
    default_actor,
    run,
)
from engine.definitions import (
    CheckReport,
    Diagnostic,
    WorkflowDefinition,
    check_paths,
    default_workflows_dir,
    load_workflow,
    schema_path,
)
from engine.definitions.describe import describe, describe_dict
from engine.definitions.diagnostics import cap_per_file
from engine.definitions.diagram import render_dot, render_mermaid
from engine.definitions.diagram_items import render_text
from engine.errors import DefinitionError
from engine.runtime.case_diagram import case_position

if TYPE_CHECKING:
    from engine.runtime.engine import Engine

EXIT_INVALID = EXIT_FAILED  # for analysts, a failed check means the workflow is invalid

YAML_SUFFIXES = (".yaml", ".yml")


def register(subparsers: Any) -> None:
    """Add ``validate``, ``describe``, ``diagram`` and ``schema`` to the root parser."""
    p = subparsers.add_parser(
        "validate",
        help="check workflow files and folders",
        description="Check workflow files (folders recursively, *.yaml/*.yml). "
        "Exit 0 valid (warnings allowed), 1 invalid, 2 usage error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="workflow file or folder")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser(
        "describe",
        help="phases, states, events, roles and timers of a workflow, as a table",
        description="Describe a workflow: WORKFLOW is a file or the name of a bundled workflow.",
    )
    p.add_argument("workflow", metavar="WORKFLOW", help="workflow file, or bundled workflow name")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p.set_defaults(func=cmd_describe)

    p = subparsers.add_parser(
        "diagram",
        help="draw a workflow (Mermaid or Graphviz DOT)",
        description="Draw a workflow: phases as clusters, timers on their edges. "
        "Mermaid renders natively on GitHub and GitLab; DOT renders with Graphviz.",
    )
    p.add_argument(
        "workflow",
        metavar="WORKFLOW",
        nargs="?",
        help="workflow file, or bundled workflow name (not needed with --case)",
    )
    p.add_argument(
        "--format",
        choices=("mermaid", "dot", "text"),
        default="mermaid",
        help="diagram kind (text: one line per edge of the case and of each item lifecycle)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--markdown",
        action="store_true",
        help="wrap Mermaid in a ```mermaid fenced block, ready to paste into Markdown",
    )
    p.add_argument("--highlight", metavar="STATE", help="draw STATE as the current state")
    p.add_argument(
        "--case",
        metavar="ID",
        dest="case_id",
        help="draw case ID's workflow version, its current state and the path it took "
        "(reads the database; recorded as an access by --actor)",
    )
    add_database_options(p)
    p.add_argument("--actor", default=default_actor(), help="who reads (with --case)")
    p.set_defaults(func=cmd_diagram)

    p = subparsers.add_parser(
        "schema",
        help="where the workflow JSON Schema is, for editor set-up",
        description="Print the path of the workflow JSON Schema and how to point "
        "an editor (YAML language server) at it.",
    )
    p.add_argument("--print", action="store_true", dest="print_schema", help="print the schema")
    p.set_defaults(func=cmd_schema)


# -- validate -----------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        _check_paths_exist(args.paths)
        report = check_paths(_distinct(args.paths))
        if not report.files:
            raise UsageError("no workflow files (*.yaml, *.yml) found in " + ", ".join(args.paths))
    except UsageError as exc:
        return _usage(str(exc))
    except OSError as exc:
        return _usage(_os_message(exc))
    if args.format == "json":
        _write_json(validation_dict(report), sys.stdout)
    else:
        for diag in cap_per_file(sorted(report.diagnostics, key=lambda d: (d.sort_key, d.code))):
            print(diag)
        print(validation_summary(report))
    return EXIT_OK if report.ok else EXIT_INVALID


def _check_paths_exist(paths: Sequence[str]) -> None:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError("no such file or folder: " + ", ".join(missing))
    for p in paths:
        path = Path(p)
        if path.is_file() and path.suffix not in YAML_SUFFIXES:
            raise UsageError(f"not a YAML file (*.yaml, *.yml): {p}")


def _distinct(paths: Sequence[str]) -> list[str]:
    """The paths without repeats and without files or folders inside another given folder.

    ``casework validate workflows workflows/brokerage.yaml`` checks each file
    once instead of reporting brokerage as defined twice.
    """
    resolved = [Path(p).resolve() for p in paths]
    folders = [r for r in resolved if r.is_dir()]
    kept: list[str] = []
    seen: set[Path] = set()
    for given, real in zip(paths, resolved, strict=True):
        inside = any(real != f and real.is_relative_to(f) for f in folders)
        if real in seen or inside:
            continue
        seen.add(real)
        kept.append(given)
    return kept


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def validation_summary(report: CheckReport) -> str:
    """``checked 6 workflow(s) in 7 file(s): 0 errors, 1 warning``.

    Workflows counted: those that loaded, plus each file with an error that
    produced no workflow (fragments are counted through their workflows).
    """
    loaded = {d.source_path for d in report.definitions}
    broken = {d.file for d in report.diagnostics if d.severity == "error"} - loaded
    workflows = len(report.definitions) + len(broken & set(report.files))
    errors = sum(1 for d in report.diagnostics if d.severity == "error")
    warnings = len(report.diagnostics) - errors
    return (
        f"checked {workflows} workflow(s) in {len(report.files)} file(s): "
        f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    )


def validation_dict(report: CheckReport) -> dict[str, Any]:
    """The ``--format json`` document: for editors and CI."""
    diagnostics = sorted(report.diagnostics, key=lambda d: (d.sort_key, d.code))
    errors = sum(1 for d in diagnostics if d.severity == "error")
    return {
        "ok": report.ok,
        "files": list(report.files),
        "workflows": [
            {"name": d.name, "version": d.version, "file": d.source_path}
            for d in report.definitions
        ],
        "diagnostics": [d.to_dict() for d in cap_per_file(diagnostics)],
        "summary": {"errors": errors, "warnings": len(diagnostics) - errors},
    }


# -- describe / diagram -------------------------------------------------------------


def cmd_describe(args: argparse.Namespace) -> int:
    try:
        defn = resolve_workflow(args.workflow)
    except UsageError as exc:
        return _usage(str(exc))
    except OSError as exc:
        return _usage(_os_message(exc))
    except DefinitionError as exc:
        if args.format == "json":
            _write_json({"ok": False, **exc.to_dict()}, sys.stdout)
        return _invalid(exc)
    if args.format == "json":
        _write_json(describe_dict(defn), sys.stdout)
    else:
        sys.stdout.write(describe(defn))
    return EXIT_OK


def cmd_diagram(args: argparse.Namespace) -> int:
    if args.case_id is not None:
        return run(args, lambda engine: _write_diagram(args, *_case_diagram(args, engine)))
    if args.workflow is None:
        return _usage("give a WORKFLOW (file or bundled name) or --case ID")
    try:
        defn = resolve_workflow(args.workflow)
    except UsageError as exc:
        return _usage(str(exc))
    except OSError as exc:
        return _usage(_os_message(exc))
    except DefinitionError as exc:
        return _invalid(exc)
    if args.format == "text":
        if args.highlight is not None:
            return _usage("--highlight draws on a mermaid or dot diagram, not text")
        return _write_diagram(args, defn, render_text(defn))
    draw = render_mermaid if args.format == "mermaid" else render_dot
    try:
        text = draw(defn, highlight=args.highlight)
    except ValueError as exc:
        return _usage(str(exc))
    return _write_diagram(args, defn, text)


def _case_diagram(args: argparse.Namespace, engine: Engine) -> tuple[WorkflowDefinition, str]:
    """The case's diagram (an audited read of the case); UsageError for a bad --highlight."""
    position = case_position(engine, args.case_id)
    engine.record_access(position.case_id, actor=args.actor, what="cli:diagram")
    if args.workflow is not None and args.workflow != position.definition.name:
        raise UsageError(
            f"case {position.case_id} runs workflow {position.definition.name!r},"
            f" not {args.workflow!r}"
        )
    if args.format == "text":
        return position.definition, render_text(position.definition)
    try:
        return position.definition, position.render(args.format, highlight=args.highlight)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _write_diagram(args: argparse.Namespace, defn: WorkflowDefinition, text: str) -> int:
    if args.markdown and args.format == "mermaid":
        text = f"```mermaid\n{text}```\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            return _usage(f"cannot write {args.output}: {exc.strerror or type(exc).__name__}")
        print(f"wrote {args.format} diagram of {defn.name} v{defn.version} to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def resolve_workflow(spec: str) -> WorkflowDefinition:
    """A workflow file path, or the name of a bundled workflow (latest version).

    Raises UsageError when nothing matches, DefinitionError when the workflow
    is invalid.
    """
    path = Path(spec)
    if path.is_file():
        return load_workflow(path)
    if path.is_dir():
        raise UsageError(f"{spec} is a folder: give one workflow file or a workflow name")
    if path.suffix in YAML_SUFFIXES or "/" in spec or "\\" in spec:
        raise UsageError(f"no such file: {spec}")
    folder = default_workflows_dir()
    for suffix in YAML_SUFFIXES:
        candidate = folder / f"{spec}{suffix}"
        if candidate.is_file():
            defn = load_workflow(candidate)
            if defn.name == spec:
                return defn
    report = check_paths([folder]) if folder.is_dir() else None
    found = [d for d in report.definitions if d.name == spec] if report else []
    if found:
        return max(found, key=lambda d: d.version)
    names = sorted({d.name for d in report.definitions}) if report else []
    bundled = ", ".join(names) or "none"
    raise UsageError(f"unknown workflow {spec!r}: not a file, nor a bundled workflow ({bundled})")


# -- schema -------------------------------------------------------------------------


def cmd_schema(args: argparse.Namespace) -> int:
    path = schema_path()
    if not path.is_file():
        print(f"casework: error: workflow schema not found at {path}", file=sys.stderr)
        return EXIT_INVALID
    if args.print_schema:
        sys.stdout.write(path.read_text(encoding="utf-8"))
        return EXIT_OK
    sys.stdout.write(schema_help(path))
    return EXIT_OK


def schema_help(path: Path, cwd: Path | None = None) -> str:
    """Where the schema is and how to point the YAML language server at it.

    The modeline uses the absolute path (the language server also accepts a
    path relative to the workflow file); the VS Code setting uses a
    workspace-relative path when the schema is inside the current folder.
    """
    absolute = path.resolve()
    here = (cwd or Path.cwd()).resolve()
    try:
        key = "./" + absolute.relative_to(here).as_posix()
    except ValueError:
        key = absolute.as_posix()
    settings = {"yaml.schemas": {key: ["workflows/*.yaml", "workflows/**/*.yaml"]}}
    return (
        f"Workflow JSON Schema: {absolute}\n"
        "\n"
        "Put this line at the top of a workflow file for completion, hover help and\n"
        "checks in any editor using the YAML language server (VS Code with the\n"
        "Red Hat YAML extension, Neovim, Helix, JetBrains); a path relative to the\n"
        "workflow file works too (from workflows/: ../schemas/workflow.schema.json):\n"
        "\n"
        f"# yaml-language-server: $schema={absolute.as_posix()}\n"
        "\n"
        "Or, in VS Code, map it to every workflow file in .vscode/settings.json:\n"
        "\n"
        f"{json.dumps(settings, indent=2)}\n"
        "\n"
        "Print the schema itself with: casework schema --print\n"
    )


# -- output helpers -----------------------------------------------------------------


def _write_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _os_message(exc: OSError) -> str:
    """``cannot read x.yaml: Permission denied`` (file name and reason only)."""
    what = exc.filename if exc.filename is not None else "file"
    return f"cannot read {what}: {exc.strerror or type(exc).__name__}"


def _usage(message: str) -> int:
    print(f"casework: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _invalid(exc: DefinitionError) -> int:
    diags: Sequence[Diagnostic] = sorted(exc.diagnostics, key=lambda d: (d.sort_key, d.code))
    for diag in cap_per_file(diags):
        print(diag, file=sys.stderr)
    errors = sum(1 for d in diags if d.severity == "error")
    print(f"invalid workflow: {_plural(errors, 'error')}", file=sys.stderr)
    return EXIT_INVALID
