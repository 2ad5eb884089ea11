"""The one way user values enter generated source: as Python literals.

`repr` of str/int/float/bool/None is always a valid literal that evaluates back to the same
value, whatever the characters (quotes, newlines, `{{ }}`, unicode), so no user string can
change the meaning of the generated code.
"""

from __future__ import annotations

import math
import unicodedata

WIDTH = 96  # where long strings are split
LIMIT = 100  # the line length of generated files (ruff's E501)


def literal(value, indent: int = 0, prefix: int = 0) -> str:
    """`value` as source for a line indented by `indent` after `prefix` characters of text.

    One line when it fits (with a trailing comma); else split: strings into an implicit
    concatenation, lists and dicts one item per line. Dict keys count in their item's width.
    """
    return literal_nested(value, indent, prefix)[0]


def literal_nested(value, indent: int = 0, prefix: int = 0) -> tuple[str, int | None]:
    """`literal(value, indent, prefix)` and a bound on how deep brackets nest in it (None
    when not known)."""
    if type(value) in (dict, list):
        depth = _plain_depth(value)
        if depth > 0:  # each container one level, a long string leaf's parentheses one more
            return _plain_literal(value, indent, prefix), depth + 1
    text = _general_literal(value, indent, prefix)
    return text, (1 if text[0] == "(" else 0) if type(value) is str else None


def _general_literal(value, indent: int, prefix: int) -> str:
    room = LIMIT - 1 - indent - prefix  # columns the one-line form may take
    if not isinstance(value, (list, tuple, dict)) or not value:
        one_line = _flat(value)
        if width(one_line) <= room:
            return one_line
        if isinstance(value, str):  # "" cannot be split: `()` would be an empty tuple
            return _long_string(value, indent) if value else one_line
        return one_line
    # A container's one-line form is built only as far as it fits: a nested value that is
    # split is not written out whole at every level above it (that was quadratic in depth).
    pieces: list[str] = []
    if _fit(value, pieces, room) >= 0:
        return "".join(pieces)
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            key = literal(k, indent + 4, 2)
            items.append(f"{pad}{key}: {literal(v, indent + 4, width(key) + 2)},")
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{literal(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _plain_depth(value) -> int:
    """How deep containers nest in `value` (0 for a scalar) when it holds only dicts with
    str keys, lists, str, int, bool, None and finite floats (no subclasses, no tuples): then
    its one-line form is its repr, built in C. -1 for anything else."""
    t = type(value)
    if t is dict:
        deepest = 0
        for k, v in value.items():
            if type(k) is not str:
                return -1
            if type(v) not in _PLAIN_SCALARS:
                d = _plain_depth(v)
                if d < 0:
                    return -1
                deepest = max(deepest, d)
        return deepest + 1
    if t is list:
        deepest = 0
        for v in value:
            if type(v) not in _PLAIN_SCALARS:
                d = _plain_depth(v)
                if d < 0:
                    return -1
                deepest = max(deepest, d)
        return deepest + 1
    if t is float:
        return 0 if math.isfinite(value) else -1
    return 0 if t in _PLAIN_SCALARS else -1


def _plain_literal(value, indent: int, prefix: int) -> str:
    """`literal` of a value `_plain_depth` accepts."""
    one_line = repr(value)
    if width(one_line) <= LIMIT - 1 - indent - prefix:
        return one_line
    t = type(value)
    if t is str:
        return _long_string(value, indent) if value else one_line
    if not value or (t is not dict and t is not list):
        return one_line
    pad = " " * (indent + 4)
    if t is dict:
        items = []
        for k, v in value.items():
            key = _plain_literal(k, indent + 4, 2)
            items.append(f"{pad}{key}: {_plain_literal(v, indent + 4, width(key) + 2)},")
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_plain_literal(v, indent + 4, 0)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


class _Widths(dict):
    """Display width of each character met so far (unicodedata is slow per character)."""

    def __missing__(self, ch: str) -> int:
        if unicodedata.combining(ch):
            w = 0
        else:
            w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        self[ch] = w
        return w


_WIDTHS = _Widths()


def width(text: str) -> int:
    """Columns a line takes as editors and ruff count them: wide (CJK) characters take two,
    combining marks none."""
    if text.isascii():  # every ASCII character takes one column
        return len(text)
    return sum(map(_WIDTHS.__getitem__, text))


def by_width(text: str, budget: int) -> list[str]:
    """`text` cut into pieces of at most `budget` columns each."""
    pieces, current, used = [], "", 0
    for ch in text:
        w = _WIDTHS[ch]
        if current and used + w > budget:
            pieces.append(current)
            current, used = "", 0
        current += ch
        used += w
    return [*pieces, current] if current else pieces


def one_line(text: str) -> str:
    """Text safe in a comment or a doc line: no line breaks, no lone surrogates.

    File names come from the file system and may hold newlines or undecodable bytes; escaped
    like a Python literal's body, they can neither end a comment nor break UTF-8 encoding.
    """
    return repr(str(text))[1:-1]


def _flat(value) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value!r} into a DAG file")
        return repr(value)
    if isinstance(value, dict):
        _check_keys(value)
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} into a DAG file")


