"""One analysis per curve: optimum, fits and regimes, computed once and read by everything else.

A *curve* is the error of one scheme against h at one point, component,
derivative order, number type and step scale (the columns :data:`CELL`).
:func:`analyse_table` walks every curve of a tidy table once and returns

* the ``regime`` label of every row (:func:`label_regimes`), and
* one row per curve (:data:`CURVE_COLUMNS`): the observed optimum both ways
  (raw argmin and windowed RMS), the truncation fit (observed order and its
  line), the round-off fit, and for curves without an optimum (a floor, as
  the complex step has) the step where the floor ends.

The run stores that table (``curves.parquet``); the summary joins it with the
predicted model and the figures draw from it: nothing refits a curve. A sweep
analyses each block as soon as it is computed (a curve never spans blocks),
so the analysis needs no second, sorted copy of a large table.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from .fits import SlopeFit, floor_threshold, observed_optimum, optimum, roundoff_fit, truncation_fit
from .table import CELL

__all__ = ["CURVE_COLUMNS", "REGIMES", "analyse_table", "cell_keys", "cell_slices", "label_regimes"]

REGIMES = ("truncation", "round-off", "transition", "floor", "invalid")
"""Labels :func:`label_regimes` assigns (adaptive rows are labelled ``'adaptive'``)."""

#: Per-curve columns after the identifying ones, in order.
CURVE_COLUMNS = ["point", "scheme_kind", "accuracy_order", "reference", "reference_digits", "reference_status",
                 "reference_method",
                 "adaptive", "n_evals", "optimum_kind", "h_star", "min_abs_error", "observed_h_star",
                 "observed_min_error", "min_rel_error", "observed_order", "order_h_min", "order_h_max",
                 "order_points", "order_intercept", "roundoff_slope", "roundoff_h_min", "roundoff_h_max",
                 "roundoff_intercept", "n_ok", "n_rows"]
OPTIMUM_KINDS = ("minimum", "threshold", "chosen")
"""What ``h_star`` means for a curve: the error's minimum on the grid; the step below
which the error stays within 2x of its floor (no optimum, e.g. the complex step);
the step an adaptive method chose."""


def cell_keys(table: pd.DataFrame) -> list[str]:
    """Columns identifying one curve; a collected sweep adds ``job``."""
    return CELL + (["job"] if "job" in table.columns else [])


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


def _within(rho: float, factor: float) -> bool:
    return 1 / factor <= rho <= factor


def _walk_left(rho: np.ndarray, start: int, factor: float) -> int:
    """Smallest index i <= start such that rho[i:start] all lie within [1/factor, factor]."""
    i = start
    while i > 0 and _within(rho[i - 1], factor):
        i -= 1
    return i


def _truncation_start(rho: np.ndarray, start: int, follow: float) -> int:
    """Left end of the truncation regime, from the plateau's left end ``start``.

    Extends left while the error follows the law within ``follow``; if the
    plateau's own leftmost steps do not (its slope band tolerates some
    round-off), moves right past them instead.
    """
    i = start
    while i < rho.size - 1 and not _within(rho[i], follow):
        i += 1
    return _walk_left(rho, i, follow)


def label_regimes(
    h: npt.ArrayLike,
    err: npt.ArrayLike,
    status: npt.ArrayLike,
    estimate: npt.ArrayLike,
    reference: npt.ArrayLike,
    *,
    follow: float = 1.5,
    transition: float = 3.0,
    fit: SlopeFit | None = None,
    noisy: bool = False,
) -> np.ndarray:
    """Tag every step of one error curve with the regime it is in.

    The labels come from the data alone (no model, no hand-picked h):

    1. ``'invalid'``: ``status != 'ok'`` or a non-finite error or step (e.g.
       the ``step_underflow`` row where ``h_used == 0`` and no estimate
       exists; it is not a collapsed estimate, there is none).
    2. The *truncation law* ``T(h) = a h^q`` is the least-squares line over
       the truncation plateau found by :func:`~harness.fits.truncation_fit` (``q >= 0.5``).
    3. ``'truncation'``: starting at the plateau's left end and walking
       towards smaller h, the steps while the error stays within a factor
       ``follow`` of ``T(h)`` (round-off at most about half the truncation
       term), and every step right of them. (If the plateau's own leftmost
       steps are off by more than ``follow`` -- its slope band tolerates
       some round-off -- they are left out instead.)
    4. ``'transition'``: continuing the walk, the steps whose error is within
       a factor ``transition`` of ``T(h)`` but no longer within ``follow``:
       round-off and truncation are of similar size, neither dominates.
    5. ``'round-off'``: every valid step left of that, where the error has
       left the truncation law by more than a factor ``transition``, upwards
       (round-off dominates) or downwards (round-off cancelled the
       truncation term, which takes a round-off error at least as large; an
       error of exactly 0 lands here). For the complex step this is its flat
       floor of a few ulps.
    6. ``'floor'``: round-off steps where the estimate has collapsed:
       ``estimate == 0`` with a non-zero reference (``f(x + o h) == f(x)`` in
       floating point) or, for a curve without declared noise, a relative
       error >= 1/2 (there the estimate is a few ulps over h). There the
       error no longer depends on h. A noisy f's round-off regime keeps
       its relative errors far above 1/2 and its slope of ``-m``: with
       ``noisy`` only ``estimate == 0`` is a floor.

    Without a truncation law (no plateau of at least 3 points with slope
    >= 0.5, e.g. a stencil exact for f) every valid step is ``'round-off'``
    or ``'floor'``.

    Parameters
    ----------
    h, err, status, estimate, reference : array_like
        Columns ``h``, ``abs_error``, ``status``, ``estimate`` and
        ``reference`` of the tidy rows of *one* curve, in any order.
    follow : float
        Factor within which an error still follows the truncation law.
    transition : float
        Factor beyond which round-off dominates (> ``follow``).
    fit : SlopeFit, optional
        The curve's truncation fit (:func:`~harness.fits.truncation_fit` of
        its ok rows), when the caller already has it; computed otherwise.
    noisy : bool
        The function carries declared noise (see step 6).

    Returns
    -------
    ndarray of str
        One label from :data:`REGIMES` per input row, in input order.

    Examples
    --------
    >>> h = np.logspace(-12, 0, 13)
    >>> err = 0.5 * h + 1e-16 / h
    >>> labels = label_regimes(h, err, ["ok"] * 13, 1 + err, np.ones(13))
    >>> labels[[3, 4, 5, 12]].tolist()
    ['round-off', 'transition', 'truncation', 'truncation']
    """
    h, err, estimate, reference = (np.asarray(a, dtype=float).reshape(-1) for a in (h, err, estimate, reference))
    status = np.asarray(status, dtype=object).reshape(-1).astype(str)
    if not h.size == err.size == status.size == estimate.size == reference.size:
        raise ValueError("h, err, status, estimate and reference must have the same length")
    if not 1 <= follow < transition:
        raise ValueError(f"need 1 <= follow < transition, got follow={follow}, transition={transition}")
    labels = np.full(h.size, "invalid", dtype="<U10")
    valid = (status == "ok") & np.isfinite(err) & (err >= 0) & np.isfinite(h) & (h > 0)
    idx = np.flatnonzero(valid)
    idx = idx[np.argsort(h[idx], kind="stable")]
    hv, ev = h[idx], err[idx]
    cut_t = cut_r = hv.size  # [cut_t:] truncation, [cut_r:cut_t] transition, [:cut_r] round-off
    if fit is None:
        fit = truncation_fit(hv, ev)
    if math.isfinite(fit.slope):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rho = ev / (10.0**fit.intercept * hv**fit.slope)
        start = int(np.searchsorted(hv, fit.h_min * (1 - 1e-12)))
        cut_t = _truncation_start(rho, start, follow)
        cut_r = _walk_left(rho, cut_t, transition)
    sub = np.full(hv.size, "round-off", dtype="<U10")
    sub[cut_r:cut_t] = "transition"
    sub[cut_t:] = "truncation"
    ref, est = reference[idx], estimate[idx]
    with np.errstate(invalid="ignore"):
        collapsed = np.isfinite(ref) & (((est == 0) & (ref != 0)) | ((not noisy) & (ev >= 0.5 * np.abs(ref))))
    sub[(sub == "round-off") & collapsed] = "floor"
    labels[idx] = sub
    return labels



def analyse_curve(h: np.ndarray, h_used: np.ndarray, err: np.ndarray, status: np.ndarray, estimate: np.ndarray,
                  reference: np.ndarray, *, adaptive: bool, has_optimum: bool = True, noisy: bool = False
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """Regime labels and the per-curve figures of one curve (rows in ascending h).

    Returns
    -------
    (ndarray of str, dict)
        A label per row, and the curve's entries of :data:`CURVE_COLUMNS`
        from ``optimum_kind`` to ``roundoff_intercept``.
    """
    ok = status == "ok"
    ref = float(reference[0]) if reference.size else math.nan
    if adaptive:
        # Adaptive schemes have no grid step: their h is the one they chose.
        h_star, e_star = optimum(h_used[ok], err[ok])
        labels = np.full(h.size, "adaptive", dtype=object)
        trunc = rnd = SlopeFit.none()
        kind, h_obs, e_obs = "chosen", h_star, e_star
    else:
        hh, ee = h[ok], err[ok]
        trunc = truncation_fit(hh, ee)
        labels = label_regimes(h, err, status, estimate, reference, fit=trunc, noisy=noisy).astype(object)
        rnd = roundoff_fit(hh, ee, ref, noisy=noisy)
        h_star, e_star = optimum(hh, ee)
        if has_optimum:
            kind, (h_obs, e_obs) = "minimum", observed_optimum(hh, ee)
        else:
            kind = "threshold"
            h_obs, e_obs = floor_threshold(hh, ee, labels[ok] == "round-off")
            h_star = h_obs
    return labels, {
        "optimum_kind": kind, "h_star": h_star, "min_abs_error": e_star, "observed_h_star": h_obs,
        "observed_min_error": e_obs,
        "min_rel_error": e_star / abs(ref) if np.isfinite(ref) and ref != 0 else math.nan,
        "observed_order": trunc.slope, "order_h_min": trunc.h_min, "order_h_max": trunc.h_max,
        "order_points": trunc.n, "order_intercept": trunc.intercept, "roundoff_slope": rnd.slope,
        "roundoff_h_min": rnd.h_min, "roundoff_h_max": rnd.h_max, "roundoff_intercept": rnd.intercept,
    }


def _registry_has_optimum(kind: str) -> bool:
    from .schemes import SCHEME_KINDS  # the registry answers; no kind is special-cased here

    cls = SCHEME_KINDS.get(kind)
    return True if cls is None else cls.has_optimum


def analyse_table(table: pd.DataFrame, has_optimum: Callable[[str], bool] | None = None
                  ) -> tuple[pd.Categorical, pd.DataFrame]:
    """Analyse every curve of a tidy table once.

    Parameters
    ----------
    table : DataFrame
        Tidy rows (:data:`harness.table.COLUMNS`), possibly with ``job``.
    has_optimum : callable, optional
        ``has_optimum(scheme_kind)``; default: the scheme registry's
        ``has_optimum`` of that kind.

    Returns
    -------
    (Categorical, DataFrame)
        The ``regime`` of every row (aligned with the table), and one row per
        curve: :func:`cell_keys` columns, then :data:`CURVE_COLUMNS`.
    """
    has_optimum = has_optimum or _registry_has_optimum
    keys = cell_keys(table)
    labels = np.empty(len(table), dtype=object)
    if not len(table):
        return pd.Categorical(labels, categories=[*REGIMES, "adaptive"]), pd.DataFrame(columns=keys + CURVE_COLUMNS)
    order, starts, stops = cell_slices(table)
    col = {c: table[c].to_numpy()[order] for c in ("h", "h_used", "abs_error", "estimate", "reference", "adaptive",
                                                    "n_evals")}
    status = table["status"].astype(str).to_numpy()[order]
    kinds = table["scheme_kind"].astype(str).to_numpy()[order]
    noise = (table["noise_level"].to_numpy(dtype=float)[order] if "noise_level" in table.columns
             else np.zeros(len(table)))
    stats = []
    for a, b in zip(starts, stops):
        sl = slice(a, b)
        ok = status[sl] == "ok"
        lab, stat = analyse_curve(col["h"][sl], col["h_used"][sl], col["abs_error"][sl], status[sl],
                                  col["estimate"][sl], col["reference"][sl], adaptive=bool(col["adaptive"][sl].all()),
                                  has_optimum=has_optimum(kinds[a]), noisy=bool(noise[a] > 0))
        labels[order[sl]] = lab
        evals = col["n_evals"][sl][ok]
        stat["adaptive"] = bool(col["adaptive"][sl].all())
        stat["n_evals"] = float(evals.mean()) if evals.size else float(col["n_evals"][a])
        stat["n_ok"], stat["n_rows"] = int(ok.sum()), int(b - a)
        stats.append(stat)
    firsts = order[starts]
    head = table.iloc[firsts][keys + ["point", "scheme_kind", "accuracy_order", "reference", "reference_digits",
                                      "reference_status", "reference_method"]].reset_index(drop=True)
    for c in head.columns:
        if isinstance(head[c].dtype, pd.CategoricalDtype):
            head[c] = head[c].astype(str)
    curves = pd.concat([head, pd.DataFrame(stats)], axis=1)[keys + CURVE_COLUMNS]
    return pd.Categorical(labels, categories=[*REGIMES, "adaptive"]), curves


def order_curves(curves: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Curves in table order: by :func:`cell_keys`, string keys in the order the table's categories list them.

    A sweep analyses block by block (function, number type, step scale,
    chunk); this puts the concatenated curves back in curve order (function,
    point, component, ..., scheme, number type, step scale).
    """
    if not len(curves):
        return curves
    sort_key = {}
    for c in cell_keys(curves):
        if c in table.columns and isinstance(table[c].dtype, pd.CategoricalDtype):
            rank = {str(v): i for i, v in enumerate(table[c].cat.categories)}
            sort_key[c] = curves[c].astype(str).map(rank)
        else:
            sort_key[c] = curves[c]
    order = pd.DataFrame(sort_key).sort_values(list(sort_key), kind="stable").index
    return curves.loc[order].reset_index(drop=True)
