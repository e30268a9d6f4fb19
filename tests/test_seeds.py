"""The seed documents' examples, run through the harness, against independent truth."""

import math

import numpy as np
import pytest

from harness.analysis import gradient_error, summarize
from harness.fits import truncation_fit

LECTURE = {"cubic_sum": {"expression": "x0**3 + x1**2 + x2**4", "points": [[1.0, 1.0, 1.0]]}}
LECTURE_GRID = {"kind": "logspace", "start": -16, "stop": 0, "num": 9}


def test_lecture_gradient_at_h_1e_4(run_sweep):
    # The lecture prints array([3.00030001, 2.0001, 4.00060004]) for forward differences at h = 1e-4.
    table = run_sweep(LECTURE, ["forward"], [1e-4])
    est = table.sort_values("component")["estimate"].to_numpy()
    np.testing.assert_allclose(est, [3.00030001, 2.0001, 4.00060004], rtol=0, atol=5e-9)
    # Independent truth: (f(1 + h) - f(1)) / h expanded by hand for each term.
    h = table["h_used"].to_numpy()[0]
    np.testing.assert_allclose(est, [3 + 3 * h + h**2, 2 + h, 4 + 6 * h + 4 * h**2 + h**3], rtol=1e-10)
    assert (table["n_evals"] == 2).all()
    assert (table["status"] == "ok").all()


def test_lecture_sweep_optimum_is_1e_8(run_sweep):
    # The lecture divides by the nominal h (step=nominal), as its code does.
    table = run_sweep(LECTURE, ["forward"], LECTURE_GRID, step="nominal")
    # Per component and for the lecture's own measure, the norm of the gradient error.
    summary = summarize(table)
    assert len(summary) == 3
    assert np.allclose(summary["h_star"], 1e-8)
    norm = gradient_error(table[table["status"] == "ok"])
    best = norm.loc[norm["error_norm"].idxmin()]
    assert best["h"] == pytest.approx(1e-8)
    # h = 1e-16 vanishes against x = 1: f(x + h) == f(x), the estimate is 0 and the error is |f'|.
    tiny = table[table["h"] == 1e-16].sort_values("component")
    np.testing.assert_array_equal(tiny["estimate"], 0.0)
    np.testing.assert_array_equal(tiny["abs_error"], [3.0, 2.0, 4.0])


def test_lecture_sweep_with_exact_steps(run_sweep):
    # With h_used = (x + h) - x the polynomial is evaluated exactly at x = 1 for
    # small steps: the representation error of x + h was the lecture's round-off.
    table = run_sweep(LECTURE, ["forward"], LECTURE_GRID, step="exact")
    tiny = table[table["h"] == 1e-16]
    assert (tiny["status"] == "step_underflow").all() and (tiny["h_used"] == 0).all()
    mid = table[(table["h"] >= 1e-12) & (table["h"] <= 1e-10)]
    assert (mid["abs_error"] == 0).all()
    nominal = run_sweep(LECTURE, ["forward"], LECTURE_GRID, step="nominal")
    assert (nominal[(nominal["h"] >= 1e-12) & (nominal["h"] <= 1e-10)]["abs_error"] > 1e-7).all()


def test_tutorial_gradient(run_sweep):
    """f = x0**2 + sin(x1) at (1, 2), gradient (2, cos 2), at the tutorial's step sqrt(eps) = 2**-26."""
    h = math.sqrt(np.finfo(float).eps)
    fn = {"tut": {"expression": "x0**2 + sin(x1)", "points": [[1.0, 2.0]]}}
    table = run_sweep(fn, ["forward", "backward", "central"], [h])
    truth = np.array([2.0, math.cos(2.0)])
    u, f = 2.0**-53, 1.0 + math.sin(2.0)
    for scheme in ("forward", "backward", "central"):
        rows = table[table["scheme"] == scheme].sort_values("component")
        est, hu = rows["estimate"].to_numpy(), rows["h_used"].to_numpy()
        assert np.all(hu == 2.0**-26)  # sqrt(eps) is a power of two: (x + h) - x == h exactly
        np.testing.assert_allclose(rows["reference"].to_numpy(), truth, rtol=1e-15)
        np.testing.assert_allclose(rows["abs_error"].to_numpy(), np.abs(est - truth), rtol=1e-6, atol=1e-17)
        # Error bound: truncation (f'' h / 2 one-sided, f''' h^2 / 6 central) plus the rounding of
        # two samples of size |f| and of their difference, divided by the step (and by 2 for central).
        if scheme == "central":
            trunc = np.array([0.0, abs(math.cos(2.0))]) * hu**2 / 6
        else:
            trunc = np.array([2.0, abs(math.sin(2.0))]) * hu / 2
        roundoff = 3 * u * f / hu / (2 if scheme == "central" else 1)
        assert np.all(np.abs(est - truth) <= trunc + roundoff), (scheme, est - truth, trunc + roundoff)


