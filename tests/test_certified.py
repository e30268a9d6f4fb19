"""Certified Arb references: containment of closed forms, the holes of the checked path, fallback, precision."""

import math
from fractions import Fraction

import flint
import mpmath
import numpy as np
import pytest
from flint import arb
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.certified import certified_derivatives, certified_reference, derivative_ball, directions
from harness.derivatives import taylor_derivatives
from harness.expr import ALIASES, FUNCTIONS, parse_expression
from harness.reference import REFERENCE_STATUSES, NotReal, reference_derivative
from harness.series import SERIES_FUNCTIONS, compile_series, real_mpmath

DPS = 50  # the default reference precision


@pytest.fixture(autouse=True)
def global_precisions_untouched():
    mpmath.mp.dps = 15
    flint.ctx.prec = 53
    yield
    assert mpmath.mp.prec == 53 and flint.ctx.prec == 53


def exact(v):
    num, den = float(v).as_integer_ratio()
    with mpmath.workprec(max(num.bit_length(), 1) + 8):
        return mpmath.ldexp(mpmath.mpf(num), -(den.bit_length() - 1))


# --------------------------------------------------------------------------- #
# Closed forms, computed independently in mpmath at 110 digits                #
# --------------------------------------------------------------------------- #

def falling(a, k):
    out = mpmath.mpf(1)
    for j in range(k):
        out *= a - j
    return out


def closed_form(name, x, k):
    """d^k/dx^k of the named function (or operator expression) at x, k = 1..4."""
    mp = mpmath
    if name in ("exp", "expm1"):
        return mp.exp(x)
    if name == "sin":
        return [mp.cos(x), -mp.sin(x), -mp.cos(x), mp.sin(x)][k - 1]
    if name == "cos":
        return [-mp.sin(x), -mp.cos(x), mp.sin(x), mp.cos(x)][k - 1]
    if name == "sinh":
        return [mp.cosh(x), mp.sinh(x)][(k - 1) % 2]
    if name == "cosh":
        return [mp.sinh(x), mp.cosh(x)][(k - 1) % 2]
    if name in ("log", "log10", "log2", "log1p"):
        y = 1 + x if name == "log1p" else x
        return (-1) ** (k - 1) * mp.factorial(k - 1) / y**k / {"log10": mp.log(10), "log2": mp.log(2)}.get(name, 1)
    if name == "sqrt":
        return falling(mp.mpf(0.5), k) * x ** (mp.mpf(0.5) - k)
    if name == "tan":
        t = mp.tan(x)
        s = 1 + t * t
        return [s, 2 * t * s, 2 * s * (1 + 3 * t * t), 8 * t * s * (2 + 3 * t * t)][k - 1]
    if name == "tanh":
        t, s = mp.tanh(x), mp.sech(x) ** 2
        return [s, -2 * t * s, -2 * s * (1 - 3 * t * t), 8 * t * s * (2 - 3 * t * t)][k - 1]
    if name in ("arcsin", "arccos"):
        q = (1 - x) * (1 + x)
        d = [q ** -0.5, x * q ** -1.5, (1 + 2 * x * x) * q ** -2.5, 3 * x * (3 + 2 * x * x) * q ** -3.5][k - 1]
        return d if name == "arcsin" else -d
    if name == "arctan":
        w = 1 + x * x
        return [1 / w, -2 * x / w**2, (6 * x * x - 2) / w**3, 24 * x * (1 - x * x) / w**4][k - 1]
    if name == "arcsinh":
        w = 1 + x * x
        return [w ** -0.5, -x * w ** -1.5, (2 * x * x - 1) * w ** -2.5, 3 * x * (3 - 2 * x * x) * w ** -3.5][k - 1]
    if name == "arccosh":
        q = (x - 1) * (x + 1)
        return [q ** -0.5, -x * q ** -1.5, (2 * x * x + 1) * q ** -2.5, -3 * x * (2 * x * x + 3) * q ** -3.5][k - 1]
    if name == "arctanh":
        q = (1 - x) * (1 + x)
        return [1 / q, 2 * x / q**2, (2 + 6 * x * x) / q**3, 24 * x * (1 + x * x) / q**4][k - 1]
    if name == "abs":
        return [mp.sign(x), 0, 0, 0][k - 1]
    # operators
    if name in ("x + 2", "+x"):
        return [1, 0, 0, 0][k - 1]
    if name in ("2 - x", "-x"):
        return [-1, 0, 0, 0][k - 1]
    if name in ("x * x * x", "x**3"):
        return [3 * x * x, 6 * x, 6, 0][k - 1]
    if name == "1 / x":
        return (-1) ** k * mp.factorial(k) / x ** (k + 1)
    if name == "x**-2":
        return falling(-2, k) * x ** (-2 - k)
    if name == "x**2.5":
        return falling(mp.mpf(2.5), k) * x ** (mp.mpf(2.5) - k)
    if name == "2**x":
        return mp.log(2) ** k * 2**x
    if name == "pi * x + e":
        return [+mp.pi, 0, 0, 0][k - 1]
    if name == "x**x":
        g = [mp.log(x) + 1, 1 / x, -1 / x**2, 2 / x**3]
        d = [g[0], g[0] ** 2 + g[1], g[0] ** 3 + 3 * g[0] * g[1] + g[2],
             g[0] ** 4 + 6 * g[0] ** 2 * g[1] + 4 * g[0] * g[2] + 3 * g[1] ** 2 + g[3]][k - 1]
        return x**x * d
    raise KeyError(name)


