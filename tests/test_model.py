"""The error model (harness.model) against real sweeps of the harness.

Predicted side: h*, E(h*), the model curve and its edge cases. Observed side:
a robust observed h*, the observed order and the regime labels, all computed
from the tidy table that ``harness.run`` returns.

The test points are *ordinary* by a stated rule, checked in
:func:`test_points_are_ordinary`: f(x) != 0, every derivative the models use
(orders 2..6) is at least a quarter of the geometric mean of its neighbours
(no point near a zero of f'', f''', ... where h* is undefined or the leading
term does not describe the curve), and x is not a short binary fraction (at
x = 1.5 or 3.0 numpy's log rounds log(x + h) and log(x) with correlated
errors, so round-off cancels over whole decades of h and there is no
optimum to observe).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import mpmath
import numpy as np
import pandas as pd
import pytest

import harness
from harness.fits import truncation_fit
from harness.expr import parse_expression
from harness.curves import REGIMES, label_regimes
from harness.derivatives import higher_derivative
from harness.fits import fit_order, observed_optimum
from harness.model import (
    DEFAULT_EPS_FACTOR,
    ErrorModel,
    complex_step_model,
    function_noise,
    model_curve,
    next_truncation_order,
    optimal_step,
    scheme_model,
    stencil_model,
    unit_roundoff,
)
from harness.schemes import make_scheme
from harness.stencils import standard_stencil

FUNCTIONS = {
    "exp": ("exp(x)", (0.7, 1.3)),
    "sin": ("sin(x)", (0.7, 2.2)),
    "log": ("log(x)", (0.7, 2.7)),
    "rational": ("1/(1+x**2)", (1.2, 2.7)),
}
SCHEMES = {
    "forward": {"kind": "stencil", "direction": "forward", "derivative": 1, "accuracy": 1},
    "central": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 2},
    "central4": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 4},
    "forward_m2": {"kind": "stencil", "direction": "forward", "derivative": 2, "accuracy": 1},
    "central_m2": {"kind": "stencil", "direction": "central", "derivative": 2, "accuracy": 2},
    "central4_m2": {"kind": "stencil", "direction": "central", "derivative": 2, "accuracy": 4},
}
#: float64: the dense grid of the harness; float32: the same density over its range (h_used = 0 below ~6e-8).
GRIDS = {
    "float64": {"kind": "logspace", "start": -16, "stop": 0, "num": 161},
    "float32": {"kind": "logspace", "start": -8, "stop": 0, "num": 161},
}
CASES = [(dt, fn, i, sc) for dt in GRIDS for fn in FUNCTIONS for i in range(2) for sc in SCHEMES]
CASE_IDS = [f"{dt}-{fn}@{FUNCTIONS[fn][1][i]}-{sc}" for dt, fn, i, sc in CASES]

#: The observed order must be within this of p ...
ORDER_TOL = 0.2
#: ... wherever the model predicts at least this many decades of h in which the
#: local slope stays within ORDER_TOL of p (a fit needs >= 3 points: 0.2 decade here).
MIN_WINDOW_DECADES = 0.25

LECTURE = {
    "functions": {"cubic": {"expression": "x0**3 + x1**2 + x2**4", "points": [[1.0, 1.0, 1.0]]}},
    "schemes": {"forward": None},
    "grid": {"kind": "logspace", "start": -16, "stop": 0, "num": 9},
    "plot": {"enabled": False},
}


def run(functions: dict, schemes: dict, grid: dict, dtype: str = "float64") -> pd.DataFrame:
    return harness.run({"functions": functions, "schemes": schemes, "grid": grid, "dtypes": [dtype],
                        "plot": {"enabled": False}})


def one_curve(table: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(table), dtype=bool)
    for col, val in where.items():
        mask &= (table[col] == val).to_numpy()
    return table[mask].sort_values("h")


def labels_of(curve: pd.DataFrame) -> np.ndarray:
    return label_regimes(curve["h"], curve["abs_error"], curve["status"], curve["estimate"], curve["reference"])


def ok_rows(curve: pd.DataFrame) -> pd.DataFrame:
    return curve[curve["status"] == "ok"]


@pytest.fixture(scope="module")
def sweeps() -> dict[str, pd.DataFrame]:
    """One harness run per number type: 4 functions x 2 points x 6 schemes x 161 steps."""
    functions = {fn: {"expression": expr, "points": list(pts)} for fn, (expr, pts) in FUNCTIONS.items()}
    return {dt: run(functions, SCHEMES, grid, dt) for dt, grid in GRIDS.items()}


@lru_cache(maxsize=None)
def model_for(dtype: str, fn: str, i: int, scheme: str) -> ErrorModel:
    expr, points = FUNCTIONS[fn]
    return scheme_model(make_scheme(scheme, SCHEMES[scheme]), parse_expression(expr).mpmath, [points[i]], 0, dtype)


# --------------------------------------------------------------------------- #
# Predicted side                                                              #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "longdouble"])
@pytest.mark.parametrize("f, d2, d3", [(1.0, 1.0, 1.0), (2.5, -0.3, 7.0), (-1e-3, 40.0, -2e5), (3e8, 1e-4, 2e-9)])
def test_textbook_forms_come_out_of_the_general_model(dtype, f, d2, d3):
    eps_f = function_noise(dtype)
    assert eps_f == DEFAULT_EPS_FACTOR * np.finfo(np.dtype(dtype)).eps / 2
    forward = stencil_model(standard_stencil("forward", 1, 1), f, d2, dtype)
    central = stencil_model(standard_stencil("central", 1, 2), f, d3, dtype)
    assert forward.h_star == pytest.approx(2 * math.sqrt(eps_f * abs(f) / abs(d2)), rel=1e-12)
    assert central.h_star == pytest.approx((3 * eps_f * abs(f) / abs(d3)) ** (1 / 3), rel=1e-12)
    # the textbook minimal errors too: 2 sqrt(eps_f |f f''|) and (3 eps_f |f|)^(2/3) |f'''|^(1/3) / 2 = 1.5 eps_f |f| / h*
    assert forward.min_error == pytest.approx(2 * math.sqrt(eps_f * abs(f * d2)), rel=1e-12)
    assert central.min_error == pytest.approx(1.5 * eps_f * abs(f) / central.h_star, rel=1e-12)


def test_textbook_forms_through_scheme_model():
    """The same identities with f and its derivatives computed from the expression."""
    x = 0.7
    forward = scheme_model(make_scheme("forward"), mpmath.sin, [x])
    central = scheme_model(make_scheme("central"), mpmath.sin, [x])
    eps_f = unit_roundoff(np.float64) * DEFAULT_EPS_FACTOR
    assert forward.eps_f == eps_f
    assert forward.h_star == pytest.approx(2 * math.sqrt(eps_f * math.sin(x) / math.sin(x)), rel=1e-12)
    assert central.h_star == pytest.approx((3 * eps_f * math.sin(x) / math.cos(x)) ** (1 / 3), rel=1e-12)


@pytest.mark.parametrize("scheme", ["forward", "central", "central4", "backward"])
def test_model_curve_terms_and_minimum(scheme):
    model = scheme_model(make_scheme(scheme), mpmath.exp, [0.7])
    h = np.logspace(-12, 0, 2001)
    curve = model_curve(model, h)
    assert list(curve.columns) == ["h", "truncation", "roundoff", "error"]
    np.testing.assert_allclose(curve["error"], curve["truncation"] + curve["roundoff"], rtol=1e-15)
    np.testing.assert_allclose(curve["truncation"], model.c_trunc * h**model.accuracy, rtol=1e-15)
    np.testing.assert_allclose(curve["roundoff"], model.c_round / h**model.derivative, rtol=1e-15)
    assert model.min_error <= curve["error"].min() * (1 + 1e-12)
    assert model.min_error == pytest.approx(float(model.error(model.h_star)))
    assert float(model.error(model.h_star * 1.01)) > model.min_error < float(model.error(model.h_star / 1.01))


def test_noise_replaces_the_number_type():
    st = standard_stencil("forward", 1, 1)
    model = stencil_model(st, 2.0, 3.0, "float32", noise=1e-10)
    assert model.eps_f == 1e-10
    assert model.h_star == pytest.approx(2 * math.sqrt(1e-10 * 2.0 / 3.0), rel=1e-12)
    assert stencil_model(st, 2.0, 3.0, eps_factor=1.0).eps_f == 2.0**-53
    with pytest.raises(ValueError, match="noise"):
        function_noise(noise=-1.0)
    with pytest.raises(ValueError, match="eps_factor"):
        function_noise(eps_factor=float("nan"))


def test_optimal_step_general_formula():
    # m=2, p=4: h* = (2 C_r / (4 C_t))^(1/6); complex step (q=0): the crossing point
    assert optimal_step(3.0, 5.0, 4, 2) == pytest.approx((2 * 5.0 / (4 * 3.0)) ** (1 / 6), rel=1e-15)
    assert optimal_step(2.0, 8.0, 2, 0) == pytest.approx(2.0, rel=1e-15)


def test_next_truncation_order():
    assert next_truncation_order(standard_stencil("forward", 1, 1)) == 3
    assert next_truncation_order(standard_stencil("central", 1, 2)) == 5
    assert next_truncation_order(standard_stencil("central", 1, 4)) == 7
    assert next_truncation_order(standard_stencil("central", 2, 4)) == 8
    assert next_truncation_order(standard_stencil("forward", 2, 1)) == 4


def test_higher_derivative_reference_and_fallback():
    # total order <= 6: checked reference; 7 and 8: mpmath.diff fallback
    for n in (1, 3, 6, 7, 8):
        assert higher_derivative(mpmath.exp, [0.7], [n]) == pytest.approx(math.exp(0.7), rel=1e-12)
        assert higher_derivative(mpmath.log, [2.7], [n]) == pytest.approx(
            (-1) ** (n - 1) * math.factorial(n - 1) / 2.7**n, rel=1e-12)
    assert higher_derivative(mpmath.sin, [1e10], [7]) == pytest.approx(-math.cos(1e10), rel=1e-10)
    assert higher_derivative(mpmath.log, [1e-30], [8]) == pytest.approx(-5040 / 1e-240, rel=1e-10)
    f = parse_expression("x0**3 * x1**5").mpmath
    assert higher_derivative(f, [1.5, 2.0], [2, 5]) == pytest.approx(6 * 1.5 * 120, rel=1e-12)
    assert higher_derivative(f, [1.5, 2.0], [0, 3]) == pytest.approx(1.5**3 * 60 * 4.0, rel=1e-12)
    # no real derivative: NaN, never an exception
    assert math.isnan(higher_derivative(mpmath.log, [-1.0], [3]))
    assert math.isnan(higher_derivative(mpmath.log, [-1.0], [7]))
    assert math.isnan(higher_derivative(mpmath.exp, [float("nan")], [7]))
    assert math.isnan(higher_derivative(lambda x: 1 / x, [0.0], [8]))


def test_points_are_ordinary():
    """The rule in the module docstring, checked for every test point."""
    for fn, (expr, points) in FUNCTIONS.items():
        f = parse_expression(expr).mpmath
        for x in points:
            assert x * 8 != int(x * 8), f"{fn} at {x} is a short binary fraction"
            d = [float(f(mpmath.mpf(x)))] + [higher_derivative(f, [x], [k]) for k in range(1, 8)]
            assert d[0] != 0
            for k in range(2, 7):
                assert abs(d[k]) >= 0.25 * math.sqrt(abs(d[k - 1] * d[k + 1])), f"{fn} at {x}: f^({k}) near zero"


# --------------------------------------------------------------------------- #
# Predicted against observed                                                  #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("dtype, fn, i, scheme", CASES, ids=CASE_IDS)
def test_observed_h_star_within_factor_3_of_predicted(sweeps, dtype, fn, i, scheme):
    curve = ok_rows(one_curve(sweeps[dtype], function=fn, point_index=i, scheme=scheme))
    model = model_for(dtype, fn, i, scheme)
    assert model.status == "ok"
    h_obs, _ = observed_optimum(curve["h"], curve["abs_error"])
    assert 1 / 3 <= h_obs / model.h_star <= 3, f"observed {h_obs:.3g}, predicted {model.h_star:.3g}"


@pytest.fixture(scope="module")
def analysed(sweeps) -> dict[str, pd.DataFrame]:
    """The run's own per-curve analysis (what the summary and the figures read), per number type."""
    return {dt: harness.summarize(table) for dt, table in sweeps.items()}


