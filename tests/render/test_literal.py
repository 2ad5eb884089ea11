"""Every user value enters generated code as a literal that evaluates back to itself."""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlcompile.render.pyliteral import literal

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(values, st.integers(min_value=0, max_value=40))
def test_literal_round_trips(value, indent):
    assert ast.literal_eval(literal(value, indent)) == value


@pytest.mark.parametrize(
    "hostile",
    [
        '"""',
        "'''",
        "\\",
        "\n\r",
        "{{ ti }}",
        "{% if x %}",
        "'); import os; os.system('x') #",
        "\u2028\x00é漢",
    ],
)
def test_hostile_strings_stay_data(hostile):
    source = f"x = {literal(hostile)}\n"
    tree = ast.parse(source)
    assert len(tree.body) == 1 and isinstance(tree.body[0].value, ast.Constant)
    assert ast.literal_eval(literal(hostile)) == hostile


def test_non_finite_numbers_are_refused():
    with pytest.raises(ValueError):
        literal(math.inf)


def test_long_source_path_header_fits_by_display_width():
    """Wide characters take two columns (ruff's E501 counts them so): lines cut by width."""
    from amlcompile.render.dag import header
    from amlcompile.render.pyliteral import LIMIT, width

    text = header("0.1.0", "/src/" + "𠵡" * 60 + "a" * 90 + ".py")
    assert all(width(line) <= LIMIT for line in text.splitlines())
    shown = "".join(line[4:] for line in text.splitlines()[1:])
    assert shown == "/src/" + "𠵡" * 60 + "a" * 90 + ".py"


def test_empty_string_after_a_long_key_stays_a_string():
    """Found by hypothesis: "" past the line limit was split into `()`, an empty tuple."""
    value = {"k" * 120: ""}
    assert ast.literal_eval(literal(value, 6)) == value
