"""The user's own Python functions (``_target_``): each reference path, bad targets, counts, types, caching, workers."""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import mpmath
import numpy as np
import pandas as pd
import pytest

import harness
import userfuncs
from harness.analysis import summarize_curves, summary_markdown
from harness.api import run_spec
from harness.curves import analyse_table
from harness.errors import RunDirError
from harness.examples import forward_gradient, lecture_function
from harness.leaderboard import scored_rows
from harness.reference import exact_point
from harness.refcache import ReferenceCache
from harness.ridders import ridders
from harness.rundir import spec_fingerprint

TESTS = Path(__file__).resolve().parent
U = 2.0**-53  # the reference column is the reference rounded to float64
GRID = {"kind": "logspace", "start": -9, "stop": -1, "num": 5}
FUNCTIONS = {
    "energy": {"_target_": "userfuncs.energy", "points": [[0.3, -0.7, 1.5]],
               "reference": {"mpmath": "userfuncs.energy_mp"}},
    "wave": {"_target_": "userfuncs.wave", "points": [0.4, 1.1],
             "reference": {"derivative": "userfuncs.wave_derivative"}},
    "wave_mp": {"_target_": "userfuncs.wave", "points": [0.4],
                "reference": {"derivative": "userfuncs.wave_derivative_mp"}},
    "wave_bf16": {"_target_": "userfuncs.wave", "points": [0.4],
                  "reference": {"derivative": "userfuncs.wave_derivative_bfloat16"}},
    "rational": {"_target_": "userfuncs.rational", "points": [[0.6, 1.3]]},
    "bump": {"_target_": "userfuncs.bump", "points": [0.8, 2.5], "noise": {"level": 1e-6}},  # reference: noise-free
}
SCHEMES = {"central": None, "complex_step": None, "hess": {"kind": "mixed"},
           "second": {"kind": "stencil", "direction": "central", "derivative": 2}}


def config(functions, schemes=None, grid=None, **extra):
    return {"functions": functions, "schemes": schemes or {"central": None}, "grid": grid or GRID,
            "plot": {"enabled": False}, **extra}


@pytest.fixture(scope="module")
def paths_table():
    return harness.run(config(FUNCTIONS, SCHEMES))


def refs(table, function):
    rows = table[table["function"] == function].groupby(["point_index", "scheme", "component", "component2"],
                                                        observed=True).first()
    return rows[["reference", "reference_digits", "reference_method", "reference_status"]]


