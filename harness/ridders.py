"""Best-estimate derivatives of a bare callable: Ridders' extrapolation of central differences in longdouble.

A Python function that works neither on mpmath numbers nor comes with an
mpmath twin or an analytic derivative has no high-precision reference. Its
rows are then scored against the best estimate this module makes, marked
``reference_method = 'estimate'`` and carrying their own digits, never taken
for a certified or checked reference.

Algorithm
---------
C. J. F. Ridders, "Accurate computation of F'(x) and F'(x) F''(x)", Advances
in Engineering Software 4(2), 75-76 (1982), as Numerical Recipes implements it
(Press, Teukolsky, Vetterling & Flannery, 2nd ed., section 5.7, routine
``dfridr``; this module follows that routine's tableau, error estimate and
stopping rule, with its constants ``CON = 1.4`` and ``SAFE = 2``):

1. A central difference quotient ``D(h)`` of the requested partial
   derivative (the tensor product of the accuracy-2 central stencils of each
   coordinate's order, so ``D(h) = D(-h)`` and its error is a series in
   ``h^2``; a mixed partial d2f/dxi dxj is the four-point product stencil) is
   formed on the steps ``h_i = h_0 / CON^i``, ``i = 0 .. NTAB - 1``, all in
   one call of the vectorized function.
2. Neville's tableau extrapolates ``D`` to ``h = 0`` in ``h^2``:
   ``T[i, j] = T[i, j-1] + (T[i, j-1] - T[i-1, j-1]) / ((h_{i-j} / h_i)^2 - 1)``.
3. Each entry's error estimate is the larger of its differences from the two
   entries it was built from; the entry with the smallest estimate is the
   answer, and the walk stops once the diagonal moves away by ``SAFE`` times
   that estimate (round-off has taken over).

Differences from ``dfridr``: the function is evaluated in the widest number
type numpy offers (``np.longdouble``: 64 significant bits on x86-64 Linux,
113 on aarch64 Linux, the same as float64 on Windows and macOS arm64; the
caller passes float64 for a function that refuses it), the steps are applied
exactly (``s = (x + l h) - x`` in that type, with the point's scale
``l = min(2^e, 1)``, ``2^(e-1) <= |x| < 2^e``: relative to the point below 1,
so log near 0 stays in its domain, absolute above, as in
:mod:`harness.reference`), and the tableau is longer (``NTAB = 20``, so the
steps span ``h_0 / 600``; ``h_0 = l / 8``). ``dfridr`` asks for an ``h_0``
"over which f changes substantially", which is unknown for a callable, so
the tableau is run from every step on (a later start is a smaller ``h_0``)
and the entry with the smallest error estimate wins. Levels whose samples
are not finite (a large step that left the function's domain) are dropped
from the start.

Digits
------
The error estimate is floored by the rounding of the samples through the
stencil and the tableau: ``u (|f| + |x| |f'|)`` per sample (a function that
rounds its argument, such as ``sin(50 x)``, has errors of ``u |x f'|``;
``|f'|`` is read off the samples' range), times ``sum |w| / h^n`` at the
entry's smallest step, times ``prod (fac + 1) / (fac - 1)`` over the
tableau's columns. ``u`` is the unit round-off of what the function
returned, which also caps the digits (19.3 for x86 longdouble, 15.95 when
it returns float64). ``digits = -log10(error / |D|)``; when ``|D| <= error``
the derivative cannot be told from 0: the value is 0 and the digits are
``-log10(error / S)`` with ``S = max |f| / prod l^n``, the size a derivative
of f has on the point's scale (the zero rule of :mod:`harness.reference`).
Against the exact derivatives of 13 functions (exp, sin, log, 1/(1+x^2),
exp(100 x), sin(50 x), tanh(20 x), 1/(x - 1.01), sqrt, arctan and float64-
and float32-only versions) at 12 points, orders 1, 2, 3 and 5, the true error
exceeded the estimate in 3 of 571 cases with at least one digit, by at most
a factor 2.04; ``tests/test_userfunc.py`` checks a subset.
"""