NEAR_ONE = 1 - 2.0**-53
CASES = {
    "sin": [1e-30, 0.7, 1e20, -3.0], "cos": [1e-30, 0.7, 1e20], "tan": [1e-30, 1.5, 1e20, -0.7],
    "exp": [-700.0, 1e-30, 0.7, 700.0], "log": [1e-30, 1e20, 1 + 2.0**-52, 1e-300], "sqrt": [1e-30, 1e20, 2.0],
    "sinh": [1e-30, 0.7, 700.0, -50.0], "cosh": [1e-30, 0.7, 700.0, -50.0], "tanh": [1e-30, 0.7, 20.0, -300.0],
    "arcsin": [1e-30, 0.5, NEAR_ONE, -NEAR_ONE], "arccos": [1e-30, 0.5, NEAR_ONE, -NEAR_ONE],
    "arctan": [1e-30, 1e20, -0.7], "arcsinh": [1e-30, 1e20, -0.7], "arccosh": [1 + 2.0**-52, 2.0, 1e20],
    "arctanh": [1e-30, 0.5, NEAR_ONE, -NEAR_ONE], "abs": [-0.7, 1e-30, 1e20],
    "log10": [1e-30, 1e20, 0.7], "log2": [1e-30, 1e20, 0.7], "log1p": [1e-30, -NEAR_ONE, 1e20],
    "expm1": [-700.0, 1e-30, 0.7],
    "x + 2": [1e-30, 0.7, 1e20], "2 - x": [1e-30, 0.7, 1e20], "-x": [1e-30, 0.7, 1e20], "+x": [1e-30, 0.7, 1e20],
    "x * x * x": [1e-30, 0.7, 1e20], "x**3": [-1e-30, 0.7, 1e20], "1 / x": [1e-30, -0.7, 1e20],
    "x**-2": [1e-30, -0.7, 1e20], "x**2.5": [1e-30, 0.7, 1e20], "2**x": [1e-30, -0.7, 1000.0],
    "pi * x + e": [1e-30, 0.7, 1e20], "x**x": [1e-30, 0.7, 50.0],
}


def test_every_function_and_operator_has_cases():
    assert set(SERIES_FUNCTIONS) == set(FUNCTIONS) and set(FUNCTIONS) <= set(CASES)
    assert all(len(points) >= 3 for points in CASES.values())