def test_each_reference_path_against_independent_truth(paths_table):
    t = paths_table
    bf16 = t["function"] == "wave_bf16"
    assert (t.loc[~bf16, "reference_status"] == "ok").all()
    # Ridders on 8-bit derivative values cannot reach the digits a second derivative needs: flagged, not scored.
    second_bf16 = t[bf16 & (t["scheme"] == "second")]
    assert len(second_bf16) and (second_bf16["reference_status"] != "ok").all()
    assert (second_bf16["status"] == "unreliable_reference").all() and second_bf16["rel_error"].isna().all()
    # {mpmath: twin}: the checked path on the twin, gradient and Hessian against the closed form
    e = refs(t, "energy")
    assert set(e["reference_method"]) == {"mpmath_checked"} and (e["reference_digits"] >= 20).all()
    x0, x1, x2 = 0.3, -0.7, 1.5
    grad = [math.exp(x0) * math.sin(x1) + x2**2, math.exp(x0) * math.cos(x1), 2 * x0 * x2]
    np.testing.assert_allclose([e.loc[(0, "central", j, -1), "reference"] for j in range(3)], grad, rtol=1e-15)
    hess = {(0, 1): math.exp(x0) * math.cos(x1), (0, 2): 2 * x2, (1, 2): 0.0}
    for (i, j), v in hess.items():
        assert e.loc[(0, "hess", i, j), "reference"] == pytest.approx(v, rel=1e-15, abs=1e-300)
    # {derivative: g}: first derivatives are g's float64 values (15.95 digits), higher ones Ridders on g
    w = refs(t, "wave")
    for p, x in enumerate((0.4, 1.1)):
        first = w.loc[(p, "central", 0, -1)]
        assert first["reference_method"] == "analytic" and first["reference"] == float(userfuncs.wave_derivative(x))
        assert first["reference_digits"] == pytest.approx(53 * math.log10(2))
        second = w.loc[(p, "second", 0, -1)]
        with mpmath.workdps(30):
            exact = mpmath.diff(lambda v: mpmath.sin(3 * v) * mpmath.exp(-v**2), x, 2)
        assert second["reference_method"] == "estimate" and second["reference_digits"] >= 12
        bound = (2.5 * 10 ** -second["reference_digits"] + U) * abs(float(exact))
        assert abs(second["reference"] - float(exact)) <= bound
    # a derivative computing on mpmath numbers: digits from two working precisions
    wm = refs(t, "wave_mp").loc[(0, "central", 0, -1)]
    assert wm["reference_method"] == "analytic" and wm["reference_digits"] >= 45
    # a derivative returning bfloat16: accepted to its own 8 bits, and its digits say so (not float64's 15.95)
    wb = refs(t, "wave_bf16").loc[(0, "central", 0, -1)]
    exact_bf16 = float(userfuncs.wave_derivative_bfloat16(np.array([0.4]))[0])
    assert wb["reference_method"] == "analytic" and wb["reference"] == exact_bf16
    assert wb["reference_digits"] == pytest.approx(8 * math.log10(2))
    # omitted, plain arithmetic: f itself through the checked mpmath path, also the mixed partial
    r = refs(t, "rational")
    assert set(r["reference_method"]) == {"mpmath_checked"}
    with mpmath.workdps(30):
        f = lambda a, b: (a**2 + 3 * b) / (1 + a**2 * b**2)  # noqa: E731
        truth = [mpmath.diff(f, (0.6, 1.3), o) for o in ((1, 0), (0, 1), (1, 1))]
    got = [r.loc[(0, "central", 0, -1), "reference"], r.loc[(0, "central", 1, -1), "reference"],
           r.loc[(0, "hess", 0, 1), "reference"]]
    np.testing.assert_allclose(got, [float(v) for v in truth], rtol=1e-15)
    # omitted, numpy's ufuncs: Ridders' estimate with its own digits, honest against the exact derivative
    b = refs(t, "bump")
    assert set(b["reference_method"]) == {"estimate"}
    assert set(t.loc[t["function"] == "bump", "noise_level"]) == {1e-6}  # the sweep saw the noise, the estimate not
    for p, x in enumerate((0.8, 2.5)):
        for scheme, m in (("central", 1), ("second", 2)):
            row = b.loc[(p, scheme, 0, -1)]
            with mpmath.workdps(30):
                exact = float(mpmath.diff(lambda v: mpmath.log1p(v**2) * mpmath.cos(v), x, m))
            assert row["reference_digits"] >= 12
            assert abs(row["reference"] - exact) <= (2.5 * 10 ** -row["reference_digits"] + U) * abs(exact)


def test_estimate_method_stays_apart_in_curves_summary_and_leaderboard(paths_table):
    curves = analyse_table(paths_table)[1]
    methods = curves.groupby("function")["reference_method"].agg(lambda m: set(m))
    assert methods["bump"] == {"estimate"} and methods["energy"] == {"mpmath_checked"}
    assert methods["wave"] == {"analytic", "estimate"}  # first derivatives analytic, the second an estimate
    board = scored_rows(paths_table)
    assert len(board) == 0 or "estimate" not in set(board["reference_method"].astype(str))
    md = summary_markdown(summarize_curves(curves), max_rows=5)
    assert "reference_method" in md and "estimate" in md


