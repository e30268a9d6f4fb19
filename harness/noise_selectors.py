"""Noise-aware step selectors: the step from the noise level of f.

Rules (see :data:`NOISE_RULES`), all vectorised over lanes (point x
coordinate, f restricted to one coordinate, as in :mod:`harness.selectors`):

``more_wild``
    Moré & Wild, "Estimating derivatives of noisy simulations", ACM TOMS
    38(3), 2012, article 19: forward difference with ``h = 1.68 sqrt(eps_f /
    |mu|)``, mu = f'' from their f2est procedure. See :func:`_more_wild`.
``dumontet_vignes``
    Dumontet & Vignes, "Détermination du pas optimal dans le calcul des
    dérivées sur ordinateur", RAIRO Analyse numérique 11(1), 1977, 13-25:
    central difference with f''' from a third difference whose step is
    chosen by the ratio of its upper and lower bounds. See :func:`_dumontet_vignes`.
``shi_xie_xuan_nocedal``
    Shi, Xie, Xuan & Nocedal, "Adaptive finite-difference interval estimation
    for noisy derivative-free optimization", SIAM J. Sci. Comput. 44(4), 2022,
    A2302-A2321: a bisection on a test ratio, Algorithm 2.1 (forward,
    backward base) and 3.1 (central base). See :func:`_shi_xie_xuan_nocedal`.

The noise level eps_f (an absolute standard deviation, in the units of f)
comes from the selector's ``noise`` option:

``declared`` (default)
    The function's declared noise (:class:`harness.noise.NoiseSpec`) at the
    sampled ``|f(x)|``, combined in quadrature with the rounding of f,
    ``eps_f = function_noise(dtype) |f(x)|`` (the error model's default,
    0.3 u); rounding alone for a function without declared noise.
``estimate``
    ECnoise (:func:`harness.ecnoise.estimate_noise`) along the lane's
    coordinate; where it fails, the rounding level above.
a number r
    ``r |f(x)|`` (a relative level, as ``model.noise``).

Every evaluation is counted per lane: ``f(x)`` once, the ECnoise tables, the
searches. Where a rule cannot finish (a zero or non-finite noise level or
derivative estimate, no acceptable step within its iterations, non-finite
values), the lane falls back to the noise analogue of the eps rules,
``h = (eps_f / |f(x)|)^(1 / (p + 1)) max(1, |x|)`` (p: accuracy of the base),
and its error estimate is NaN.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .ecnoise import estimate_noise
from .model import function_noise
from .number_types import finfo, is_real_float
from .selectors import _Lanes, _scale
from .stencils import Stencil, standard_stencil

#: rule -> default base, bases it supports, description, step scale of its rows.
NOISE_RULES: dict[str, dict[str, Any]] = {
    "more_wild": {
        "base": "forward", "bases": ("forward", "backward"), "step_scale": "search",
        "description": "Moré & Wild (2012): h = 1.68 sqrt(eps_f / |f''|), f'' from f2est",
    },
    "dumontet_vignes": {
        "base": "central", "bases": ("central",), "step_scale": "search",
        "description": "Dumontet & Vignes (1977): h = (3 eps_f / |f'''|)^(1/3), f''' from a bounded third difference",
    },
    "shi_xie_xuan_nocedal": {
        "base": "forward", "bases": ("forward", "backward", "central"), "step_scale": "search",
        "description": "Shi, Xie, Xuan & Nocedal (2022): bisection on a noise-scaled test ratio in [1.5, 6]",
    },
}
NOISE_SOURCES = ("declared", "estimate")

# Moré & Wild (f2est and the forward step).
MW_TAU1 = 100.0
"""f2est accepts a second difference at least this many noise levels large (signal to noise)."""
MW_TAU2 = 0.1
"""... and whose three values differ by at most this fraction of the largest."""
MW_FACTOR = 8.0 ** 0.25
"""1.68: ``h = (8 eps_f^2 / mu^2)^(1/4)`` minimises the expected forward-difference error."""
# Dumontet & Vignes.
DV_L3, DV_L4 = 2.0, 15.0
"""Accepted ratios ``L = f'''_sup / f'''_inf``: ``[1/L4, 1/L3]`` or ``[L3, L4]``."""
DV_BOUND = 3.0
"""The relative precision eps_r of the bounds is this many noise levels: the paper's eps_r bounds the error
of f, and noise of standard deviation eps_f has no bound (normal) or sqrt(3) eps_f (uniform). With the
standard deviation itself, a noise-dominated third difference passes the L test in a few percent of tries."""
DV_ITERATIONS = 40
"""Bisection steps (in log2 k) at most."""
# Shi, Xie, Xuan & Nocedal.
SXXN_R_LOW, SXXN_R_HIGH = 1.5, 6.0
"""Accepted test ratios ``r_l <= r(h) <= r_u`` (the paper's values)."""
SXXN_ITERATIONS = 40
"""Test ratios computed at most."""


def _noise_level(lanes: _Lanes, f0: np.ndarray, noise: Any, declared: Any) -> tuple[np.ndarray, np.ndarray]:
    """Absolute noise level per lane and whether it is usable (finite, > 0)."""
    f_abs = np.abs(f0.astype(np.float64))
    rounding = function_noise(lanes.dtype) * f_abs
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        sigma = float(noise) * f_abs
    elif noise == "estimate":
        est = estimate_noise(lambda idx, t: lanes(idx, t), lanes.x)
        sigma = np.where(est.status == "ok", est.noise, rounding)
    elif noise in (None, "declared"):
        sigma = rounding if declared is None else np.hypot(declared.sigma(f_abs), rounding)
    else:
        raise ValueError(f"noise must be 'declared', 'estimate' or a number, got {noise!r}")
    return sigma, np.isfinite(sigma) & (sigma > 0)


def _fallback_steps(x: np.ndarray, sigma: np.ndarray, f0: np.ndarray, power: int) -> np.ndarray:
    """``(eps_f / |f(x)|)^(1/power) max(1, |x|)``: the eps rule with the relative noise for eps."""
    with np.errstate(all="ignore"):
        rel = sigma / np.abs(f0.astype(np.float64))
    rel = np.where(np.isfinite(rel) & (rel > 0), np.minimum(rel, 0.5), finfo(x.dtype).eps)
    return (rel ** (1.0 / power) * _scale(x).astype(np.float64)).astype(x.dtype)


def _finite_positive(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a) & (a > 0)


def _more_wild(lanes: _Lanes, f0: np.ndarray, sigma: np.ndarray, go: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moré & Wild (2012): mu = f'' by f2est, then ``h = 1.68 sqrt(eps_f / |mu|)``.

    f2est, as in the authors' ``f2est_simple.m`` (Argonne, 2010, the
    procedure of section 5 of the paper): with ``Delta(h) = f(x+h) - 2 f(x)
    + f(x-h)``,

    1. ``h_a = eps_f^(1/4)``, ``mu_a = Delta(h_a) / h_a^2``; accept it if
       ``|Delta(h_a)| / eps_f >= tau1 = 100`` and the three values differ by
       at most ``tau2 = 10%`` of the largest;
    2. else ``h_b = (eps_f / |mu_a|)^(1/4)``, ``mu_b = Delta(h_b) / h_b^2``;
       accept it if it passes the same test, or if ``|mu_a - mu_b| <= 0.5
       max(|mu_a|, |mu_b|)``;
    3. else f2est fails: the authors' driver then suggests ``mu = max(1,
       |f(x)|)``, which we use too (the error estimate is then NaN).

    ``1.68 = 8^(1/4)``: the minimiser of the rms error ``sqrt((mu h / 2)^2 +
    2 eps_f^2 / h^2)`` of a forward difference with noise of standard
    deviation eps_f; its minimum, ``2^(1/4) sqrt(eps_f |mu|)``, is the error
    estimate. ``h_a`` is absolute (the paper assumes a unit-scaled x).
    Cost: 2 or 4 evaluations beyond ``f(x)`` (and the noise estimate).
    """
    x, n = lanes.x, lanes.x.size
    mu = np.full(n, np.nan)
    fc = f0.astype(np.float64)

    def second(idx: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vals = lanes(idx, np.stack([h, -h]).astype(x.dtype)).astype(np.float64)
        delta = vals[0] - 2 * fc[idx] + vals[1]
        trio = np.abs(np.stack([vals[0], fc[idx], vals[1]]))
        spread = (trio.max(axis=0) - trio.min(axis=0)) / trio.max(axis=0)
        ok = (np.abs(delta) / sigma[idx] >= MW_TAU1) & (spread <= MW_TAU2)
        return delta / (h * h), ok

    with np.errstate(all="ignore"):
        idx = np.flatnonzero(go)
        h_a = sigma[idx] ** 0.25
        mu_a, ok_a = second(idx, h_a)
        mu[idx[ok_a]] = mu_a[ok_a]
        again = ~ok_a & _finite_positive(np.abs(mu_a))
        idx_b = idx[again]
        h_b = (sigma[idx_b] / np.abs(mu_a[again])) ** 0.25
        mu_b, ok_b = second(idx_b, h_b)
        close = np.abs(mu_a[again] - mu_b) <= 0.5 * np.maximum(np.abs(mu_a[again]), np.abs(mu_b))
        take = (ok_b | close) & np.isfinite(mu_b)
        mu[idx_b[take]] = mu_b[take]
        found = go & _finite_positive(np.abs(mu))
        mu = np.where(found, np.abs(mu), np.maximum(1.0, np.abs(fc)))
        h = MW_FACTOR * np.sqrt(sigma / mu)
        err = np.where(found, 2.0 ** 0.25 * np.sqrt(sigma * mu), np.nan)
    return h, err


def _third_bounds(values: np.ndarray, k: np.ndarray, eps_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dumontet & Vignes' bounds of f''' from ``f(x+2k), f(x-2k), f(x+k), f(x-k)`` (eq. 28-30).

    ``T = (f(x+2k), -f(x-2k), -2 f(x+k), 2 f(x-k))`` (the signs as corrected in
    Baudin's numericalderivative), ``A`` the sum of the positive terms, ``B``
    of the negative ones; ``f'''_inf = (A / (1 + eps_r) + B / (1 - eps_r)) / 2k^3``,
    ``f'''_sup = (A / (1 - eps_r) + B / (1 + eps_r)) / 2k^3``.
    """
    t = values * np.array([1.0, -1.0, -2.0, 2.0])[:, None]
    a = np.where(t > 0, t, 0.0).sum(axis=0)
    b = np.where(t < 0, t, 0.0).sum(axis=0)
    k3 = 2 * k ** 3
    return (a / (1 + eps_r) + b / (1 - eps_r)) / k3, (a / (1 - eps_r) + b / (1 + eps_r)) / k3