def test_balls_contain_the_closed_forms_with_40_digits():
    """Every function and operator, 3+ points (tiny, huge, near domain ends), orders 1-4, default precision."""
    failures = []
    for name, points in CASES.items():
        expr = parse_expression(f"{name}(x)" if name in FUNCTIONS else name)
        for x in points:
            for k in range(1, 5):
                ball = derivative_ball(expr, [x], [k])
                with mpmath.workdps(110):
                    truth = closed_form(name, exact(x), k)
                    truth_ball = arb(mpmath.nstr(truth, 105)) if truth else arb(0)
                    tol = abs(truth) * mpmath.mpf(10) ** -100
                tol_ball = arb(0, mpmath.nstr(tol, 5)) if tol else arb(0)
                digits = math.inf if ball.is_exact() else ball.rel_accuracy_bits() * math.log10(2)
                if not (ball.overlaps(truth_ball + tol_ball) if tol else ball.contains(truth_ball)):
                    failures.append((name, x, k, "not contained", ball.str(20, radius=True), str(truth)[:25]))
                elif digits < 40 and not (truth == 0 and ball.contains(0)):
                    failures.append((name, x, k, f"{digits:.1f} digits"))
                ref = certified_reference(expr, [x], [k])
                want = "ok" if abs(float(truth)) < 1.7e308 else "nonfinite"
                if ref.status != want or ref.method != "arb" or ref.digits < 40 or ref.digits > DPS:
                    failures.append((name, x, k, ref.status, ref.method, ref.digits, ref.message))
                elif want == "ok" and truth != 0 and abs(ref.value - truth) > abs(truth) * mpmath.mpf(10) ** -45:
                    failures.append((name, x, k, "reference off", ref.value, truth))
                elif want == "ok" and truth == 0 and ref.hi != 0.0:
                    failures.append((name, x, k, "zero not 0.0", ref.hi))
    assert not failures, failures


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_aliases_compile_like_their_functions(alias):
    a = certified_reference(parse_expression(f"{alias}(x)"), [0.25 if alias != "acosh" else 1.25], [2])
    b = certified_reference(parse_expression(f"{ALIASES[alias]}(x)"), [0.25 if alias != "acosh" else 1.25], [2])
    assert a.status == b.status == "ok" and a.value == b.value


@pytest.mark.parametrize(
    "text, point, orders, truth",
    [
        ("x0**2 * x1**3", [1.5, -0.5], [1, 1], lambda x, y: 6 * x * y**2),
        ("sin(x0) * cos(x1)", [0.4, 1.1], [2, 1], lambda x, y: mpmath.sin(x) * mpmath.sin(y)),
        ("sin(x0) * cos(x1)", [0.4, 1.1], [1, 3], lambda x, y: mpmath.cos(x) * mpmath.sin(y)),
        ("exp(x0 + 2*x1 + 3*x2)", [0.25, -0.5, 0.125], [1, 1, 1], lambda a, b, c: 6 * mpmath.exp(a + 2 * b + 3 * c)),
        ("x0 * x1 + sin(x2)", [1e20, -1e-30, 0.5], [0, 0, 3], lambda a, b, c: -mpmath.cos(c)),
        ("x0 / x1", [3.0, 1e-30], [1, 1], lambda x, y: -1 / y**2),
    ],
)
def test_partials_and_mixed_partials(text, point, orders, truth):
    r = certified_reference(parse_expression(text), point, orders)
    with mpmath.workdps(110):
        t = truth(*[exact(v) for v in point])
    assert r.status == "ok" and r.method == "arb" and r.digits >= 40, r.message
    assert abs(r.value - t) <= abs(t) * mpmath.mpf(10) ** -45


def test_mixed_partial_directions_are_exact_interpolation():
    assert [(v, str(w)) for v, w in directions((1, 1))] == [((1, 1), "1/2"), ((1, -1), "-1/2")]
    # (2, 1): the x0^2 x1 coefficient of the cubic c_3(1, l) at l = 0, +-1, +-2 ... is recovered exactly
    for orders in [(2, 1), (1, 2), (1, 1, 1), (2, 0, 2)]:
        total = sum(orders)
        got = {}
        for v, w in directions(orders):
            # c_N(v) of f = prod x_i^(a_i) for every monomial of degree N: picks exactly the wanted one
            for mono in [orders, (total,) + (0,) * (len(orders) - 1)]:
                got[mono] = got.get(mono, 0) + w * math.prod(vi**a for vi, a in zip(v, mono))
        assert got[orders] == 1 and got[(total,) + (0,) * (len(orders) - 1)] == 0


