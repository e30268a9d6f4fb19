"""Checked mpmath reference derivatives: accuracy, failure detection, exactness, caching."""

import doctest
import math
import time
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.reference as reference_module
from harness.refcache import ReferenceCache
from harness.reference import (
    REFERENCE_STATUSES,
    Reference,
    _to_float64,
    reference_derivative,
)


def exact(v):
    """The exact binary value of a float-like as an mpf (no rounding at any precision)."""
    num, den = v.as_integer_ratio()
    with mpmath.workprec(max(num.bit_length(), 1) + 8):
        return mpmath.ldexp(mpmath.mpf(num), -(den.bit_length() - 1))


def rel_err(value, truth):
    with mpmath.workdps(120):
        return abs(value - truth) / abs(truth)


@pytest.fixture(autouse=True)
def global_precision_untouched():
    mpmath.mp.dps = 15
    yield
    assert mpmath.mp.dps == 15 and mpmath.mp.prec == 53


# --------------------------------------------------------------------------- #
# Cases mpmath.diff gets wrong silently                                       #
# --------------------------------------------------------------------------- #

def test_log_derivative_at_1e20():
    r = reference_derivative(mpmath.log, [1e20], [1])
    assert r.status == "ok" and r.reliable and r.message == ""
    assert r.digits >= 30
    with mpmath.workdps(120):
        truth = 1 / exact(1e20)
    assert rel_err(r.value, truth) < mpmath.mpf(10) ** -30
    assert r.hi == float(truth)


def test_sin_derivative_at_1e_minus_30():
    r = reference_derivative(mpmath.sin, [1e-30], [1])
    assert r.status == "ok" and r.digits >= 30
    with mpmath.workdps(120):
        truth = mpmath.cos(exact(1e-30))
    assert rel_err(r.value, truth) < mpmath.mpf(10) ** -30
    assert r.hi == 1.0


def test_tiny_and_huge_points_keep_relative_accuracy():
    r = reference_derivative(mpmath.log, [1e-300], [1])
    with mpmath.workdps(120):
        truth = 1 / exact(1e-300)
    assert r.status == "ok" and rel_err(r.value, truth) < mpmath.mpf(10) ** -45
    r = reference_derivative(mpmath.cos, [1e-30], [1])  # f' = -sin(x) ~ -1e-30 while f ~ 1
    with mpmath.workdps(120):
        truth = -mpmath.sin(exact(1e-30))
    assert r.status == "ok" and rel_err(r.value, truth) < mpmath.mpf(10) ** -40


def test_huge_point_of_an_oscillating_function():
    # a purely relative step (2**803 here) would straddle many periods
    r = reference_derivative(mpmath.sin, [1e300], [1])
    with mpmath.workdps(120):
        truth = mpmath.cos(exact(1e300))
    assert r.status == "ok" and rel_err(r.value, truth) < mpmath.mpf(10) ** -45
    r = reference_derivative(mpmath.sin, [1e20], [2])
    with mpmath.workdps(120):
        truth = -mpmath.sin(exact(1e20))
    assert r.status == "ok" and rel_err(r.value, truth) < mpmath.mpf(10) ** -45


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-300),
       st.integers(1, 3))
def test_sin_derivatives_property(x, n):
    r = reference_derivative(mpmath.sin, [x], [n], dps=40)
    with mpmath.workdps(100):
        truth = [mpmath.cos, lambda t: -mpmath.sin(t), lambda t: -mpmath.cos(t)][n - 1](exact(x))
    assert r.status == "ok", r.message
    if abs(truth) > mpmath.mpf(10) ** -30:
        assert rel_err(r.value, truth) < mpmath.mpf(10) ** -30
    else:  # zero at the working precision (e.g. sin''(0))
        assert abs(r.value - truth) < mpmath.mpf(10) ** -39