def test_ridders_error_estimate_is_honest():
    """Claimed against true error: exp, log, 1/(1+x^2), sin(50 x) (its argument rounds), a float64-only exp."""
    cases = [(lambda X: np.exp(X[:, 0]), mpmath.exp), (lambda X: np.log(X[:, 0]), mpmath.log),
             (lambda X: 1 / (1 + X[:, 0] ** 2), lambda v: 1 / (1 + v**2)),
             (lambda X: np.sin(50 * X[:, 0]), lambda v: mpmath.sin(50 * v)),
             (lambda X: np.exp(X[:, 0].astype(np.float64)), mpmath.exp)]
    worst = 0.0
    for f, f_mp in cases:
        for x in (1e-3, 0.7, 3.0, 100.0):
            for m in (1, 2, 3):
                r = ridders(f, [x], [m])
                with mpmath.workdps(40):
                    err = abs(exact_point([r.value])[0] - mpmath.diff(f_mp, mpmath.mpf(x), m))
                if r.digits >= 1:
                    worst = max(worst, float(err) / r.error)
    assert worst <= 2.5  # the error estimate is honest within a factor 2.5 (measured: 2.04 over 571 cases)
    r = ridders(lambda X: np.exp(X[:, 0].astype(np.float64)), [0.7], [1])
    assert r.digits <= 53 * math.log10(2) + 1e-9  # capped by the precision f returned, not longdouble's


def test_bad_targets_are_config_errors_naming_the_key():
    cases = [
        ({"_target_": "no_such_pkg_xyz.f", "points": [1.0]}, "functions.f._target_",
         "no module named 'no_such_pkg_xyz'"),
        ({"_target_": "userfuncs.no_such_function", "points": [1.0]}, "functions.f._target_",
         "'userfuncs' has no attribute 'no_such_function'"),
        ({"_target_": "userfuncs.NOT_CALLABLE", "points": [1.0]}, "functions.f._target_", "is a int, not callable"),
        ({"_target_": "userfuncs.energy", "dim": 2, "points": [[1.0, 2.0]]}, "functions.f.dim", "IndexError"),
        ({"_target_": "userfuncs.first_two", "points": [1.0]}, "functions.f.dim", "IndexError"),
        ({"_target_": "userfuncs.wave", "dim": 2, "points": [[1.0, 2.0]]}, "functions.f.dim", "returned shape (2, 2)"),
        ({"_target_": "not a path", "points": [1.0]}, "functions.f._target_", "dotted path"),
        # one number for the batch: broadcast, it made every derivative 0 with status ok
        ({"_target_": "userfuncs.batch_sum", "dim": 2, "points": [[1.0, 2.0]]}, "functions.f.dim",
         "one value (shape ()) for input of shape (2, 2)"),
        ({"_target_": "userfuncs.batch_sum", "points": [1.0]}, "functions.f.dim", "np.sum(X**2, axis=-1)"),
        ({"_target_": "userfuncs.wave", "points": [1.0], "reference": {"exact": "userfuncs.wave"}},
         "functions.f.reference", "one key: mpmath"),
        ({"_target_": "userfuncs.wave", "points": [1.0], "reference": {"derivative": "userfuncs.nope"}},
         "functions.f.reference.derivative", "no attribute 'nope'"),
        ({"_target_": "userfuncs.wave", "points": [1.0],
          "reference": {"derivative": "userfuncs.wrong_wave_derivative"}},
         "functions.f.reference.derivative", "is not f's derivative"),
        ({"_target_": "userfuncs.energy", "points": [[0.1, 0.2, 0.3]], "reference": {"mpmath": "userfuncs.rational"}},
         "functions.f.reference.mpmath", "an mpmath twin"),
        ({"_target_": "harness.examples.cube", "points": [1.0], "reference": {"mpmath": "userfuncs.lossy_cube_mp"}},
         "functions.f.reference.mpmath", "loses their precision"),
        ({"_target_": "userfuncs.wave", "expression": "x", "points": [1.0]}, "functions.f.expression", "_target_"),
    ]
    for spec, key, text in cases:
        with pytest.raises(harness.ConfigError) as info:
            harness.build_spec(config({"f": spec}))
        assert info.value.key == key and text in str(info.value), (spec, str(info.value))


