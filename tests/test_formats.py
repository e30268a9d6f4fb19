"""The ``formats`` experiment: observed against predicted h* per number type, its notes, table and figure."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.analysis import summarize_curves
from harness.config import build_spec
from harness.format_figure import draw_format_figure, write_format_figure
from harness.format_summary import (RATIO_BAND, format_curves, format_table, leading_term_window,
                                    write_format_summary)
from harness.model import ErrorModel, model_fields
from harness.refcache import ReferenceCache
from harness.sweep import plan, sweep_block

FIVE = ("float16", "bfloat16", "float32", "float64", "longdouble")
FLOAT8 = ("float8_e4m3fn", "float8_e5m2")
NOTES = {"ok", "point_not_finite", "no_error", "no_asymptotic_window", "exact_estimates", "optimum_at_grid_end"}


def run_summary(cfg) -> tuple[pd.DataFrame, tuple[float, float]]:
    """The summary (curves joined with models) of a sweep, computed in memory."""
    spec = build_spec(cfg)
    cache = ReferenceCache(None)
    results = [sweep_block(spec, block, cache) for block in plan(spec)]
    summary = summarize_curves(pd.concat([r.curves for r in results], ignore_index=True),
                               pd.concat([r.models for r in results], ignore_index=True))
    return summary, (float(spec.hs.min()), float(spec.hs.max()))


@pytest.fixture(scope="module")
def formats_subset():
    """experiment=formats on two classic functions at two of its points each, forward and central, every type."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            "experiment=formats", "plot=none", "reference.cache_dir=null", "schemes.central4=false",
            "schemes.complex_step=false", "~functions.log", "~functions.mixed", "~functions.rational",
            "functions.exp.points=[1.0,1.3]", "functions.sin.points=[0.65,1.1]"])
    GlobalHydra.instance().clear()
    summary, grid = run_summary(cfg)
    return format_curves(summary, grid)


def test_formats_observed_over_predicted_h_star_within_3x_and_float8_recorded(formats_subset):
    curves = formats_subset
    assert set(curves["dtype"]) == set(FIVE) | set(FLOAT8)
    assert set(curves["scheme"]) == {"forward", "central"} and set(curves["model_note"]) <= NOTES
    five = curves[curves["dtype"].isin(FIVE)]
    assert len(five) == 5 * 2 * 2 * 2 and (five["model_note"] == "ok").all()
    ratio = five["h_star_ratio"].to_numpy()
    assert np.all((ratio >= 1 / RATIO_BAND) & (ratio <= RATIO_BAND)), five[["function", "point", "scheme", "dtype",
                                                                             "h_star_ratio"]]
    # float8: every curve is recorded with its observed and predicted optimum; a ratio only where the note is ok
    eight = curves[curves["dtype"].isin(FLOAT8)]
    assert len(eight) == 2 * 2 * 2 * 2
    assert np.isfinite(eight["observed_h_star"]).all() and np.isfinite(eight["predicted_h_star"]).all()
    assert (eight["h_star_ratio"].notna() == (eight["model_note"] == "ok")).all()
    # h* grows with the unit round-off: u^(1/2) for forward, u^(1/3) for central (model and data alike)
    table = format_table(curves)
    for scheme, power in (("forward", 1 / 2), ("central", 1 / 3)):
        t = table[(table["scheme"] == scheme) & table["dtype"].isin(["float64", "float32", "float16"])]
        slope = np.polyfit(np.log(t["unit_roundoff"]), np.log(t["predicted_h_star"]), 1)[0]
        assert slope == pytest.approx(power, rel=0.02)
        observed = np.polyfit(np.log(t["unit_roundoff"]), np.log(t["observed_h_star"]), 1)[0]
        assert observed == pytest.approx(power, rel=0.15)


