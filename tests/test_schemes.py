"""Scheme breadth: any-order stencils, Richardson, mixed partials, step scales and number types."""

import numpy as np
import pytest

from harness.analysis import summarize
from harness.errors import ConfigError
from harness.schemes import make_scheme
from harness.stencils import standard_stencil

DENSE = {"kind": "logspace", "start": -16, "stop": 0, "num": 161}
EXP03 = {"exp": {"expression": "exp(x)", "points": [0.3]}}


def central(m, p):
    return {"kind": "stencil", "direction": "central", "derivative": m, "accuracy": p}


def test_observed_order_of_central_stencils_any_derivative(run_sweep):
    schemes = {f"m{m}p{p}": central(m, p) for m in (1, 2, 3, 4) for p in (2, 4, 6)}
    summary = summarize(run_sweep(EXP03, schemes, DENSE)).set_index("scheme")
    for name in schemes:
        row = summary.loc[name]
        assert abs(row["observed_order"] - row["accuracy_order"]) <= 0.2, (name, row["observed_order"])
        assert row["order_points"] >= 8
        # d^m/dx^m exp = exp: the reference is exp(0.3) for every m.
        assert row["reference"] == pytest.approx(np.exp(0.3), rel=1e-15)


def test_richardson_of_central_is_fourth_order(run_sweep):
    schemes = {"rich": {"kind": "richardson", "base": "central", "ratio": 2, "terms": 1},
               "rich2": {"kind": "richardson", "base": "central", "ratio": 2, "terms": 2},
               "rich_fwd": {"kind": "richardson", "base": "forward", "ratio": 2, "terms": 1}}
    assert make_scheme("rich", schemes["rich"]).stencil == standard_stencil("central", 1, 4)
    summary = summarize(run_sweep(EXP03, schemes, DENSE)).set_index("scheme")
    assert summary.loc["rich", "accuracy_order"] == 4
    assert abs(summary.loc["rich", "observed_order"] - 4) <= 0.2
    assert abs(summary.loc["rich2", "observed_order"] - 6) <= 0.2
    assert abs(summary.loc["rich_fwd", "observed_order"] - 2) <= 0.2
    table = run_sweep(EXP03, {"rich": schemes["rich"]}, [1e-3])
    assert table["n_evals"].iloc[0] == 4 and table["scheme_kind"].iloc[0] == "richardson"


def test_user_offsets_accuracy_is_derived(run_sweep):
    schemes = {"skew": {"kind": "stencil", "offsets": [-1, 0, 2, 3]}}
    summary = summarize(run_sweep(EXP03, schemes, DENSE))
    assert summary["accuracy_order"].iloc[0] == 3
    assert abs(summary["observed_order"].iloc[0] - 3) <= 0.2
    with pytest.raises(ConfigError, match="3 \\(derived from the offsets\\)"):
        make_scheme("skew", {"kind": "stencil", "offsets": [-1, 0, 2, 3], "accuracy": 4})


def test_hessian_entry(run_sweep):
    fn = {"poly": {"expression": "x0**2 * x1**3", "points": [[1.5, -0.5]]}}
    table = run_sweep(fn, {"hess": {"kind": "mixed", "base": "central"}}, DENSE)
    assert set(zip(table["component"], table["component2"])) == {(0, 1)}
    assert (table["derivative_order"] == 2).all() and (table["n_evals"] == 4).all()
    exact = 2 * 1.5 * 3 * (-0.5) ** 2  # d2/dx0 dx1 of x0^2 x1^3 = 6 x0 x1^2 = 2.25
    assert table["reference"].iloc[0] == exact
    best = table.loc[table["abs_error"].idxmin()]
    assert abs(best["estimate"] - exact) <= 1e-6
    # Its own truncation order: central product stencil is O(h^2).
    summary = summarize(table)
    assert abs(summary["observed_order"].iloc[0] - 2) <= 0.2


