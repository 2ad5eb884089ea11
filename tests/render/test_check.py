"""The piecewise compile check of big generated files: it never passes a file `compile()`
refuses, and it does not fall back to a whole compile on the files amlcompile writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlcompile.render import check
from amlcompile.render.pyliteral import literal_nested

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
    assert check._pieces_compile(source.encode(), str(path))
    assert len(check._cuts(source.encode())) > 2


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
    if check._pieces_compile(source.encode(), "<test>"):
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
        check.check_compiles(source.encode(), "<x>")


# Skeletons: long literals replaced by short ones of the same kind. Wherever a template puts
# a literal, the check must agree with compile() on the real file.
CONTEXTS = [
    ("x = ", "\n"),
    ("f(", ")\n"),
    ("f", "\n"),  # a call with the literal's parentheses
    ("x[", "]\n"),
    ("x", "\n"),  # subscript or call
    ("", " = 1\n"),  # a literal is no assignment target
    ("for ", " in y: pass\n"),
    ("del ", "\n"),
    ("def f", ": pass\n"),
    ("def f(", "): pass\n"),
    ("x = '", "'\n"),  # inside a string
    ("x = f'{", "}'\n"),  # inside an f-string
    ("# ", "\n"),  # inside a comment
    ("x: ", " = 1\n"),
    ("from __future__ import annotations\nx: ", " = 1\n"),
    ("@", "\ndef f(): pass\n"),
    ("x = " + "(" * 190, ")" * 190 + "\n"),  # deep: Python allows 200 open brackets
    ("x = " + "(" * 150, ")" * 150 + "\n"),
    ("with a:\n    x = ", "\n"),
    ("with a:\n    ", "\n  y = 1\n"),
    ("match x:\n    case ", ":\n        pass\n"),
    ("x = {**", "}\n"),
    ("lambda: ", "\n"),
    ("x = 1 if ", " else 2\n"),
]
leaf = st.one_of(st.integers(), st.text(max_size=150), st.none(), st.booleans())
nested = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=40,
)


def deep(n: int):
    value: list = ["x" * 70]
    for _ in range(n):
        value = [value]
    return value


def render_with(before: str, value, after: str) -> tuple[str, bool]:
    out = check.Output()
    out.write(before)
    text = out.literal_made(*literal_nested(value, 0, len(before)))
    out.write(text)
    out.write(after)
    real = before + text + after
    try:
        assert out.checked("<t>").decode() == real
        ok = True
    except SyntaxError:
        ok = False
    return real, ok


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CONTEXTS), st.one_of(nested, st.integers(0, 60).map(deep)))
def test_skeleton_check_agrees_with_compile(context, value):
    before, after = context
    real, ok = render_with(before, value, after)
    assert ok == compiles(real)


def test_long_literals_are_replaced():
    out = check.Output()
    out.write("x = ")
    out.write(out.literal_made(*literal_nested({"k": ["v" * 50] * 9}, 0, 4)))
    out.write("\n")
    assert out.placeholders == 1
    assert out.checked("<t>").startswith(b"x = {\n")