def _row(dtype, point="1.0", observed_h=1e-8, predicted_h=1.2e-8, min_error=1e-8, c_next=1 / 6, **kw):
    model = ErrorModel("stencil", 1, 1, 1, c_trunc=0.5, c_round=1e-16, eps_f=1e-16, status="ok", c_next=c_next,
                       next_power=1)
    return {"function": "f", "point": point, "point_index": 0, "component": 0, "component2": -1,
            "derivative_order": 1, "scheme": "forward", "dtype": dtype, "step_scale": "absolute",
            "optimum_kind": "minimum", "reference": 1.0, "observed_h_star": observed_h,
            "observed_min_error": min_error, "h_scale": 1.0, "predicted_h_star": predicted_h,
            "predicted_min_error": 2e-8, "h_star_ratio": observed_h / predicted_h,
            "min_error_ratio": min_error / 2e-8, **model_fields(model), **kw}


def test_format_notes_say_why_a_curve_has_no_ratio():
    rows = [
        _row("float64"),                                                  # ok
        _row("float16", point="inf", model_status="undefined"),         # the point overflowed the type
        _row("float8_e5m2", c_round=0.05, observed_h=0.3, predicted_h=0.45, min_error=0.3, c_next=5.0),
        _row("float32", min_error=0.0),                                   # exact estimates
        _row("bfloat16", min_error=1e-3),                                 # error below u = 2^-8: rounded f'
        _row("float64", observed_h=1.0),                                  # observed optimum at the grid's end
    ]
    curves = format_curves(pd.DataFrame(rows), grid=(1e-16, 1.0))
    notes = dict(zip(zip(curves["dtype"], curves["observed_min_rel_error"]), curves["model_note"]))
    assert sorted(curves["model_note"]) == sorted(["ok", "point_not_finite", "no_asymptotic_window",
                                                   "exact_estimates", "exact_estimates", "optimum_at_grid_end"])
    assert notes[("float8_e5m2", 0.3)] == "no_asymptotic_window"
    # the float8 row: round-off 0.05/h equals the truncation term 0.5 h at h_cross = 0.316, and the next
    # term 5 h^2 overtakes 0.5 h at h_next = 0.1 < h_cross: no window; recorded, ratio withheld
    w = curves[curves["dtype"] == "float8_e5m2"].iloc[0]
    assert w["h_cross"] == pytest.approx(math.sqrt(0.1)) and w["h_next"] == pytest.approx(0.1)
    assert math.isnan(w["h_star_ratio"]) and w["observed_h_star"] == 0.3
    assert curves.loc[curves["model_note"] == "ok", "h_star_ratio"].tolist() == [pytest.approx(1 / 1.2)]
    assert curves["model_note"].ne("ok").sum() == curves["h_star_ratio"].isna().sum()
    # rows run from the coarsest type to the finest
    assert curves["dtype"].tolist()[0] == "float8_e5m2" and curves["dtype"].tolist()[-1] == "float64"
    table = format_table(curves)
    f64 = table[table["dtype"] == "float64"].iloc[0]
    assert (f64["curves"], f64["with_ratio"], f64["within_band"]) == (2, 1, 1)
    assert f64["notes"] == "optimum_at_grid_end 1"
    assert table["unit_roundoff"].is_monotonic_decreasing


def test_leading_term_window_of_a_complex_step_and_without_next_term():
    cs = ErrorModel("complex_step", 1, 2, 0, c_trunc=1 / 6, c_round=1e-16, eps_f=1e-16, status="ok",
                    c_next=1 / 120, next_power=2)
    h_cross, h_next = leading_term_window(cs)
    assert h_cross == pytest.approx(math.sqrt(6e-16)) and h_next == pytest.approx(math.sqrt(20))
    unknown = ErrorModel("stencil", 1, 2, 1, c_trunc=1.0, c_round=1.0, eps_f=1e-16, status="ok")
    assert math.isnan(leading_term_window(unknown)[1])