@pytest.mark.parametrize("dtype, fn, i, scheme", CASES, ids=CASE_IDS)
def test_observed_order_matches_theory(analysed, dtype, fn, i, scheme):
    s = analysed[dtype]
    row = s[(s["function"] == fn) & (s["point_index"] == i) & (s["scheme"] == scheme)].iloc[0]
    model = model_for(dtype, fn, i, scheme)
    order, h_min, h_max = row["observed_order"], row["order_h_min"], row["order_h_max"]
    assert row["order_points"] >= 3 and h_min < h_max
    # The fit lies on the truncation side of the observed optimum, as the regime search promises.
    assert h_min >= row["h_star"]
    h_lo, h_hi = model.asymptotic_window(ORDER_TOL)
    if h_hi >= h_lo * 10**MIN_WINDOW_DECADES:
        assert abs(order - model.accuracy) <= ORDER_TOL, f"order {order:.3f} over [{h_min:.2g}, {h_max:.2g}]"
    else:
        # The model says no quarter-decade of h keeps both the round-off and the next Taylor
        # term within ORDER_TOL of the slope. Here: float32, central p=4, m=2, on log (h* is a
        # fixed fraction of x, where the next term is already ~5%); the fit reads 4.14-4.23.
        assert (dtype, model.accuracy, model.derivative) == ("float32", 4, 2)
        assert abs(order - model.accuracy) <= 1.0


