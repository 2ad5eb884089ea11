"""Shared by the migrate tests: fixture projects copied to a temporary folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPECTED = Path(__file__).resolve().parent / "expected"


def copy_fixtures(dest: Path) -> Path:
    root = dest / "fixtures"
    shutil.copytree(FIXTURES, root)
    for project in root.iterdir():
        if project.is_dir() and not (project / "amlcompile.toml").exists():
            (project / "pyproject.toml").write_text(f"[project]\nname = '{project.name}'\n")
    return root


def notebook_to_script(notebook: Path, script: Path) -> Path:
    """What `jupyter nbconvert --to script` gives: code cells, IPython lines commented out."""
    nb = json.loads(notebook.read_text())
    parts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if source.lstrip().startswith("%%"):
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in source.splitlines()
        ]
        parts.append("\n".join(lines))
    script.write_text("\n\n".join(parts) + "\n")
    return script