def test_format_figure_draws_the_table_and_is_written(tmp_path):
    table = pd.DataFrame({
        "dtype": ["float8_e5m2", "bfloat16", "float64"] * 2, "scheme": ["forward"] * 3 + ["central"] * 3,
        "unit_roundoff": [2.0**-3, 2.0**-8, 2.0**-53] * 2,
        "observed_h_star": [0.3, 0.05, 1e-8, 0.5, 0.1, 4e-6],
        "predicted_h_star": [0.4, 0.07, 1.2e-8, 0.5, np.nan, 5e-6],
        "observed_min_rel_error": [0.3, 0.05, 1e-8, 0.1, 0.01, 1e-11],
        "predicted_min_rel_error": [0.4, 0.07, 2e-8, 0.1, 0.02, 2e-11],
    })
    fig = draw_format_figure(table)
    left, right = fig.axes[:2]
    lines = {line.get_label(): line for line in left.lines}
    assert set(lines) == {"forward observed", "forward predicted", "central observed", "central predicted"}
    np.testing.assert_array_equal(lines["forward observed"].get_xdata(), [2.0**-53, 2.0**-8, 2.0**-3])
    np.testing.assert_array_equal(lines["forward observed"].get_ydata(), [1e-8, 0.05, 0.3])
    np.testing.assert_array_equal(lines["central predicted"].get_ydata(), [5e-6, np.nan, 0.5])
    errors = {line.get_label(): line for line in right.lines}
    np.testing.assert_array_equal(errors["central observed"].get_ydata(), [1e-11, 0.01, 0.1])
    assert [t.get_text() for t in left.texts] == ["float64", "bfloat16", "float8_e5m2"]
    files = write_format_figure(table, tmp_path, formats=["png"], dpi=40)
    assert [f.name for f in files] == ["formats.png"] and files[0].stat().st_size > 1000


def test_format_summary_is_written_only_for_two_or_more_types(tmp_path):
    one = pd.DataFrame([_row("float64")])
    assert write_format_summary(one, tmp_path).empty and not (tmp_path / "formats.csv").exists()
    two = pd.DataFrame([_row("float64"), _row("bfloat16", observed_h=0.05, predicted_h=0.06, min_error=0.05)])
    table = write_format_summary(two, tmp_path, grid=(1e-16, 1.0), title="t")
    assert list(table["dtype"]) == ["bfloat16", "float64"]
    written = pd.read_csv(tmp_path / "formats.csv")
    assert list(written["dtype"]) == ["bfloat16", "float64"] and "model_note" in written.columns
    assert (tmp_path / "formats.md").read_text().startswith("# Number formats: t")


def test_every_selector_runs_in_every_ml_dtypes_format():
    """Regression: the noise-aware selectors refused bfloat16 and float8 points (``dtype.kind`` is 'V' there)."""
    import harness
    from harness.noise_selectors import NOISE_RULES
    from harness.selectors import SELECTOR_RULES
    from harness.table import ROW_STATUSES

    schemes = {r: {"kind": "selector", "rule": r} for r in SELECTOR_RULES}
    schemes |= {r: {"kind": "selector", "rule": r, "noise": "estimate"} for r in NOISE_RULES}
    table = harness.run({"functions": {"e": {"expression": "exp(x)", "points": [1.0]}}, "schemes": schemes,
                         "grid": {"kind": "list", "values": [1e-3]}, "dtypes": ["bfloat16", *FLOAT8],
                         "plot": {"enabled": False}, "reference": {"cache_dir": None}})
    assert len(table) == len(schemes) * 3 and set(table["status"].astype(str)) <= set(ROW_STATUSES)
    assert (table["n_evals"] > 0).all()
    ok = table[table["status"] == "ok"]
    # Every rule finds a usable step somewhere; in bfloat16 (eps = 2^-7) the best first-derivative error is
    # about sqrt(eps) = 0.09 for a forward difference: 0.5 leaves room for a step off by 10x, not for garbage.
    assert set(ok["scheme"]) == set(schemes)
    bf = ok[ok["dtype"] == "bfloat16"]
    assert len(bf) == len(schemes) and (bf["rel_error"] < 0.5).all(), bf[["scheme", "h_used", "rel_error"]]
