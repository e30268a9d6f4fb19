"""Observed against predicted optimum per number type: the tables of the ``formats`` experiment.

Built from a run's summary (:func:`harness.analysis.summarize_curves`, one
row per curve with the model joined) and nothing else. :func:`format_curves`
keeps every modelled curve of every number type, float8 included, and says
per curve whether its observed/predicted h* ratio means anything
(``model_note``); :func:`format_table` condenses them per number type and
scheme (medians over functions and points); :func:`write_format_summary`
writes ``formats.csv`` (per curve), ``formats.md`` (the condensed table) and
the figure across types (:mod:`harness.format_figure`) for any run or
collected multirun with at least two number types.

The notes, in the order they are checked:

``point_not_finite``
    The point overflows the type (log at 1e20 in float16 is inf; float8_e4m3fn
    has no inf, so it is NaN): no curve and no model.
``model_<status>``
    The error model has no finite optimum (:data:`harness.model.MODEL_STATUSES`).
``no_error``
    No usable error on the curve (every step underflowed or overflowed).
``no_asymptotic_window``
    The model's h* balances the leading truncation term ``C_t h^p`` against
    round-off, so it describes the curve only if somewhere that term is
    the largest of the three: above ``h_cross`` (where round-off
    ``C_r h^-m`` falls below it) and below ``h_next`` (where the next
    truncation term ``C_next h^(p+r)`` overtakes it). With ``h_cross >=
    h_next`` (float8: u = 2^-4 or 2^-3 puts h_cross near 0.3 to 1) there is no
    such window: the curve is recorded, its ratio is not reported.
``exact_estimates``
    The best estimate of a curve with an optimum is the derivative rounded
    to the type (relative error at most u), or any estimate is exact (error
    0): the rounding errors of the samples cancelled
    (e.g. log at a power of two, where whole decades of steps give the exact
    quotient). No step can do better, so its h is not the optimum of a
    trade-off: nothing to compare with the model.
``optimum_at_grid_end``
    The observed optimum is the smallest or largest step of the grid: the
    error may fall further beyond it.
``ok``
    The ratio is reported.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .markdown import markdown_table
from .model import unit_roundoff
from .number_types import types_by_precision
from .settings import DTYPES
from .store import atomic_path

__all__ = ["FORMAT_FILE", "FORMAT_MD", "RATIO_BAND", "format_curves", "format_markdown", "format_table",
           "grid_bounds", "leading_term_window", "write_format_summary"]

FORMAT_FILE = "formats.csv"
FORMAT_MD = "formats.md"
#: Observed/predicted h* ratios within [1/RATIO_BAND, RATIO_BAND] count as agreement.
RATIO_BAND = 3.0
_CURVE_COLUMNS = ["function", "point", "point_index", "component", "scheme", "dtype", "unit_roundoff", "step_scale",
                  "observed_h_star", "predicted_h_star", "h_star_ratio", "observed_min_rel_error",
                  "predicted_min_rel_error", "min_error_ratio", "h_cross", "h_next", "model_note"]


def leading_term_window(model: object) -> tuple[float, float]:
    """Steps where the model's leading truncation term is its largest term: ``(h_cross, h_next)``.

    ``h_cross = (C_r / C_t)^(1/(p+q))`` is where the truncation term
    ``C_t h^p`` overtakes round-off ``C_r h^-q`` (for the complex step, q = 0,
    its floor); ``h_next = (C_t / C_next)^(1/r)`` is where the next
    truncation term ``C_next h^(p+r)`` overtakes it. The window exists when
    ``h_cross < h_next``.

    Parameters
    ----------
    model : ErrorModel

    Returns
    -------
    (float, float)
        NaN where the model cannot say (no truncation term, unknown next term);
        ``h_next`` is inf when the next term vanishes.

    Examples
    --------
    >>> from harness.model import ErrorModel
    >>> m = ErrorModel("stencil", 1, 1, 1, c_trunc=0.5, c_round=0.02, eps_f=0.01, status="ok",
    ...                c_next=1 / 6, next_power=1)
    >>> tuple(round(v, 6) for v in leading_term_window(m))    # forward difference of exp at 0 in a coarse type
    (0.2, 3.0)
    """
    h_cross, h_next = _window(model.accuracy, model.roundoff_power, model.next_power, model.c_trunc,
                              model.c_round, model.c_next)
    return float(h_cross), float(h_next)


def _window(p, q, r, c_t, c_r, c_n):
    """:func:`leading_term_window` on numbers or arrays of them."""
    p, q, r, c_t, c_r, c_n = (np.asarray(v, dtype=float) for v in (p, q, r, c_t, c_r, c_n))
    with np.errstate(all="ignore"):
        valid = np.isfinite(c_t) & (c_t > 0) & np.isfinite(c_r) & (c_r >= 0)
        h_cross = np.where(valid, (c_r / c_t) ** (1.0 / (p + q)), np.nan)
        known = valid & (r >= 1) & np.isfinite(c_n)
        h_next = np.where(known, np.where(c_n == 0, np.inf, (c_t / c_n) ** (1.0 / np.maximum(r, 1))), np.nan)
    return h_cross, h_next


def _point_finite(label: str) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in str(label).strip("()").split(","))
    except ValueError:
        return False


def _notes(rows: pd.DataFrame, h_min: float, h_max: float) -> np.ndarray:
    """The ``model_note`` of every row (see the module docstring), the first that applies."""
    finite_point = rows["point"].astype(str).map({p: _point_finite(p) for p in rows["point"].astype(str).unique()})
    status = rows["model_status"].astype(str).to_numpy()
    observed_h = rows["observed_h_star"].to_numpy(dtype=float)
    min_error = rows["observed_min_error"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        no_window = rows["h_cross"].to_numpy(dtype=float) >= rows["h_next"].to_numpy(dtype=float)  # NaN: False
        # A threshold curve (the complex step) is meant to reach the type's resolution; an optimum is not.
        resolved = ((rows["optimum_kind"].astype(str) == "minimum").to_numpy()
                    & (rows["observed_min_rel_error"].to_numpy(dtype=float) <= rows["unit_roundoff"].to_numpy()))
        at_end = (observed_h <= h_min * (1 + 1e-9)) | (observed_h >= h_max * (1 - 1e-9))
    conditions = [~finite_point.to_numpy(dtype=bool), status != "ok",
                  ~(np.isfinite(observed_h) & np.isfinite(min_error)), no_window, (min_error == 0) | resolved,
                  at_end]
    choices = ["point_not_finite", np.char.add("model_", status.astype(str)), "no_error", "no_asymptotic_window",
               "exact_estimates", "optimum_at_grid_end"]
    return np.select(conditions, choices, default="ok").astype(object)


def format_curves(summary: pd.DataFrame, grid: tuple[float, float] | None = None) -> pd.DataFrame:
    """Every modelled curve of the summary with its number type, ratios and ``model_note``.

    Parameters
    ----------
    summary : DataFrame
        A run's summary (curves joined with models, :func:`harness.analysis.summarize_curves`).
    grid : (float, float), optional
        Smallest and largest nominal step of the sweep (for ``optimum_at_grid_end``);
        by default the extremes of the observed optima.

    Returns
    -------
    DataFrame
        One row per curve with a model (stencils and the complex step), in
        the order of :data:`_CURVE_COLUMNS` plus ``job`` for collected
        multiruns; ``h_star_ratio`` and ``min_error_ratio`` are NaN unless
        ``model_note`` is ``ok``. Minimal errors are relative to ``|f'|``.
    """
    if "model_kind" not in summary.columns or summary.empty:
        return pd.DataFrame(columns=_CURVE_COLUMNS)
    rows = summary[summary["model_kind"].notna() & summary["dtype"].astype(str).isin(DTYPES)].copy()
    if rows.empty:
        return pd.DataFrame(columns=_CURVE_COLUMNS)
    constants = ("accuracy_order", "roundoff_power", "next_power", "c_trunc", "c_round", "c_next")
    h_cross, h_next = _window(*(rows[c].to_numpy(dtype=float) for c in constants))
    h_scale = rows["h_scale"].to_numpy(dtype=float) if "h_scale" in rows.columns else 1.0
    rows["h_cross"], rows["h_next"] = h_cross / h_scale, h_next / h_scale
    if grid is None:
        grid = (float(rows["observed_h_star"].min()), float(rows["observed_h_star"].max()))
    names = rows["dtype"].astype(str)
    rows["unit_roundoff"] = names.map({d: unit_roundoff(DTYPES[d]) for d in names.unique()}).to_numpy()
    ref = np.abs(rows["reference"].to_numpy(dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["observed_min_rel_error"] = rows["observed_min_error"].to_numpy(dtype=float) / ref
        rows["predicted_min_rel_error"] = rows["predicted_min_error"].to_numpy(dtype=float) / ref
    rows["model_note"] = _notes(rows, *grid)
    ok = rows["model_note"] == "ok"
    rows.loc[~ok, ["h_star_ratio", "min_error_ratio"]] = np.nan
    cols = _CURVE_COLUMNS + (["job"] if "job" in rows.columns else [])
    out = rows[cols].astype({c: str for c in ("function", "point", "scheme", "dtype", "step_scale")})
    order = {d: i for i, d in enumerate(types_by_precision(out["dtype"].unique()))}
    return out.sort_values(["function", "point_index", "component", "scheme"], kind="stable").sort_values(
        "dtype", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _median(values: pd.Series) -> float:
    v = values.to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def format_table(curves: pd.DataFrame, by: Sequence[str] = ("dtype", "scheme")) -> pd.DataFrame:
    """Medians per number type and scheme (or any ``by``) over the curves of :func:`format_curves`.

    Columns: ``unit_roundoff``, ``curves``, ``with_ratio`` (curves whose note
    is ok), ``within_band`` (of those, ratios within ``[1/3, 3]``),
    ``median_h_star_ratio`` with ``min_h_star_ratio`` / ``max_h_star_ratio``
    (over ``with_ratio``), ``observed_h_star`` and ``predicted_h_star``
    (medians over every curve that has one, float8 included),
    ``observed_min_rel_error``, ``predicted_min_rel_error`` and ``notes``
    (how many curves carry each note other than ok). Rows run from the
    coarsest number type to the finest.
    """
    by = list(by)
    out = []
    for key, g in curves.groupby(by, sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        ratios = g.loc[g["model_note"] == "ok", "h_star_ratio"].to_numpy(dtype=float)
        ratios = ratios[np.isfinite(ratios)]
        others = g.loc[g["model_note"] != "ok", "model_note"].value_counts()
        out.append({
            **dict(zip(by, key)), "unit_roundoff": float(g["unit_roundoff"].iloc[0]), "curves": len(g),
            "with_ratio": int(ratios.size),
            "within_band": int(np.sum((ratios >= 1 / RATIO_BAND) & (ratios <= RATIO_BAND))),
            "median_h_star_ratio": float(np.median(ratios)) if ratios.size else math.nan,
            "min_h_star_ratio": float(ratios.min()) if ratios.size else math.nan,
            "max_h_star_ratio": float(ratios.max()) if ratios.size else math.nan,
            "observed_h_star": _median(g["observed_h_star"]), "predicted_h_star": _median(g["predicted_h_star"]),
            "observed_min_rel_error": _median(g["observed_min_rel_error"]),
            "predicted_min_rel_error": _median(g["predicted_min_rel_error"]),
            "notes": ", ".join(f"{n} {c}" for n, c in others.items()),
        })
    table = pd.DataFrame(out)
    if table.empty:
        return table
    return table.sort_values("unit_roundoff", ascending=False, kind="stable").reset_index(drop=True)


def format_markdown(table: pd.DataFrame, *, title: str = "") -> str:
    """The condensed table as Markdown (numbers to 3 significant digits)."""
    def fmt(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.3g}"
        return str(v)

    cols = list(table.columns)
    lines = [f"# Number formats: {title}" if title else "# Number formats", "",
             "Per number type and scheme, medians over functions and points. h* ratio = observed / predicted, over "
             "the curves whose model_note is ok (`with_ratio`; `within_band`: ratio in [1/3, 3]); observed and "
             "predicted h* and minimal relative errors over every curve that has them. `notes` counts the curves "
             "without a ratio and why (harness.format_summary).", "",
             *markdown_table(cols, table.itertuples(index=False), fmt)]
    return "\n".join(lines) + "\n"


def write_format_summary(summary: pd.DataFrame, out: Path, *, grid: tuple[float, float] | None = None,
                         title: str = "") -> pd.DataFrame:
    """Write ``formats.csv`` and ``formats.md`` when the summary spans two or more number types.

    Returns
    -------
    DataFrame
        The condensed table (:func:`format_table`) that was written, for the
        figure (:func:`harness.format_figure.write_format_figure`); empty when
        nothing was written (one number type, or no model).
    """
    if "dtype" not in summary.columns or summary["dtype"].nunique() < 2:
        return pd.DataFrame()
    curves = format_curves(summary, grid)
    if curves.empty or curves["dtype"].nunique() < 2:
        return pd.DataFrame()
    table = format_table(curves)
    with atomic_path(out / FORMAT_FILE) as tmp:
        curves.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out / FORMAT_MD) as tmp:
        tmp.write_text(format_markdown(table, title=title))
    return table


def grid_bounds(table: pd.DataFrame) -> tuple[float, float] | None:
    """Smallest and largest nominal step of a results table (adaptive rows have none)."""
    h = table["h"].to_numpy(dtype=float) if "h" in table.columns else np.array([])
    h = h[np.isfinite(h) & (h > 0)]
    return (float(h.min()), float(h.max())) if h.size else None
