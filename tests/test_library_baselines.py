"""jacobi, numericalderivative and findiff baselines (harness.libraries): their documented examples, counts, rows.

Each library is run on the example its own documentation or test suite gives,
with the values (or tolerances) documented there; ``n_evals`` is compared with
an independent counting wrapper around f.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from harness.baselines import BASELINE_METHODS, evaluate_baseline
from harness.expr import parse_expression
from harness.libraries import LIBRARY_MODULES
from harness.schemes import make_baseline, make_scheme

NEW = [m for m, i in BASELINE_METHODS.items() if i["library"] in LIBRARY_MODULES]


class Counting:
    """Counts the points f is evaluated at and records them."""

    def __init__(self, fn):
        self.fn, self.n, self.args = fn, 0, []

    def __call__(self, *coords):
        self.n += int(np.broadcast(*coords).size)
        self.args.append([np.array(c, copy=True) for c in coords])
        return self.fn(*coords)


def run(method, text, points, hs=(1e-3,), dtype=np.float64):
    pytest.importorskip(BASELINE_METHODS[method]["library"])
    expr = parse_expression(text)
    fn = Counting(expr.numpy)
    pts = np.array(points, dtype=dtype).reshape(len(points), -1)
    with np.errstate(all="ignore"):
        res = evaluate_baseline(make_baseline("b", {"kind": "baseline", "method": method}), fn, pts,
                                np.array(hs), expression=expr)
    return res, fn


def test_registry():
    assert set(LIBRARY_MODULES) == {"jacobi", "numericalderivative", "findiff"}
    assert len(NEW) == 13
    for m in NEW:
        s = make_scheme(m, {"kind": "baseline", "method": m})
        assert s.library == BASELINE_METHODS[m]["library"] and s.derivative == BASELINE_METHODS[m].get("derivative", 1)


# --- jacobi ---------------------------------------------------------------------

def test_jacobi_readme_example():
    # README of jacobi 0.9.2: f(x) = sin(x) / x on np.linspace(-10, 10, 200), jacobi(f, x, diagonal=True);
    # "fdxe is uncertainty estimate for derivative", drawn magnified 1e14, and "the error estimate has the
    # right order of magnitude but slightly underestimates the true deviation".
    jacobi = pytest.importorskip("jacobi").jacobi
    x = np.linspace(-10, 10, 200)
    direct, direct_err = jacobi(lambda t: np.sin(t) / t, x, diagonal=True)
    res, fn = run("jacobi_diagonal", "sin(x) / x", x)
    np.testing.assert_array_equal(res.estimate[0, :, 0], direct)
    np.testing.assert_array_equal(res.error_estimate[0, :, 0], direct_err)
    assert fn.n == res.n_evals.sum() and np.all(res.n_evals == res.n_evals[0, 0, 0])
    exact = np.cos(x) / x - np.sin(x) / x**2
    err = np.abs(res.estimate[0, :, 0] - exact)
    assert err.max() < 1e-13 and res.error_estimate.max() < 1e-13  # the 1e-14 scale of the README's band
    assert np.mean(err <= res.error_estimate[0, :, 0]) < 0.5  # measured 0.28: it underestimates, as documented
    # h_used: the smallest step of the returned fit, 0.25 * 2**-i (absolute in diagonal mode); f saw x +- it.
    i = np.log2(0.25 / res.h_used[0, :, 0])
    assert np.all(i == np.round(i)) and np.all((i >= 1) & (i <= 9))
    seen = np.concatenate([np.ravel(a[0]) - np.resize(x, np.size(a[0])) for a in fn.args])
    assert set(np.round(np.abs(seen[seen != 0]) / res.h_used[0, 0, 0], 12)) >= {1.0}


def test_jacobi_per_point_matches_direct_calls_and_reports_its_step():
    # One point per call (jacobi(f, x) for a scalar x) on some of the README example's points.
    jacobi = pytest.importorskip("jacobi").jacobi
    xs = list(np.linspace(-10, 10, 200)[[0, 57, 99, 100, 163]])
    res, fn = run("jacobi", "sin(x) / x", xs)
    assert fn.n == res.n_evals.sum()
    exact = np.cos(xs) / xs - np.sin(xs) / np.square(xs)  # itself cancels ~1e-16 / x**2 near x = +-0.05
    assert np.all(np.abs(res.estimate[0, :, 0] - exact) < 1e-12)
    for p, x in enumerate(xs):
        one = Counting(lambda t: np.sin(t) / t)
        est, err = jacobi(one, x)
        assert res.estimate[0, p, 0] == est and res.error_estimate[0, p, 0] == err
        assert res.n_evals[0, p, 0] == one.n
        # the step of the returned fit is |x| / 4 * 2**-i and f was evaluated at x +- that step
        h = res.h_used[0, p, 0]
        i = np.log2(abs(x) * 0.25 / h)
        assert abs(i - round(i)) < 1e-12
        offsets = {abs(float(np.ravel(a[0])[0]) - x) for a in one.args}
        assert any(abs(o - h) <= 1e-15 * max(1.0, abs(x)) for o in offsets)


# --- numericalderivative --------------------------------------------------------------

# The library's own test suite (tests/test_steplemanwinarsky.py, test_gillmurraysaunders.py,
# test_shixiexuannocedalforward.py, test_finitedifferenceformula.py, numericalderivative 0.3) checks every
# method on scaled_exp(x) = exp(-x / 1e6) at x = 1 with np.testing.assert_allclose(f'_approx, f'_exact,
# atol=1e-15) (rtol 1e-7 by default), and Dumontet-Vignes also on sin at 0 (test_dumontetvignes.py,
# test_sin_at_zero: rtol=1e-7).
SCALED_EXP = "exp(-x / 1.0e6)"
SCALED_EXP_PRIME = -np.exp(-1.0 / 1e6) / 1e6


def _direct(method, nd, f, x):
    """The library called directly with the baseline's settings (s = max(1, |x|) = 1 here)."""
    from harness.libraries.numericalderivative_baselines import absolute_precision

    eps, eps_f = np.finfo(float).eps, absolute_precision(float(f(x)))
    if method == "nder_stepleman_winarsky":
        alg = nd.SteplemanWinarsky(f, x)
        return alg, alg.compute_first_derivative(alg.find_step(1.0)[0])
    if method == "nder_gmsw":
        alg = nd.GillMurraySaundersWright(f, x, absolute_precision=eps_f)
        return alg, alg.compute_first_derivative(alg.find_step(1e-16, 1.0)[0])
    if method == "nder_dumontet_vignes":
        alg = nd.DumontetVignes(f, x, relative_precision=eps, absolute_precision=eps_f)
        return alg, alg.compute_first_derivative(alg.find_step(kmin=1e-10, kmax=1.0)[0])
    if method == "nder_sxxn_forward":
        alg = nd.ShiXieXuanNocedalForward(f, x, absolute_precision=eps_f)
        return alg, alg.compute_first_derivative(alg.find_step(2 * np.sqrt(eps_f))[0])
    alg = nd.ShiXieXuanNocedalGeneral(nd.GeneralFiniteDifference(f, x, 1, 2, "central"), absolute_precision=eps_f)
    return alg, alg.compute_derivative(alg.find_step()[0])