@pytest.mark.parametrize(
    "f, x, statuses",
    [
        (mpmath.sqrt, 0.0, {"complex"}),  # the left half of the stencil leaves the domain
        (abs, 0.0, {"disagree"}),  # kink: left -1, right 1, central 0
        (mpmath.log, -1.0, {"complex"}),
        (mpmath.log, 0.0, {"nonfinite"}),  # log(0) = -inf in mpmath
        (lambda x: 1 / x, 0.0, {"error", "nonfinite"}),
        (lambda x: mpmath.sqrt(x) * x, 0.0, {"complex"}),
    ],
    ids=["sqrt0", "abs0", "log-1", "log0", "inv0", "xsqrtx0"],
)
def test_singular_points_are_unreliable(f, x, statuses):
    r = reference_derivative(f, [x], [1])
    assert r.status in statuses and r.status in REFERENCE_STATUSES
    assert not r.reliable
    assert r.value is None and math.isnan(r.hi) and math.isnan(r.lo)
    assert r.message


def test_kink_message_names_one_sided_derivatives():
    r = reference_derivative(abs, [0.0], [1])
    assert r.digits == 0.0
    assert "left -1.0, right 1.0" in r.message and "kink" in r.message
    # a kink that is tiny in absolute terms is still a kink
    r = reference_derivative(lambda x: mpmath.mpf("1e-100") * abs(x), [0.0], [1])
    assert r.status == "disagree" and "kink" in r.message


def test_kink_in_a_mixed_partial_is_caught():
    r = reference_derivative(lambda x, y: abs(x - y), [1.0, 1.0], [1, 1])
    assert r.status == "disagree"
    r = reference_derivative(lambda x, y: abs(x - y), [1.0, 1.0], [1, 0])
    assert r.status == "disagree"


def test_point_off_a_kink_is_fine():
    # |x - 0.1| at float 0.1 (5.5e-18 away from the decimal 0.1): differentiable there
    r = reference_derivative(lambda x: abs(x - mpmath.mpf("0.1")), [0.1], [1])
    assert r.status == "ok" and r.value == 1


# --------------------------------------------------------------------------- #
# Accuracy on smooth functions                                                #
# --------------------------------------------------------------------------- #

with mpmath.workdps(120):
    _TRUTH = {
        "exp1": mpmath.e,
        "poly_dx1": mpmath.mpf(2),
        "mixed": mpmath.mpf("2.25"),
        "sin3": -mpmath.cos(exact(0.3)),
        "exp4": mpmath.exp(exact(0.3)),
        "exp_mixed3": mpmath.exp(exact(0.25) + exact(-0.5) + exact(2.0)),
        "sin_cos_xy": mpmath.sin(exact(0.4)) * mpmath.sin(exact(1.1)),  # (-sin x)(-sin y)
    }


@pytest.mark.parametrize(
    "name, f, point, orders",
    [
        ("exp1", mpmath.exp, [1.0], [1]),
        ("poly_dx1", lambda x0, x1, x2: x0**3 + x1**2 + x2**4, [1.0, 1.0, 1.0], [0, 1, 0]),
        ("mixed", lambda x0, x1: x0**2 * x1**3, [1.5, -0.5], [1, 1]),
        ("sin3", mpmath.sin, [0.3], [3]),
        ("exp4", mpmath.exp, [0.3], [4]),
        ("exp_mixed3", lambda a, b, c: mpmath.exp(a + b + c), [0.25, -0.5, 2.0], [1, 1, 1]),
        ("sin_cos_xy", lambda x, y: mpmath.sin(x) * mpmath.cos(y), [0.4, 1.1], [2, 1]),
    ],
)
def test_smooth_derivatives_to_40_digits(name, f, point, orders):
    r = reference_derivative(f, point, orders, dps=50)
    truth = _TRUTH[name]
    assert r.status == "ok" and r.digits >= 40
    assert rel_err(r.value, truth) < mpmath.mpf(10) ** -40
    assert r.hi == float(truth)


def test_mixed_partial_is_exact_within_1e_minus_40():
    r = reference_derivative(lambda x0, x1: x0**2 * x1**3, [1.5, -0.5], [1, 1])
    assert abs(r.value - mpmath.mpf("2.25")) < mpmath.mpf(10) ** -40


