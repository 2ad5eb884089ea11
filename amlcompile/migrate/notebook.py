"""Jupyter notebooks, migrated cell by cell: code cells only, outputs and metadata kept.

IPython lines (`%pip ...`, `!ls`, `obj?`) are not Python: each is swapped for a placeholder
statement before parsing and put back afterwards. Cells starting with a cell magic (`%%bash`)
are left alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .transform import Carry, MigrateSyntaxError, Note, migrate_source

_MARK = "__amlcompile_migrate_magic_{}__"
_MARK_LINE = re.compile(r"^[ \t]*pass  # __amlcompile_migrate_magic_(\d+)__$")


@dataclass
class NotebookOutcome:
    text: str
    changes: list[tuple[int, Note]] = field(default_factory=list)  # (cell number, note)
    problems: list[tuple[int, Note]] = field(default_factory=list)
    syntax_errors: list[tuple[int, MigrateSyntaxError]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _is_magic(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped)


def protect(source: str) -> tuple[str, list[str]]:
    """Magic lines → `pass  # marker` with the same indentation."""
    saved: list[str] = []
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if _is_magic(line):
            body = line.rstrip("\r\n")
            ending = line[len(body) :]
            indent = body[: len(body) - len(body.lstrip())]
            lines[i] = f"{indent}pass  # {_MARK.format(len(saved))}{ending}"
            saved.append(body)
    return "".join(lines), saved


def restore(source: str, saved: list[str]) -> str:
    lines = source.splitlines(keepends=True)
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        match = _MARK_LINE.match(body)
        if match:
            lines[i] = saved[int(match.group(1))] + line[len(body) :]
    return "".join(lines)


def migrate_notebook(text: str, exported: frozenset[str]) -> NotebookOutcome:
    """Raises ValueError when `text` is not a notebook."""
    nb = json.loads(text)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no cells)")
    outcome = NotebookOutcome(text)
    if "azureml" not in text and "Run.get_context" not in text:
        return outcome
    carry = Carry()  # a name imported in one cell is used in the next
    changed = False
    for number, cell in enumerate(nb["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        head = ""
        if source.lstrip().startswith("%%"):
            # A `%%writefile x.py` cell writes a step script: its body is migrated like one.
            first, newline, body = source.partition("\n")
            words = first.split()
            if words[:1] != ["%%writefile"] or not words[-1].endswith(".py") or not newline:
                continue
            head, source = first + newline, body
        protected, saved = protect(source)
        try:
            # A step script written by a cell is its own module: it shares no names.
            result = migrate_source(protected, exported, Carry() if head else carry)
        except MigrateSyntaxError as exc:
            outcome.syntax_errors.append((number, exc))
            continue
        outcome.problems.extend((number, n) for n in result.problems)
        if not result.changed:
            continue
        outcome.changes.extend((number, n) for n in result.changes)
        new = restore(result.source, saved)
        source, new = head + source, head + new
        if new != source:
            changed = True
            cell["source"] = new.splitlines(keepends=True) if isinstance(raw, list) else new
    if changed:
        # nbformat's own layout: one-space indent, non-ASCII kept, a final newline.
        outcome.text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    return outcome