@pytest.mark.parametrize("method,text,x,truth", [
    ("nder_stepleman_winarsky", SCALED_EXP, 1.0, SCALED_EXP_PRIME),
    ("nder_gmsw", SCALED_EXP, 1.0, SCALED_EXP_PRIME),
    ("nder_sxxn_forward", SCALED_EXP, 1.0, SCALED_EXP_PRIME),
    ("nder_sxxn_central", SCALED_EXP, 1.0, SCALED_EXP_PRIME),
    ("nder_dumontet_vignes", "sin(x)", 0.0, 1.0),
])
def test_numericalderivative_documented_examples(method, text, x, truth):
    nd = pytest.importorskip("numericalderivative")
    res, fn = run(method, text, [x])
    np.testing.assert_allclose(res.estimate[0, 0, 0], truth, atol=1e-15, rtol=1e-7)
    # A real call: the same number as calling the library directly, and the evaluations it counts itself
    # equal the points f saw.
    f = parse_expression(text).numpy
    alg, direct = _direct(method, nd, lambda t: f(np.asarray(t)), x)
    assert res.estimate[0, 0, 0] == direct
    # f(x) once more for eps_f = eps |f(x)| (all but Stepleman-Winarsky), outside the library's own count
    extra = 0 if method == "nder_stepleman_winarsky" else 1
    assert res.n_evals[0, 0, 0] == fn.n == alg.get_number_of_function_evaluations() + extra