# --------------------------------------------------------------------------- #
# The holes of the checked path                                               #
# --------------------------------------------------------------------------- #

def test_cos_derivative_at_1e_minus_300_is_exact_in_arb_and_flagged_in_the_checked_path():
    checked = reference_derivative(mpmath.cos, [1e-300], [1])
    assert checked.status == "disagree" and math.isnan(checked.hi) and "not known to be 0" in checked.message
    r = certified_reference(parse_expression("cos(x)"), [1e-300], [1])
    with mpmath.workdps(110):
        truth = -mpmath.sin(exact(1e-300))
    assert r.status == "ok" and r.method == "arb" and r.hi == -1e-300
    assert abs(r.value - truth) <= abs(truth) * mpmath.mpf(10) ** -45
    # x**3 + 1 at 0: equal samples bound f' far below the zero threshold; 0 is right there
    assert reference_derivative(lambda x: x**3 + 1, [0.0], [1]).hi == 0.0


@pytest.mark.parametrize("text", ["sqrt(x)**2", "x + 0*sqrt(x)", "sqrt(x)", "sqrt(x) * x"])
def test_domain_end_is_one_sided_in_both_paths(text):
    expr = parse_expression(text)
    with np.errstate(invalid="ignore"):
        assert np.isnan(expr.numpy(np.array([-1e-300])))[0]  # numpy: not real left of 0
    arb_path = certified_reference(expr, [0.0], [1])
    checked = reference_derivative(real_mpmath(expr), [0.0], [1])
    for r in (arb_path, checked):
        assert r.status == "complex" and math.isnan(r.hi) and "one-sided" in r.message, r


@pytest.mark.parametrize("text, x, status", [("abs(x)", 0.0, "disagree"), ("sqrt(x)", 0.0, "complex"),
                                             ("log(x)", -1.0, "complex"), ("log(x)", 0.0, "nonfinite"),
                                             ("1/x", 0.0, "nonfinite"), ("arcsin(x)", 1.0, "complex"),
                                             ("arcsin(x)", 2.0, "complex"), ("x**0.5 + 1", -4.0, "complex")])
def test_kinks_domain_ends_and_poles_stay_unreliable(text, x, status):
    r = certified_reference(parse_expression(text), [x], [1])
    assert r.status == status and not r.reliable and math.isnan(r.hi) and r.message
    assert r.status in REFERENCE_STATUSES and math.isfinite(r.digits)


def test_certified_headline_values():
    r = certified_reference(parse_expression("log(x)"), [1e20], [1])
    assert (r.status, r.method, r.hi, r.digits) == ("ok", "arb", 1e-20, DPS)
    r = certified_reference(parse_expression("sin(x)"), [1e-30], [1])
    assert (r.status, r.method, r.hi, r.digits) == ("ok", "arb", 1.0, DPS)
    r = certified_reference(parse_expression("exp(x) / sqrt(sin(x)**3 + cos(x)**3)"), [1.5], [1])
    assert r.method == "arb" and mpmath.nstr(r.value, 40) == "4.053427893898620657714187925608000714383"


# --------------------------------------------------------------------------- #
# Removable singularities: the fallback finds the limit                       #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("text, n, truth", [("sin(x)/x", 1, 0), ("sin(x)/x", 2, Fraction(-1, 3)),
                                            ("(exp(x)-1)/x", 1, Fraction(1, 2)), ("(exp(x)-1)/x", 2, Fraction(1, 3))])
def test_removable_singularity_gives_the_limit(text, n, truth):
    with mpmath.workdps(60):
        truth = mpmath.mpf(truth.numerator) / truth.denominator if truth else mpmath.mpf(0)
    r = certified_reference(parse_expression(text), [0.0], [n])
    assert r.status == "ok" and r.method == "mpmath_checked" and r.digits >= 30, r.message
    if truth == 0:
        assert abs(r.value) < mpmath.mpf(10) ** -30 and r.hi == 0.0
    else:
        assert abs(r.value - truth) < abs(truth) * mpmath.mpf(10) ** -30


