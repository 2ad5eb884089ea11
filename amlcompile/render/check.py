"""Checking that a generated file compiles, without compiling it whole.

Most of a DAG file is literals written by `pyliteral.literal`, valid Python by construction
(repr of every value). `Output` builds, beside the file, a *skeleton*: the file with each
long list, dict or parenthesised-string literal replaced by a short one of the same kind,
`[_amlcompile_literal_N + 0]` (likewise `{...}`, `(...)`). That is what gets compiled:

- A bracketed display sits in the token stream as one unit (brackets join no neighbour into
  another token, and newlines inside brackets mean nothing), so a file compiles if its
  skeleton does and each replaced text is a display of the same kind. The `+ 0` keeps a
  placeholder from being a valid assignment target or parameter, which a literal is not;
  parentheses inside make it as deep as the literal (Python allows 200 open brackets).
- Each placeholder must come out of the compiler as a name the code loads (it is in the
  code objects' names): one inside a string, a comment or a stringified annotation is
  not, and the skeleton is refused. A skeleton with an f-string is refused too (in one,
  text is code yet cannot hold a backslash or a newline as a literal may).
- A refused or failing skeleton is not the end: the file itself is checked, as below.

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

import io
import re

CHUNK = 1 << 18  # characters per piece: ~10 MB of compiler memory each

# Where a piece may start: a line at indentation 0 or 4 starting a name (not a clause that
# continues a statement above it). Patterns start with a newline: faster than ^ and re.M.
_START = re.compile(rb"\n(?: {4})?(?!(?:else|elif|except|finally|case)\b)[A-Za-z_]")
_STRINGS_COMMENTS = re.compile(rb"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|#[^\n]*""")
_SHALLOW_INDENT = re.compile(rb"\n {1,3}[^ \n]")
_SCOPE_STATEMENT = re.compile(rb"(?:^|[;:\n])[ \t]*(?:global|nonlocal)\b")
_FUTURE_FLAGS = 0
for _name in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _name).compiler_flag


PLACEHOLDER = "_amlcompile_literal_"
_CLOSING = {"[": "]", "{": "}", "(": ")"}
_F_STRING = re.compile(rb"(?<![A-Za-z0-9_])(?:[fF]|[rR][fF]|[fF][rR])['\"]")
_LONG = 64  # literals longer than this are replaced in the skeleton


class Output:
    """A generated file written piece by piece (as UTF-8) with its skeleton (module doc).

    `literal_made(text)` notes a `pyliteral.literal` result; `write(piece)` replaces the
    piece in the skeleton when it *is* that very result (identity: a text that was only
    equal to it could come from anywhere). Batched: the file is never a list of pieces."""

    def __init__(self) -> None:
        self._file, self._skeleton = io.BytesIO(), io.BytesIO()
        self._batch: list[str] = []
        self._skeleton_batch: list[str] = []
        self._literal: str | None = None
        self._depth: int | None = None
        self.placeholders = 0

    def literal_made(self, text: str, depth: int | None) -> str:
        """Note `text` from `pyliteral.literal_nested`: brackets nest at most `depth` deep."""
        self._literal, self._depth = text, depth
        return text

    def write(self, piece: str) -> None:
        self._batch.append(piece)
        if (
            piece is self._literal
            and self._depth
            and len(piece) > _LONG
            and _CLOSING.get(piece[0]) == piece[-1]
        ):
            # As deep as the literal: Python refuses brackets nested over 200 deep.
            inner = "(" * (self._depth - 1) + f"{PLACEHOLDER}{self.placeholders} + 0"
            piece = piece[0] + inner + ")" * (self._depth - 1) + piece[-1]
            self.placeholders += 1
        self._literal = None
        self._skeleton_batch.append(piece)
        if len(self._batch) >= 4096:
            self._flush()

    def _flush(self) -> None:
        self._file.write("".join(self._batch).encode())
        self._skeleton.write("".join(self._skeleton_batch).encode())
        self._batch.clear()
        self._skeleton_batch.clear()

    def checked(self, filename: str) -> bytes:
        """The file's bytes, once it is known to compile (else SyntaxError)."""
        self._flush()
        source = self._file.getvalue()  # BytesIO hands over its buffer: no copy
        skeleton = self._skeleton.getvalue()
        self._file = self._skeleton = io.BytesIO()
        if not _skeleton_compiles(skeleton, filename, self.placeholders):
            check_compiles(source, filename)
        return source


def _skeleton_compiles(skeleton: bytes, filename: str, placeholders: int) -> bool:
    if skeleton.count(PLACEHOLDER.encode()) != placeholders or _F_STRING.search(skeleton):
        return False
    names: set[str] = set()
    if not _pieces_compile(skeleton, filename, names):
        try:
            _names(compile(skeleton.decode(), filename, "exec", dont_inherit=True), names)
        except (SyntaxError, ValueError):
            return False
    return all(f"{PLACEHOLDER}{i}" in names for i in range(placeholders))


def _names(code, into: set[str]) -> None:
    into.update(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            _names(const, into)


def check_compiles(source: bytes, filename: str) -> None:
    """Raise SyntaxError (as `compile(source.decode(), filename, "exec")` would) unless the
    UTF-8 `source` compiles; a big one is compiled a piece at a time (see the module doc).
    Each piece is decoded apart: the file is never held as text beside its bytes."""
    if not _pieces_compile(source, filename):
        compile(source.decode(), filename, "exec", dont_inherit=True)


def _pieces_compile(source: bytes, filename: str, names: set[str] | None = None) -> bool:
    """Whether every piece compiles; the names the code uses go into `names`."""
    cuts = _cuts(source)
    if cuts is None:
        return False
    flags = 0
    for i, (start, indent) in enumerate(cuts):
        end, next_indent = cuts[i + 1] if i + 1 < len(cuts) else (len(source), None)
        # Cut at newlines, which are never inside a UTF-8 sequence; as text, a coding
        # comment in a piece's first lines means nothing (the file is UTF-8 whatever).
        piece = source[start:end].decode()
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
        if names is not None:
            _names(code, names)
        del code, piece
    return True


def _cuts(source: bytes) -> list[tuple[int, int]] | None:
    """[(offset, indentation)] of each piece; None when the source is checked whole."""
    if len(source) < 2 * CHUNK:
        return None
    if any(c in source for c in (b"\t", b"\f", b"\r", b"\0")):
        return None
    if _SHALLOW_INDENT.search(b"\n" + source[:4]) or _SHALLOW_INDENT.search(source):
        return None
    if (b"global" in source or b"nonlocal" in source) and _SCOPE_STATEMENT.search(source):
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
                depth = _depth(_STRINGS_COMMENTS.sub(b"", source[start:at]))
        else:
            depth += _depth(_STRINGS_COMMENTS.sub(b"", source[scanned:at]))
        scanned = at
        if depth == 0:
            cuts.append((at, m.end() - at - 1))
            start, exact = at, False
            m = _START.search(source, at + CHUNK)
        else:
            m = _START.search(source, m.end())
    return cuts if len(cuts) > 1 else None


def _depth(text: bytes, start: int = 0, end: int | None = None) -> int:
    end = len(text) if end is None else end
    opened = sum(text.count(c, start, end) for c in (b"(", b"[", b"{"))
    return opened - sum(text.count(c, start, end) for c in (b")", b"]", b"}"))
