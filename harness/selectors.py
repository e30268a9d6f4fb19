"""Step selectors: rules that choose the step h themselves.

A selector picks one step per point and coordinate and is then scored with an
ordinary first-derivative stencil (its *base*, e.g. ``central``) at exactly
that step, by :class:`harness.schemes.SelectorScheme`. It therefore
produces one adaptive row per point (``h_nominal = [nan]``), drawn as a marker
on the error-vs-h curve of the same stencil, and the evaluations spent choosing
h are added to the row's ``n_evals``.

Rules (see :data:`SELECTOR_RULES`)
----------------------------------
``eps`` below is the machine epsilon of the working type (``harness.number_types.finfo``) and
``s = max(1, |x_j|)`` the scale of the coordinate being differentiated; all
arithmetic is done in the working type, so float32 points get float32 steps.

``sqrt_eps``
    ``h = sqrt(eps) * s``: the classical forward/backward-difference step
    (Dennis & Schnabel, *Numerical Methods for Unconstrained Optimization and
    Nonlinear Equations*, 1983, sec. 5.4; Press et al., *Numerical Recipes*,
    sec. 5.7). Optimal when ``|f| ~ |f''|`` on the scale ``s``. No evaluations.
``cbrt_eps``
    ``h = cbrt(eps) * s``: the same argument for central differences, whose
    truncation error is O(h**2). No evaluations.
``eps_power``
    ``h = eps**(1 / (p + 1)) * s`` with ``p`` the accuracy order of the base
    (the derivative order is 1): the balance of an O(h**p) truncation error
    against an O(eps / h) rounding error. It equals ``sqrt_eps`` for
    ``forward``/``backward``, ``cbrt_eps`` for ``central`` and gives
    ``eps**(1/5)`` for ``central4``. No evaluations.
``stepleman_winarsky``
    Stepleman & Winarsky, "Adaptive numerical differentiation", Math. Comp.
    33 (1979), 1257-1264. See :func:`_stepleman_winarsky`.
``gmsw``
    Gill, Murray, Saunders & Wright, "Computing forward-difference intervals
    for numerical optimization", SIAM J. Sci. Stat. Comput. 4 (1983), 310-321,
    algorithm FD, as the authors' NPSOL implements it (CHCORE). See
    :mod:`harness.gmsw`.

Evaluations
-----------
The adaptive rules evaluate f along one coordinate at a time ("f restricted to
one coordinate"): lane ``(p, j)`` only ever displaces coordinate j of point p.
All lanes (points x coordinates) iterate together with masks, so f is called
once per iteration on every lane still running; nothing loops over points.
``f(x)`` is evaluated once *per lane* (not shared between the coordinates of
one point), so the ``evals`` of :func:`choose_steps` is exactly the number of
points handed to f for that lane. The reported ``n_evals`` of
:class:`~harness.schemes.SelectorScheme` adds the base stencil's nominal ``n_evals`` (the
engine's per-estimate convention; it shares ``f(x)`` between coordinates).

Steps inside the searches are applied exactly, ``(x + h) - x`` in the working
type, like the engine's default ``step='exact'``, and the differences use the
engine's own summation, so the stencil value the Stepleman-Winarsky search sees
at its chosen h is bit-for-bit the estimate that is scored there.

Non-finite values
-----------------
Nothing raises when f returns NaN or inf. A lane whose search meets a
non-finite value it cannot use falls back to the rule's eps step
(``stepleman_winarsky``: ``eps_power`` for the base, i.e. ``cbrt_eps`` for
``central``; ``gmsw``: ``sqrt_eps``, after switching to one-sided trials where
only one side leaves the domain, see :mod:`harness.gmsw`); the evaluations
already spent are still reported. Floating-point warnings raised *inside f* follow the caller's
``np.errstate`` (so the engine's counter sees them); the selectors' own
arithmetic (ratios with a zero denominator) is silent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from .evaluate import applied_step, as_dtype_scalar, robust_sum
from .number_types import finfo, is_real_float
from .stencils import Stencil, standard_stencil

#: rule -> default base scheme and a one-line description.
SELECTOR_RULES: dict[str, dict[str, str]] = {
    "sqrt_eps": {
        "base": "forward",
        "description": "h = sqrt(eps) * max(1, |x|): classical forward-difference step (0 evaluations)",
        "step_scale": "relative",
    },
    "cbrt_eps": {
        "base": "central",
        "description": "h = cbrt(eps) * max(1, |x|): classical central-difference step (0 evaluations)",
        "step_scale": "relative",
    },
    "eps_power": {
        "base": "central",
        "description": "h = eps**(1/(p+1)) * max(1, |x|), p = accuracy order of the base (0 evaluations)",
        "step_scale": "relative",
    },
    "stepleman_winarsky": {
        "base": "central",
        "description": "Stepleman & Winarsky (1979): shrink h by 4 until successive differences "
                       "stop decreasing",
        "step_scale": "search",
    },
    "gmsw": {
        "base": "forward",
        "description": "Gill, Murray, Saunders & Wright (1983), algorithm FD as in NPSOL's CHCORE: "
                       "h_F = 2 sqrt(eps_A/|Phi|) from a second difference whose condition error is in "
                       "[0.001, 0.1], at most 3 trials",
        "step_scale": "search",
    },
}

_ONE_SIDED = tuple(standard_stencil(d).offsets for d in ("forward", "backward"))

# Stepleman-Winarsky parameters.
SW_BETA = 4.0
"""Reduction factor: ``h_{i+1} = h_i / SW_BETA`` (a power of two, so the reduction is exact)."""
SW_H0 = 0.1
"""Initial step ``h_0 = SW_H0 * max(1, |x|)``."""

# --------------------------------------------------------------------------- #
# Helpers                                                                     #
# --------------------------------------------------------------------------- #

def _scale(x: np.ndarray) -> np.ndarray:
    """``max(1, |x|)`` in the type of x."""
    return np.maximum(x.dtype.type(1), np.abs(x))


def _eps_root(dtype: np.dtype, root: int) -> np.generic:
    """``eps ** (1 / root)`` in the working type (sqrt and cbrt exactly as numpy computes them)."""
    eps = finfo(dtype).eps
    if root == 2:
        return np.sqrt(eps)
    if root == 3:
        return np.cbrt(eps)
    return np.power(eps, dtype.type(1) / dtype.type(root))


def _eps_steps(x: np.ndarray, root: int) -> np.ndarray:
    """``eps ** (1 / root) * max(1, |x|)``, elementwise in the type of x."""
    return _eps_root(x.dtype, root) * _scale(x)


class _Lanes:
    """Evaluate f along one coordinate per lane, counting the points handed to f.

    Lane ``l`` is point ``l // dim``, coordinate ``l % dim`` (row-major over
    ``(n_points, dim)``).
    """

    def __init__(self, fn: Callable[..., Any], points: np.ndarray) -> None:
        self.fn = fn
        self.points = points
        self.dtype = points.dtype
        n_points, self.dim = points.shape
        self.point = np.repeat(np.arange(n_points), self.dim)
        self.coord = np.tile(np.arange(self.dim), n_points)
        self.x = points.reshape(-1).copy()
        self.evals = np.zeros(self.x.size, dtype=np.int64)
        # f runs under the caller's floating-point settings, not the selectors' own.
        self._err = np.geterr()
        self._call = np.geterrcall()

    def __call__(self, lanes: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """f at ``x + shift[k, i] e_j`` for lane ``lanes[i]``; returns shape ``shift.shape`` ``(K, m)``."""
        k, m = shift.shape
        if m == 0:
            return np.empty((k, 0), dtype=self.dtype)
        coords = []
        for c in range(self.dim):
            xc = np.empty((k, m), dtype=np.result_type(self.dtype, shift.dtype))
            xc[...] = self.points[self.point[lanes], c][None, :]
            on = self.coord[lanes] == c
            xc[:, on] += shift[:, on]
            coords.append(xc)
        with np.errstate(**self._err, call=self._call):
            out = np.asarray(self.fn(*coords))
        if out.shape != (k, m):
            out = np.broadcast_to(out, (k, m))
        self.evals[lanes] += k
        return out


@dataclass
class _Selection:
    """Per-lane result of a rule: nominal step, evaluations, own error estimate (flat arrays)."""

    h: np.ndarray
    evals: np.ndarray
    error_estimate: np.ndarray


def _stepleman_winarsky(lanes: _Lanes, st: Stencil) -> _Selection:
    """Stepleman & Winarsky (1979) on every lane at once.

    Algorithm
    ---------
    ``D(h)`` is the base difference quotient (for the default base ``central``
    the paper's ``(f(x+h) - f(x-h)) / 2h``). With ``h_0 = 0.1 * max(1, |x|)``
    and ``h_{i+1} = h_i / beta``, ``beta = 4``, compute ``D_i = D(h_i)`` and
    ``d_i = |D_i - D_{i-1}|`` (``i >= 1``). While truncation error dominates,
    ``d_i`` decreases monotonically (by about ``beta**p``); once rounding
    error dominates it stops doing so. The search stops at the first
    ``i >= 2`` with ``d_i >= d_{i-1}`` and returns ``h_{i-1}``, the last step
    of the monotone run (the paper's choice). A zero difference ``d_i = 0``
    (``D`` stopped changing: no truncation error left to see, or rounding
    made two values equal) also stops the search at ``h_{i-1}``; without
    this, exactly reproduced values would carry the search on to smaller,
    noisier steps. The selector's own error estimate is
    ``d_{i-1} = |D(h_{i-1}) - D(h_{i-2})|`` (``d_1`` if the search stopped at
    ``i = 1``), which bounds the truncation error of ``D(h_{i-2})`` and so
    over-estimates that of ``D(h_{i-1})`` while truncation dominates.

    Behaviour: actual rounding errors are usually well below their bound
    ``~eps |f| / h``, so the monotone run tends to go on a step or two past
    the textbook optimum ``(3 eps |f| / |f'''|)**(1/3)``; in float64 the
    chosen h is typically 1/4 to 1/16 of it, with an error still near the
    optimal one. In float32 the few, coarsely quantised differences can
    decrease by chance once rounding dominates, and the step may end up
    further below the optimum (sin at 0.5: about 1/60).

    Choices and deviations
    ----------------------
    * ``h_0``: the paper discusses how to pick ``h_0`` so that the run starts
      where truncation dominates (including a test on the number of digits
      lost in ``f(x+h) - f(x-h)``); we use the fixed, deliberately large
      ``0.1 * max(1, |x|)``, inside that regime for functions that vary on a
      unit (or ``|x|``) scale. Measured cost on exp, sin, log, 1/(1+x**2):
      10 values of h in float64, 5 to 7 in float32.
    * Iterations: at most ``ceil(log_beta(0.1 / eps)) + 2`` values of h (27
      in float64, 12 in float32), i.e. until h is far below any useful step.
      If monotonicity never breaks -- the iterations run out, or h vanishes
      against x (``x + h == x``, e.g. ``(x - 1)**3`` at 1, whose differences
      carry no rounding error) -- the last h of the run (smallest ``d``) is
      returned, with ``d`` as the error estimate.
    * Domain safeguard (ours): while ``D(h_i)`` is not finite *and no finite
      value has been seen*, the start is moved to ``h_{i+1}`` (e.g. ``log``
      at 0.05, where ``x - h_0 < 0``). A non-finite value after a finite one,
      a non-finite ``f(x)`` for a base that uses it, or no finite value at
      all, makes the lane fall back to ``eps_power`` for the base.
    * Limitation (inherent in a fixed ``h_0``): the search assumes f varies on
      the scale ``max(1, |x|)``. A pole, a domain edge or an oscillation
      closer to x than ``h_0`` can make the first differences non-monotone
      for reasons other than rounding, and the search then stops at a far
      too large step (``1/x`` at 1e-3: h = 0.025; ``sin(100 x)``). The rows
      show it; nothing is masked.
    * Bases other than ``central``: the same monotone-difference search is run
      on the base's own difference quotient (its truncation error is also
      ``c h**p + ...``), so the chosen h is the one for that stencil.

    Cost: 2 evaluations per h for ``central`` (4 for ``central4``; 1 plus
    one ``f(x)`` for ``forward``/``backward``).
    """
    dtype = lanes.dtype
    x = lanes.x
    n = x.size
    beta = dtype.type(SW_BETA)
    eps = float(finfo(dtype).eps)
    n_steps = math.ceil(math.log(SW_H0 / eps) / math.log(SW_BETA)) + 2
    nonzero = [o for o in st.offsets if o != 0]
    o_arr = np.array([as_dtype_scalar(o, dtype) for o in nonzero], dtype=dtype)

    h = (dtype.type(SW_H0) * _scale(x)).astype(dtype)
    chosen = np.full(n, np.nan, dtype=dtype)
    err = np.full(n, np.nan, dtype=dtype)
    active = np.ones(n, dtype=bool)
    fallback = np.zeros(n, dtype=bool)
    started = np.zeros(n, dtype=bool)
    vanished = np.zeros(n, dtype=bool)  # the run ended because x + h == x
    D_prev = np.zeros(n, dtype=dtype)  # D_{i-1}
    d_prev = np.full(n, np.inf, dtype=dtype)  # d_{i-1} (inf before the first difference)
    h_prev = np.full(n, np.nan, dtype=dtype)  # h_{i-1}

    f0 = None
    if Fraction(0) in st.offsets:
        f0 = lanes(np.arange(n), np.zeros((1, n), dtype=dtype))[0]
        bad = ~np.isfinite(f0)
        fallback |= bad
        active &= ~bad

    for _ in range(n_steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        xi, hi = x[idx], h[idx]
        hu = applied_step(xi, hi)
        values = lanes(idx, o_arr[:, None] * hu[None, :])
        samples = {o: values[k] for k, o in enumerate(nonzero)}
        if f0 is not None:
            samples[Fraction(0)] = f0[idx]
        D = (robust_sum(st, samples.__getitem__, dtype) / hu).astype(dtype, copy=False)
        finite = np.isfinite(D) & (hu > 0)
        was = started[idx]

        # The step vanished against x (x + h == x) before monotonicity broke: the run is over, and
        # like a run that exhausts its iterations it returns its last step (below, with 'unfinished').
        ended = was & (hu == 0)
        vanished[idx[ended]] = True
        active[idx[ended]] = False

        # A non-finite value after a finite one: give up (eps fallback below).
        lost = was & ~finite & ~ended
        fallback[idx[lost]] = True
        active[idx[lost]] = False

        # Monotonicity test d_i >= d_{i-1} on lanes that have a previous value.
        go = was & finite
        d = np.full(idx.size, np.inf, dtype=dtype)
        d[go] = np.abs(D[go] - D_prev[idx[go]])
        stop = go & ((d >= d_prev[idx]) | (d == 0))
        s = idx[stop]
        chosen[s] = h_prev[s]
        err[s] = np.where(np.isfinite(d_prev[s]), d_prev[s], d[stop])
        active[s] = False

        # Continue: the first finite value starts the sequence, later ones extend it.
        first = ~was & finite
        started[idx[first]] = True
        cont = first | (go & ~stop)
        c = idx[cont]
        D_prev[c] = D[cont]
        h_prev[c] = hi[cont]
        d_prev[c] = d[cont]  # inf for a first value
        h[idx] = hi / beta

    # Searches that never broke monotonicity: the last (smallest-difference) step.
    unfinished = (active | vanished) & started
    chosen[unfinished] = h_prev[unfinished]
    err[unfinished] = d_prev[unfinished]
    fallback |= active & ~started
    if fallback.any():
        chosen[fallback] = _eps_steps(x[fallback], st.accuracy + 1)
        err[fallback] = np.nan
    err = err.astype(np.float64)
    err[~np.isfinite(err)] = np.nan
    return _Selection(chosen, lanes.evals.copy(), err)


def _select(rule: str, fn: Callable[..., Any], points: np.ndarray, base: Any) -> _Selection:
    if rule not in SELECTOR_RULES:
        raise ValueError(f"rule must be one of {tuple(SELECTOR_RULES)}, got {rule!r}")
    points = np.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"points must have shape (n_points, dim), got {points.shape}")
    if not is_real_float(points.dtype):
        raise ValueError(f"points must have a real floating dtype, got {points.dtype}")
    st = getattr(base, "stencil", base)
    if not isinstance(st, Stencil) or st.derivative != 1:
        raise ValueError(f"base must be a first-derivative stencil, got {base!r}")
    lanes = _Lanes(fn, points)
    x = lanes.x
    if rule in ("sqrt_eps", "cbrt_eps", "eps_power"):
        root = {"sqrt_eps": 2, "cbrt_eps": 3}.get(rule, st.accuracy + 1)
        return _Selection(_eps_steps(x, root), lanes.evals.copy(), np.full(x.size, np.nan))
    with np.errstate(all="ignore"):
        if rule == "stepleman_winarsky":
            return _stepleman_winarsky(lanes, st)
        from .gmsw import gmsw  # its own module, which imports this one (lanes, fallback)

        sel = gmsw(lanes)
    if st.offsets not in _ONE_SIDED:
        sel.error_estimate[:] = np.nan  # FD4's bound is for one-sided two-point differences only
    return sel


def choose_steps(
    rule: str, fn: Callable[..., Any], points: np.ndarray, *, base: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Steps chosen by a rule for every point and coordinate.

    Parameters
    ----------
    rule : str
        A key of :data:`SELECTOR_RULES`.
    fn : callable
        Vectorized, dtype-preserving ``fn(x0, x1, ...)``.
    points : ndarray, shape (n_points, dim)
        Points in the working (real floating) type.
    base : Stencil or StencilScheme
        The first-derivative stencil that will be scored (``eps_power`` and
        ``stepleman_winarsky`` choose h for it; the other rules ignore it).

    Returns
    -------
    h : ndarray, shape (n_points, dim), working type
        Nominal step chosen for each point and coordinate.
    evals : ndarray of int64, shape (n_points, dim)
        Points handed to f while choosing it (0 for the eps rules).

    Examples
    --------
    >>> import numpy as np
    >>> from harness.stencils import standard_stencil
    >>> h, n = choose_steps("sqrt_eps", np.exp, np.array([[0.5], [1e3]]), base=standard_stencil("forward"))
    >>> bool(h[1, 0] == np.sqrt(np.finfo(float).eps) * 1e3), n.tolist()
    (True, [[0], [0]])
    """
    h, evals, _ = choose_steps_and_estimate(rule, fn, points, base=base)
    return h, evals


def choose_steps_and_estimate(
    rule: str, fn: Callable[..., Any], points: np.ndarray, *, base: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`choose_steps` plus the rule's own error estimate, shape (n_points, dim).

    The estimate is Stepleman-Winarsky's last difference or GMSW's
    forward-difference bound (one-sided bases only); NaN otherwise.
    """
    sel = _select(rule, fn, points, base)
    shape = np.asarray(points).shape
    return sel.h.reshape(shape), sel.evals.reshape(shape), sel.error_estimate.astype(np.float64).reshape(shape)