def test_tutorial_one_sided_bias_and_exact_central(run_sweep):
    """Where truncation dominates (h = 1e-3): forward overshoots d/dx0 of x0**2 by h, backward
    undershoots by h, and central is exact for the quadratic (its error is the samples' rounding alone)."""
    fn = {"tut": {"expression": "x0**2 + sin(x1)", "points": [[1.0, 2.0]]}}
    table = run_sweep(fn, ["forward", "backward", "central"], [1e-3])
    rows = {s: g.sort_values("component") for s, g in table.groupby("scheme", observed=True)}
    hu = float(rows["forward"]["h_used"].iloc[0])
    roundoff = 3 * 2.0**-53 * (1.0 + math.sin(2.0)) / hu  # about 7e-13
    x0 = {s: float(g["estimate"].iloc[0]) for s, g in rows.items()}
    assert abs(x0["forward"] - (2 + hu)) <= roundoff
    assert abs(x0["backward"] - (2 - hu)) <= roundoff
    assert abs(x0["central"] - 2.0) <= roundoff
    assert hu > 1e3 * roundoff  # so the three statements above tell the schemes apart


@pytest.mark.parametrize("scheme, order", [("forward", 1), ("central", 2), ("central4", 4)])
def test_observed_order_on_exp(run_sweep, scheme, order):
    table = run_sweep({"exp": {"expression": "exp(x)", "points": [1.0]}}, [scheme],
                      {"kind": "logspace", "start": -16, "stop": 0, "num": 161})
    fit = truncation_fit(table["h"].to_numpy(), table["abs_error"].to_numpy())
    assert abs(fit.slope - order) <= 0.2, fit
    assert fit.n >= 8  # a real regime, not two lucky points


def test_complex_step_exp_sin_all_tiny_steps(run_sweep):
    hs = [10.0**-k for k in range(8, 301)]
    table = run_sweep({"es": {"expression": "exp(x) * sin(x)", "points": [0.7]}}, ["complex_step"], hs)
    assert len(table) == len(hs)
    assert (table["status"] == "ok").all()
    truth = math.exp(0.7) * (math.sin(0.7) + math.cos(0.7))
    assert table["reference"].iloc[0] == pytest.approx(truth, rel=1e-15)
    assert table["rel_error"].max() <= 1e-15


def test_tutorial_experiment_includes_approx_fprime(compose_cfg):
    import harness

    pytest.importorskip("scipy")
    table = harness.run(compose_cfg("experiment=tutorial", "plot=none"))
    fprime = table[(table["scheme"] == "approx_fprime") & np.isclose(table["h"], math.sqrt(np.finfo(float).eps), rtol=1e-12, atol=0)]
    assert len(fprime) == 2
    # approx_fprime is a forward difference: same value as ours at the same step (nominal, as scipy takes it).
    ours = table[(table["scheme"] == "forward") & np.isclose(table["h"], math.sqrt(np.finfo(float).eps), rtol=1e-12, atol=0)]
    np.testing.assert_allclose(fprime.sort_values("component")["estimate"], ours.sort_values("component")["estimate"],
                               rtol=1e-12)
    np.testing.assert_allclose(fprime.sort_values("component")["estimate"], [2.0, math.cos(2.0)], atol=3e-8)
