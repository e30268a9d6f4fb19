"""ECnoise: the noise level of f from a difference table (Moré & Wild 2011), for many points at once.

Moré, J. J. & Wild, S. M., "Estimating computational noise", SIAM J. Sci.
Comput. 33(3), 2011, 1292-1314. Written from the paper and checked line by
line against the authors' MATLAB ``ECNoise.m`` (Argonne, November 2009, as
kept in the POptUS/CNoise repository, ``m/ECNoise.m``; its Python port
``py/cnoise/ecnoise.py`` there behaves the same). The algorithm:

1. Sample f at ``m + 1`` equally spaced points ``x + i h p``, ``i = -m/2 ..
   m/2`` (``p`` a unit direction; the authors recommend at least 7 values,
   we use 11 by default, see :data:`ECNOISE_M`).
2. If the values differ in the first digit, ``(max f - min f) > 0.1 max|f|``,
   h is too large (their ``inform = 3``).
3. Difference table: ``Delta^k f_i``, ``k = 1 .. m``. If at least half of
   the first differences are exactly 0, h is too small (``inform = 2``).
4. With ``gamma_k = (k!)^2 / (2k)!`` (recursively ``gamma_k = gamma_{k-1}
   k / (2 (2k - 1))``), the k-th level is ``sigma_k = sqrt(gamma_k
   mean_i (Delta^k f_i)^2)``: for independent noise of standard deviation
   sigma, ``E (Delta^k eps)^2 = sigma^2 (2k)! / (k!)^2``, so sigma_k
   estimates sigma once the smooth part of the k-th difference is negligible.
5. Accept the first k (``1 <= k <= m - 2``) whose levels ``sigma_k,
   sigma_{k+1}, sigma_{k+2}`` agree within a factor 4 and whose k-th
   differences change sign (noise, not a smooth trend); the estimate is
   sigma_k. If no k qualifies, h is too large (``inform = 3``).

When noise is not detected the authors advise trying ``100 h`` (too small)
or ``h / 100`` (too large); :func:`estimate_noise` does so up to
:data:`ECNOISE_ATTEMPTS` times per point, counting every sample.

Everything is vectorised over *lanes* (points, or point x coordinate for the
step selectors): the table is one ``(m + 1, n_lanes)`` array. Differences are
taken in float64 (exact for the differences of float16/32 values) or in
longdouble for longdouble values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

ECNOISE_M = 10
"""m: the table has m + 1 values (the authors recommend at least 7).

One table gives a statistically rough estimate: the accepted sigma_k is the
rms of m + 1 - k correlated differences. On exp, sin, log and 1/(1+x^2) at 20
points each, noise levels 1e-3 .. 1e-12 (relative and absolute, uniform and
normal, float64), the share of estimates within a factor 2 of the true level
was 84-89% with m = 6, 91-95% with m = 8 and 94-96% with m = 10 (h = 1e-4,
five noise seeds); hence 10.
"""
ECNOISE_H = 1e-4
"""Initial spacing, relative to ``max(1, |x|)``.

