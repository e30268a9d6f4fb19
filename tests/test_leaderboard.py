"""The leaderboard and the coverage table: known answers, a tiny benchmark end to end, collect across jobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import harness
from harness.baselines import BASELINE_METHODS, available
from harness.collect import collect
from harness.leaderboard import ALL_PROBLEMS, coverage_table, leaderboard, scored_rows

INF = float("inf")


def fake_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two methods on one problem, hand-made: an adaptive one and a fixed-step curve with a model."""
    rows = []

    def row(scheme, point, h, estimate, rel, *, adaptive, est=np.nan, n=2, ref="ok"):
        rows.append({"function": "f", "point_index": point, "component": 0, "component2": -1, "derivative_order": 1,
                     "scheme": scheme, "dtype": "float64", "step_scale": "absolute", "adaptive": adaptive,
                     "h": h, "estimate": estimate, "rel_error": rel, "abs_error": rel * 2.0,
                     "error_estimate": est, "n_evals": n, "reference_status": ref})

    # adaptive: errors 1e-8, 1e-6, 2 (> 1: failure), NaN estimate (failure), and one unreliable reference
    row("sel", 0, np.nan, 1.0, 1e-8, adaptive=True, est=4e-8, n=5)   # estimate 4e-8 >= abs error 2e-8: covered
    row("sel", 1, np.nan, 1.0, 1e-6, adaptive=True, est=1e-6, n=7)   # 1e-6 < 2e-6: not covered, ratio 0.5
    row("sel", 2, np.nan, 1.0, 2.0, adaptive=True, est=40.0, n=9)    # covered, ratio 10
    row("sel", 3, np.nan, np.nan, np.nan, adaptive=True, n=11)       # failure, no estimate
    row("sel", 4, np.nan, 1.0, 0.5, adaptive=True, n=100, ref="disagree")  # left out
    # fixed-step curve at points 0 and 1: h = 1e-4, 1e-3, 1e-2 with errors 3e-9, 1e-9, 1e-7 / 5e-5, 4e-5, 3e-5
    for point, errors in ((0, (3e-9, 1e-9, 1e-7)), (1, (5e-5, 4e-5, 3e-5))):
        for h, e in zip((1e-4, 1e-3, 1e-2), errors):
            row("central", point, h, 1.0, e, adaptive=False)
    table = pd.DataFrame(rows)
    models = pd.DataFrame({"function": "f", "point_index": [0, 1], "component": 0, "component2": -1,
                           "derivative_order": 1, "scheme": "central", "dtype": "float64", "step_scale": "absolute",
                           "predicted_h_star": [2.5e-3, INF]})  # nearest: 1e-3 (log distance 0.4 < 0.6); inf: largest h
    return table, models


def test_scored_rows_take_the_grid_step_nearest_the_predicted_h_star():
    table, models = fake_table()
    rows = scored_rows(table, models)
    central = rows[rows["method"] == "central"].sort_values("point_index")
    assert central["h"].tolist() == [1e-3, 1e-2]
    assert central["rel_err"].tolist() == [1e-9, 3e-5]
    assert set(central["kind"]) == {"at predicted h*"}
    assert len(rows[rows["method"] == "sel"]) == 4  # the unreliable reference is left out
    # no model: the fixed-step curve is not scored
    assert "central" not in set(scored_rows(table, None)["method"])


def test_leaderboard_known_answer():
    table, models = fake_table()
    board = leaderboard(table, models)
    overall = board[board["problem"] == ALL_PROBLEMS].set_index("method")
    sel = overall.loc["sel"]
    # rel errors 1e-8, 1e-6, 2 (failure), NaN estimate -> inf (failure): median of [1e-8, 1e-6, 2, inf]
    assert sel["n"] == 4 and sel["failure_rate"] == 0.5
    assert sel["median_rel_error"] == pytest.approx((1e-6 + 2.0) / 2)
    assert sel["p90_rel_error"] == INF
    assert sel["mean_evals"] == pytest.approx((5 + 7 + 9 + 11) / 4)
    central = overall.loc["central"]
    assert central["median_rel_error"] == pytest.approx((1e-9 + 3e-5) / 2)
    assert central["p90_rel_error"] == pytest.approx(1e-9 + 0.9 * (3e-5 - 1e-9))
    assert central["failure_rate"] == 0 and central["kind"] == "at predicted h*"
    assert list(overall.index) == ["central", "sel"]  # best median first
    assert set(board["problem"]) == {"f", ALL_PROBLEMS}


def test_coverage_known_answer():
    table, models = fake_table()
    cov = coverage_table(table, models)
    sel = cov[(cov["problem"] == ALL_PROBLEMS) & (cov["method"] == "sel")].iloc[0]
    # rows with an estimate and an error estimate: ratios 2, 0.5, 10
    assert sel["n"] == 3 and sel["coverage"] == pytest.approx(2 / 3)
    assert sel["median_ratio"] == pytest.approx(2.0) and sel["p90_ratio"] == pytest.approx(2 + 0.8 * 8)
    assert "central" not in set(cov["method"])  # no error estimate