def test_complex_step_floor():
    """exp(x)*sin(x) at 0.7 over h = 1e-300 .. 1 (the complex_step experiment's grid)."""
    table = run({"es": {"expression": "exp(x)*sin(x)", "points": [0.7]}}, {"cs": {"kind": "complex_step"}},
                {"kind": "logspace", "start": -300, "stop": 0, "num": 301})
    curve = one_curve(table, scheme="cs")
    model = scheme_model(make_scheme("cs", {"kind": "complex_step"}), parse_expression("exp(x)*sin(x)").mpmath, [0.7])
    d1 = math.exp(0.7) * (math.sin(0.7) + math.cos(0.7))
    assert model.roundoff_power == 0 and model.c_round == pytest.approx(model.eps_f * d1, rel=1e-12)
    assert model.min_error == pytest.approx(2 * model.c_round, rel=1e-12)
    labels = labels_of(curve)
    floor = curve["abs_error"].to_numpy()[labels == "round-off"]
    assert floor.size > 250
    observed = math.sqrt(np.mean(floor**2))
    assert 1 / 10 <= observed / model.c_round <= 10
    assert 1 / 10 <= observed / model.min_error <= 10
    # h* (truncation falls below the floor) sits where the curve turns flat, to a decade
    h = curve["h"].to_numpy()
    assert h[labels == "round-off"].max() <= model.h_star * 10
    assert h[labels == "truncation"].min() >= model.h_star / 10
    assert abs(fit_order(curve["h"], curve["abs_error"]).slope - 2) <= ORDER_TOL
    # The summary reports the floor's end as h* (a threshold, not the argmin of a flat floor), and it is the
    # model's h* within the factor 3 the experiments hold the model to.
    summary = harness.summarize(table)
    row = summary[summary["scheme"] == "cs"].iloc[0]
    assert row["optimum_kind"] == "threshold" and row["h_star"] == row["observed_h_star"]
    assert 1 / 3 <= row["observed_h_star"] / model.h_star <= 3, (row["observed_h_star"], model.h_star)