def test_numericalderivative_exact_steps_documented_example():
    # test_finitedifferenceformula.py: at the exact optimal step the error is within the formula's own
    # optimal error (assert_allclose(..., atol=absolute_error)); here eps_f = eps |f(x)|.
    pytest.importorskip("numericalderivative")
    for method in ("nder_exact_forward", "nder_exact_central"):
        res, fn = run(method, SCALED_EXP, [1.0])
        err = abs(res.estimate[0, 0, 0] - SCALED_EXP_PRIME)
        assert err <= res.error_estimate[0, 0, 0] + 1e-7 * abs(SCALED_EXP_PRIME)
        assert res.n_evals[0, 0, 0] == fn.n == 3  # f(x) for eps_f, and the formula's two (it re-evaluates f(x))
    # Forward: h = 2 sqrt(eps_f / |f''|), f'' = 1e-12 exp(-1e-6); the step used is (x + h) - x.
    h = 2 * np.sqrt(np.finfo(float).eps * np.exp(-1e-6) / (np.exp(-1e-6) / 1e12))
    res, _ = run("nder_exact_forward", SCALED_EXP, [1.0])
    assert res.h_used[0, 0, 0] == pytest.approx((1.0 + h) - 1.0, rel=1e-6)


def test_numericalderivative_failures_are_nan_rows_not_crashes():
    pytest.importorskip("numericalderivative")
    # Dumontet-Vignes on the scaled exp needs the interval of its test (kmin=1e-2, kmax=1e2); with the generic
    # [1e-10, 1] it raises ValueError. GMSW at sin(0): f'' = 0, the library's documented failure.
    for method, text, x in [("nder_dumontet_vignes", SCALED_EXP, 1.0), ("nder_gmsw", "sin(x)", 0.0)]:
        res, fn = run(method, text, [x, 0.5])
        assert np.isnan(res.estimate[0, 0, 0]) and np.isnan(res.h_used[0, 0, 0])
        assert res.n_evals[0, 0, 0] > 0 and fn.n == res.n_evals.sum()


# --- findiff --------------------------------------------------------------------------

def test_findiff_readme_coefficients():
    # findiff's README: coefficients(deriv=3, acc=4, symbolic=True) has center [1/8, -1, 13/8, 0, -13/8, 1, -1/8]
    # on offsets -3..3. The baseline uses the default (numerical) coefficients: the same to rounding.
    pytest.importorskip("findiff")
    from harness.libraries.findiff_baselines import _MODEL_OFFSETS, weights

    offsets, coefs = weights("findiff_d3_central4")
    readme = dict(zip(range(-3, 4), [Fraction(1, 8), -1, Fraction(13, 8), 0, Fraction(-13, 8), 1, Fraction(-1, 8)]))
    assert list(offsets) == list(range(-3, 4))  # f(x) kept: its numerical weight is 7.8e-15, not 0
    np.testing.assert_allclose(coefs, [float(readme[int(o)]) for o in offsets], rtol=0, atol=1e-13)
    # Each method's model offsets are findiff's offsets with a nonzero exact weight.
    for method, model in _MODEL_OFFSETS.items():
        offsets, coefs = weights(method)
        assert list(offsets[np.abs(coefs) > 1e-12]) == model


def test_findiff_estimates_apply_its_weights_on_the_grid():
    pytest.importorskip("findiff")
    from harness.libraries.findiff_baselines import weights

    x, hs = 0.5, np.array([1e-1, 1e-2])
    for method, deriv, truth in [("findiff_central2", 1, np.cos(x)), ("findiff_central4", 1, np.cos(x)),
                                 ("findiff_forward2", 1, np.cos(x)), ("findiff_d3_central4", 3, -np.cos(x))]:
        res, fn = run(method, "sin(x)", [x], hs=hs)
        offsets, coefs = weights(method)
        want = np.array([sum(c * np.sin(x + o * h) for o, c in zip(offsets, coefs)) / h**deriv for h in hs])
        # the same sum in another order: equal to the rounding of its terms
        np.testing.assert_allclose(res.estimate[:, 0, 0], want, rtol=0, atol=np.max(4e-16 * np.sum(np.abs(coefs)) / hs**deriv))
        np.testing.assert_array_equal(res.h_used[:, 0, 0], (x + hs) - x)  # the step that lands (IEEE, exact)
        assert np.all(res.n_evals == len(offsets)) and fn.n == res.n_evals.sum()
        # truncation error falls by 10**accuracy from h = 0.1 to 0.01
        err = np.abs(res.estimate[:, 0, 0] - truth)
        assert abs(np.log10(err[0] / err[1]) - BASELINE_METHODS[method]["accuracy"]) < 0.1


