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
    one_line = _flat(value)
    if indent + prefix + width(one_line) + 1 <= LIMIT:
        return one_line
    if isinstance(value, str):  # "" cannot be split: `()` would be an empty tuple
        return _long_string(value, indent) if value else one_line
    if not isinstance(value, (list, tuple, dict)) or not value:
        return one_line
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            key = literal(k, indent + 4, 2)
            items.append(f"{pad}{key}: {literal(v, indent + 4, width(key) + 2)},")
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{literal(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def width(text: str) -> int:
    """Columns a line takes as editors and ruff count them: wide (CJK) characters take two,
    combining marks none."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def by_width(text: str, budget: int) -> list[str]:
    """`text` cut into pieces of at most `budget` columns each."""
    pieces, current, used = [], "", 0
    for ch in text:
        w = width(ch)
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
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"dictionary keys in generated code must be strings, got {k!r}")
        return "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} into a DAG file")


def _long_string(value: str, indent: int) -> str:
    """A parenthesised implicit concatenation, split after newlines and by width."""
    budget = max(WIDTH - indent - 8, 24)
    chunks: list[str] = []
    current = ""
    for ch in value:
        if current and width(repr(current + ch)) > budget:
            cut = current.rfind(" ") + 1  # break after a space when there is one
            if cut <= 0:
                cut = len(current)
            chunks.append(current[:cut])
            current = current[cut:]
        current += ch
        if ch == "\n":
            chunks.append(current)
            current = ""
    if current:
        chunks.append(current)
    pad = " " * (indent + 4)
    return "(\n" + "".join(f"{pad}{c!r}\n" for c in chunks) + " " * indent + ")"