def test_hessian_on_three_variables_gives_every_pair(run_sweep):
    fn = {"f": {"expression": "x0 * x1 * x2 + sin(x0) * x2**2", "points": [[0.3, 0.7, 1.1]]}}
    table = run_sweep(fn, {"hess": {"kind": "mixed"}}, [1e-4])
    got = {(int(r.component), int(r.component2)): r.estimate for r in table.itertuples()}
    x0, x1, x2 = 0.3, 0.7, 1.1
    exact = {(0, 1): x2, (0, 2): x1 + 2 * x2 * np.cos(x0), (1, 2): x0}
    assert got.keys() == exact.keys()
    for k in exact:
        assert got[k] == pytest.approx(exact[k], abs=1e-7)


def test_optimal_step_moves_with_number_type(run_sweep):
    table = run_sweep({"exp": {"expression": "exp(x)", "points": [1.0]}}, ["central"], DENSE,
                      dtypes=["float64", "float32"])
    summary = summarize(table).set_index("dtype")
    ratio = summary.loc["float32", "h_star"] / summary.loc["float64", "h_star"]
    predicted = (np.finfo(np.float32).eps / np.finfo(np.float64).eps) ** (1 / 3)
    assert predicted / 3 <= ratio <= predicted * 3, (ratio, predicted)
    # float32 points are rounded: the reference follows the point actually used.
    assert summary.loc["float32", "min_abs_error"] > 100 * summary.loc["float64", "min_abs_error"]


def test_float16_and_longdouble_sweeps(run_sweep):
    table = run_sweep({"exp": {"expression": "exp(x)", "points": [1.0]}}, ["central", "complex_step"], DENSE,
                      dtypes=["float16", "float64", "longdouble"])
    assert set(table["dtype"].astype(str)) == {"float16", "float64", "longdouble"}
    # float16 has no complex type: the complex step is skipped there, not faked.
    assert not ((table["dtype"] == "float16") & (table["scheme"] == "complex_step")).any()
    summary = summarize(table)
    best = summary[summary["scheme"] == "central"].set_index("dtype")["min_abs_error"]
    assert best["float16"] > 1e-4 > best["float64"]
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:  # x86 extended or quad
        assert best["longdouble"] < best["float64"] / 100


def test_relative_step_scale(run_sweep):
    fn = {"log": {"expression": "log(x)", "points": [1000.0]}}
    table = run_sweep(fn, ["forward"], [1e-6], step_scale=["absolute", "relative"])
    rel = table[table["step_scale"] == "relative"].iloc[0]
    ab = table[table["step_scale"] == "absolute"].iloc[0]
    assert rel["h_used"] == (1000.0 + 1e-6 * 1000.0) - 1000.0
    assert ab["h_used"] == (1000.0 + 1e-6) - 1000.0
    # At x = 1e8 an absolute step of 1e-9 vanishes (ulp(1e8) = 1.5e-8); the relative one does not.
    far = run_sweep({"log": {"expression": "log(x)", "points": [1e8]}}, ["forward"], [1e-9],
                    step_scale=["absolute", "relative"]).set_index("step_scale")
    assert far.loc["absolute", "status"] == "step_underflow"
    assert far.loc["relative", "status"] == "ok" and far.loc["relative", "rel_error"] < 1e-5  # round-off: eps |log 1e8| / 0.1 ~ 4e-14 = 4e-6 f'


def test_hessian_step_underflow_on_either_coordinate(run_sweep):
    fn = {"f": {"expression": "x0 * x1 + exp(x0)", "points": [[1.0, 1e10]]}}
    table = run_sweep(fn, {"hess": {"kind": "mixed"}}, [1e-8])
    assert table["status"].iloc[0] == "step_underflow" and table["h_used"].iloc[0] == 0


def test_first_and_second_derivatives_get_separate_figures(tmp_path):
    import harness

    cfg = {"functions": {"exp": {"expression": "exp(x)", "points": [0.5]}},
           "schemes": {"central": None, "central2": {"kind": "stencil", "derivative": 2}},
           "grid": {"kind": "logspace", "start": -8, "stop": 0, "num": 9}, "plot": {"formats": ["svg"]}}
    harness.run(cfg, out_dir=tmp_path)
    names = sorted(p.name for p in (tmp_path / "figures").glob("exp__*.svg"))
    assert names == ["exp__p0__d0.svg", "exp__p0__d0_m2.svg"]
