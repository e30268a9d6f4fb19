"""Fits on one error curve: observed optimum, truncation order, round-off slope, floor threshold.

Pure functions of the steps and errors of a single curve; the per-curve
analysis that calls them once per curve is :mod:`harness.curves`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SlopeFit", "fit_order", "floor_threshold", "maximal_runs", "observed_optimum", "optimum",
           "roundoff_fit", "truncation_fit", "windowed_rms"]


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


def roundoff_fit(h: np.ndarray, err: np.ndarray, reference: float, *, min_points: int = 3,
                 noisy: bool = False) -> SlopeFit:
    """Slope of the round-off regime, left of the optimum.

    Uses steps at least a decade below the observed optimum, leaving out the
    floor where the estimate has collapsed (relative error >= 1/2, e.g. when
    ``f(x + h) == f(x)`` and the estimate is 0). With ``noisy`` (declared
    noise) large relative errors are the round-off regime itself, so only
    the decade rule applies.
    """
    h, err = _valid(h, err)
    if h.size < min_points:
        return SlopeFit.none()
    h_star = h[int(np.argmin(err))]
    scale = abs(reference) if np.isfinite(reference) and reference != 0 else 1.0
    keep = (h <= h_star / 10) & (noisy | (err < 0.5 * scale))
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
    (:func:`optimum`) is therefore biased towards small
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
    h, rms = windowed_rms(h, err, window=window)
    if not h.size:
        return float("nan"), float("nan")
    k = int(np.argmin(rms))
    return float(h[k]), float(rms[k])


def windowed_rms(h: npt.ArrayLike, err: npt.ArrayLike, *, window: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Root mean square of the errors within ``+-window`` decades of each step.

    Non-finite errors and non-positive or non-finite steps are dropped;
    returns the kept steps (in input order) and their windowed RMS errors.
    """
    h = np.asarray(h, dtype=float).reshape(-1)
    err = np.asarray(err, dtype=float).reshape(-1)
    keep = np.isfinite(h) & (h > 0) & np.isfinite(err)
    h, err = h[keep], err[keep]
    lh = np.log10(h)
    near = np.abs(lh[:, None] - lh[None, :]) <= window + 1e-12
    return h, _rms(np.where(near, err[None, :], 0.0), near.sum(axis=1))


def _rms(values: np.ndarray, counts: np.ndarray | int) -> np.ndarray:
    """``sqrt(sum(values**2, axis=-1) / counts)`` without overflow: errors above 1e154 square to inf.

    Examples
    --------
    >>> round(float(_rms(np.array([3e200, 4e200]), 2) / 1e200), 12) == round(12.5 ** 0.5, 12)
    True
    """
    scale = np.max(np.abs(values), axis=-1, initial=0.0)  # per row: a small row must not underflow
    scale = np.where((scale > 0) & (scale < np.inf), scale, 1.0)
    return scale * np.sqrt(((values / scale[..., None]) ** 2).sum(axis=-1) / np.maximum(counts, 1))


def floor_threshold(h: npt.ArrayLike, err: npt.ArrayLike, floor_mask: npt.ArrayLike, *,
                    window: float = 0.25, factor: float = 2.0) -> tuple[float, float]:
    """For a curve without an optimum (an error floor, as the complex step has): where the floor ends.

    The floor level F is the root mean square of the errors at the steps in
    ``floor_mask`` (the steps labelled round-off): the typical error there,
    as :func:`observed_optimum` takes the typical error near each step. The
    threshold is the largest step whose windowed RMS error
    (:func:`windowed_rms`) is still within ``factor`` times F. Right of it
    the truncation term rises above the floor and does not come back.

    Returns
    -------
    (float, float)
        The threshold step and F; NaNs if no step is on the floor.

    Examples
    --------
    >>> h = np.logspace(-12, 0, 49)
    >>> err = 1e-16 + h**2 / 6                  # floor 1e-16, truncation h^2/6
    >>> t, floor = floor_threshold(h, err, h < 1e-9)
    >>> bool(1e-8 < t < 1e-7), f"{floor:.2e}"   # h^2/6 = 1e-16 at h = 2.4e-8
    (True, '1.00e-16')
    """
    h = np.asarray(h, dtype=float).reshape(-1)
    err = np.asarray(err, dtype=float).reshape(-1)
    mask = np.asarray(floor_mask, dtype=bool).reshape(-1)
    keep = np.isfinite(h) & (h > 0) & np.isfinite(err)
    hk, rms = windowed_rms(h, err, window=window)
    on_floor = mask[keep]
    if not on_floor.any():
        return float("nan"), float("nan")
    level = float(_rms(err[keep][on_floor], int(on_floor.sum())))
    inside = rms <= factor * level
    if not inside.any():  # no windowed error down at the floor's level: no threshold
        return float("nan"), level
    return float(hk[inside].max()), level


def fit_order(
    h: npt.ArrayLike,
    err: npt.ArrayLike,
    labels: npt.ArrayLike | None = None,
    *,
    tol: float = 0.25,
    min_points: int = 3,
    min_slope: float = 0.5,
) -> SlopeFit:
    """Observed order over the truncation regime: :func:`truncation_fit`.

    Optionally restricted to the steps :func:`harness.curves.label_regimes` labels
    ``'truncation'``.

    Parameters
    ----------
    h, err : array_like
        Steps and absolute errors of one curve.
    labels : array_like of str, optional
        From :func:`harness.curves.label_regimes`: restrict the search to the steps
        labelled ``'truncation'``.
    tol : float
        Half-width of the band the local slopes of a run stay in.
    min_points : int
        Fewest points a fit may use.
    min_slope : float
        Smallest overall slope a run may have.

    Returns
    -------
    SlopeFit
        NaN slope when no run qualifies.

    Examples
    --------
    >>> h = np.logspace(-12, 0, 25)
    >>> err = np.maximum(h**2, 1e-16)        # a floor below h = 1e-8
    >>> round(fit_order(h, err).slope, 6)
    2.0
    """
    h, err = np.asarray(h, dtype=float).reshape(-1), np.asarray(err, dtype=float).reshape(-1)
    if labels is not None:
        chosen = np.asarray(labels).reshape(-1) == "truncation"
        h, err = h[chosen], err[chosen]
    return truncation_fit(h, err, tol=tol, min_points=min_points, min_slope=min_slope)
