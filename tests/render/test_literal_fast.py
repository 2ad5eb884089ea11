"""The fast paths of pyliteral (ASCII width, one-line forms built only as far as they fit,
string pieces measured per character) write the very bytes the plain definitions write."""

from __future__ import annotations

import math
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from amlcompile.render import pyliteral
from amlcompile.render.pyliteral import LIMIT, WIDTH, _repr_width, literal, literal_nested, width


def ref_width(text: str) -> int:
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def ref_flat(value) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        return repr(value)
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(k)
        return "{" + ", ".join(f"{ref_flat(k)}: {ref_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(ref_flat(v) for v in value) + "]"
    raise TypeError(type(value))


def ref_long_string(value: str, indent: int) -> str:
    budget = max(WIDTH - indent - 8, 24)
    chunks: list[str] = []
    current = ""
    for ch in value:
        if current and ref_width(repr(current + ch)) > budget:
            cut = current.rfind(" ") + 1
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


def ref_literal(value, indent: int = 0, prefix: int = 0) -> str:
    """pyliteral.literal as it was before the fast paths (the definition)."""
    one_line = ref_flat(value)
    if indent + prefix + ref_width(one_line) + 1 <= LIMIT:
        return one_line
    if isinstance(value, str):
        return ref_long_string(value, indent) if value else one_line
    if not isinstance(value, (list, tuple, dict)) or not value:
        return one_line
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            key = ref_literal(k, indent + 4, 2)
            items.append(f"{pad}{key}: {ref_literal(v, indent + 4, ref_width(key) + 2)},")
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{ref_literal(v, indent + 4)}," for v in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


# Characters that change widths or escapes: quotes, backslash, controls, wide (CJK, emoji),
# combining marks, unprintable and lone surrogates, plus plain ASCII and spaces to cut at.
special = st.sampled_from(
    list("'\"\\\n\r\t\x00\x7f ") + ["é", "漢", "𠵡", "\u0301", "\u200b", "\u2028", "\ud800", "🙂"]
)
chars = st.one_of(st.characters(), special, st.sampled_from("abc xyz"))
texts = st.text(chars, max_size=300)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | texts
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(chars, max_size=60), inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(texts)
def test_width_matches_the_definition(text):
    assert width(text) == ref_width(text)
    assert _repr_width(text) == ref_width(repr(text))


@settings(max_examples=500)
@given(texts, st.integers(min_value=0, max_value=60))
def test_long_strings_are_cut_where_they_were(text, indent):
    if text:
        assert pyliteral._long_string(text, indent) == ref_long_string(text, indent)


@settings(max_examples=500)
@given(values, st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=40))
def test_literal_writes_the_same_bytes(value, indent, prefix):
    assert literal(value, indent, prefix) == ref_literal(value, indent, prefix)


def test_the_first_bad_value_is_reported_as_before():
    for value in (
        [1, {"a": math.inf}, {2: 1}],
        ["x" * 200, {1: "y"}],
        {"k": [object()], "z": math.nan},
    ):
        errors = []
        for fn in (literal, ref_literal):
            try:
                fn(value, 4, 4)
            except (TypeError, ValueError) as exc:
                errors.append((type(exc), str(exc).split()[0]))
        assert len(errors) == 2 and errors[0][0] is errors[1][0]


def bracket_depth(source: str) -> int:
    import io
    import tokenize

    depth = deepest = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
    return deepest


@settings(max_examples=300)
@given(values, st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=40))
def test_nesting_bound_holds(value, indent, prefix):
    """The render check relies on it: placeholders as deep as the literals they stand for."""
    text, depth = literal_nested(value, indent, prefix)
    assert text == literal(value, indent, prefix)
    if depth is not None:
        assert bracket_depth(text) <= depth