@pytest.mark.parametrize("terms", [1, 2])
def test_richardson_schemes_are_modelled(terms):
    """Richardson stencils have high p + m: central, 2 terms is p = 6, so f^(7) comes from the fallback."""
    spec = {"kind": "richardson", "base": "central", "terms": terms}
    scheme = make_scheme("rich", spec)
    model = scheme_model(scheme, mpmath.exp, [0.7])
    assert model.status == "ok" and model.accuracy == 2 + 2 * terms
    table = run({"exp": {"expression": "exp(x)", "points": [0.7]}}, {"rich": spec}, GRIDS["float64"])
    curve = ok_rows(one_curve(table, scheme="rich"))
    h_obs, _ = observed_optimum(curve["h"], curve["abs_error"])
    assert 1 / 3 <= h_obs / model.h_star <= 3


# --------------------------------------------------------------------------- #
# Regimes                                                                     #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("component", [0, 1, 2])
def test_regimes_match_the_lecture_reading(component):
    """Forward gradient of x0^3 + x1^2 + x2^4 at (1,1,1), h = logspace(-16, 0, 9).

    The lecture reads every h <= 1e-10 as round-off and every h >= 1e-6 as
    truncation. With exact steps most small-h errors here are exactly 0 (the
    rounding cancels the truncation term): that is round-off too. At
    h = 1e-16, h_used = (1 + h) - 1 = 0: no estimate exists, so the row is
    'invalid' (status step_underflow), not a collapsed estimate ('floor').
    """
    table = harness.run(LECTURE)
    curve = one_curve(table, component=component)
    labels = labels_of(curve)
    h = curve["h"].to_numpy()
    assert curve["status"].iloc[0] == "step_underflow" and labels[0] == "invalid"
    assert set(labels[(h > 1e-16) & (h <= 1e-10)]) == {"round-off"}
    assert set(labels[h >= 1e-6]) == {"truncation"}