def test_agrees_with_mpmath_diff_where_that_is_reliable():
    # x of order 1, where mpmath's absolute step is fine: same binomial differences
    for f, x, n in [(mpmath.exp, 0.3, 2), (mpmath.atan, -0.8, 5), (lambda t: t**6 - 3 * t, 1.25, 6)]:
        r = reference_derivative(f, [x], [n], dps=40)
        with mpmath.workdps(80):
            truth = mpmath.diff(f, exact(x), n)
        assert abs(r.value - truth) <= mpmath.mpf(10) ** -38 * max(1, abs(truth))


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=-700.0, max_value=700.0, allow_nan=False))
def test_exp_derivative_property(x):
    r = reference_derivative(mpmath.exp, [x], [1], dps=40)
    with mpmath.workdps(90):
        truth = mpmath.exp(exact(x))
    assert r.status == "ok" and r.digits >= 35
    assert rel_err(r.value, truth) < mpmath.mpf(10) ** -35
    assert r.hi == float(truth)


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=1e-70, max_value=1e300, allow_nan=False), st.integers(1, 4))
def test_log_derivatives_property(x, n):
    r = reference_derivative(mpmath.log, [x], [n], dps=40)
    with mpmath.workdps(90):
        truth = (-1) ** (n - 1) * mpmath.factorial(n - 1) / exact(x) ** n
    assert r.status == "ok", r.message
    assert rel_err(r.value, truth) < mpmath.mpf(10) ** -35


# --------------------------------------------------------------------------- #
# Zero derivatives: absolute scale                                            #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize(
    "f, x, n",
    [
        (mpmath.cos, 0.0, 1),
        (lambda x: x**2, 0.0, 1),
        (lambda x: (x - 1) ** 3, 1.0, 1),
        (lambda x: x**4, 0.0, 3),
        (lambda x: x**7, 0.0, 6),
        (lambda x: (x - mpmath.mpf(1e20)) ** 2, 1e20, 1),
        (lambda x: mpmath.mpf(3), 0.3, 2),
    ],
    ids=["cos0", "x2at0", "cube_at1", "x4_3rd", "x7_6th", "shifted_square_1e20", "const"],
)
def test_zero_derivative_is_ok(f, x, n):
    r = reference_derivative(f, [x], [n])
    assert r.status == "ok" and r.digits >= 40, r.message
    assert abs(r.value) < mpmath.mpf(10) ** -40
    assert r.hi == 0.0 and r.lo == 0.0


def test_cos_derivative_at_zero_is_ok():
    r = reference_derivative(mpmath.cos, [0.0], [1])
    assert r.status == "ok" and abs(r.value) < mpmath.mpf(10) ** -40


# --------------------------------------------------------------------------- #
# hi / lo and exact points                                                    #
# --------------------------------------------------------------------------- #

def test_hi_lo_double_double():
    r = reference_derivative(mpmath.exp, [0.7], [1])
    with mpmath.workdps(80):
        truth = mpmath.exp(exact(0.7))
        assert r.hi == float(r.value) == float(truth)
        s = mpmath.mpf(r.hi) + mpmath.mpf(r.lo)
        assert abs(s - r.value) / abs(r.value) < mpmath.mpf(10) ** -32
        assert abs(s - truth) / truth < mpmath.mpf(10) ** -31
    assert abs(r.lo) <= math.ulp(r.hi) / 2


def test_float32_point_is_taken_exactly():
    x32 = np.float32(0.7)
    assert exact(x32) == mpmath.mpf("0.699999988079071044921875")
    r = reference_derivative(mpmath.sin, [x32], [1])
    with mpmath.workdps(80):
        truth = mpmath.cos(mpmath.mpf("0.699999988079071044921875"))
        wrong = mpmath.cos(exact(0.7))
    assert r.status == "ok" and rel_err(r.value, truth) < mpmath.mpf(10) ** -45
    assert rel_err(r.value, wrong) > mpmath.mpf(10) ** -9