def _dumontet_vignes(lanes: _Lanes, f0: np.ndarray, sigma: np.ndarray, go: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Dumontet & Vignes (1977): f''' from a third difference at a step k chosen by ``L = f'''_sup / f'''_inf``.

    Written after the description and Python port in Baudin's
    numericalderivative (``DumontetVignes``, which cites the paper's eq.
    numbers and corrects two signs of eq. 28). The third difference
    ``(f(x+2k) - f(x-2k) - 2 (f(x+k) - f(x-k))) / 2k^3`` has bounds
    ``f'''_inf <= f'''_k <= f'''_sup`` from the relative precision eps_r of
    f (:func:`_third_bounds`); their ratio L is near 1 when truncation
    dominates (k too large) and far from 1 when noise dominates (k too
    small). k is bisected until ``L`` is in ``[1/15, 1/2]`` or ``[2, 15]``
    (eq. 33); then ``f''' = (f'''_inf + f'''_sup) / 2`` and ``h = (3 eps_f
    / |f'''|)^(1/3)``, the minimiser of the central difference's rms error
    ``sqrt((f''' h^2 / 6)^2 + eps_f^2 / (2 h^2))`` (numericalderivative's
    constant; the paper's is 1.67 instead of 3, a factor 1.22 in h); that rms
    error at h is the error estimate.

    Choices (ours): eps_r = 3 eps_f / |f(x)| (:data:`DV_BOUND`: the paper's
    relative precision is a bound; a lane with ``f(x) = 0`` falls back); the bisection is on log2 k over
    ``[eps max(1, |x|), max(1, |x|)]`` (eps of the working type) for at most
    :data:`DV_ITERATIONS` steps, and a non-finite L (samples outside the
    domain) counts as "k too large". Cost: 4 evaluations per k.
    """
    x, n = lanes.x, lanes.x.size
    dtype = x.dtype
    scale = _scale(x).astype(np.float64)
    lo = np.log2(float(finfo(dtype).eps) * scale)
    hi = np.log2(scale)
    with np.errstate(all="ignore"):
        eps_r = DV_BOUND * sigma / np.abs(f0.astype(np.float64))
    active = go & _finite_positive(eps_r) & (eps_r < 1)
    f3 = np.full(n, np.nan)
    for _ in range(DV_ITERATIONS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        k = (2.0 ** ((lo[idx] + hi[idx]) / 2)).astype(dtype)
        vals = lanes(idx, np.stack([2 * k, -2 * k, k, -k])).astype(np.float64)
        with np.errstate(all="ignore"):
            inf, sup = _third_bounds(vals, k.astype(np.float64), eps_r[idx])
            ell = sup / inf
        good = ((ell >= 1 / DV_L4) & (ell <= 1 / DV_L3)) | ((ell >= DV_L3) & (ell <= DV_L4))
        # L near 1: truncation dominates. Samples outside the domain (or 0/0): also smaller k.
        # Everything else (L far from 1, negative, infinite) means noise dominates: larger k.
        near_one = (ell > 1 / DV_L3) & (ell < DV_L3)
        too_large = ~good & (near_one | np.isnan(ell) | ~np.isfinite(vals).all(axis=0))
        f3[idx[good]] = (inf[good] + sup[good]) / 2
        active[idx[good]] = False
        hi[idx[too_large]] = (lo[idx[too_large]] + hi[idx[too_large]]) / 2
        smaller = ~good & ~too_large
        lo[idx[smaller]] = (lo[idx[smaller]] + hi[idx[smaller]]) / 2
    with np.errstate(all="ignore"):
        a3 = np.abs(f3)
        h = (3 * sigma / a3) ** (1 / 3)
        err = np.sqrt((a3 * h * h / 6) ** 2 + sigma ** 2 / (2 * h * h))
    found = go & _finite_positive(a3) & _finite_positive(h)
    return np.where(found, h, np.nan), np.where(found, err, np.nan)


def _shi_xie_xuan_nocedal(lanes: _Lanes, f0: np.ndarray, sigma: np.ndarray, go: np.ndarray, st: Stencil
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Shi, Xie, Xuan & Nocedal (2022), Algorithms 2.1 (one-sided) and 3.1 (central).

    Test ratios (eq. 2.3 and section 3)::

        forward:  r(h) = |f(x + 4h) - 4 f(x + h) + 3 f(x)| / (8 eps_f)           ~ 3 |f''| h^2 / (4 eps_f)
        central:  r(h) = |f(x + 3h) - 3 f(x + h) + 3 f(x - h) - f(x - 3h)| / (8 eps_f)   ~ |f'''| h^3 / eps_f

    (backward: the forward test towards -h). Both are 3 at the optimal step
    of the base (``2 sqrt(eps_f / |f''|)``, ``(3 eps_f / |f'''|)^(1/3)``) and
    their noise part is at most 1 for noise bounded by eps_f, so accepting
    ``r_l = 1.5 <= r(h) <= r_u = 6`` gives a step within a small factor of
    the optimum (forward: 0.41 to 1.53). Search: start at ``h_0 = (2 /
    sqrt 3) sqrt(eps_f)`` (forward) or ``(3 eps_f)^(1/3)`` (central); while
    no upper bound is known multiply h by nu, while no lower bound divide by
    nu, else bisect, ``h = (l + u) / 2``. nu = 4 for forward (the paper's:
    ``x + 4 h_old`` is the new ``x + h`` and is not evaluated again), nu = 3
    for central (our choice, so that the new ``x +- h`` or ``x +- 3h`` are old
    samples, as nlmixr2's implementation of Algorithm 3.1 allows). The
    accepted h is the step. Following nlmixr2 (Fidler), a non-finite sample
    counts as "h too large". The error estimate is the rms error at h of the
    base with the derivative the accepted ratio implies (``|f''| = 8 eps_f r /
    (6 h^2)``, ``|f'''| = eps_f r / h^3``). At most :data:`SXXN_ITERATIONS`
    ratios. Cost per ratio beyond the start: 1 (forward, nu step), 2 (forward
    bisection; central nu step) or 4 (central bisection); the start costs 2
    (forward, plus f(x)) or 4 (central).
    """
    x, n = lanes.x, lanes.x.size
    dtype = x.dtype
    central = st.offsets == standard_stencil("central").offsets
    sign = -1.0 if st.offsets == standard_stencil("backward").offsets else 1.0
    outer = nu = 3.0 if central else 4.0  # the outer offset is also the growth factor
    fc = f0.astype(np.float64)
    with np.errstate(all="ignore"):
        h = np.where(go, 3 * sigma, 1.0) ** (1 / 3) if central else 2 / math.sqrt(3) * np.sqrt(np.where(go, sigma, 1))
    # Samples at the inner (h) and outer (3h or 4h) offsets: (+inner, +outer[, -inner, -outer]).
    offsets = np.array([1.0, outer, -1.0, -outer]) if central else np.array([1.0, outer]) * sign
    vals = np.full((offsets.size, n), np.nan)
    lower, upper = np.zeros(n), np.full(n, np.inf)
    active = go & _finite_positive(h)
    need = np.ones(offsets.size, dtype=bool)[:, None] & active[None, :]  # which samples are missing
    accepted = np.zeros(n, dtype=bool)
    ratio = np.full(n, np.nan)
    for _ in range(SXXN_ITERATIONS):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        for row in range(offsets.size):  # evaluate what is missing, one call per offset
            lanes_row = idx[need[row, idx]]
            if lanes_row.size:
                shift = (offsets[row] * h[lanes_row]).astype(dtype)[None, :]
                vals[row, lanes_row] = lanes(lanes_row, shift)[0]
        v = vals[:, idx]
        with np.errstate(all="ignore"):
            if central:
                num = v[1] - 3 * v[0] + 3 * v[2] - v[3]
            else:
                num = v[1] - 4 * v[0] + 3 * fc[idx]
            r = np.abs(num) / (8 * sigma[idx])
        bad = ~np.isfinite(r)
        ok = ~bad & (r >= SXXN_R_LOW) & (r <= SXXN_R_HIGH)
        accepted[idx[ok]] = True
        ratio[idx[ok]] = r[ok]
        active[idx[ok]] = False
        low = ~bad & (r < SXXN_R_LOW)
        high = bad | (~ok & ~low)
        lower[idx[low]] = h[idx[low]]
        upper[idx[high]] = h[idx[high]]
        cont = ~ok
        ci = idx[cont]
        grow = cont & ~np.isfinite(upper[idx])
        shrink = cont & ~grow & (lower[idx] == 0)
        bisect = cont & ~grow & ~shrink
        need[:, ci] = False
        g, s, b = idx[grow], idx[shrink], idx[bisect]
        # nu = outer offset: growing makes the old outer samples the new inner ones, shrinking the reverse.
        inner_rows, outer_rows = [0, 2] if central else [0], [1, 3] if central else [1]
        for i_row, o_row in zip(inner_rows, outer_rows):
            vals[i_row, g] = vals[o_row, g]
            need[o_row, g] = True
            vals[o_row, s] = vals[i_row, s]
            need[i_row, s] = True
            need[i_row, b] = need[o_row, b] = True
        h[g] = h[g] * nu
        h[s] = h[s] / nu
        h[b] = (lower[b] + upper[b]) / 2
        active[idx[cont]] &= _finite_positive(h[ci])
    with np.errstate(all="ignore"):
        if central:
            d3 = sigma * ratio / h ** 3
            err = np.sqrt((d3 * h * h / 6) ** 2 + sigma ** 2 / (2 * h * h))
        else:
            d2 = 8 * sigma * ratio / (6 * h * h)
            err = np.sqrt((d2 * h / 2) ** 2 + 2 * sigma ** 2 / (h * h))
    return np.where(accepted, h, np.nan), np.where(accepted, err, np.nan)


def choose_noisy_steps(rule: str, fn: Callable[..., Any], points: np.ndarray, *, base: Any,
                       noise: Any = "declared", declared: Any = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps chosen by a noise-aware rule for every point and coordinate.

    Parameters
    ----------
    rule : str
        A key of :data:`NOISE_RULES`.
    fn : callable
        Vectorised, dtype-preserving ``fn(x0, x1, ...)`` (noisy or not).
    points : ndarray, shape (n_points, dim)
        Points in the working (real floating) type.
    base : Stencil or StencilScheme
        One of the rule's bases (``NOISE_RULES[rule]['bases']``).
    noise : 'declared', 'estimate' or float
        Where the noise level comes from (see the module docstring).
    declared : NoiseSpec, optional
        The function's declared noise (for ``noise='declared'``).

    Returns
    -------
    h : ndarray, shape (n_points, dim), working type
        Nominal step per point and coordinate.
    evals : ndarray of int64, shape (n_points, dim)
        Points handed to f while choosing it (noise estimate included).
    error_estimate : ndarray, shape (n_points, dim)
        The rule's own rms error estimate at the chosen step (NaN after a fallback).
    """
    if rule not in NOISE_RULES:
        raise ValueError(f"rule must be one of {tuple(NOISE_RULES)}, got {rule!r}")
    points = np.asarray(points)
    if points.ndim != 2 or not is_real_float(points.dtype):
        raise ValueError(f"points must be a real floating array of shape (n_points, dim), got {points.dtype} "
                         f"{points.shape}")
    st = getattr(base, "stencil", base)
    allowed = {standard_stencil(b).offsets: b for b in NOISE_RULES[rule]["bases"]}
    if not isinstance(st, Stencil) or st.offsets not in allowed or st.derivative != 1:
        raise ValueError(f"base of {rule} must be one of {NOISE_RULES[rule]['bases']}, got {base!r}")
    lanes = _Lanes(fn, points)
    x = lanes.x
    f0 = np.asarray(lanes(np.arange(x.size), np.zeros((1, x.size), dtype=x.dtype))[0])
    with np.errstate(all="ignore"):
        sigma, go = _noise_level(lanes, f0, noise, declared)
        go &= np.isfinite(f0)
        if rule == "more_wild":
            h, err = _more_wild(lanes, f0, sigma, go)
        elif rule == "dumontet_vignes":
            h, err = _dumontet_vignes(lanes, f0, sigma, go)
        else:
            h, err = _shi_xie_xuan_nocedal(lanes, f0, sigma, go, st)
        h = h.astype(x.dtype)
        fallback = ~(_finite_positive(h) & go)
        if fallback.any():
            h[fallback] = _fallback_steps(x[fallback], sigma[fallback], f0[fallback], st.accuracy + 1)
            err = np.where(fallback, np.nan, err)
    shape = points.shape
    return h.reshape(shape), lanes.evals.copy().reshape(shape), np.asarray(err, dtype=np.float64).reshape(shape)

