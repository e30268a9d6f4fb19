"""The summary of a sweep: one row per curve, observed beside predicted.

Built from the per-curve analysis (:mod:`harness.curves`) and the error model
(``model.parquet``); everything here works on stored tables alone, so
summaries can be rebuilt from a run without recomputing anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .markdown import markdown_table
from .curves import analyse_table, cell_keys

__all__ = ["SUMMARY_MD_COLUMNS", "format_value", "gradient_error", "summarize", "summarize_curves", "summary_markdown"]


def summarize(table: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per curve: observed and predicted h*, minimal error, order, round-off slope.

    Parameters
    ----------
    table : DataFrame
        The tidy results table (see :data:`harness.table.COLUMNS`).
    models : DataFrame, optional
        ``model.parquet`` of the run: adds the predicted h* and minimal
        error, the model constants and the observed/predicted ratios.

    Returns
    -------
    DataFrame
        :func:`harness.curves.analyse_table`'s curves joined with the models
        (see :func:`summarize_curves`).
    """
    return summarize_curves(analyse_table(table)[1], models)


def summarize_curves(curves: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary from an analysed curve table (``curves.parquet``) and the models.

    Adds ``order_ratio`` (observed / theoretical order) and, with models,
    ``h_star_ratio`` (observed / predicted h*; NaN where the model has no
    optimum or the estimates near the observed h* are exact) and ``min_error_ratio``.
    """
    out = curves.copy()
    out["order_ratio"] = out["observed_order"] / out["accuracy_order"]
    if models is not None and len(models) and len(out):
        on = [k for k in cell_keys(out) if k in models.columns]
        cols = [c for c in models.columns if c not in out.columns or c in on]
        text = {c: str for c in ("function", "scheme", "dtype", "step_scale", "job") if c in on}
        out = out.astype(text).merge(models[cols].astype(text), on=on, how="left")
        # Estimates that came out exact (windowed error 0: the samples' rounding errors cancelled) have no
        # trade-off optimum to compare with the model.
        exact = out["observed_min_error"] == 0
        out["h_star_ratio"] = _ratio(out["observed_h_star"].mask(exact), out["predicted_h_star"])
        out["min_error_ratio"] = _ratio(out["observed_min_error"], out["predicted_min_error"])
    return out


def _ratio(observed: pd.Series, predicted: pd.Series) -> pd.Series:
    """observed / predicted where the prediction is a finite positive number, else NaN.

    A model without an optimum predicts h* = inf (no truncation: ``exact``)
    or 0; a ratio of 0 or inf against it would enter the summary's medians.
    """
    usable = np.isfinite(predicted) & (predicted > 0)
    return (observed / predicted.where(usable)).astype(float)


#: Columns of the readable summary (summary.md), in order.
SUMMARY_MD_COLUMNS = ["function", "point", "component", "scheme", "dtype", "accuracy_order", "observed_order",
                      "h_star", "observed_h_star", "predicted_h_star", "h_star_ratio", "min_abs_error",
                      "predicted_min_error", "n_evals", "reference_digits", "reference_method"]
#: Above this many curves summary.md shows one row per function, scheme, number type and order (medians).
SUMMARY_MD_MAX_ROWS = 200
_AGGREGATE_KEYS = ["function", "scheme", "dtype", "derivative_order", "step_scale"]
_AGGREGATED = ["accuracy_order", "observed_order", "observed_h_star", "predicted_h_star", "h_star_ratio",
               "min_abs_error", "predicted_min_error", "n_evals", "reference_digits"]


def format_value(v: object) -> str:
    """A table cell as text: floats to 3 significant digits ('' when not finite), anything else as ``str``."""
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3g}"
    return str(v)


def summary_markdown(summary: pd.DataFrame, *, title: str = "", max_rows: int = SUMMARY_MD_MAX_ROWS) -> str:
    """The summary as a Markdown table a person can read (numbers to 3 significant digits).

    Up to ``max_rows`` curves it lists every curve; beyond, one row per
    function, scheme, number type, derivative order and step scale with the
    medians over its curves (points, components) and their count. The full
    per-curve table is always in ``summary.parquet`` / ``summary.csv``.
    """
    intro = ("h_star: argmin of the error on the grid (for curves without an optimum, e.g. the complex step, the "
             "step below which the error stays within 2x of its floor); observed_h_star: argmin of the error's RMS "
             "over +-0.25 decades (robust to lucky round-off); predicted_h_star: the error model; observed_order: "
             "slope fitted over the detected truncation regime; reference_method: arb (certified), mpmath_checked, "
             "analytic (a user's derivative) or estimate (Ridders' extrapolation of a user's function: errors below "
             "its digits are not resolved).")
    if len(summary) <= max_rows:
        cols = [c for c in SUMMARY_MD_COLUMNS if c in summary.columns]
        table = summary[cols]
        lead = f"One row per curve. {intro}"
    else:
        keys = [k for k in _AGGREGATE_KEYS if k in summary.columns]
        values = [c for c in _AGGREGATED if c in summary.columns]
        grouped = summary.groupby(keys, sort=False, observed=True)
        table = grouped[values].median(numeric_only=True).reset_index()
        table.insert(len(keys), "curves", grouped.size().to_numpy())
        if "reference_method" in summary.columns:  # estimates never pass for certified references unseen
            table["reference_method"] = grouped["reference_method"].agg(
                lambda m: ", ".join(sorted(set(map(str, m))))).to_numpy()
        lead = (f"{len(summary)} curves, shown as medians per {', '.join(keys)} (the full per-curve table is in "
                f"summary.csv and summary.parquet). {intro}")
    cols = list(table.columns)
    lines = [f"# Summary: {title}" if title else "# Summary", "", lead, "",
             *markdown_table(cols, table.itertuples(index=False), format_value)]
    return "\n".join(lines) + "\n"


def gradient_error(table: pd.DataFrame) -> pd.DataFrame:
    """Euclidean norm of the gradient error per (function, point, scheme, dtype, h).

    This is the lecture's error measure for n-D functions: ``||g_h - g||_2``.
    Rows with any unreliable component are NaN.
    """
    keys = ["function", "point_index", "derivative_order", "scheme", "dtype", "step_scale", "h"]
    table = table[table["component2"] < 0]
    sq = table.assign(_sq=table["abs_error"] ** 2)
    out = sq.groupby(keys, observed=True, sort=True)["_sq"].agg(lambda s: float(np.sqrt(s.sum(min_count=len(s)))))
    return out.rename("error_norm").reset_index()
