"""Reading a sweep: optimal step, observed order and round-off slope per curve.

Everything here works on the tidy table alone, so figures and summaries can
be rebuilt from stored results without recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .table import CELL


@dataclass(frozen=True)
class SlopeFit:
    """A least-squares slope of log10(error) against log10(h).

    Attributes
    ----------
    slope : float
        Fitted slope (NaN when too few points).
    h_min, h_max : float
        Range of h the fit used.
    n : int
        Number of points in the fit.
    intercept : float
        log10(error) at h = 1 on the fitted line.
    """

    slope: float
    h_min: float
    h_max: float
    n: int
    intercept: float = float("nan")

    @classmethod
    def none(cls) -> "SlopeFit":
        nan = float("nan")
        return cls(nan, nan, nan, 0, nan)


def _fit(lh: np.ndarray, le: np.ndarray) -> SlopeFit:
    """Least-squares line through (log h, log error)."""
    xm, ym = lh.mean(), le.mean()
    dx = lh - xm
    slope = float(np.dot(dx, le - ym) / np.dot(dx, dx))
    return SlopeFit(slope, float(10 ** lh.min()), float(10 ** lh.max()), int(lh.size), float(ym - slope * xm))


def maximal_runs(values: list[float], width: float) -> list[tuple[int, int]]:
    """For each start i, the longest run ``values[i..j]`` with max - min <= width, as (i, j).

    Two pointers with monotonic queues of the running max and min: O(n).
    A NaN ends every run through it (its start gets j = i - 1).
    """
    from collections import deque

    n = len(values)
    runs = []
    lo_q: deque[int] = deque()
    hi_q: deque[int] = deque()
    j = -1  # values[i..j] is the current window
    for i in range(n):
        if j < i - 1:
            j = i - 1
        while lo_q and lo_q[0] < i:
            lo_q.popleft()
        while hi_q and hi_q[0] < i:
            hi_q.popleft()
        while j + 1 < n:
            v = values[j + 1]
            if v != v:
                break
            lo = min(v, values[lo_q[0]]) if lo_q else v
            hi = max(v, values[hi_q[0]]) if hi_q else v
            if hi - lo > width:
                break
            j += 1
            while lo_q and values[lo_q[-1]] >= v:
                lo_q.pop()
            lo_q.append(j)
            while hi_q and values[hi_q[-1]] <= v:
                hi_q.pop()
            hi_q.append(j)
        runs.append((i, j))
    return runs


def _valid(h: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(h, dtype=float)
    err = np.asarray(err, dtype=float)
    keep = np.isfinite(err) & (err > 0) & np.isfinite(h) & (h > 0)
    order = np.argsort(h[keep], kind="stable")
    return h[keep][order], err[keep][order]


def truncation_fit(h: np.ndarray, err: np.ndarray, *, tol: float = 0.25, min_points: int = 3,
                   min_slope: float = 0.5) -> SlopeFit:
    """Observed order: slope over the truncation regime, found from the data.

    The regime is not hand-picked. Right of the observed optimum, local
    slopes between neighbouring steps are computed; the longest run of
    consecutive local slopes that stay within ``2 * tol`` of each other and
    whose overall slope is at least ``min_slope`` is the truncation plateau
    (round-off noise near h* and the pre-asymptotic bend at large h break
    such runs; truncation grows like h^p with p >= 1, so a flat run is a
    round-off floor, e.g. the complex step's). The slope is a least-squares
    fit over the points spanned by that run.

    Parameters
    ----------
    h, err : array_like
        Steps and absolute errors of one curve (any order; non-finite or zero
        errors are ignored).
    tol : float
        Half-width of the band local slopes must stay in.
    min_points : int
        Fewest points a fit may use.
    min_slope : float
        Smallest overall slope a candidate run may have.

    Returns
    -------
    SlopeFit

    Examples
    --------
    >>> h = np.logspace(-6, -1, 11)
    >>> round(truncation_fit(h, 3 * h**2).slope, 6)
    2.0
    """
    h, err = _valid(h, err)
    if h.size < min_points:
        return SlopeFit.none()
    lh, le = np.log10(h), np.log10(err)
    start = int(np.argmin(le))
    lh, le = lh[start:], le[start:]
    if lh.size < min_points:
        return SlopeFit.none()
    local = (np.diff(le) / np.diff(lh)).tolist()
    i, j = 0, -1  # inclusive range of local-slope indices
    for a, b in maximal_runs(local, 2 * tol):
        if b - a > j - i and (le[b + 1] - le[a]) / (lh[b + 1] - lh[a]) >= min_slope:
            i, j = a, b
    if j < i or (j - i + 2) < min_points:
        return SlopeFit.none()
    return _fit(lh[i : j + 2], le[i : j + 2])


def roundoff_fit(h: np.ndarray, err: np.ndarray, reference: float, *, min_points: int = 3) -> SlopeFit:
    """Slope of the round-off regime, left of the optimum.

    Uses steps at least a decade below the observed optimum, leaving out the
    floor where the estimate has collapsed (relative error >= 1/2, e.g. when
    ``f(x + h) == f(x)`` and the estimate is 0).
    """
    h, err = _valid(h, err)
    if h.size < min_points:
        return SlopeFit.none()
    h_star = h[int(np.argmin(err))]
    scale = abs(reference) if np.isfinite(reference) and reference != 0 else 1.0
    keep = (h <= h_star / 10) & (err < 0.5 * scale)
    if keep.sum() < min_points:
        return SlopeFit.none()
    return _fit(np.log10(h[keep]), np.log10(err[keep]))


def optimum(h: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """Observed optimal step and the error there (NaNs if no valid error)."""
    h = np.asarray(h, dtype=float)
    err = np.asarray(err, dtype=float)
    ok = np.isfinite(err)
    if not ok.any():
        return float("nan"), float("nan")
    k = np.flatnonzero(ok)[np.argmin(err[ok])]
    return float(h[k]), float(err[k])


def observed_optimum(h: np.ndarray, err: np.ndarray, *, window: float = 0.25) -> tuple[float, float]:
    """Observed optimal step: argmin of the windowed root-mean-square error.

    A single round-off error can be arbitrarily small: the rounding errors of
    the samples may cancel the truncation term, and with exact steps the
    estimate is often the correctly rounded derivative itself (error 0 or
    half an ulp) deep in the round-off regime. The raw argmin
    (:func:`harness.analysis.optimum`) is therefore biased towards small
    steps, often by decades. Here the optimum is taken on the root mean
    square of the errors within ``+-window`` decades of each step, an
    estimate of the expected error there; on a grid coarser than the window
    it is the raw argmin.

    Parameters
    ----------
    h, err : array_like
        Steps and absolute errors of one curve. Non-finite errors and
        non-positive or non-finite steps are ignored.
    window : float
        Half-width of the window in decades (0 gives the raw argmin).

    Returns
    -------
    (float, float)
        The step and the windowed RMS error there; NaNs if nothing is valid.

    Examples
    --------
    >>> h = np.logspace(-12, 0, 121)
    >>> err = 0.5 * h + 1e-16 / h
    >>> err[50] = 0.0                       # a lucky cancellation at h = 1e-7
    >>> optimum(h, err)[0], f"{observed_optimum(h, err)[0]:.2e}"   # the minimum of err is at 1.4e-8
    (1e-07, '1.58e-08')
    """
    h = np.asarray(h, dtype=float).reshape(-1)
    err = np.asarray(err, dtype=float).reshape(-1)
    keep = np.isfinite(h) & (h > 0) & np.isfinite(err)
    if not keep.any():
        return float("nan"), float("nan")
    h, err = h[keep], err[keep]
    lh = np.log10(h)
    near = np.abs(lh[:, None] - lh[None, :]) <= window + 1e-12
    rms = np.sqrt((near * err[None, :] ** 2).sum(axis=1) / near.sum(axis=1))
    k = int(np.argmin(rms))
    return float(h[k]), float(rms[k])


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
        Columns ``CELL`` + point, scheme_kind, accuracy_order, h_star,
        min_abs_error, min_rel_error, observed_order, order_h_min,
        order_h_max, order_points, roundoff_slope, reference,
        reference_digits, reference_status, n_ok, n_rows.
    """
    keys = cell_keys(table)
    if len(table) == 0:
        return pd.DataFrame(columns=keys)
    order, starts, stops = cell_slices(table)
    firsts = order[starts]
    col = {c: table[c].to_numpy()[order] for c in ("h", "h_used", "abs_error", "n_evals", "adaptive")}
    ok_all = (table["status"] == "ok").to_numpy()[order]
    reference = table["reference"].to_numpy()[firsts]
    stats = []
    for k, (a, b) in enumerate(zip(starts, stops)):
        ok = ok_all[a:b]
        adaptive = bool(col["adaptive"][a:b].all())
        # Adaptive schemes have no grid step: their h is the one they chose.
        h = col["h_used" if adaptive else "h"][a:b][ok]
        err = col["abs_error"][a:b][ok]
        ref = float(reference[k])
        h_star, e_star = optimum(h, err)
        h_smooth, e_smooth = observed_optimum(h, err) if not adaptive else (h_star, e_star)
        trunc = truncation_fit(h, err) if not adaptive else SlopeFit.none()
        rnd = roundoff_fit(h, err, ref) if not adaptive else SlopeFit.none()
        evals = col["n_evals"][a:b][ok]
        stats.append((adaptive, float(evals.mean()) if evals.size else float(col["n_evals"][a]), h_star, e_star,
                      h_smooth, e_smooth,
                      e_star / abs(ref) if np.isfinite(ref) and ref != 0 else float("nan"), trunc.slope,
                      trunc.h_min, trunc.h_max, trunc.n, rnd.slope, int(ok.sum()), int(b - a)))
    head = table.iloc[firsts][keys + ["point", "scheme_kind", "accuracy_order", "reference", "reference_digits",
                                      "reference_status"]].reset_index(drop=True)
    names = ["adaptive", "n_evals", "h_star", "min_abs_error", "observed_h_star", "observed_min_error",
             "min_rel_error", "observed_order", "order_h_min",
             "order_h_max", "order_points", "roundoff_slope", "n_ok", "n_rows"]
    body = pd.DataFrame(stats, columns=names)
    out = pd.concat([head, body], axis=1)
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype):
            out[c] = out[c].astype(str)
    out["order_ratio"] = out["observed_order"] / out["accuracy_order"]
    if models is not None and len(models):
        on = [k for k in keys if k in models.columns]
        cols = [c for c in models.columns if c not in out.columns or c in on]
        text = {c: str for c in ("function", "scheme", "dtype", "step_scale", "job") if c in on}
        out = out.merge(models[cols].astype(text), on=on, how="left")
        out["h_star_ratio"] = out["observed_h_star"] / out["predicted_h_star"]
        out["min_error_ratio"] = out["observed_min_error"] / out["predicted_min_error"]
    return out