@pytest.mark.parametrize("scheme, p", [("forward", 1), ("central", 2), ("central4", 4)])
def test_regimes_on_a_dense_grid_are_contiguous_and_consistent(scheme, p):
    table = run({"exp": {"expression": "exp(x)", "points": [1.0]}}, {scheme: None}, GRIDS["float64"])
    curve = one_curve(table, scheme=scheme)
    labels = labels_of(curve)
    code = "".join({"invalid": "I", "floor": "F", "round-off": "R", "transition": "X", "truncation": "T"}[x]
                   for x in labels)
    assert re.fullmatch(r"I*[FR]*X*T+", code), code
    h = curve["h"].to_numpy()
    ok = ok_rows(curve)
    fit = truncation_fit(ok["h"], ok["abs_error"])
    assert abs(fit.slope - p) <= ORDER_TOL
    assert np.all(labels[(h >= fit.h_min) & (h <= fit.h_max)] == "truncation")
    # the observed boundary between the regimes brackets the predicted h*, to a factor 3
    model = scheme_model(make_scheme(scheme), mpmath.exp, [1.0])
    assert model.h_star / 3 <= h[labels == "round-off"].max() < h[labels == "truncation"].min() <= 3 * model.h_star
    # and the observed optimum is at that boundary: within a decade left of the truncation regime
    h_obs, _ = observed_optimum(ok["h"], ok["abs_error"])
    # (one grid step of slack, 10**0.1: which of two neighbouring steps wins depends on libm's last bits)
    first_truncation = h[labels == "truncation"].min()
    assert first_truncation / 10 <= h_obs <= first_truncation * 10**0.1


def test_floor_is_a_collapsed_estimate():
    h = np.logspace(-18, 0, 19)
    err = np.abs(1e-16 / h + 0.5 * h)
    est = 1.0 + err
    est[:2] = 0.0  # f(x + h) == f(x): the estimate is 0, the error |f'| = 1
    err[:2] = 1.0
    labels = label_regimes(h, err, ["ok"] * h.size, est, np.ones(h.size))
    assert list(labels[:3]) == ["floor"] * 3  # estimate 0, estimate 0, relative error 1 at h = 1e-16
    assert set(labels[3:8]) == {"round-off"}  # relative errors 0.1 .. 1e-5
    assert labels[-1] == "truncation"  # relative error 1/2 at h = 1, but right of the optimum
    assert set(labels) <= set(REGIMES)