def test_engine_calls_once_per_block_with_counted_points_and_meta(tmp_path):
    """Every point the callable sees is counted; meta.json has what the engine asked for, per number type."""
    before = dict(userfuncs.SEEN)
    spec = harness.build_spec(config({"c": {"_target_": "userfuncs.counted", "points": [0.5, 1.5, 2.5]}},
                                     {"forward": None, "central": None, "complex_step": None},
                                     dtypes=["float64", "float32"]))
    fn = spec.functions[0].expression
    probes = userfuncs.SEEN["numeric"] - before["numeric"]
    assert fn.probe_evaluations == probes + userfuncs.SEEN["object"] - before["object"] > 0
    run_spec(spec, out_dir=tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())["user_functions"]["c"]
    noise = pd.read_parquet(tmp_path / "run" / "noise.parquet")
    n_points, n_h = 3, 5
    for dtype, complex_type in (("float64", "complex128"), ("float32", "complex64")):
        samples = int(noise.loc[noise["dtype"] == dtype, "samples"].sum())
        # offsets {-1, 0, 1}: f(x) once per point, f(x +- h) per step and point; ECnoise's samples; and for the
        # noise table f(x) in float64 in each of the two number types' blocks
        table_values = 2 * n_points if dtype == "float64" else 0
        assert meta["evaluations"][dtype] == n_points + 2 * n_h * n_points + samples + table_values
        assert meta["evaluations"][complex_type] == n_h * n_points
    numeric = userfuncs.SEEN["numeric"] - before["numeric"]
    assert numeric == meta["evaluations_total"] + probes  # nothing else evaluated it in floating point
    assert meta["reference"] == "automatic mpmath" and meta["reference_method"] == "mpmath_checked"
    mpmath_calls = userfuncs.SEEN["object"] - before["object"] - (fn.probe_evaluations - probes)
    assert meta["reference_evaluations"] == mpmath_calls
    assert meta["returned_dtypes"] == {} and meta["complex_step"] == "offered"
    # any shape of coordinate arrays is one call of f on (n,) points, the result in that shape
    calls = userfuncs.SEEN["numeric"]
    out = fn.numpy(np.full((2, 3, 4), 1.5))
    assert out.shape == (2, 3, 4) and userfuncs.SEEN["numeric"] - calls == 24 and np.all(out == 1.5**3 - 3)