def test_coverage_pessimistic_on_exp_optimistic_below_the_step():
    # scipy.differentiate's error estimate (|last change|) is far too large on exp (its own docstring example
    # is about 300x pessimistic): it covers every row. On a function with structure below any step it samples,
    # exp(x) + 1e-12 sin(1e10 x) (deterministic, so the reference still resolves the 1e-2 cos(1e10 x) term of f'),
    # the same estimate sees nothing and covers no row: the optimistic side, made without noise.
    pytest.importorskip("scipy")
    run = {"schemes": {"scipy_differentiate": {"kind": "baseline", "method": "scipy_differentiate"}},
           "grid": {"kind": "list", "values": [1e-3]}, "plot": {"enabled": False}, "model": {"enabled": False}}
    points = [0.5, 1.0, 2.0, 3.0]
    table = harness.run({**run, "functions": {
        "exp": {"expression": "exp(x)", "points": points},
        "wiggly": {"expression": "exp(x) + 1e-12 * sin(1e10 * x)", "points": points}}})
    cov = coverage_table(table).set_index("problem")
    assert cov.loc["exp", "n"] == 4 and cov.loc["exp", "coverage"] == 1.0 and cov.loc["exp", "median_ratio"] > 10
    assert cov.loc["wiggly", "n"] == 4 and cov.loc["wiggly", "coverage"] == 0.0
    assert cov.loc["wiggly", "p90_ratio"] < 1e-3


def test_coverage_optimistic_on_a_noisy_function():
    # The same estimate on exp with relative noise 1e-8 (deterministic noise, see harness.noise): the
    # difference of successive Richardson levels now measures the noise, not the truncation error, and
    # stops covering the true error (measured: 11 to 12 of 20 rows covered, median estimate / error ~1),
    # where on the smooth exp it covers all 20 with a margin above 100x.
    pytest.importorskip("scipy")
    points = {"linspace": [0.5, 3.0, 20]}
    table = harness.run({
        "functions": {"exp": {"expression": "exp(x)", "points": points},
                      "noisy": {"expression": "exp(x)", "points": points,
                                "noise": {"kind": "relative", "level": 1e-8, "seed": 1}}},
        "schemes": {"scipy_differentiate": {"kind": "baseline", "method": "scipy_differentiate"}},
        "grid": {"kind": "list", "values": [1e-3]}, "plot": {"enabled": False}, "model": {"enabled": False}})
    cov = coverage_table(table).set_index("problem")
    assert cov.loc["exp", "coverage"] == 1.0 and cov.loc["exp", "median_ratio"] > 100
    assert cov.loc["noisy", "n"] == 20
    assert cov.loc["noisy", "coverage"] <= 0.75 and cov.loc["noisy", "median_ratio"] < 3


def benchmark_subset() -> dict:
    """Two of the benchmark's problems, 3 points each, one method of every kind (a tiny subset)."""
    conf = Path(__file__).resolve().parents[1] / "conf"
    problems = yaml.safe_load((conf / "functions" / "benchmark.yaml").read_text())
    schemes = yaml.safe_load((conf / "schemes" / "benchmark.yaml").read_text())
    keep = ["central", "gmsw", "scipy_differentiate", "nd_forward", "jacobi", "nder_exact_central", "findiff_central2"]
    functions = {name: {**problems[name], "points": {"linspace": [*problems[name]["points"]["linspace"][:2], 3]}}
                 for name in ("sxxn2", "log")}
    return {"functions": functions, "schemes": {k: schemes[k] for k in keep}, "grid": {"kind": "logspace",
            "start": -12, "stop": 0, "num": 13}, "plot": {"enabled": False}, "name": "benchmark_subset"}


def test_tiny_benchmark_writes_the_leaderboard(tmp_path):
    spec = benchmark_subset()
    harness.run(spec, out_dir=tmp_path)
    board = pd.read_parquet(tmp_path / "leaderboard.parquet")
    assert len(pd.read_csv(tmp_path / "leaderboard.csv")) == len(board)
    overall = board[board["problem"] == ALL_PROBLEMS]
    # every method, every library present (a library that is not installed is skipped by the sweep)
    runnable = {k for k, v in spec["schemes"].items() if v.get("kind") != "baseline"
                or available(BASELINE_METHODS[v["method"]]["library"])}
    assert set(overall["method"]) == runnable
    assert set(board["problem"]) == {"sxxn2", "log", ALL_PROBLEMS}
    assert (overall["n"] == 6).all()
    cov = pd.read_parquet(tmp_path / "coverage.parquet")
    assert {"gmsw", "scipy_differentiate", "nd_forward", "jacobi", "nder_exact_central"} & runnable <= set(cov["method"])
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## All problems" in md and "## Coverage" in md and "| gmsw |" in md
    assert not (tmp_path / "figures").exists()  # plot disabled
    # The sweep scored block by block (scored.parquet); the same board as scoring the whole table at once.
    table = pd.read_parquet(tmp_path / "results.parquet")
    whole = leaderboard(table, pd.read_parquet(tmp_path / "model.parquet"))
    assert len(pd.read_parquet(tmp_path / "scored.parquet")) == 6 * len(overall)
    pd.testing.assert_frame_equal(board.reset_index(drop=True), whole.reset_index(drop=True), check_dtype=False)