def test_float16_and_longdouble_points_are_exact():
    r = reference_derivative(lambda x: x**2, [np.float16(0.1)], [1])
    assert r.value == mpmath.ldexp(exact(np.float16(0.1)), 1)
    xl = np.longdouble(1) / np.longdouble(3)
    r = reference_derivative(lambda x: x**2, [xl], [1])
    assert r.value == mpmath.ldexp(exact(xl), 1)  # includes any bits beyond float64


def test_subnormal_and_overflowing_references():
    r = reference_derivative(lambda x: x * mpmath.mpf("1e-320"), [1.0], [1])
    assert r.status == "ok" and r.hi == 1e-320
    r = reference_derivative(mpmath.exp, [1000.0], [1])
    assert r.status == "nonfinite" and "overflows float64" in r.message and math.isnan(r.hi)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2**120), st.integers(-1200, 1100), st.booleans())
def test_to_float64_rounds_to_nearest(man, exp, neg):
    with mpmath.workprec(200):  # exact: man has at most 121 bits
        v = mpmath.ldexp(mpmath.mpf(-man if neg else man), exp)
    frac = Fraction(-man if neg else man) * Fraction(2) ** exp
    try:
        expected = float(frac)  # Fraction -> float is correctly rounded
    except OverflowError:
        expected = -math.inf if neg else math.inf
    assert _to_float64(v) == expected


def test_nonfinite_point_is_undefined():
    for x in (math.inf, math.nan, np.float32("inf")):
        r = reference_derivative(mpmath.sin, [x], [1])
        assert r.status == "undefined" and math.isnan(r.hi)


# --------------------------------------------------------------------------- #
# Robustness: precision, exceptions, validation                               #
# --------------------------------------------------------------------------- #

def test_precision_restored_after_raising_f():
    def bad(x):
        raise ValueError("boom")

    r = reference_derivative(bad, [1.0], [1])
    assert r.status == "error" and "ValueError: boom" in r.message


def test_precision_restored_after_f_that_changes_it():
    def meddling(x):
        mpmath.mp.dps = 5
        return x

    reference_derivative(meddling, [1.0], [1])  # the fixture checks mp.dps == 15


def test_f_raising_only_off_the_point_is_an_error():
    def picky(x):
        if x != 1:
            raise OverflowError("only at 1")
        return x

    r = reference_derivative(picky, [1.0], [1])
    assert r.status == "error" and "OverflowError" in r.message


def test_f_returning_a_non_number_is_an_error():
    r = reference_derivative(lambda x: "x", [1.0], [1])
    assert r.status == "error"


def test_f_returning_real_valued_mpc_is_accepted():
    r = reference_derivative(lambda x: mpmath.mpc(x**2, 0), [1.5], [1])
    assert r.status == "ok" and r.value == 3


@pytest.mark.parametrize(
    "point, orders",
    [([1.0], [1, 0]), ([1.0, 2.0], [1]), ([1.0], [-1]), ([1.0, 2.0], [0, 0]), ([1.0], [7]), ([1.0], [1.5])],
)
def test_invalid_orders_raise(point, orders):
    with pytest.raises(ValueError):
        reference_derivative(mpmath.exp, point, orders)


def test_invalid_precision_options_raise():
    with pytest.raises(ValueError):
        reference_derivative(mpmath.exp, [1.0], [1], dps=20, min_digits=25)
    with pytest.raises(TypeError):
        reference_derivative(mpmath.exp, [1.0], [1], 50)  # options are keyword-only


def test_min_digits_threshold():
    # with dps=15 the cap is 15 digits: min_digits=15 passes only with full agreement
    assert reference_derivative(mpmath.exp, [0.5], [1], dps=15, min_digits=15).status == "ok"
    assert reference_derivative(mpmath.exp, [0.5], [1], dps=15, min_digits=10).digits <= 15


# --------------------------------------------------------------------------- #
# Cache                                                                       #
# --------------------------------------------------------------------------- #