# --------------------------------------------------------------------------- #
# Edge cases                                                                  #
# --------------------------------------------------------------------------- #

def test_stencil_exact_for_f():
    """x**2 with a central difference at 1.0: f''' = 0, so C_t = 0."""
    model = scheme_model(make_scheme("central"), parse_expression("x**2").mpmath, [1.0])
    assert model.status == "exact" and model.c_trunc == 0
    assert model.h_star == math.inf and model.min_error == 0.0
    h = np.logspace(-16, 0, 17)
    assert np.all(np.isfinite(model.error(h))) and np.all(np.diff(model.error(h)) < 0)
    assert all(math.isnan(v) for v in model.asymptotic_window())
    table = run({"sq": {"expression": "x**2", "points": [1.0]}}, {"central": None}, GRIDS["float64"])
    curve = one_curve(table, scheme="central")
    labels = labels_of(curve)
    assert not {"truncation", "transition"} & set(labels)
    assert math.isnan(fit_order(curve["h"], curve["abs_error"]).slope)


def test_function_zero_at_the_point():
    """sin at 0: f(x) = 0, so the model has no round-off term and cannot place h*."""
    central = scheme_model(make_scheme("central"), mpmath.sin, [0.0])
    assert central.status == "no_roundoff" and central.c_round == 0 and central.c_trunc > 0
    assert math.isnan(central.h_star) and math.isnan(central.min_error)
    assert np.all(central.roundoff(np.array([1e-8, 1e-4])) == 0)
    forward = scheme_model(make_scheme("forward"), mpmath.sin, [0.0])  # f = f'' = 0 as well
    assert forward.status == "undefined" and math.isnan(forward.h_star)
    cubic = parse_expression("x**3 + 1").mpmath  # f'(0) = 0, f^(3)(0) = 6: the complex step has no floor
    cs = scheme_model(make_scheme("cs", {"kind": "complex_step"}), cubic, [0.0])
    assert cs.status == "no_roundoff" and math.isnan(cs.h_star)
    table = run({"sin": {"expression": "sin(x)", "points": [0.0]}}, {"central": None}, GRIDS["float64"])
    labels = labels_of(one_curve(table, scheme="central"))
    assert labels[-1] == "truncation" and set(labels) <= set(REGIMES)


def test_nonfinite_inputs():
    st = standard_stencil("central", 1, 2)
    for f, d in [(math.nan, 1.0), (1.0, math.inf), (-math.inf, 1.0)]:
        model = stencil_model(st, f, d)
        assert model.status == "undefined"
        assert math.isnan(model.h_star) and math.isnan(model.min_error)
    assert complex_step_model(math.nan, 1.0).status == "undefined"
    assert optimal_step(math.inf, 1.0, 1, 1) != optimal_step(math.inf, 1.0, 1, 1)  # NaN
    log_model = scheme_model(make_scheme("central"), mpmath.log, [-1.0])  # complex: no real f
    assert log_model.status == "undefined"
    assert math.isnan(scheme_model(make_scheme("forward"), mpmath.exp, [math.nan]).h_star)

    h = np.array([1e-8, np.nan, 1e-6, 1e-4, 1e-2, np.inf, 1.0])
    err = np.array([1e-8, 1e-7, np.nan, 1e-4, np.inf, 1e-1, 1.0])
    status = ["ok", "ok", "ok", "ok", "ok", "ok", "nonfinite"]
    labels = label_regimes(h, err, status, np.ones(7), np.ones(7))
    assert list(labels[[1, 2, 4, 5, 6]]) == ["invalid"] * 5
    assert set(labels) <= set(REGIMES)
    nothing = np.full(4, np.nan)
    assert list(label_regimes(nothing, nothing, ["ok"] * 4, nothing, nothing)) == ["invalid"] * 4
    assert all(math.isnan(v) for v in observed_optimum(nothing, nothing))
    assert math.isnan(fit_order(nothing, nothing).slope)
    assert label_regimes([], [], [], [], []).size == 0
    with pytest.raises(ValueError, match="same length"):
        label_regimes([1.0], [1.0, 2.0], ["ok"], [1.0], [1.0])


