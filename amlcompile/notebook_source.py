"""A Jupyter notebook as one Python source a build can run, cell by cell, in order.

Cell N starts at line N * NOTEBOOK_CELL_LINES + 1, so a location names the cell and its line
(`nb.ipynb:cell 7:3`). IPython lines (`%pip`, `!ls`, `obj?`) become `pass`; `get_ipython()`
answers with a stand-in that runs nothing. A `%%writefile PATH` cell writes its file, as it
would when the notebook runs (that is how notebooks make their step scripts), only when the
content differs and only inside the notebook's folder; other cell magics are skipped.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

from .ir.models import NOTEBOOK_CELL_LINES


class NotebookError(ValueError):
    pass


class _IPython:
    """`get_ipython()` in a build: `%%writefile` writes its file; other magics do nothing."""

    def run_line_magic(self, *args, **kwargs):
        return None

    magic = system = run_line_magic

    def run_cell_magic(self, name, line, body):
        if name != "writefile":
            return None
        namespace = sys._getframe(1).f_globals
        notebook = Path(namespace.get("__file__", "notebook.ipynb"))
        write_file_cell(notebook, f"%%writefile {_expand(line, namespace)}\n{body}")
        return None

    def __getattr__(self, item):
        if item.startswith("__"):
            raise AttributeError(item)
        return self.run_line_magic


def get_ipython():
    return _IPython()


_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(line: str, namespace: dict) -> str:
    """IPython's `$name` / `{name}` in a magic's line, from the notebook's variables."""

    def value(match):
        name = match.group(1) or match.group(2)
        return str(namespace[name]) if name in namespace else match.group(0)

    return _VARIABLE.sub(value, line)


def _is_ipython_line(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped)


def cells(notebook: Path) -> list[str]:
    try:
        nb = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotebookError(f"{notebook}: not a readable Jupyter notebook ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{notebook}: not a Jupyter notebook (no cells)")
    out = []
    for cell in nb["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            raw = cell.get("source", "")
            out.append("".join(raw) if isinstance(raw, list) else str(raw))
        else:
            out.append("")  # keeps cell numbers as Jupyter shows them
    return out


def write_file_cell(notebook: Path, source: str) -> Path | None:
    """Performs a `%%writefile [-a] PATH` cell; returns the file, or None for other cells."""
    first, _, body = source.lstrip().partition("\n")
    words = shlex.split(first)
    if not words or words[0] != "%%writefile":
        return None
    append = "-a" in words[1:] or "--append" in words[1:]
    names = [w for w in words[1:] if not w.startswith("-")]
    if len(names) != 1:
        raise NotebookError(f"{notebook}: %%writefile needs one file name: {first!r}")
    base = notebook.parent.resolve()
    target = (base / names[0]).resolve()
    if not target.is_relative_to(base):
        raise NotebookError(
            f"{notebook}: %%writefile {names[0]!r} is outside the notebook's folder"
        )
    if append:
        return target  # appending twice is not idempotent: a build leaves such files alone
    if not target.exists() or target.read_text(encoding="utf-8", errors="replace") != body:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".amlcompile-tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(target)
    return target


def to_source(notebook: Path) -> str:
    """The notebook's code cells as one source (cell magics performed or skipped)."""
    lines: list[str] = []
    for number, source in enumerate(cells(notebook), start=1):
        start = number * NOTEBOOK_CELL_LINES
        if source.count("\n") >= NOTEBOOK_CELL_LINES - 1:
            raise NotebookError(f"{notebook}: cell {number} is too long to build")
        lines.extend([""] * (start - len(lines)))
        if source.lstrip().startswith("%%"):
            # As IPython runs it: a call in cell order, so `$variables` have their values.
            first, _, body = source.lstrip().partition("\n")
            magic, _, line = first[2:].partition(" ")
            lines.append(f"get_ipython().run_cell_magic({magic!r}, {line.strip()!r}, {body!r})")
            continue
        for line in source.splitlines():
            if _is_ipython_line(line):
                indent = line[: len(line) - len(line.lstrip())]
                line = f"{indent}pass"
            lines.append(line)
    return "\n".join(lines) + "\n"