def test_cache_hits_and_misses():
    cache = ReferenceCache()
    a = cache.get("exp(x)", mpmath.exp, [0.5], [1])
    b = cache.get("exp(x)", mpmath.exp, (0.5,), (1,))
    assert a is b and cache.misses == 1 and cache.hits == 1
    c = cache.get("exp(x)", mpmath.exp, [0.5], [1], dps=40)
    d = cache.get("exp(x)", mpmath.exp, [0.5], [2])
    e = cache.get("other", mpmath.exp, [0.5], [1])
    assert c is not a and d is not a and e is not a and cache.misses == 4 and len(cache) == 4
    cache.clear()
    assert len(cache) == 0 and cache.hits == cache.misses == 0


def test_cache_keys_are_exact_points():
    cache = ReferenceCache()
    r64 = cache.get("sin(x)", mpmath.sin, [0.1], [1])
    r32 = cache.get("sin(x)", mpmath.sin, [np.float32(0.1)], [1])
    assert cache.misses == 2 and cache.hits == 0 and r64.hi != r32.hi
    cache.get("sin(x)", mpmath.sin, [np.float32(0.5)], [1])
    cache.get("sin(x)", mpmath.sin, [0.5], [1])  # same exact value: shared
    assert cache.hits == 1
    xl = np.longdouble(1) / np.longdouble(3)
    k_l = ReferenceCache.key("f", [xl], [1])
    k_d = ReferenceCache.key("f", [float(xl)], [1])
    assert (k_l == k_d) == (np.finfo(np.longdouble).nmant == 52)


def test_cache_keys_of_odd_coordinates():
    assert ReferenceCache.key("f", [2**1050], [1])[1] == (f"{2**1050}/1",)
    assert ReferenceCache.key("f", [mpmath.mpf(0.5)], [1]) == ReferenceCache.key("f", [0.5], [1])
    assert ReferenceCache.key("f", [np.int64(3)], [1]) == ReferenceCache.key("f", [3.0], [1])


def test_cache_stores_failures_too():
    cache = ReferenceCache()
    calls = []

    def f(x):
        calls.append(x)
        return 1 / x

    cache.get("1/x", f, [0.0], [1])
    n = len(calls)
    cache.get("1/x", f, [0.0], [1])
    assert len(calls) == n and cache.hits == 1


# --------------------------------------------------------------------------- #
# Documentation and timing                                                    #
# --------------------------------------------------------------------------- #

def test_docstring_examples():
    result = doctest.testmod(reference_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_reference_is_frozen():
    r = reference_derivative(mpmath.exp, [0.0], [1])
    assert isinstance(r, Reference)
    with pytest.raises(AttributeError):
        r.hi = 2.0


def test_timing_report(capsys):
    n = 50
    xs = np.linspace(-3, 3, n)
    t0 = time.perf_counter()
    for x in xs:
        assert reference_derivative(mpmath.exp, [float(x)], [1]).reliable
    per = (time.perf_counter() - t0) / n
    with capsys.disabled():
        print(f"\n[reference timing] exp, 1-D, first derivative, dps=50: {per * 1e3:.2f} ms per reference")


@pytest.mark.parametrize("text, truth", [("x**100000", 100000.0), ("x**10**10", 1e10), ("x**3 * 1e200", 3e200)])
def test_huge_neighbouring_values_do_not_snap_a_real_derivative_to_zero(text, truth):
    from harness.expr import parse_expression

    r = reference_derivative(parse_expression(text).mpmath, [1.0], [1])
    assert r.status == "ok" and r.hi == pytest.approx(truth, rel=1e-15) and r.digits >= 40


def test_step_dependent_reference_is_flagged_not_zero():
    # x**1e300 at 1: the derivative 1e300 is far beyond what any finite-difference step resolves.
    from harness.expr import parse_expression

    r = reference_derivative(parse_expression("x**1e300").mpmath, [1.0], [1])
    assert r.status != "ok" and math.isnan(r.hi)