def test_findiff_step_lost_against_x_is_a_step_underflow_row():
    """Regression: in float32 at x = 1, h = 1e-10 gave estimates like 280 with h_used = 1e-10 and status ok."""
    pytest.importorskip("findiff")
    import harness

    table = harness.run({"functions": {"e": {"expression": "exp(x)", "points": [1.0]}},
                         "schemes": {m: {"kind": "baseline", "method": m} for m in NEW if m.startswith("findiff")},
                         "grid": {"kind": "list", "values": [1e-10, 1e-2]}, "dtypes": ["float32"],
                         "plot": {"enabled": False}, "reference": {"cache_dir": None}})
    tiny, usable = table[table["h"] == 1e-10], table[table["h"] == 1e-2]
    assert len(tiny) == 4 and (tiny["h_used"] == 0).all() and (tiny["status"] == "step_underflow").all()
    assert (usable["status"] == "ok").all()
    # (1 + 0.01) - 1 in float32: the float32 step nearest 0.01 that lands on the grid of 1
    assert (usable["h_used"] == float((np.float32(1) + np.float32(0.01)) - np.float32(1))).all()


# --- every new method: counts, rows, number types, failures ------------------------------

@pytest.mark.parametrize("method", NEW)
def test_n_evals_is_what_f_saw_in_2d(method):
    pts = [(1.0, 2.0), (0.25, -1.0)]
    res, fn = run(method, "x0**2 * exp(x1) + sin(x0 * x1)", pts, hs=(1e-3, 1e-5))
    info = BASELINE_METHODS[method]
    rows = 1 if info["adaptive"] else 2
    for arr in (res.estimate, res.h_used, res.n_evals, res.error_estimate):
        assert arr.shape == (rows, 2, 2)
    assert res.n_evals.dtype == np.int64 and fn.n == res.n_evals.sum()
    assert res.adaptive == info["adaptive"]
    if info["adaptive"]:
        assert np.isnan(res.h_nominal).all()
    # restricted to one coordinate: in every call at most one coordinate leaves the points' values
    values = [set(np.array(pts)[:, c]) for c in range(2)]
    for coords in fn.args:
        moved = [not set(np.ravel(c)) <= values[k] for k, c in enumerate(coords)]
        assert sum(moved) <= 1
    if info.get("derivative", 1) == 1:
        x0, x1 = np.array(pts).T
        truth = np.stack([2 * x0 * np.exp(x1) + x1 * np.cos(x0 * x1), x0**2 * np.exp(x1) + x0 * np.cos(x0 * x1)], 1)
        assert np.nanmax(np.abs(res.estimate[-1] - truth) / np.abs(truth)) < 1e-4


@pytest.mark.parametrize("method", NEW)
def test_float32_points_and_failing_points(method):
    res, _ = run(method, "exp(x)", [1.0], hs=(1e-2,), dtype=np.float32)
    assert res.estimate.dtype == np.float32
    if BASELINE_METHODS[method].get("derivative", 1) == 1:
        assert abs(float(res.estimate[0, 0, 0]) - np.e) < 2e-2

    def fn(x):
        if np.any(np.real(x) > 100):
            raise ValueError("boom")
        return np.exp(x)

    pytest.importorskip(BASELINE_METHODS[method]["library"])
    with np.errstate(all="ignore"):
        res = evaluate_baseline(make_baseline("b", {"method": method}), fn, np.array([[1.0], [150.0]]),
                                np.array([1e-4]), expression=parse_expression("exp(x)"))
    assert np.all(np.isnan(res.estimate[:, 1])) and np.all(np.isnan(res.h_used[:, 1]))  # f raised there only
    if BASELINE_METHODS[method].get("derivative", 1) == 1:
        np.testing.assert_allclose(res.estimate[:, 0, 0], np.e, rtol=1e-3)


@pytest.mark.parametrize("library,method", [("jacobi", "jacobi"), ("numericalderivative", "nder_gmsw"),
                                            ("findiff", "findiff_central2")])
def test_missing_library_is_a_skip_with_one_reason(monkeypatch, library, method):
    import sys

    from harness.baselines import BaselineUnavailable, available

    monkeypatch.setitem(sys.modules, library, None)
    assert not available(library)
    reason = make_scheme(method, {"kind": "baseline", "method": method}).skip(dtype="float64", dim=1)
    assert library in reason and "pip install" in reason and "\n" not in reason
    with pytest.raises(BaselineUnavailable):
        evaluate_baseline(make_baseline("b", {"method": method}), np.exp, np.ones((1, 1)), np.array([1e-3]))