# --------------------------------------------------------------------------- #
# Zero-or-tiny balls, digits, precision                                       #
# --------------------------------------------------------------------------- #

def test_ball_containing_zero(monkeypatch):
    # exactly zero (an exact ball); zero at the working precision relative to f's size (an inexact ball
    # far below S * 2**-p); f itself 0 with cancellation (g - g): raising the precision shrinks the ball
    # until every value in it rounds to 0.0 in float64
    for text, x in [("cos(x)", 0.0), ("(x - 1)**3", 1.0), ("sin(x)**2 + cos(x)**2", 0.7), ("x - x", 3.0),
                    ("sin(x)**2 + cos(x)**2 - 1", 0.7), ("cosh(x) - cosh(x)", 1.6), ("sqrt(x**2) / x", 0.7)]:
        r = certified_reference(parse_expression(text), [x], [1])
        assert (r.status, r.method, r.hi, r.lo, r.digits) == ("ok", "arb", 0.0, 0.0, DPS), (text, r)
    # a tiny derivative hidden under large cancelling terms is separated from 0 by raising the precision
    r = certified_reference(parse_expression("1e100*x - 1e100*x + 1e-80*x"), [0.5], [1])
    assert r.status == "ok" and r.hi == 1e-80
    # a ball too wide for the target (forced here: 50 bits for 50 digits) never becomes a number
    monkeypatch.setattr("harness.certified.EXTRA_BITS", (-120,))
    for text in ("sin(x)**2 + cos(x)**2 - 1", "exp(x)"):
        r = certified_reference(parse_expression(text), [0.7], [1])
        assert r.status == "disagree" and r.method == "arb" and math.isnan(r.hi) and r.digits < 20, r


def test_digits_finite_capped_and_follow_dps():
    expr = parse_expression("exp(x) * sin(x)")
    for dps in (20, 50, 80):
        r = certified_reference(expr, [0.7], [2], dps=dps, min_digits=15)
        assert r.status == "ok" and r.digits == dps
    assert certified_reference(parse_expression("x**2"), [1.5], [1]).digits == DPS  # an exact ball


def test_precision_is_set_per_call_and_restored():
    flint.ctx.prec = 20  # another user of python-flint in the same process
    mpmath.mp.prec = 30
    try:
        r = certified_reference(parse_expression("exp(x)"), [0.7], [1])
        assert r.digits == DPS and flint.ctx.prec == 20 and mpmath.mp.prec == 30
        certified_reference(parse_expression("sin(x)/x"), [0.0], [1])  # the fallback path
        certified_reference(parse_expression("log(x)"), [-1.0], [1])  # an exception inside the series
        assert flint.ctx.prec == 20 and mpmath.mp.prec == 30
    finally:
        flint.ctx.prec = 53
        mpmath.mp.prec = 53


def test_real_mpmath_rejects_complex_intermediates_only():
    f = real_mpmath(parse_expression("sqrt(x)**2 + log(x**2)"))
    with pytest.raises(NotReal, match="sqrt"):
        f(mpmath.mpf(-1))
    assert f(mpmath.mpf(4)) == 4 + mpmath.log(16)
    with pytest.raises(NotReal, match="pow"):
        real_mpmath(parse_expression("x**0.5"))(mpmath.mpf(-4))
    assert real_mpmath(parse_expression("x**(1+1)"))(mpmath.mpf(-3)) == 9


def test_series_of_an_integer_valued_power_and_n_d_seeds():
    # x0**(1+1) is an integer power (numpy computes it for x0 < 0 too); x1 is held fixed
    c = compile_series(parse_expression("x0**(1+1) * x1")).taylor([arb(-3), arb(2)], [1, 0], 2, 100)
    assert [float(v.mid()) for v in c] == [18.0, -12.0, 2.0] and all(v.is_exact() for v in c)
    assert flint.ctx.prec == 53


