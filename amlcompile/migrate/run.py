"""`amlcompile migrate FILE_OR_DIR... [--check] [--diff]`: rewrite files, then report.

`--check` and `--diff` write nothing (`--diff` previews: a unified diff of each change).
Exit codes: 0 done (or nothing to do); 1 with --check when a file would change; 2 when a path
is missing or a file could not be read or parsed (those files are reported, never rewritten);
otherwise 4 when items are left to translate by hand that would fail the build or a step
(listed under "not translated"; advice that builds as it is, such as `import *`, does not
count).
"""

from __future__ import annotations

import difflib
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..text import plural
from .names import installed_exports
from .notebook import migrate_notebook
from .transform import MigrateSyntaxError, migrate_source

SKIP_DIRS = {"__pycache__", "dags_out", ".amlcompile", ".git", ".venv", "node_modules"}


@dataclass
class FileReport:
    path: Path
    old: str = ""
    new: str = ""
    changes: list[str] = field(default_factory=list)  # "line: what"
    problems: list[str] = field(default_factory=list)  # "path:line: what to do"
    blocking: int = 0  # how many of `problems` fail the build or a step if left as they are
    errors: list[str] = field(default_factory=list)  # "path:line:col: syntax error ..."

    @property
    def changed(self) -> bool:
        return self.new != self.old and not self.errors


@dataclass
class MigrateReport:
    files: list[FileReport] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[FileReport]:
        return [f for f in self.files if f.changed]

    @property
    def blocking(self) -> int:
        return sum(f.blocking for f in self.files if not f.errors)

    @property
    def failed(self) -> bool:
        return bool(self.missing) or any(f.errors for f in self.files)


def candidate_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    files, missing = [], []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.suffix not in (".py", ".ipynb") or not f.is_file():
                    continue
                parts = f.relative_to(p).parts[:-1]
                if any(x in SKIP_DIRS or x.startswith(".") for x in parts):
                    continue
                files.append(f)
        else:
            missing.append(f"{p}: no such file or directory")
    return list(dict.fromkeys(files)), missing


def migrate_file(path: Path, exported: frozenset[str]) -> FileReport:
    report = FileReport(path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            report.old = report.new = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        report.errors.append(f"{path}: cannot read: {exc}")
        return report
    if path.suffix == ".ipynb":
        return _notebook(report, exported)
    try:
        outcome = migrate_source(report.old, exported)
    except MigrateSyntaxError as exc:
        report.errors.append(f"{path}:{exc.line}:{exc.column}: {_syntax(exc)}; not rewritten")
        return report
    report.new = outcome.source
    if report.old.startswith("\ufeff") and not report.new.startswith("\ufeff"):
        report.new = "\ufeff" + report.new  # libcst drops a byte-order mark; keep the file's
    report.changes = [f"{n.line}: {n.text}" for n in outcome.changes]
    report.problems = [f"{path}:{n.line}: {n.text}" for n in outcome.problems]
    report.blocking = sum(1 for n in outcome.problems if n.blocking)
    return report


def _syntax(exc: MigrateSyntaxError) -> str:
    first = exc.message.strip().splitlines()[0] if exc.message.strip() else "invalid syntax"
    return f"syntax error: {first}"


def _notebook(report: FileReport, exported: frozenset[str]) -> FileReport:
    path = report.path
    try:
        outcome = migrate_notebook(report.old, exported)
    except ValueError as exc:
        report.errors.append(f"{path}: not a readable notebook ({exc}); not rewritten")
        return report
    report.new = outcome.text
    report.changes = [f"cell {c}, line {n.line}: {n.text}" for c, n in outcome.changes]
    report.problems = [f"{path}:cell {c}:{n.line}: {n.text}" for c, n in outcome.problems]
    report.blocking = sum(1 for _, n in outcome.problems if n.blocking)
    report.blocking += len(outcome.syntax_errors)
    for cell, exc in outcome.syntax_errors:
        # One bad cell leaves that cell alone; the notebook's other cells are migrated.
        report.problems.append(f"{path}:cell {cell}:{exc.line}: {_syntax(exc)}; cell left as it is")
    return report


def write_atomic(path: Path, text: str) -> None:
    """Temporary file beside the target, then rename: never a half-written file."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".migrate", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def migrate_paths(paths: list[Path], write: bool = True) -> MigrateReport:
    exported = installed_exports()
    files, missing = candidate_files([Path(p) for p in paths])
    report = MigrateReport(missing=missing)
    for f in files:
        one = migrate_file(f, exported)
        report.files.append(one)
        if write and one.changed:
            write_atomic(f, one.new)
    return report


def print_report(report: MigrateReport, check: bool, diff: bool, out=None, err=None) -> None:
    out = out or sys.stdout
    err = err or sys.stderr
    for line in report.missing:
        print(f"error: {line}", file=err)
    for f in report.files:
        if diff and f.changed:
            out.writelines(
                difflib.unified_diff(
                    f.old.splitlines(keepends=True),
                    f.new.splitlines(keepends=True),
                    fromfile=f"{f.path} (SDK v1)",
                    tofile=f"{f.path} (amlcompile)",
                )
            )
        for line in f.errors:
            print(f"error: {line}", file=err)
    verb = "would migrate" if check or diff else "migrated"
    for f in report.changed:
        print(f"{verb} {f.path} ({plural(len(f.changes), 'change')})", file=out)
        for change in f.changes:
            print(f"  {change}", file=out)
    problems = [p for f in report.files for p in f.problems]
    if problems:
        print(f"not translated ({len(problems)}), to do by hand:", file=out)
        for p in problems:
            print(f"  {p}", file=out)
    unchanged = sum(1 for f in report.files if not f.changed and not f.errors)
    errors = sum(1 for f in report.files if f.errors) + len(report.missing)
    print(
        f"{plural(len(report.changed), 'file')} {verb}, {unchanged} unchanged,"
        f" {plural(errors, 'error')}",
        file=out,
    )
    if report.blocking:
        print(
            f"{plural(report.blocking, 'item')} left to do by hand would fail the build"
            " (exit code 4)",
            file=err,
        )


EXIT_WOULD_CHANGE = 1
EXIT_FAILED = 2
EXIT_UNTRANSLATED = 4


def main(paths: list[Path], check: bool = False, diff: bool = False) -> int:
    report = migrate_paths(paths, write=not (check or diff))
    print_report(report, check, diff)
    if report.failed:
        return EXIT_FAILED
    if check and report.changed:  # the next thing to do: run migrate
        return EXIT_WOULD_CHANGE
    if report.blocking:
        return EXIT_UNTRANSLATED
    return 0