from __future__ import annotations

import math
from itertools import product
from typing import Any, Callable, Sequence

import numpy as np

from .number_types import finfo, is_real_float
from .reference import Reference, exact_point
from .stencils import standard_stencil

__all__ = ["CON", "ESTIMATE_MIN_DIGITS", "NTAB", "SAFE", "RiddersResult", "estimate_reference", "ridders"]

CON = 1.4
"""Ratio of successive steps (``dfridr``'s CON)."""
NTAB = 20
"""Steps in the tableau (``dfridr`` uses 10; 20 reach ``h_0 / 600``)."""
SAFE = 2.0
"""Stop once the diagonal moves away by this factor over the best error estimate (``dfridr``'s SAFE)."""
H0_FRACTION = 1 / 8
"""First step, relative to the point's scale ``l``: ``x +- 3 h_0`` stays on the point's side of 0."""
ESTIMATE_MIN_DIGITS = 8.0
"""An estimate is ``ok`` from ``min(reference.min_digits, 8)`` digits; below, its status is ``disagree``."""
MIN_LEVELS = 3
"""Finite tableau levels needed for an estimate (fewer: the function is not finite near the point)."""

Vectorized = Callable[[np.ndarray], np.ndarray]
"""``fn(X)`` with ``X`` of shape ``(n, dim)`` returning ``n`` values."""


class RiddersResult:
    """What one extrapolation found.

    Attributes
    ----------
    value : np.longdouble
        The best tableau entry (NaN if there is none).
    error : float
        Its error estimate.
    digits : float
        Significant digits it carries (see the module docstring).
    status : str
        ``'ok'``-to-be (``'estimated'``), ``'nonfinite'`` or ``'error'``; :func:`estimate_reference`
        turns digits into the reference status.
    message : str
        Why there is no estimate.
    evaluations : int
        Points the function was evaluated at.
    """

    __slots__ = ("value", "error", "digits", "status", "message", "evaluations")

    def __init__(self, value: Any, error: float, digits: float, status: str, message: str, evaluations: int):
        self.value, self.error, self.digits = value, error, digits
        self.status, self.message, self.evaluations = status, message, evaluations


def _scale(x: Any) -> float:
    """``l = min(2^e, 1)`` with ``2^(e-1) <= |x| < 2^e`` (1 at 0)."""
    if x == 0:
        return 1.0
    return math.ldexp(1.0, min(int(np.frexp(np.longdouble(x))[1]), 0))


def _as_point(point: Sequence[Any], dtype: np.dtype) -> np.ndarray:
    """The point's coordinates in ``dtype`` (numpy scalars kept as they are, then cast)."""
    return np.array([dtype.type(v) if not isinstance(v, np.generic) else v for v in point]).astype(dtype)