def test_schemes_without_a_model_are_refused():
    with pytest.raises(TypeError, match="no error model"):
        scheme_model(make_scheme("h", {"kind": "mixed", "base": "central"}), parse_expression("x0*x1").mpmath,
                     [1.0, 2.0])


def test_errors_above_1e154_do_not_overflow_the_windowed_rms():
    """Regression: a grid up to h = 1000 made exp's errors reach 1e400-ish, err**2 overflowed to inf, every windowed
    RMS became NaN: observed h* fell to the smallest step (ratio 4e-11), or floor_threshold crashed."""
    from harness.fits import floor_threshold, windowed_rms

    h = np.logspace(-12, 3, 61)
    err = 1e-16 / h + h**2 / 6 + np.where(h > 100, 1e200, 0.0)
    kept, rms = windowed_rms(h, err)
    assert np.all(np.isfinite(rms)) and kept.size == h.size
    h_star, _ = observed_optimum(h, err)
    assert 1e-6 < h_star < 1e-4  # (3e-16)^(1/3) = 6.7e-6 for this model
    t, floor = floor_threshold(h, err, h < 1e-9)
    assert np.isfinite(floor) and (np.isnan(t) or t > 0)
    table = harness.run({"functions": {"exp": {"expression": "exp(x)", "points": [1.0]}},
                         "schemes": {"central": None, "complex_step": None},
                         "grid": {"kind": "logspace", "start": -16, "stop": 3, "num": 77},
                         "plot": {"enabled": False}, "reference": {"cache_dir": None}}, out_dir=None)
    summary = harness.summarize(table)
    central = summary[summary["scheme"] == "central"].iloc[0]
    assert 1e-6 < central["observed_h_star"] < 1e-4


def test_no_h_star_ratio_against_a_model_without_an_optimum():
    """Regression: an exact model (central4 on a cubic) predicts h* = inf, and the ratio was stored as 0."""
    from harness.analysis import summarize_curves

    curves = pd.DataFrame({"function": ["f", "f", "f"], "scheme": ["a", "b", "c"], "observed_order": 2.0,
                           "accuracy_order": 2, "observed_h_star": 1e-5, "observed_min_error": 1e-11})
    models = pd.DataFrame({"function": ["f", "f", "f"], "scheme": ["a", "b", "c"],
                           "predicted_h_star": [2e-5, np.inf, 0.0], "predicted_min_error": [1e-11, 0.0, np.nan]})
    out = summarize_curves(curves, models)
    assert out["h_star_ratio"].tolist()[0] == 0.5 and out["h_star_ratio"].iloc[1:].isna().all()
    assert out["min_error_ratio"].tolist()[0] == 1.0 and out["min_error_ratio"].iloc[1:].isna().all()


def test_no_h_star_ratio_where_the_estimates_came_out_exact():
    """The lecture cubic at (1, 1, 1): the forward differences of the x1 partial are exact at the smallest steps
    (windowed error 0 there), so that observed h* is no trade-off optimum; a ratio of 1e-8 read as a model failure."""
    from harness.analysis import summarize_curves

    curves = pd.DataFrame({"function": "f", "scheme": ["a", "b"], "observed_order": 1.0, "accuracy_order": 1,
                           "observed_h_star": [1.8e-16, 1e-8], "observed_min_error": [0.0, 1e-9]})
    models = pd.DataFrame({"function": "f", "scheme": ["a", "b"], "predicted_h_star": [1.4e-8, 2e-8],
                           "predicted_min_error": [1e-8, 1e-9]})
    out = summarize_curves(curves, models)
    assert np.isnan(out["h_star_ratio"].iloc[0]) and out["h_star_ratio"].iloc[1] == 0.5