# --------------------------------------------------------------------------- #
# Property: Arb and the checked mpmath path agree                              #
# --------------------------------------------------------------------------- #

_UNARY = sorted(FUNCTIONS)
_leaf = st.sampled_from(["x", "x", "2", "0.5", "pi"])


def _node(children):
    return st.one_of(
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(_UNARY), children),
        st.builds(lambda a, op, b: f"({a} {op} {b})", children, st.sampled_from(["+", "-", "*", "/"]), children),
        st.builds(lambda a, n: f"({a})**{n}", children, st.sampled_from([2, 3, -1])),
    )


@settings(max_examples=30, deadline=None)
@given(st.recursive(_leaf, _node, max_leaves=4), st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 1e-3),
       st.integers(1, 2))
def test_arb_and_checked_path_agree(text, x, n):
    expr = parse_expression(text)
    with np.errstate(all="ignore"):
        if not np.isfinite(expr.numpy(np.array([x]))).all():
            return  # not a function the harness can difference here (exp(exp(exp(3))) would also take mpmath ages)
    a = certified_reference(expr, [x], [n])
    b = reference_derivative(real_mpmath(expr), [x], [n])
    if not (a.status == b.status == "ok"):
        return
    big = max(abs(a.value), abs(b.value))
    if a.value == 0 or b.value == 0:  # a zero at the working precision against a tiny value
        try:
            size = abs(real_mpmath(expr)(exact(x)))
        except ZeroDivisionError:  # a removable singularity (x/x at 0)
            size = 1
        assert big < mpmath.mpf(10) ** -40 * (1 + size), (text, x, n, a, b)
    else:
        assert abs(a.value - b.value) <= mpmath.mpf(10) ** -30 * big, (text, x, n, a.value, b.value)


# --------------------------------------------------------------------------- #
# The error model's derivatives                                               #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("text, x", [("exp(x) * sin(x)", 0.7), ("log(1 + x**2)", -1.25),
                                     ("tanh(x) / (2 + cos(x))", 3.0), ("arctan(x) * exp(-x)", 0.5),
                                     ("x**4 - 3*x", 1.0)])
def test_model_derivatives_match_mpmath_diffs(text, x):
    expr = parse_expression(text)
    arb_d = certified_derivatives(expr, [x], 0, 7, 30)
    old = taylor_derivatives(expr.mpmath, [x], 0, 7, 30)
    for a, b in zip(arb_d, old):
        assert a == b == 0.0 or abs(a - b) <= 1e-10 * abs(b), (a, b)


def test_model_derivatives_fall_back_where_the_series_cannot_be_formed():
    assert certified_derivatives(parse_expression("sin(x)/x"), [0.0], 0, 3, 30) is None
    assert all(math.isnan(v) for v in certified_derivatives(parse_expression("log(x)"), [-1.0], 0, 2, 30))
    assert certified_derivatives(parse_expression("cosh(x) - cosh(x)"), [1.5], 0, 2, 30) is None  # not pinned down