def _stencil_points(x: np.ndarray, active: Sequence[int], offsets: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``x + o h`` for every step level and offset tuple: shape ``(levels, len(offsets), dim)``.

    ``offsets`` has shape ``(Q, A)`` and ``steps`` ``(levels, A)``, one column per active coordinate.
    """
    X = np.broadcast_to(x, (steps.shape[0], offsets.shape[0], x.size)).copy()
    for k, c in enumerate(active):
        X[:, :, c] += offsets[None, :, k] * steps[:, None, k]
    return X


def _effective_type(returned: np.dtype, dtype: np.dtype) -> np.dtype:
    """The type whose rounding bounds f's values: what f returned when narrower than the working type."""
    returned = returned if is_real_float(returned) else dtype
    return returned if returned.itemsize < dtype.itemsize else dtype


def _tensor_stencil(orders: Sequence[int], direction: str = "central", accuracy: int = 2
                    ) -> tuple[list[int], np.ndarray, list[tuple[int, ...]]]:
    """Active coordinates, weights and offset tuples of the product of one kind of stencil per coordinate."""
    active = [c for c, n in enumerate(orders) if n]
    stencils = [standard_stencil(direction, orders[c], accuracy) for c in active]
    offsets, weights = [], []
    for combo in product(*(list(zip(s.offsets, s.weights)) for s in stencils)):
        w = math.prod(wt for _, wt in combo)
        if w:
            offsets.append(tuple(int(o) for o, _ in combo))
            weights.append(w)
    # Exact rationals rounded once to longdouble (numerator / denominator are exact for these small weights).
    w_arr = np.array([np.longdouble(w.numerator) / np.longdouble(w.denominator) for w in weights])
    return active, w_arr, offsets


def ridders(fn: Vectorized, point: Sequence[Any], orders: Sequence[int], *,
            dtype: np.dtype = np.dtype(np.longdouble)) -> RiddersResult:
    """Ridders' extrapolation of the partial derivative ``orders`` of ``fn`` at ``point``.

    Parameters
    ----------
    fn : callable
        ``fn(X)``, ``X`` of shape ``(n, dim)`` in ``dtype``, returning ``n`` values.
    point : sequence
        The point (exact in ``dtype``: float64 and narrower values are).
    orders : sequence of int
        Multi-index, e.g. ``(1,)``, ``(0, 2)`` or ``(1, 1)``.
    dtype : numpy dtype
        Working type (default: the widest, longdouble).

    Returns
    -------
    RiddersResult

    Examples
    --------
    >>> r = ridders(lambda X: np.exp(X[:, 0]), [1.0], [1])
    >>> abs(float(r.value) - math.e) < 1e-15, r.digits > 15
    (True, True)
    """
    dtype = np.dtype(dtype)
    x = _as_point(point, dtype)
    dim = x.size
    active, weights, offsets = _tensor_stencil(orders)
    scales = np.array([_scale(x[c]) for c in active])
    hs = H0_FRACTION / CON ** np.arange(NTAB)
    with np.errstate(all="ignore"):
        steps = np.empty((NTAB, len(active)), dtype=dtype)
        for k, c in enumerate(active):
            steps[:, k] = (x[c] + (scales[k] * hs).astype(dtype)) - x[c]
        off = np.array(offsets, dtype=dtype)  # (Q, A)
        X = _stencil_points(x, active, off, steps)
        n_eval = NTAB * len(offsets)
        try:
            values = np.asarray(fn(X.reshape(n_eval, dim)))
        except Exception as exc:  # noqa: BLE001 - a failing user function becomes a status
            return RiddersResult(np.longdouble(np.nan), math.inf, 0.0, "error",
                                 f"the function raised {type(exc).__name__}: {exc}", n_eval)
        effective = _effective_type(values.dtype, dtype)
        values = values.astype(dtype).reshape(NTAB, len(offsets))
        denom = np.prod(steps ** np.array(orders)[active][None, :].astype(dtype), axis=1)
        quotients = (values * weights[None, :]).sum(axis=1) / denom
    finite = np.isfinite(values).all(axis=1) & np.isfinite(quotients) & (denom != 0)
    bad = np.flatnonzero(~finite)
    first = int(bad[-1]) + 1 if bad.size else 0
    if NTAB - first < MIN_LEVELS:
        return RiddersResult(np.longdouble(np.nan), math.inf, 0.0, "nonfinite",
                             f"the function is not finite at the extrapolation's steps around the point "
                             f"(finite at {NTAB - first} of {NTAB} steps)", n_eval)
    # The precision of what f returned bounds the digits (a float64 result in longdouble arithmetic: 15.95).
    cap = (finfo(effective).nmant + 1) * math.log10(2)
    u = float(finfo(effective).eps) / 2
    size = np.abs(values).max(axis=1)
    # |x| |f'| per level: the range of the samples over the stencil's width, times the point's size. A
    # function that rounds its argument (sin(50 x)) has rounding errors of u |x f'|, not u |f|.
    width = 2 * np.abs(off).max(axis=0)[None, :] * steps
    conditioning = float(np.abs(x).max()) * (values.max(axis=1) - values.min(axis=1)) / width.min(axis=1)
    w_sum = float(np.abs(weights).sum())
    # dfridr wants h_0 "an increment over which f changes substantially", unknown for a callable: the
    # tableau is run from every level on (a later start is a smaller h_0) and the smallest error wins. Each
    # error is floored by the rounding of the samples (u (|f| + |x f'|) each) through the stencil at the
    # entry's smallest step and through the tableau (column j at most multiplies it by (fac + 1) / (fac - 1)).
    candidates = []
    for k in range(first, NTAB - MIN_LEVELS + 1):
        value, error, level, column = _tableau(quotients[k:], steps[k:, 0], k)
        f_size = float(size[level - column:level + 1].max())
        noise = u * (f_size + float(conditioning[level - column]))
        amplification = math.prod((CON ** (2 * j) + 1) / (CON ** (2 * j) - 1) for j in range(1, column + 1))
        rounding = noise * w_sum / abs(float(denom[level])) * amplification
        candidates.append((max(error, rounding), k, value, f_size))
    error, _, value, f_size = min(candidates, key=lambda c: c[:2])
    if error == 0:  # f constant over the stencil, exactly
        digits = cap
    elif abs(float(value)) <= error:
        # Indistinguishable from 0: known absolutely, on the size a derivative of f has on the point's scale.
        natural = f_size / float(np.prod(scales ** np.array(orders)[active]))
        value = dtype.type(0)
        digits = min(cap, max(0.0, -math.log10(error / natural))) if natural > 0 else 0.0
    else:
        digits = min(cap, max(0.0, -math.log10(error / abs(float(value)))))
    return RiddersResult(value, error, digits, "estimated", "", n_eval)


def _tableau(quotients: np.ndarray, steps: np.ndarray, start: int) -> tuple[Any, float, int, int]:
    """``dfridr``'s Neville tableau in ``h^2`` over the given steps: best entry, its error estimate, level, column.

    ``start`` is the level of ``quotients[0]``; the returned level counts from the first step.
    """
    n = len(quotients)
    table = np.empty((n, n), dtype=quotients.dtype)
    table[:, 0] = quotients
    best, err, where = quotients[0], math.inf, (0, 0)
    for i in range(1, n):
        for j in range(1, i + 1):
            fac = (steps[i - j] / steps[i]) ** 2
            table[i, j] = table[i, j - 1] + (table[i, j - 1] - table[i - 1, j - 1]) / (fac - 1)
            errt = max(abs(float(table[i, j] - table[i, j - 1])), abs(float(table[i, j] - table[i - 1, j - 1])))
            if errt <= err:
                err, best, where = errt, table[i, j], (i, j)
        if abs(float(table[i, i] - table[i - 1, i - 1])) >= SAFE * err:
            break
    return best, err, start + where[0], where[1]


def estimate_reference(fn: Vectorized, point: Sequence[Any], orders: Sequence[int], *, min_digits: float,
                       dtype: np.dtype = np.dtype(np.longdouble)) -> tuple[Reference, int]:
    """The best-estimate reference (``method='estimate'``) and the evaluations it cost.

    ``status`` is ``'ok'`` when the estimate carries at least
    ``min(min_digits, ESTIMATE_MIN_DIGITS)`` digits, else ``'disagree'``
    (the tableau's levels do not agree), ``'nonfinite'`` or ``'error'``.
    """
    r = ridders(fn, point, orders, dtype=dtype)
    if r.status != "estimated":
        return Reference(None, math.nan, math.nan, 0.0, r.status, r.message, "estimate"), r.evaluations
    kink, spent = one_sided_gap(fn, point, orders, r.value, dtype=dtype)
    if kink:
        return Reference(None, math.nan, math.nan, 0.0, "disagree", kink, "estimate"), r.evaluations + spent
    need = min(float(min_digits), ESTIMATE_MIN_DIGITS)
    if r.digits < need:
        return Reference(None, math.nan, math.nan, r.digits, "disagree",
                         f"Ridders' extrapolation levels agree to {r.digits:.1f} digits < {need:g} "
                         f"(estimate {float(r.value):.10g} +- {r.error:.2g})", "estimate"), r.evaluations
    hi = float(r.value)
    lo = float(r.value - np.longdouble(hi)) if math.isfinite(hi) else math.nan
    if not math.isfinite(hi):
        return Reference(None, math.nan, math.nan, r.digits, "nonfinite", f"estimate {hi} overflows float64",
                         "estimate"), r.evaluations
    return Reference(exact_point([r.value])[0], hi, lo, r.digits, "ok", "", "estimate"), r.evaluations + spent


#: One-sided steps of the kink check, relative to the point's scale l: ``l 2^-12`` and 16 times smaller.
GAP_STEPS = (2.0**-12, 2.0**-16)


def one_sided_gap(fn: Vectorized, point: Sequence[Any], orders: Sequence[int], central: Any, *,
                  dtype: np.dtype = np.dtype(np.longdouble)) -> tuple[str, int]:
    """Whether the one-sided differences converge to the central estimate; a message if they do not.

    Ridders' tableau is built on central differences, which are blind to a
    kink (``|x|`` at 0 gives 0, ``max(x, 0)`` gives 1/2). Where f is smooth
    enough for the derivative, a forward (backward) accuracy-1 difference
    misses it by about ``C h``: the gap to the central estimate shrinks 16
    times from step ``l 2^-12`` to ``l 2^-16``. At a kink it stays at the
    jump. A gap is a kink when, on either side, it shrinks by less than half
    and stands 100 times above the samples' rounding through the stencil.

    Returns
    -------
    (str, int)
        The message ('' when the sides agree) and the evaluations spent.

    Examples
    --------
    >>> one_sided_gap(lambda X: np.abs(X[:, 0]), [0.0], [1], np.longdouble(0))[0][:40]
    'one-sided differences do not converge to'
    >>> one_sided_gap(lambda X: np.exp(X[:, 0]), [0.0], [1], np.longdouble(1))
    ('', 8)
    """
    dtype = np.dtype(dtype)
    x = _as_point(point, dtype)
    spent = 0
    for direction in ("forward", "backward"):
        active, weights, offsets = _tensor_stencil(orders, direction, 1)
        off = np.array(offsets, dtype=dtype)
        scales = np.array([_scale(x[c]) for c in active])
        with np.errstate(all="ignore"):
            steps = np.array([[(x[c] + dtype.type(s * frac)) - x[c] for s, c in zip(scales, active)]
                              for frac in GAP_STEPS], dtype=dtype)  # (2, A)
            X = _stencil_points(x, active, off, steps)
            spent += X.shape[0] * X.shape[1]
            try:
                raw = np.asarray(fn(X.reshape(-1, x.size)))
            except Exception:  # noqa: BLE001 - a side f cannot be evaluated on says nothing about a kink
                continue
            u = float(finfo(_effective_type(raw.dtype, dtype)).eps) / 2  # as ridders() takes it
            values = raw.astype(dtype).reshape(len(GAP_STEPS), -1)
            denom = np.prod(steps ** np.array(orders)[active][None, :].astype(dtype), axis=1)
            quotients = (values * weights[None, :]).sum(axis=1) / denom
            rounding = 100 * u * np.abs(values).max(axis=1) * float(np.abs(weights).sum()) / np.abs(denom)
        if not (np.isfinite(quotients).all() and np.isfinite(values).all() and (denom != 0).all()):
            continue
        gap = np.abs(quotients - central).astype(float)
        if gap[1] > 0.5 * gap[0] and gap[1] > float(rounding[1]):
            return (f"one-sided differences do not converge to the central estimate {float(central):.6g} "
                    f"({direction}: {float(quotients[0]):.6g} at step {float(steps[0, 0]):.3g}, "
                    f"{float(quotients[1]):.6g} at {float(steps[1, 0]):.3g}): a kink or a jump at the point?"), spent
    return "", spent