def _check_keys(value: dict) -> None:
    for k in value:
        if not isinstance(k, str):
            raise TypeError(f"dictionary keys in generated code must be strings, got {k!r}")


def _fit(value, pieces: list[str], room: int) -> int:
    """Append `_flat(value)` to `pieces` while it fits in `room` columns; return the room
    left, negative as soon as it does not fit (then `pieces` holds only a start of it)."""
    if isinstance(value, dict):
        _check_keys(value)
        pieces.append("{")
        room -= 1
        for i, (k, v) in enumerate(value.items()):
            if i:
                pieces.append(", ")
                room -= 2
            room = _fit(k, pieces, room)
            if room < 0:
                return room
            pieces.append(": ")
            room = _fit(v, pieces, room - 2)
            if room < 0:
                return room
        pieces.append("}")
        return room - 1
    if isinstance(value, (list, tuple)):
        pieces.append("[")
        room -= 1
        for i, v in enumerate(value):
            if i:
                pieces.append(", ")
                room -= 2
            room = _fit(v, pieces, room)
            if room < 0:
                return room
        pieces.append("]")
        return room - 1
    text = _flat(value)
    pieces.append(text)
    return room - width(text)


class _ReprWidths(dict):
    """Columns each character takes inside a `repr` string (escapes included); a quote counts
    one here, the second column of an escaped `\\'` is added by `_repr_width`."""

    def __missing__(self, ch: str) -> int:
        w = 1 if ch in "'\"" else width(repr(ch)[1:-1])
        self[ch] = w
        return w


_REPR_WIDTHS = _ReprWidths()


def _repr_width(text: str) -> int:
    """width(repr(text)), without building the repr: repr escapes character by character and
    quotes with ' unless the text holds ' and no \", so ' is escaped when both are there."""
    quotes = text.count("'") if '"' in text else 0
    return 2 + sum(map(_REPR_WIDTHS.__getitem__, text)) + quotes


def _long_string(value: str, indent: int) -> str:
    """A parenthesised implicit concatenation, split after newlines and by width.

    A piece grows one character at a time until its repr would exceed the budget; the
    repr's width is kept up to date per character (see `_repr_width`), not recomputed."""
    budget = max(WIDTH - indent - 8, 24)
    widths = _REPR_WIDTHS
    chunks: list[str] = []
    start = 0  # the current piece is value[start:i]
    used = squotes = dquotes = 0  # of the current piece: summed widths, quote counts
    for i, ch in enumerate(value):
        w = widths[ch]
        if i > start:
            sq = squotes + (ch == "'")
            dq = dquotes + (ch == '"')
            if 2 + used + w + (sq if dq else 0) > budget:
                current = value[start:i]
                cut = current.rfind(" ") + 1  # break after a space when there is one
                if cut <= 0:
                    cut = len(current)
                chunks.append(current[:cut])
                start += cut
                rest = value[start:i]
                used = sum(map(widths.__getitem__, rest))
                squotes, dquotes = rest.count("'"), rest.count('"')
        used += w
        if ch == "'":
            squotes += 1
        elif ch == '"':
            dquotes += 1
        if ch == "\n":
            chunks.append(value[start : i + 1])
            start = i + 1
            used = squotes = dquotes = 0
    if start < len(value):
        chunks.append(value[start:])
    pad = " " * (indent + 4)
    return "(\n" + "".join(f"{pad}{c!r}\n" for c in chunks) + " " * indent + ")"