def test_model_predictions_unchanged_by_the_new_engine(monkeypatch):
    """model_rows with the Arb series (cached) and with mpmath.diffs agree to 1e-10 where both work."""
    from harness.model import model_rows
    from harness.refcache import ReferenceCache
    from harness.schemes import make_scheme
    from harness.settings import FunctionSpec, ModelSettings

    schemes = [make_scheme("forward"), make_scheme("central"), make_scheme("central4"),
               make_scheme("central6", {"kind": "stencil", "direction": "central", "accuracy": 6}),
               make_scheme("second", {"kind": "stencil", "direction": "central", "derivative": 2, "accuracy": 2}),
               make_scheme("richardson", {"kind": "richardson", "base": "central"}),
               make_scheme("complex_step")]
    functions = [FunctionSpec("f", parse_expression("exp(x) / sqrt(sin(x)**3 + cos(x)**3)"), np.array([[0.5], [1.0]])),
                 FunctionSpec("g", parse_expression("log(1 + x0**2) * tanh(x1)"), np.array([[0.3, -1.25]]))]
    cache = ReferenceCache()
    new = [model_rows(f, f.points, schemes, "float64", "exact", "absolute", ModelSettings(), 0, cache=cache)
           for f in functions]
    assert cache.misses == 2 + 2 and cache.hits == 0  # one series per point and coordinate
    monkeypatch.setattr("harness.model.model_derivatives",
                        lambda e, point, j, n, dps: taylor_derivatives(e.mpmath, point, j, n, dps))
    old = [model_rows(f, f.points, schemes, "float64", "exact", "absolute", ModelSettings()) for f in functions]
    for a, b in zip(new, old):
        assert len(a) == len(b) > 0 and (a["model_status"] == b["model_status"]).all()
        for col in ("c_trunc", "c_round", "c_next", "predicted_h_star", "predicted_min_error"):
            x, y = a[col].to_numpy(), b[col].to_numpy()
            both = np.isfinite(x) & np.isfinite(y)
            assert both.sum() >= len(x) - 2 and np.allclose(x[both], y[both], rtol=1e-10, atol=0), col
    again = model_rows(functions[0], functions[0].points, schemes, "float64", "exact", "absolute", ModelSettings(),
                       0, cache=cache)
    assert cache.hits == 2 and again.equals(new[0])


def test_sweep_rows_carry_the_reference_method():
    import harness

    table = harness.run({
        "functions": {"smooth": {"expression": "exp(x) * sin(x)", "points": [0.7, 1e-30]},
                      "sinc": {"expression": "sin(x) / x", "points": [0.0]},
                      "edge": {"expression": "sqrt(x)**2", "points": [0.0]},
                      "hess": {"expression": "x0**2 * sin(x1)", "points": [[1.5, 0.5]]}},
        "schemes": {"central": None, "hessian": {"kind": "mixed", "base": "central"}},
        "grid": {"kind": "logspace", "start": -8, "stop": -2, "num": 4},
        "plot": {"enabled": False},
    })
    first = table.groupby("function", observed=True)[["reference_method", "reference_status"]].first()
    assert first.astype(str).to_dict("index") == {
        "smooth": {"reference_method": "arb", "reference_status": "ok"},
        "sinc": {"reference_method": "mpmath_checked", "reference_status": "ok"},
        "edge": {"reference_method": "mpmath_checked", "reference_status": "complex"},
        "hess": {"reference_method": "arb", "reference_status": "ok"},
    }
    assert (table.loc[table["function"] == "sinc", "reference"] == 0.0).all()
    mixed = table[(table["function"] == "hess") & (table["component2"] == 1)]
    with mpmath.workdps(30):
        truth = float(3 * mpmath.cos(0.5))  # d2/dx0 dx1 of x0**2 sin(x1), correctly rounded
    assert len(mixed) and (mixed["reference"] == truth).all()
    assert (table.loc[table["function"] == "edge", "status"] == "unreliable_reference").all()


def test_a_reused_worker_starts_jobs_at_arbs_default_precision():
    from harness.cli import reset_job_state

    flint.ctx.prec = 300  # left behind by a previous job's user code
    reset_job_state()
    assert flint.ctx.prec == 53


def test_references_and_model_derivatives_round_trip_through_the_disk_cache(tmp_path):
    from harness.refcache import ALGORITHM_VERSION, ReferenceCache

    assert ALGORITHM_VERSION == "4"
    expr = parse_expression("exp(x) * sin(x)")
    first = ReferenceCache(tmp_path)
    ref, der = first.get_certified(expr, [0.7], [2]), first.derivatives(expr, [0.7], 0, 5, 30)
    again = ReferenceCache(tmp_path)
    ref2, der2 = again.get_certified(expr, [0.7], [2]), again.derivatives(expr, [0.7], 0, 5, 30)
    assert again.disk_hits == 2 and again.misses == 0
    assert (ref2.hi, ref2.lo, ref2.digits, ref2.status, ref2.method) == (ref.hi, ref.lo, ref.digits, "ok", "arb")
    assert der2 == der and len(der) == 6
    # the checked path on a callable with the same text is a different entry
    checked = again.get(expr.text, expr.mpmath, [0.7], [2])
    assert checked.method == "mpmath_checked" and again.misses == 1


