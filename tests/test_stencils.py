"""Stencil weights against values derived independently of Fornberg's recursion."""

from fractions import Fraction as F
from math import factorial

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness.stencils import (
    StencilError,
    accuracy_order,
    fornberg_weights,
    standard_offsets,
    standard_stencil,
    stencil_from_offsets,
)


def taylor_weights(offsets, m):
    """Solve sum_i w_i o_i^k = m! [k == m], k = 0..n-1, by exact Gaussian elimination."""
    n = len(offsets)
    a = [[F(o) ** k for o in offsets] + [F(factorial(m)) if k == m else F(0)] for k in range(n)]
    for col in range(n):
        piv = next(r for r in range(col, n) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        for r in range(n):
            if r != col and a[r][col] != 0:
                f = a[r][col] / a[col][col]
                a[r] = [x - f * y for x, y in zip(a[r], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


def test_central_first_derivative_p2_by_hand():
    # (f(h) - f(-h)) / (2h): Taylor terms of odd order survive.
    assert fornberg_weights([-1, 0, 1], 1) == [F(-1, 2), F(0), F(1, 2)]
    s = standard_stencil("central", 1, 2)
    assert s.offsets == (-1, 1) and s.weights == (F(-1, 2), F(1, 2)) and s.accuracy == 2


def test_central_first_derivative_p4_by_hand():
    # The classic (f(-2h) - 8 f(-h) + 8 f(h) - f(2h)) / (12 h).
    s = standard_stencil("central", 1, 4)
    assert s.offsets == (-2, -1, 1, 2)
    assert s.weights == (F(1, 12), F(-8, 12), F(8, 12), F(-1, 12))
    assert s.accuracy == 4


def test_central_second_derivative_p2_by_hand():
    # (f(h) - 2 f(0) + f(-h)) / h^2
    s = standard_stencil("central", 2, 2)
    assert s.offsets == (-1, 0, 1) and s.weights == (F(1), F(-2), F(1)) and s.accuracy == 2


def test_one_sided_by_hand():
    assert standard_stencil("forward", 1, 1).weights == (F(-1), F(1))
    assert standard_stencil("backward", 1, 1).offsets == (-1, 0)
    assert standard_stencil("backward", 1, 1).weights == (F(-1), F(1))
    # (-3 f(0) + 4 f(h) - f(2h)) / (2h)
    s = standard_stencil("forward", 1, 2)
    assert s.weights == (F(-3, 2), F(2), F(-1, 2)) and s.accuracy == 2


@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("p", [2, 4, 6, 8])
def test_central_matches_taylor_system(m, p):
    offsets = standard_offsets("central", m, p)
    expected = taylor_weights(offsets, m)
    s = standard_stencil("central", m, p)
    got = dict(zip(s.offsets, s.weights))
    assert all(got.get(F(o), F(0)) == w for o, w in zip(offsets, expected))
    assert s.accuracy == p


def test_truncation_constant_central():
    # f'(x) - D_h f = -f'''(x) h^2 / 6 + ...: the moment-derived constant is +1/6.
    assert standard_stencil("central", 1, 2).truncation_constant() == F(1, 6)
    assert standard_stencil("forward", 1, 1).truncation_constant() == F(1, 2)


def test_accuracy_is_derived_from_offsets():
    assert stencil_from_offsets([-1, 0, 2, 3], 1).accuracy == 3
    assert stencil_from_offsets([-1, 1], 1).accuracy == 2  # symmetry gains an order
    assert stencil_from_offsets([0, 1, 2], 2).accuracy == 1


def test_bad_stencils_raise():
    with pytest.raises(StencilError, match="distinct"):
        fornberg_weights([0, 1, 1], 1)
    with pytest.raises(StencilError, match="at least"):
        fornberg_weights([0, 1], 2)
    with pytest.raises(StencilError, match="even"):
        standard_offsets("central", 1, 3)
    with pytest.raises(StencilError, match="direction"):
        standard_offsets("sideways", 1, 1)
    with pytest.raises(StencilError):
        accuracy_order([F(0), F(1)], [F(1), F(1)], 1)


@settings(max_examples=150, deadline=None)
@given(
    offsets=st.lists(st.integers(-6, 6), min_size=2, max_size=7, unique=True),
    m=st.integers(1, 4),
)
@example(offsets=[-1, 0, 2, 3], m=1)
@example(offsets=[0, 5], m=1)
def test_fornberg_equals_taylor_moments(offsets, m):
    if m >= len(offsets):
        with pytest.raises(StencilError):
            fornberg_weights(offsets, m)
        return
    w = fornberg_weights(offsets, m)
    assert w == taylor_weights(offsets, m)
    s = stencil_from_offsets(offsets, m)
    # Exact on polynomials up to degree n - 1, and the order derived is where that stops.
    assert s.accuracy >= len(offsets) - m
    assert s.moment(m + s.accuracy) != 0
    assert all(s.moment(k) == (factorial(m) if k == m else 0) for k in range(m + s.accuracy))


def test_one_sided_third_order_by_taylor_system():
    # f'(0) ~ (-11 f(0) + 18 f(h) - 9 f(2h) + 2 f(3h)) / (6h), derived from the moment system.
    s = standard_stencil("forward", 1, 3)
    assert s.offsets == (0, 1, 2, 3)
    assert list(s.weights) == taylor_weights([0, 1, 2, 3], 1) == [F(-11, 6), F(3), F(-3, 2), F(1, 3)]
    assert s.accuracy == 3
