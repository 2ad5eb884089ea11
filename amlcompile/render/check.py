"""Checking that a generated file compiles, without compiling it whole.

`compile()` of a whole file holds the file's AST and code in memory at once: about 40 bytes
per byte of source (1.6 GB for a 40 MB DAG of 10,000 steps). So a big file is checked in
pieces of about CHUNK characters, each compiled alone and dropped, and the pieces are
chosen and wrapped so that **every piece compiling means the whole file compiles**:

- A piece starts at the start of a line and, but for the last, ends with a newline. The
  first starts the file in a clean state (no open bracket, string or line continuation); a
  piece that compiles ends clean (an open one fails at its end), so the next starts clean,
  and Python tokenizes every piece as it would inside the file. A piece ending in a line
  continuation is refused (the next line's indentation would not count in the file).
- A piece starts at indentation 0, or 4 inside one block. After each piece (but the last)
  come probe lines, `pass` at the next piece's indentation then at 0: they compile only if
  those indentation levels are open at that point of the file, and they close every block
  the piece opened with a plain statement after it (so a `try:` closed without `except`
  fails). A file with a line indented 1 to 3 columns is checked whole: without one, the
  levels open at a piece's start are exactly the ones the probes name.
- A piece at indentation 4 is compiled inside `with 0:` (a block as strict as the file's:
  it counts towards Python's nesting limit, `break` or `return` in it fail); one at 0 after
  a `pass` (a `from __future__` import past the first piece fails as in the file). The
  first piece's `__future__` features apply to the others.
- Statements one piece cannot see the others for: `global` and `nonlocal` (a declaration
  after a use elsewhere in the module). A file with either is checked whole.

The places to cut are found by a quick scan (lines at indentation 0 or 4 starting a name,
brackets balanced since the last cut, counted in strings too unless that leaves one open):
it can be wrong without harm, as a wrong cut only makes a piece fail. Any failure is
settled by compiling the whole file, so a file that does not compile reports the same
error as `compile()`, and one that does is never refused.
"""

from __future__ import annotations
import __future__

import re

CHUNK = 1 << 18  # characters per piece: ~10 MB of compiler memory each

# Where a piece may start: a line at indentation 0 or 4 starting a name (not a clause that
# continues a statement above it). Patterns start with a newline: faster than ^ and re.M.
_START = re.compile(r"\n(?: {4})?(?!(?:else|elif|except|finally|case)\b)[A-Za-z_]")
_STRINGS_COMMENTS = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|#[^\n]*""")
_SHALLOW_INDENT = re.compile(r"\n {1,3}[^ \n]")
_SCOPE_STATEMENT = re.compile(r"(?:^|[;:\n])[ \t]*(?:global|nonlocal)\b")
_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag


def check_compiles(source: str, filename: str) -> None:
    """Raise SyntaxError (as `compile(source, filename, "exec")` would) unless `source`
    compiles; pieces of a big source are compiled one at a time (see the module doc)."""
    if not _pieces_compile(source, filename):
        compile(source, filename, "exec", dont_inherit=True)


def _pieces_compile(source: str, filename: str) -> bool:
    cuts = _cuts(source)
    if cuts is None:
        return False
    flags = 0
    for i, (start, indent) in enumerate(cuts):
        end, next_indent = cuts[i + 1] if i + 1 < len(cuts) else (len(source), None)
        piece = source[start:end]
        if next_indent is not None:
            if piece.endswith("\\\n"):
                return False
            probes = ["    pass\n"] if next_indent else []
            piece += "".join(probes) + "pass\n"
        if i:
            piece = ("with 0:\n" if indent else "pass\n") + piece
        try:
            code = compile(piece, filename, "exec", flags=flags, dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
        if not i:
            flags = code.co_flags & _FUTURE_FLAGS
        del code, piece
    return True


def _cuts(source: str) -> list[tuple[int, int]] | None:
    """[(offset, indentation)] of each piece; None when the source is checked whole."""
    if len(source) < 2 * CHUNK:
        return None
    if any(c in source for c in "\t\f\r\0") or _SHALLOW_INDENT.search("\n" + source[:4]):
        return None
    if _SHALLOW_INDENT.search(source):
        return None
    if ("global" in source or "nonlocal" in source) and _SCOPE_STATEMENT.search(source):
        return None
    cuts = [(0, 0)]
    start = scanned = depth = 0
    exact = False
    m = _START.search(source, CHUNK)
    while m is not None:
        at = m.start() + 1
        if len(source) - at < CHUNK:
            break
        # Brackets opened since the last cut: counted as they stand (quick), or with strings
        # and comments left out once that count is off (a string holding a bracket).
        if not exact:
            depth += _depth(source, scanned, at)
            if depth:
                exact = True
                depth = _depth(_STRINGS_COMMENTS.sub("", source[start:at]))
        else:
            depth += _depth(_STRINGS_COMMENTS.sub("", source[scanned:at]))
        scanned = at
        if depth == 0:
            cuts.append((at, m.end() - at - 1))
            start, exact = at, False
            m = _START.search(source, at + CHUNK)
        else:
            m = _START.search(source, m.end())
    return cuts if len(cuts) > 1 else None


def _depth(text: str, start: int = 0, end: int | None = None) -> int:
    end = len(text) if end is None else end
    opened = text.count("(", start, end) + text.count("[", start, end) + text.count("{", start, end)
    return opened - (
        text.count(")", start, end) + text.count("]", start, end) + text.count("}", start, end)
    )
