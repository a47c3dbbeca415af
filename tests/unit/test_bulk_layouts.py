"""The bulk paths' one-layout shortcut checks exactly what the row-by-row loop checks.

``Layouts.runs`` validates a chunk of plain dicts sharing one key layout column by column
(C-level loops, and a column's check skipped when no value's type can fail it). Whatever
the values, it must accept, refuse and name the row as the row-by-row loop does.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqlops import InvalidValueError
from sqlops._bulk import Layouts
from sqlops._modelinfo import model_info
from tests.models import Account, Role, User


class Fraction(float):
    """A float subclass, as numpy's float64 is."""


VALUES = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.floats(allow_infinity=True, allow_nan=True),
    st.floats(-1e9, 1e9).map(Fraction),
    st.decimals(
        allow_nan=True, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9
    ),
    st.sampled_from(["admin", "member", "nope", Role.admin]),
    st.text(max_size=3),
)


def _outcome(layouts: Layouts, rows: list[dict[str, Any]], slow: bool) -> Any:
    if slow:
        layouts._one_layout = lambda chunk, offset: None  # type: ignore[method-assign]
    try:
        return [(keys, list(map(id, run))) for keys, run in layouts.runs(rows, 10)]
    except InvalidValueError as exc:
        return (str(exc), exc.table, exc.column)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=6))
def test_the_shortcut_refuses_and_names_as_the_loop_does(values: list[tuple[Any, ...]]) -> None:
    rows = [{"email": "e", "age": a, "score": s, "role": r} for a, s, r in values]
    info = model_info(User)
    assert _outcome(Layouts(info), rows, slow=False) == _outcome(Layouts(info), rows, slow=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=6))
def test_the_shortcut_on_numeric_limits(values: list[tuple[Any, ...]]) -> None:
    rows = [{"owner": "o", "amount": a, "small": s} for a, s in values]
    info = model_info(Account)
    assert _outcome(Layouts(info), rows, slow=False) == _outcome(Layouts(info), rows, slow=True)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"age": Fraction(1.5)}, "row 12: users.age: an integer column cannot hold a fraction"),
        ({"score": math.nan}, "row 12: users.score: NaN cannot be stored"),
        ({"role": "boss"}, "row 12: users.role: not one of admin, member"),
    ],
)
def test_one_bad_value_among_uniform_rows_is_named(bad: dict[str, Any], message: str) -> None:
    rows = [{"email": f"{i}@x", "age": i, "score": 1.0, "role": "member"} for i in range(5)]
    rows[2] = {**rows[2], **bad}
    with pytest.raises(InvalidValueError) as caught:
        Layouts(model_info(User)).runs(rows, 10)
    assert str(caught.value).startswith(message)


def test_a_uniform_chunk_is_one_run_of_the_rows_given() -> None:
    rows = [{"owner": f"o{i}", "amount": decimal.Decimal(i)} for i in range(4)]
    [(keys, run)] = Layouts(model_info(Account)).runs(rows, 0)
    assert keys == ("owner", "amount") and all(a is b for a, b in zip(run, rows, strict=True))