@pytest.mark.parametrize("text, point, orders", [
    ("arccos(cos(x))", [0.0], [1]), ("sqrt(1-cos(x))", [0.0], [1]), ("sqrt(2-2*cos(x))", [0.0], [1]),
    ("arccosh(cosh(x))", [0.0], [1]), ("arccos(1-x**2)", [0.0], [1]), ("arccos(cos(x-1))", [1.0], [1]),
    ("arccos(cos(x-0.25))+x", [0.25], [1]), ("arccos(cos(x0))*x1", [0.0, 1.0], [1, 0]),
])
def test_kinks_behind_cancellation_are_flagged(text, point, orders):
    """Regression: 1 - cos(h) rounded to 0 at the one-sided steps (2**-368 at 727 bits), the sides looked flat
    and agreed with the central estimates: |x| written as arccos(cos(x)) got 'ok', 0.0, 50 digits."""
    r = certified_reference(parse_expression(text), point, orders)
    assert r.status == "disagree" and math.isnan(r.hi), r


@pytest.mark.parametrize("text, point, orders, truth", [
    ("arccos(cos(x))**2", [0.0], [1], 0.0),   # x**2: smooth, f' = 0
    ("abs(cos(x)-1)", [0.0], [2], 1.0),        # 1 - cos(x): smooth, f'' = 1
    ("sin(x)/x", [-3e-200], [1], 1e-200),      # -x/3: tiny, resolved at a higher precision, not zeroed
    ("x/sin(x)", [3e-200], [1], 1e-200),       # x/3
    ("sin(x)/x", [8.1e-320], [1], -2.7e-320),  # subnormal
])
def test_smooth_look_alikes_and_tiny_derivatives_are_right(text, point, orders, truth):
    r = certified_reference(parse_expression(text), point, orders)
    assert r.status == "ok" and r.hi == pytest.approx(truth, rel=1e-15, abs=0), r


@pytest.mark.parametrize("text, x", [("exp(exp(exp(x)))", 10.0), ("exp(exp(x))", 700.0), ("exp(exp(x))", 6000.0)])
def test_overflow_at_the_point_is_nonfinite_at_once(text, x):
    """Regression: Arb's ball was not finite, the checked path then evaluated exp(1e9565) in mpmath (minutes)."""
    import time

    t0 = time.perf_counter()
    r = certified_reference(parse_expression(text), [x], [1])
    assert r.status == "nonfinite" and "overflows" in r.message
    assert time.perf_counter() - t0 < 5  # a hang guard, not a benchmark: it took 20 s to forever before


def test_mixed_partial_that_depends_on_the_order_is_flagged():
    """x y (x^2 - y^2) / (x^2 + y^2) at 0: f_xy = -1, f_yx = +1 (the textbook function that is not C^2). Equal
    steps in x and y average the two to 0, which was reported as 'ok' with 50 digits."""
    text = "x0*x1*(x0**2-x1**2)/(x0**2+x1**2)"
    r = certified_reference(parse_expression(text), [0.0, 0.0], [1, 1])
    assert not r.reliable and "order of differentiation" in r.message, r
    # Away from 0 it is smooth, and symmetric smooth look-alikes keep their exact 0 (skewed residues of O(h^2)
    # are not an order of differentiation).
    x, y = 0.3, 0.2
    truth = (x**6 + 9 * x**4 * y**2 - 9 * x**2 * y**4 - y**6) / (x**2 + y**2) ** 3
    away = certified_reference(parse_expression(text), [x, y], [1, 1])
    assert away.status == "ok" and away.hi == pytest.approx(truth, rel=1e-14)
    for smooth in ("x0*x1*(x0**2-x1**2)/(x0**2+x1**2+1)", "x0**3*x1**2/(x0**2+x1**2)", "sin(x0*x1)/(x0*x1)"):
        r = reference_derivative(real_mpmath(parse_expression(smooth)), [0.0, 0.0], [1, 1])
        assert r.status == "ok" and r.hi == 0.0, (smooth, r)
