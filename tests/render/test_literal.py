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
