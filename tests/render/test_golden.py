"""Golden files pin the compiled form of every example; review changes as diffs.

Update with: AMLCOMPILE_UPDATE_GOLDEN=1 pytest tests/render/test_golden.py
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from amlcompile.compiler import build
from tests.conftest import EXAMPLES

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture(scope="module")
def built() -> tuple[Path, Path]:
    # A fixed path: local datastore roots are absolute, and long strings wrap by length.
    root = Path(tempfile.gettempdir()) / "amlcompile-golden-project"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    shutil.copytree(EXAMPLES, root / "examples")
    (root / "pyproject.toml").write_text("[project]\nname = 'examples'\n")
    out = root / "dags_out"
    cwd = os.getcwd()
    os.chdir(root)
    try:
        build([root / "examples"], out_dir=out)
    finally:
        os.chdir(cwd)
    return root, out


def normalised(text: str, root: Path) -> str:
    # The runtime's content hash changes with every runtime edit; the DAG shape is what we pin.
    text = re.sub(r"runtime_[0-9a-f]{12}", "runtime_<HASH>", text)
    return text.replace(str(root), "<PROJECT>")


def test_generated_dags_match_golden_files(built):
    root, out = built
    generated = {p.name: normalised(p.read_text(), root) for p in sorted(out.glob("*.py"))}
    if os.environ.get("AMLCOMPILE_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        for old in GOLDEN.glob("*.py"):
            old.unlink()
        for name, text in generated.items():
            (GOLDEN / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(GOLDEN.glob("*.py"))}
    assert sorted(generated) == sorted(expected)
    for name in generated:
        assert generated[name] == expected[name], f"{name} differs from tests/golden/{name}"