Small enough that the smooth part of the low-order differences is below the
noise for levels down to about 1e-12 (so sigma_k is accepted at a small k,
from many differences); 1e-2 and 1e-3 lost 1-3% of the estimates above."""
ECNOISE_ATTEMPTS = 3
"""Tables tried per point: the first, then up to two with h * 100 or h / 100 as the failure says."""
ECNOISE_FACTOR = 100.0
"""Change of h after a failure (the authors' advice)."""
RANGE_LIMIT = 0.1
"""Relative spread of the values above which h is too large (step 2)."""
AGREEMENT = 4.0
"""Consecutive levels must agree within this factor (step 5)."""

ECNOISE_STATUSES = ("ok", "h_too_small", "h_too_large", "nonfinite")


@dataclass
class NoiseTable:
    """ECnoise on a batch of tables.

    Attributes
    ----------
    noise : ndarray, shape (n,)
        The estimate sigma_k (absolute, in the units of f); NaN where not detected.
    status : ndarray of str, shape (n,)
        One of :data:`ECNOISE_STATUSES`.
    levels : ndarray, shape (m, n)
        sigma_1 .. sigma_m (0 where the table stopped early, as in ``ECNoise.m``).
    order : ndarray of int, shape (n,)
        The accepted k (0 where not detected).
    """

    noise: np.ndarray
    status: np.ndarray
    levels: np.ndarray
    order: np.ndarray


def gammas(m: int) -> np.ndarray:
    """``gamma_k = (k!)^2 / (2k)!`` for k = 1 .. m, by the authors' recursion.

    Examples
    --------
    >>> (1 / gammas(4)).round().tolist()   # the central binomial coefficients (2k choose k)
    [2.0, 6.0, 20.0, 70.0]
    """
    out, g = [], 1.0
    for k in range(1, m + 1):
        g = 0.5 * (k / (2 * k - 1)) * g
        out.append(g)
    return np.array(out)


def ecnoise(values: np.ndarray) -> NoiseTable:
    """The noise level of every column of a table of equally spaced samples.

    Parameters
    ----------
    values : ndarray, shape (m + 1, n)
        ``values[i, l]``: f at the i-th of m + 1 equally spaced points of lane l
        (m + 1 >= 4).

    Returns
    -------
    NoiseTable

    Examples
    --------
    >>> t = ecnoise(np.array([[1.0, 1.01, 1.0, 1.01, 1.0, 1.01, 1.0]]).T)
    >>> t.status.tolist(), bool(t.noise[0] == t.levels[0, 0])
    (['ok'], True)
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] < 4:
        raise ValueError(f"values must have shape (m + 1 >= 4, n_lanes), got {values.shape}")
    work = np.result_type(values.dtype, np.float64)
    f = values.astype(work)
    nf, n = f.shape
    m = nf - 1
    status = np.full(n, "h_too_large", dtype=object)
    levels = np.zeros((m, n))
    noise = np.full(n, np.nan)
    order = np.zeros(n, dtype=np.int64)

    finite = np.all(np.isfinite(f), axis=0)
    with np.errstate(all="ignore"):
        fmin, fmax = f.min(axis=0), f.max(axis=0)
        spread = (fmax - fmin) > RANGE_LIMIT * np.maximum(np.abs(fmax), np.abs(fmin))
    alive = finite & ~spread  # lanes whose table is built

    diff = f
    sign_change = np.zeros((m, n), dtype=bool)
    for k, g in enumerate(gammas(m), start=1):
        diff = np.diff(diff, axis=0)
        if k == 1:
            small = alive & (np.count_nonzero(diff == 0, axis=0) >= nf / 2)
            status[small] = "h_too_small"
            alive &= ~small
        with np.errstate(all="ignore"):
            levels[k - 1] = np.where(alive, np.sqrt(g * np.mean(diff * diff, axis=0)), 0.0)
        sign_change[k - 1] = diff.min(axis=0) * diff.max(axis=0) < 0

    undecided = alive.copy()
    for k in range(1, m - 1):
        window = levels[k - 1:k + 2]
        accept = undecided & (window.max(axis=0) <= AGREEMENT * window.min(axis=0)) & sign_change[k - 1]
        noise[accept] = levels[k - 1, accept]
        order[accept] = k
        status[accept] = "ok"
        undecided &= ~accept
    status[~finite] = "nonfinite"
    return NoiseTable(noise=noise, status=status.astype(str), levels=levels, order=order)


@dataclass
class NoiseEstimate:
    """ECnoise with retries, per lane.

    Attributes
    ----------
    noise : ndarray, shape (n,)
        Absolute noise level of f (NaN where not detected).
    status : ndarray of str, shape (n,)
        Status of the last table tried (:data:`ECNOISE_STATUSES`).
    h : ndarray, shape (n,)
        Spacing of the last table tried.
    samples : ndarray of int, shape (n,)
        Evaluations of f spent (all tables).
    attempts : ndarray of int, shape (n,)
        Tables tried.
    order : ndarray of int, shape (n,)
        The accepted difference order k (0 if not detected).
    """

    noise: np.ndarray
    status: np.ndarray
    h: np.ndarray
    samples: np.ndarray
    attempts: np.ndarray
    order: np.ndarray


def estimate_noise(sample: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray, *,
                   m: int = ECNOISE_M, h: float = ECNOISE_H, attempts: int = ECNOISE_ATTEMPTS) -> NoiseEstimate:
    """ECnoise on every lane, retrying with ``h * 100`` / ``h / 100`` as the failure signal says.

    Parameters
    ----------
    sample : callable
        ``sample(lanes, t)`` returns f at ``x + t[i, j]`` along lane
        ``lanes[j]``'s direction, shape ``t.shape``; ``t`` is in the working type.
    x : ndarray, shape (n,)
        The lanes' coordinate along their direction (working type): sets
        the scale ``max(1, |x|)`` of the spacing.
    m : int
        The table has m + 1 values (m >= 3).
    h : float
        Initial spacing relative to ``max(1, |x|)``.
    attempts : int
        Tables tried at most per lane.

    Returns
    -------
    NoiseEstimate
    """
    if m < 3:
        raise ValueError(f"m must be at least 3, got {m}")
    dtype = x.dtype
    n = x.size
    # The spacing lives in float64; only the offsets handed to f are rounded to the working type (in
    # float8_e4m3fn 1e-4 itself rounds to 0, and 100 to 96).
    spacing = np.maximum(np.abs(x.astype(np.float64)), 1.0) * float(h)
    offsets = (np.arange(m + 1) - m // 2).astype(np.float64)
    out = NoiseEstimate(noise=np.full(n, np.nan), status=np.full(n, "h_too_large", dtype=object),
                        h=spacing.copy(), samples=np.zeros(n, dtype=np.int64),
                        attempts=np.zeros(n, dtype=np.int64), order=np.zeros(n, dtype=np.int64))
    active = np.ones(n, dtype=bool)
    previous = np.full(n, "", dtype=object)
    for _ in range(attempts):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        t = (offsets[:, None] * spacing[idx][None, :]).astype(dtype)
        table = ecnoise(np.asarray(sample(idx, t)))
        out.samples[idx] += m + 1
        out.attempts[idx] += 1
        out.status[idx] = table.status
        out.h[idx] = spacing[idx]
        out.noise[idx] = table.noise
        out.order[idx] = table.order
        # Retry only in the direction the failure points to, and never back (that would cycle).
        small = (table.status == "h_too_small") & (previous[idx] != "h_too_large")
        large = (table.status == "h_too_large") & (previous[idx] != "h_too_small")
        spacing[idx[small]] *= ECNOISE_FACTOR
        spacing[idx[large]] /= ECNOISE_FACTOR
        previous[idx] = table.status
        active[idx[~(small | large)]] = False
    out.status = out.status.astype(str)
    return out
