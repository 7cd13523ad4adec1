"""Load and check workflow files: YAML -> schema -> includes -> checks -> IR.

Every problem of every file is reported at once, as located diagnostics.
:func:`check_paths` never raises for definition problems; :func:`load_workflow`
and :func:`load_workflows` raise :class:`DefinitionError` carrying them all.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.definitions.assemble import as_dict, assemble, reset_hint_budget
from engine.definitions.build import build_definition
from engine.definitions.checks import run_checks
from engine.definitions.diagnostics import Diagnostic
from engine.definitions.model import WorkflowDefinition
from engine.definitions.paths import default_workflows_dir, schema_path
from engine.definitions.schema_validation import validate_document
from engine.definitions.yaml_reader import MAX_BYTES, YamlDocument, YamlError, read_file
from engine.errors import DefinitionError

__all__ = [
    "CheckReport",
    "check_paths",
    "default_workflows_dir",
    "load_workflow",
    "load_workflows",
    "schema_path",
]

log = logging.getLogger(__name__)

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CheckReport:
    """The outcome of checking files: what loaded, and every finding."""

    definitions: tuple[WorkflowDefinition, ...]
    diagnostics: tuple[Diagnostic, ...]
    files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No error-severity diagnostics (warnings are fine)."""
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")


@dataclass
class _Session:
    """Per-call caches: each file is read and schema-validated once."""

    docs: dict[Path, YamlDocument | YamlError] = field(default_factory=dict)
    schema_diags: dict[int, list[Diagnostic]] = field(default_factory=dict)
    touched: list[Path] = field(default_factory=list)  # files the current check depends on

    def read(self, path: Path, display: str) -> YamlDocument:
        key = path.resolve()
        self.touched.append(key)
        if key not in self.docs:
            if not path.is_file():
                raise FileNotFoundError(str(path))
            try:
                self.docs[key] = read_file(path, display)
            except YamlError as exc:
                self.docs[key] = exc
        found = self.docs[key]
        if isinstance(found, YamlError):
            raise found
        return found

    def schema(self, doc: YamlDocument) -> list[Diagnostic]:
        key = id(doc)  # documents live in self.docs for the whole session
        if key not in self.schema_diags:
            self.schema_diags[key] = validate_document(doc)
        return self.schema_diags[key]


def _is_fragment(doc: YamlDocument) -> bool:
    return "fragment" in as_dict(doc.data)


_Result = tuple[WorkflowDefinition | None, list[Diagnostic], bool]
_Stamp = tuple[Path, str | None]
_CACHE_SIZE = 128
_cache: OrderedDict[tuple[str, Path], tuple[tuple[_Stamp, ...], _Result]] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached check result (tests; long-running processes never need it)."""
    with _cache_lock:
        _cache.clear()


def _stamp(path: Path) -> _Stamp:
    """The file's content digest (None when absent): mtimes are too coarse for quick edits."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return (path, None)
        return (path, hashlib.sha256(path.read_bytes()).hexdigest())
    except OSError:
        return (path, None)


def _check_file(session: _Session, path: Path, display: str) -> _Result:
    """(definition or None, diagnostics, is_fragment) for one file.

    Results are kept per process while the content of the file and of every
    fragment it includes (or the absence of a missing include) is unchanged:
    definitions are immutable, so engines and tests opening the same
    workflows share them.
    """
    key = (display, path.resolve())
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and all(_stamp(stamp[0]) == stamp for stamp in hit[0]):
        with _cache_lock:
            _cache.move_to_end(key)
        definition, diags, fragment = hit[1]
        return definition, list(diags), fragment
    session.touched = []
    stamps_before = {key[1]: _stamp(key[1])}
    result = _check_file_uncached(session, path, display)
    stamps = dict(stamps_before)
    for p in session.touched:
        stamps.setdefault(p, _stamp(p))
    with _cache_lock:
        _cache[key] = (tuple(stamps.values()), (result[0], list(result[1]), result[2]))
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _check_file_uncached(session: _Session, path: Path, display: str) -> _Result:
    reset_hint_budget()
    try:
        doc = session.read(path, display)
    except YamlError as exc:
        return None, list(exc.diagnostics), False
    except FileNotFoundError:
        return None, [_file_diag(display, "file not found", "file-not-found")], False
    diags = list(session.schema(doc))
    if _is_fragment(doc):
        return None, diags, True
    try:
        asm = assemble(doc, path, session.read)
        diags.extend(asm.diagnostics)
        for frag in asm.fragments:
            diags.extend(session.schema(frag))
        diags.extend(run_checks(asm))
    except Exception:  # a checker bug must not hide the other findings
        log.exception("internal error while checking %s", display)
        diags.append(
            _file_diag(display, "internal error in the workflow checker", "internal-error")
        )
        return None, _unique(diags), False
    diags = _unique(diags)
    if any(d.severity == "error" for d in diags):
        return None, diags, False
    return build_definition(asm, display), diags, False


def _file_diag(file: str, message: str, code: str) -> Diagnostic:
    return Diagnostic(file=file, line=1, column=1, json_path="$", message=message, code=code)


def _unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: dict[Diagnostic, None] = {}
    for d in diags:
        seen.setdefault(d, None)
    return sorted(seen, key=lambda d: (d.sort_key, d.code))


def _expand(paths: Iterable[str | Path]) -> list[tuple[Path, str]]:
    """Files to check, each once, folders expanded (hidden entries skipped)."""
    if isinstance(paths, str | Path):  # a lone path, not an iterable of characters
        paths = [paths]
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(path: Path, display: str) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append((path, display))

    for p in paths:
        path = Path(p)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if child.is_file() and child.suffix in YAML_SUFFIXES:
                    add(child, str(child))
        else:
            add(path, str(p))
    return out


def check_paths(paths: Iterable[str | Path]) -> CheckReport:
    """Check files and folders (recursive, *.yaml/*.yml); never raises for definition problems.

    Fragment files (a top-level ``fragment:`` key) are not workflows: they are
    schema-checked on their own and checked through the workflows including
    them. Two files defining the same workflow name and version is an error.
    """
    session = _Session()
    definitions: list[WorkflowDefinition] = []
    diags: list[Diagnostic] = []
    files: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for path, display in _expand(paths):
        files.append(display)
        definition, found, _fragment = _check_file(session, path, display)
        diags.extend(found)
        if definition is None:
            continue
        first = seen.get(definition.key)
        if first is not None:
            doc = session.read(path, display)
            diags.append(
                doc.diagnostic(
                    ("name",),
                    f"workflow '{definition.name}' version {definition.version} is also "
                    f"defined in {first}",
                    "duplicate-workflow",
                    hint="raise the version or rename one of them",
                )
            )
            continue
        seen[definition.key] = display
        definitions.append(definition)
    return CheckReport(tuple(definitions), tuple(_unique(diags)), tuple(files))


def load_workflow(path: str | Path) -> WorkflowDefinition:
    """Load one workflow file; raises DefinitionError with every diagnostic."""
    session = _Session()
    p = Path(path)
    definition, diags, fragment = _check_file(session, p, str(path))
    if fragment:
        raise DefinitionError(
            [_file_diag(str(path), "this file is a fragment, not a workflow", "not-a-workflow")]
        )
    if definition is None:
        raise DefinitionError(diags)
    return definition


def load_workflows(paths: Iterable[str | Path]) -> list[WorkflowDefinition]:
    """Load files and folders; raises DefinitionError with every diagnostic of every file."""
    report = check_paths(paths)
    if not report.ok:
        raise DefinitionError(report.diagnostics)
    return list(report.definitions)
