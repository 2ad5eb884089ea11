"""The piecewise compile check of big generated files: it never passes a file `compile()`
refuses, and it does not fall back to a whole compile on the files amlcompile writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlcompile.render import check

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SOURCES = sorted(GOLDEN.glob("*.py"))


def source_of(path: Path) -> str:
    """A golden file as written (the runtime's hash is masked in it)."""
    return path.read_text().replace("<HASH>", "0123456789ab")


def compiles(source: str) -> bool:
    try:
        compile(source, "<test>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(check, "CHUNK", 300)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_generated_files_are_checked_in_pieces(path):
    source = source_of(path)
    assert check._pieces_compile(source, str(path))
    assert len(check._cuts(source)) > 2


MUTATIONS = [
    "(",
    ")",
    "]",
    "{",
    ":",
    "'",
    '"',
    "\\",
    "\n",
    " ",
    "    ",
    "#",
    "else:\n",
    "try:\n",
    "    x = 1\n",
    "  y\n",
    "@d\n",
    "global x\n",
    "from __future__ import annotations\n",
    "return\n",
    "break\n",
    "with a:\n",
    "if b:\n",
    "'''",
    "\\\n",
    "pass",
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SOURCES),
    st.lists(st.tuples(st.floats(0, 1), st.sampled_from(MUTATIONS), st.booleans()), max_size=3),
)
def test_pieces_never_pass_a_file_compile_refuses(path, edits):
    source = source_of(path)
    for where, text, at_line_start in edits:
        at = int(where * len(source))
        if at_line_start:
            at = source.rfind("\n", 0, at) + 1
        source = source[:at] + text + source[at:]
    if check._pieces_compile(source, "<test>"):
        assert compiles(source), edits


@pytest.mark.parametrize(
    "tail",
    [
        "    try:\n        x = 1\nx = 2\n",  # try without except, closed in a later piece
        "    x = 1\n  y = 2\n",  # a dedent to no open level
        "    x = (1,\n",  # open at the end
        "global DATASTORES\n",  # after an assignment in an earlier piece
        "    return 1\n",
    ],
)
def test_broken_tails_fail_like_compile(tail):
    source = source_of(GOLDEN / "Mixed_Compute.py") + tail
    with pytest.raises(SyntaxError):
        compile(source, "<x>", "exec", dont_inherit=True)
    with pytest.raises(SyntaxError):
        check.check_compiles(source, "<x>")