#: Columns of the readable summary (summary.md), in order.
SUMMARY_MD_COLUMNS = ["function", "point", "component", "scheme", "dtype", "accuracy_order", "observed_order",
                      "h_star", "observed_h_star", "predicted_h_star", "h_star_ratio", "min_abs_error",
                      "predicted_min_error", "n_evals", "reference_digits"]


def summary_markdown(summary: pd.DataFrame, *, title: str = "") -> str:
    """The summary as a Markdown table a person can read (numbers to 3 significant digits)."""
    cols = [c for c in SUMMARY_MD_COLUMNS if c in summary.columns]

    def fmt(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.3g}"
        return str(v)

    lines = [f"# Summary: {title}" if title else "# Summary", "",
             "One row per curve. h_star: argmin of the error on the grid; observed_h_star: argmin of the "
             "error's RMS over +-0.25 decades (robust to lucky round-off); predicted_h_star: the error model; "
             "observed_order: slope fitted over the detected truncation regime.", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in summary[cols].itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def cell_slices(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order that groups each curve, and where each curve starts and stops in it.

    One stable sort, then plain numpy slices per curve: iterating a pandas
    groupby costs about a millisecond per group, which dominates large sweeps.
    Rows keep their table order (ascending h) within a curve.
    """
    codes = table.groupby(cell_keys(table), observed=True, sort=True).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    starts = np.concatenate([[0], bounds]).astype(np.int64)
    stops = np.concatenate([bounds, [len(codes)]]).astype(np.int64)
    return order, starts, stops


def cell_keys(table: pd.DataFrame) -> list[str]:
    """Columns identifying one curve; a collected sweep adds ``job``."""
    return CELL + (["job"] if "job" in table.columns else [])


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