def test_returned_type_is_recorded_and_complex_step_skipped_with_its_reason(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    harness.run(config({"sq": {"_target_": "userfuncs.float64_only", "points": [0.75]}},
                       {"central": None, "complex_step": None, "cs": {"kind": "baseline", "method": "scipy_cs"}},
                       dtypes=["float32"]), out_dir=tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())["user_functions"]["sq"]
    assert meta["returned_dtypes"] == {"float32": "float64"}
    assert "imaginary part" in meta["complex_step"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("returned float64 for float32 input" in m for m in messages) == 1
    assert sum("skipping complex_step, cs: userfuncs.float64_only" in m for m in messages) == 1
    table = harness.read_results(tmp_path)
    assert set(table["scheme"]) == {"central"} and set(table["dtype"]) == {"float32"}
    # the float64 result was rounded to float32: the estimate is a float32 difference quotient
    row = table.sort_values("h").iloc[-1]
    x, h = np.float32(0.75), np.float32(row["h_used"])
    expected = ((np.float32((x + h) ** 2) - np.float32((x - h) ** 2)) * np.float32(0.5)) / h
    assert row["estimate"] == pytest.approx(float(expected), rel=1e-6)


def test_estimates_in_float64_when_longdouble_is_refused_and_nan_where_f_raises(caplog):
    caplog.set_level(logging.WARNING)
    spec = harness.build_spec(config({"e": {"_target_": "userfuncs.no_longdouble", "points": [0.5]},
                                      "r": {"_target_": "userfuncs.fails_above_two", "points": [1.0, 3.0]}}))
    table = run_spec(spec)
    e = table[table["function"] == "e"]
    assert spec.functions[0].expression.estimate_dtype == np.float64
    assert (e["reference_status"] == "ok").all() and (e["reference_digits"] <= 53 * math.log10(2) + 1e-9).all()
    assert abs(e["reference"].iloc[0] - math.exp(0.5)) <= 10 ** -e["reference_digits"].iloc[0] * 2.5 * math.exp(0.5)
    r = table[table["function"] == "r"]
    assert (r.loc[r["point_index"] == 0, "status"] == "ok").all()
    assert (r.loc[r["point_index"] == 1, "status"] == "unreliable_reference").all()
    assert np.isnan(r.loc[r["point_index"] == 1, "estimate"]).all()
    assert sum("evaluating them one by one" in m.getMessage() for m in caplog.records) == 1
    assert spec.functions[1].expression.record()["retried_evaluations"] > 0


def test_lecture_function_reproduces_the_lecture_gradient():
    """The seed's f(x) = x[0]**3 + x[1]**2 + x[2]**4 run as a user function, forward differences at h = 1e-4."""
    table = harness.run(config({"lecture": {"_target_": "harness.examples.lecture_function", "dim": 3,
                                            "points": [[1.0, 1.0, 1.0]]}},
                               {"forward": None}, {"kind": "list", "values": [1e-4]}, step="nominal"))
    est = table.sort_values("component")["estimate"].to_numpy()
    np.testing.assert_allclose(est, [3.00030001, 2.0001, 4.00060004], rtol=0, atol=1e-8)
    np.testing.assert_allclose(est, forward_gradient(lecture_function, 1e-4)(np.ones(3)), rtol=1e-12)
    assert set(table["reference_method"].astype(str)) == {"mpmath_checked"}
    np.testing.assert_array_equal(table.sort_values("component")["reference"], [3.0, 2.0, 4.0])


def test_editing_the_function_changes_cache_key_and_fingerprint(tmp_path, monkeypatch):
    module = tmp_path / "editable_fn.py"
    module.write_text("def f(x):\n    return x**2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = config({"f": {"_target_": "editable_fn.f", "points": [1.5]}}, reference={"cache_dir": str(tmp_path / "c")})
    first = harness.build_spec(cfg)
    run_spec(first, out_dir=tmp_path / "run")
    module.write_text("def f(x):\n    return x**3\n")
    sys.modules.pop("editable_fn")  # a new process would import the new code
    importlib.invalidate_caches()
    second = harness.build_spec(cfg)
    assert second.functions[0].expression.reference_key != first.functions[0].expression.reference_key
    assert spec_fingerprint(second) != spec_fingerprint(first)
    with pytest.raises(RunDirError):  # the finished run of the old code is not resumed
        run_spec(second, out_dir=tmp_path / "run")
    cache = ReferenceCache(tmp_path / "c")
    ref = cache.get_reference(second.functions[0].expression, [1.5], [1])
    assert cache.misses == 1 and ref.hi == 3 * 1.5**2  # no stale reference from the old code
    assert pickle.loads(pickle.dumps(second.functions[0].expression)).reference_key == \
        second.functions[0].expression.reference_key


def test_joblib_multirun_imports_the_callable_in_its_workers(tmp_path):
    conf = tmp_path / "conf" / "functions"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text(textwrap.dedent("""
        wave:
          _target_: userfuncs.wave
          points: [0.4]
          reference: {derivative: userfuncs.wave_derivative}
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "HYDRA_FULL_ERROR": "0", "MPLBACKEND": "Agg"}
    sweep = tmp_path / "sweep"
    proc = subprocess.run([sys.executable, "-m", "harness", "-m", "plot=none", "hydra/launcher=joblib",
                           "hydra.launcher.n_jobs=2", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                           "functions=mine", "schemes=forward", "grid.num=5", f"hydra.sweep.dir={sweep}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_parquet(sweep / "0" / "results.parquet")
    assert len(table) == 5 and set(table["reference_method"].astype(str)) == {"analytic"}
    meta = json.loads((sweep / "0" / "meta.json").read_text())
    assert meta["user_functions"]["wave"]["evaluations"]["float64"] > 5


@pytest.mark.parametrize("fn, point, orders", [
    (lambda X: np.abs(X[:, 0]), [0.0], [1]),                       # central differences give 0
    (lambda X: np.maximum(X[:, 0], 0), [0.0], [1]),                # ... 1/2
    (lambda X: np.where(X[:, 0] > 0, X[:, 0] ** 2, 0), [0.0], [2]),  # ... f'' = 1 between 0 and 2
    (lambda X: np.abs(X[:, 0]) ** 3, [0.0], [3]),                  # ... f''' = 0 between -6 and 6
    (lambda X: np.abs(X[:, 0] * X[:, 1]), [0.0, 0.0], [1, 1]),      # a mixed partial across a kink
    (lambda X: 1 / (X[:, 0] - 1.001), [1.0], [1]),                 # the tableau's first steps cross the pole
])
def test_estimates_at_kinks_are_flagged_not_ok(fn, point, orders):
    """Regression: Ridders' tableau is central, so a kink got a confident wrong 'ok' reference (|x|' = 0)."""
    from harness.ridders import estimate_reference

    with np.errstate(all="ignore"):
        ref, spent = estimate_reference(fn, point, orders, min_digits=20)
    assert ref.status == "disagree" and "one-sided differences do not converge" in ref.message and spent > 0


@pytest.mark.parametrize("fn, point, orders, truth", [
    (lambda X: np.sin(50 * X[:, 0]), [100.0], [1], 50 * math.cos(5000.0)),
    (lambda X: np.exp(100 * X[:, 0]), [0.3], [2], 1e4 * math.exp(30.0)),
    (lambda X: 1 / (X[:, 0] - 1.01), [1.0], [1], -1e4),
    (lambda X: np.tanh(20 * X[:, 0]), [0.1], [3], float(mpmath.diff(lambda v: mpmath.tanh(20 * v), 0.1, 3))),
    (lambda X: np.sqrt(X[:, 0]), [1e-8], [1], 5000.0),
    (lambda X: X[:, 0] ** 5, [0.7], [5], 120.0),
])
def test_smooth_estimates_pass_the_one_sided_check(fn, point, orders, truth):
    from harness.ridders import estimate_reference

    ref, _ = estimate_reference(fn, point, orders, min_digits=20)
    assert ref.status == "ok" and abs(ref.hi - truth) <= 10 ** (2 - ref.digits) * abs(truth), (ref, truth)


@pytest.mark.parametrize("fn, point, orders, truth", [
    (lambda X: 0.1 * np.asarray(X[:, 0], dtype=float) + 2.0, [1.0], [1], 0.1),
    (lambda X: 3 * np.asarray(X[:, 0], dtype=float), [0.0], [1], 3.0),
    (lambda X: 0.7 * np.asarray(X[:, 0], dtype=float) ** 2, [0.3], [2], 1.4),
    (lambda X: 0.3 * np.asarray(X[:, 0] * X[:, 1], dtype=float), [0.5, 2.0], [1, 1], 0.3),
])
def test_float64_polynomials_are_not_taken_for_kinks(fn, point, orders, truth):
    """Regression: the kink check bounded the rounding by longdouble's u while f returned float64."""
    from harness.ridders import estimate_reference

    ref, _ = estimate_reference(fn, point, orders, min_digits=20)
    assert ref.status == "ok" and abs(ref.hi - truth) <= 1e-8 * abs(truth), ref