def test_a_zero_derivative_is_scored_by_its_absolute_error(tmp_path):
    """Regression: at a stationary point rel_error is NaN, and every method, exact or not, was a failure."""
    cfg = {"functions": {"gauss": {"expression": "exp(-x**2)", "points": [0.0, 0.5]},
                         "cosx": {"expression": "cos(x)", "points": [0.0]}},
           "schemes": {"central": None, "forward": None, "sw": {"kind": "selector", "rule": "stepleman_winarsky"}},
           "grid": {"kind": "logspace", "start": -8, "stop": -1, "num": 8}, "plot": {"enabled": False},
           "reference": {"cache_dir": None}}
    harness.run(cfg, out_dir=tmp_path)
    scored = scored_rows(pd.read_parquet(tmp_path / "scored.parquet"), candidates=True)
    at_zero = scored["reference"] == 0
    assert at_zero.sum() == 6  # gauss and cos at 0, three methods each
    # central is exact at 0 for both even functions (f(h) == f(-h)); the forward difference errs by at most
    # about |f''| h / 2 at its step (0 where f(h) rounds to f(0)), a small absolute error, not a failure
    central0 = scored[at_zero & (scored["method"] == "central")]
    assert (central0["rel_err"] == 0).all() and not central0["failed"].any()
    forward0 = scored[at_zero & (scored["method"] == "forward")]
    assert np.all(forward0["rel_err"] < 1e-3) and not forward0["failed"].any()
    np.testing.assert_array_equal(forward0["rel_err"], forward0["abs_error"])
    board = pd.read_parquet(tmp_path / "leaderboard.parquet")
    assert (board["failure_rate"] == 0).all() and np.isfinite(board["median_rel_error"]).all()
    assert "6 rows where the derivative is exactly 0 are scored by their absolute error" in \
        (tmp_path / "leaderboard.md").read_text()


def test_collect_builds_the_leaderboard_across_jobs(tmp_path):
    # Two jobs of a multirun over number types: the collected leaderboard keeps them apart, and the float64
    # rows are those of the float64 job alone.
    sweep = tmp_path / "sweep"
    spec = {"functions": {"exp": {"expression": "exp(x)", "points": [0.5, 1.0]}},
            "schemes": {"central": None, "g": {"kind": "selector", "rule": "gmsw"}},
            "grid": {"kind": "logspace", "start": -10, "stop": 0, "num": 11}, "plot": {"enabled": False}}
    for job, dtype in (("0", "float64"), ("1", "float32")):
        harness.run({**spec, "dtypes": [dtype]}, out_dir=sweep / job)
        (sweep / job / ".hydra").mkdir()
        (sweep / job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"dtypes=[{dtype}]"]))
    collect(sweep)
    board = pd.read_parquet(sweep / "collected" / "leaderboard.parquet")
    assert set(board["dtype"]) == {"float64", "float32"}
    alone = pd.read_parquet(sweep / "0" / "leaderboard.parquet")
    got = board[board["dtype"] == "float64"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[alone.columns], alone, check_dtype=False)
    assert (sweep / "collected" / "coverage.parquet").is_file() and (sweep / "collected" / "leaderboard.md").is_file()


def test_leaderboard_figure(tmp_path):
    from harness.leaderboard_figure import write_leaderboard_figure

    table, models = fake_table()
    board = leaderboard(table, models)
    paths = write_leaderboard_figure(board, tmp_path, formats=("svg",), dpi=60, title="fake")
    assert [p.name for p in paths] == ["leaderboard.svg"] and paths[0].stat().st_size > 5000
    before = paths[0].read_bytes()
    write_leaderboard_figure(board, tmp_path, formats=("svg",), dpi=60, title="fake")
    assert paths[0].read_bytes() == before  # byte-identical on regeneration
    assert write_leaderboard_figure(board.iloc[:0], tmp_path / "empty") == []
    assert write_leaderboard_figure(board[board["method"] == "sel"], tmp_path / "one") == []  # nothing to compare
