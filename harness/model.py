"""The error model: predicted truncation and round-off, h*, and observed regimes.

Two halves, both pure functions:

*Predicted* (from the scheme, the function and the number type). A stencil
``sum_i w_i f(x + o_i h) / h^m`` of accuracy p has the error model

    E(h) = C_t h^p + C_r / h^m

    C_t = |sum_i w_i o_i^(p+m)| / (p+m)! * |f^(p+m)(x)|     (leading truncation term)
    C_r = eps_f * sum_i |w_i| * |f(x)|                      (round-off)

where ``eps_f`` is the size of the relative error of one evaluation of f
(see :func:`function_noise` and :data:`DEFAULT_EPS_FACTOR`) and
``|f(x + o_i h)|`` is replaced by ``|f(x)|``,
valid while ``|o_i| h`` is small against the scale on which f changes (its
distance to a zero or singularity). E(h) is smallest at

    h* = (m C_r / (p C_t))^(1/(p+m)),

which gives the textbook ``2 sqrt(eps_f |f| / |f''|)`` (forward) and
``(3 eps_f |f| / |f'''|)^(1/3)`` (central). The complex step
``Im f(x + ih) / h`` has no subtractive cancellation; its model is
``E(h) = |f'''| h^2 / 6 + eps_f |f'|``, a truncation term over a constant floor
(see :func:`complex_step_model`).

*Observed* (from the tidy table rows of one curve): :func:`observed_optimum`
is a robust observed h* (the raw argmin of a noisy error curve is not), and
:func:`fit_order` is :func:`harness.analysis.truncation_fit` (optionally on the
steps labelled truncation), and :func:`label_regimes`
tags every step as ``'truncation'``, ``'round-off'``, ``'transition'``,
``'floor'`` or ``'invalid'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import factorial
from typing import Any, Callable, Sequence

import mpmath
import numpy as np
import numpy.typing as npt
import pandas as pd

from .analysis import SlopeFit, observed_optimum, truncation_fit
from .reference import MAX_ORDER, reference_derivative
from .schemes import ComplexStepScheme, Scheme, StencilScheme
from .stencils import Stencil

__all__ = [
    "DEFAULT_EPS_FACTOR",
    "MODEL_STATUSES",
    "REGIMES",
    "ErrorModel",
    "complex_step_model",
    "fit_order",
    "function_noise",
    "higher_derivative",
    "label_regimes",
    "model_curve",
    "next_truncation_order",
    "observed_optimum",
    "optimal_step",
    "scheme_model",
    "stencil_model",
    "unit_roundoff",
]

DEFAULT_EPS_FACTOR = 0.3
"""Default ``eps_f / u``: the *typical* round-off of a correctly rounded f.

The round-off term ``C_r = eps_f * sum|w_i| * |f|`` has the form of a bound,
as if every sample were off by ``eps_f |f|`` with the signs that add up. With
``eps_factor = 1`` (``|fl(f) - f| <= u |f|``, a correctly rounded f) it is a
true worst case, and the observed optimum then lies on average 1.6 times
below the predicted h*. The error actually measured at one step is a sum
of independent rounding errors of random sign, and the optimum sits where
the truncation term meets its *typical* size, the root mean square:

* a correctly rounded sample is off by a uniform fraction of half an ulp:
  rms ``ulp / sqrt(12)``, i.e. ``0.425 u |f|`` averaged over a binade
  (``ulp / (u |f|)`` runs from 1 to 2);
* ``sum_i w_i delta_i f`` then has rms ``0.425 u |f| sqrt(sum w_i^2)``;
* for the textbook stencils ``sqrt(sum w_i^2) / sum|w_i|`` is 0.71 (forward,
  central), 0.63 (central p=4), 0.61 (second derivative p=1, 2) and 0.59
  (second derivative central p=4), so the rms equals ``C_r`` with
  ``eps_factor`` between 0.25 and 0.30.

The measured optima agree: over exp, sin, log and 1/(1+x^2) at two points
each, forward/central/central-4 for m = 1 and 2, float64 and float32
(``tests/test_model.py``), the factor implied by the low-order schemes (whose
h* depends on it most strongly) is 0.27 for forward and central first
derivatives and 0.23-0.30 for second derivatives. 0.3 keeps every observed
optimum within a factor 0.4-1.7 of the prediction. A library function that
is not correctly rounded, or an expression with several roundings (the
rational function implies about 0.32), has a somewhat larger factor; h*
depends only on ``eps_f^(1/(p+m))``, so a factor 2 moves it by at most 1.41.
Pass ``eps_factor=1`` for the worst-case bound, or ``noise=`` when f carries
its own relative noise.
"""

MODEL_STATUSES = ("ok", "exact", "no_roundoff", "undefined")
"""Status of an :class:`ErrorModel`.

``'ok'``: both terms present, finite h*. ``'exact'``: the leading truncation
term vanishes (``C_t == 0``: the stencil is exact for f at x, e.g. x**2 with a
central difference, or ``f^(p+m)(x) == 0``); the model is pure round-off and
decreases for ever, so ``h_star == inf`` and ``min_error == 0`` (the real
optimum is set by a higher term the model leaves out). ``'no_roundoff'``:
``C_r == 0`` because ``f(x) == 0`` (stencils) or ``f'(x) == 0`` (complex
step). The approximation ``|f(x + o h)| ~ |f(x)|`` then breaks down (the
samples are ``~ |o h f'(x)|``, not 0), so the model cannot place h*:
``h_star`` and ``min_error`` are NaN. ``'undefined'``: a non-finite input, or
both constants zero; everything is NaN.
"""

REGIMES = ("truncation", "round-off", "transition", "floor", "invalid")
"""Labels :func:`label_regimes` assigns."""


# --------------------------------------------------------------------------- #
# Number types                                                                #
# --------------------------------------------------------------------------- #

def unit_roundoff(dtype: npt.DTypeLike) -> float:
    """Unit round-off ``u = eps / 2`` of a floating-point type.

    Examples
    --------
    >>> unit_roundoff("float64") == 2.0**-53
    True
    >>> unit_roundoff("float32") == 2.0**-24
    True
    """
    return float(np.finfo(np.dtype(dtype)).eps) / 2


def function_noise(
    dtype: npt.DTypeLike = np.float64,
    *,
    eps_factor: float = DEFAULT_EPS_FACTOR,
    noise: float | None = None,
) -> float:
    """Relative error ``eps_f`` of one evaluation of f.

    Parameters
    ----------
    dtype : dtype-like
        Number type f is evaluated in.
    eps_factor : float
        ``eps_f = eps_factor * u`` (see :data:`DEFAULT_EPS_FACTOR`).
    noise : float, optional
        A known relative noise level of f (measured data, a simulation): used
        as ``eps_f`` instead of ``eps_factor * u``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``noise`` or ``eps_factor`` is negative or not finite.
    """
    if noise is not None:
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
        return float(noise)
    if not (math.isfinite(eps_factor) and eps_factor >= 0):
        raise ValueError(f"eps_factor must be a finite number >= 0, got {eps_factor!r}")
    return eps_factor * unit_roundoff(dtype)


# --------------------------------------------------------------------------- #
# The model                                                                   #
# --------------------------------------------------------------------------- #

def optimal_step(c_t: float, c_r: float, p: int, q: int) -> float:
    """Step minimizing ``C_t h^p + C_r h^-q`` (q > 0), or the crossing point (q = 0).

    Parameters
    ----------
    c_t, c_r : float
        Truncation and round-off constants (>= 0).
    p : int
        Truncation exponent (accuracy order), >= 1.
    q : int
        Round-off exponent: the derivative order m for stencils; 0 for a
        round-off *floor* (complex step), where h* is defined as the largest
        step whose truncation term is still below the floor,
        ``(C_r / C_t)^(1/p)``.

    Returns
    -------
    float
        h*; ``inf`` if ``c_t == 0`` (no truncation term); NaN if ``c_r == 0``
        or an input is not finite (no optimum the model can place).

    Examples
    --------
    >>> optimal_step(0.5, 2.0, 1, 1)   # forward difference, |f''| = 1, eps_f |f| = 1
    2.0
    """
    if not (math.isfinite(c_t) and math.isfinite(c_r)) or c_t < 0 or c_r < 0 or c_r == 0:
        return math.nan
    if c_t == 0:
        return math.inf
    if q == 0:
        return (c_r / c_t) ** (1.0 / p)
    return (q * c_r / (p * c_t)) ** (1.0 / (p + q))


@dataclass(frozen=True)
class ErrorModel:
    """``E(h) = C_t h^p + C_r h^-q`` for one curve.

    Attributes
    ----------
    kind : str
        ``'stencil'`` or ``'complex_step'``.
    derivative : int
        Derivative order m.
    accuracy : int
        Accuracy order p (truncation exponent).
    roundoff_power : int
        q: m for stencils (round-off ~ 1/h^m), 0 for the complex step (a floor).
    c_trunc : float
        C_t, the leading truncation constant (>= 0).
    c_round : float
        C_r, the round-off constant (>= 0).
    eps_f : float
        Relative error of one evaluation of f used for C_r.
    status : str
        One of :data:`MODEL_STATUSES`.
    c_next : float
        Size of the next truncation term, ``C_next h^(p+r)`` (NaN if unknown).
        Not part of E(h); it bounds where the leading term describes the
        curve (:meth:`asymptotic_window`).
    next_power : int
        r, the gap between the leading and the next truncation exponent
        (1 for one-sided stencils, 2 for symmetric ones and the complex step;
        0 if unknown).
    """

    kind: str
    derivative: int
    accuracy: int
    roundoff_power: int
    c_trunc: float
    c_round: float
    eps_f: float
    status: str
    c_next: float = math.nan
    next_power: int = 0

    def truncation(self, h: npt.ArrayLike) -> np.ndarray:
        """Truncation term ``C_t h^p`` on an array of steps."""
        return self.c_trunc * np.asarray(h, dtype=float) ** self.accuracy

    def roundoff(self, h: npt.ArrayLike) -> np.ndarray:
        """Round-off term ``C_r / h^q`` (a constant floor when q = 0)."""
        h = np.asarray(h, dtype=float)
        with np.errstate(divide="ignore"):
            return self.c_round / h**self.roundoff_power

    def error(self, h: npt.ArrayLike) -> np.ndarray:
        """Model error ``E(h)``, the sum of both terms."""
        return self.truncation(h) + self.roundoff(h)

    @property
    def h_star(self) -> float:
        """Predicted optimal step (``inf`` or NaN, see :data:`MODEL_STATUSES`)."""
        if self.status == "undefined":
            return math.nan
        return optimal_step(self.c_trunc, self.c_round, self.accuracy, self.roundoff_power)

    @property
    def min_error(self) -> float:
        """Predicted error at h*, ``E(h*)`` (0 when h* is inf, NaN when undefined)."""
        h = self.h_star
        if math.isinf(h):
            return 0.0
        if not math.isfinite(h):
            return math.nan
        return float(self.error(h))

    def asymptotic_window(self, tol: float = 0.2) -> tuple[float, float]:
        """Steps where the model's log-log slope stays within ``tol`` of p.

        The observed order can only be read where the truncation term
        dominates round-off *and* the higher Taylor terms are still small.
        With ``R/T`` the round-off to truncation ratio, the slope of
        ``log E`` is ``p - (p+q) R/(T+R)``; it is within ``tol`` of p for
        ``h >= h_lo = ((p+q-tol) C_r / (tol C_t))^(1/(p+q))``. The next term
        ``C_next h^(p+r)`` shifts it by at most ``r a/(1-a)``,
        ``a = (C_next/C_t) h^r``, which is within ``tol`` for
        ``h <= h_hi = (tol C_t / ((r+tol) C_next))^(1/r)``.

        Returns
        -------
        (float, float)
            ``(h_lo, h_hi)``; the order is measurable when ``h_lo < h_hi``.
            ``h_lo`` is 0 without round-off, ``h_hi`` inf when the next term
            vanishes; NaN where the model cannot say (no truncation term,
            unknown next term).
        """
        p, q = self.accuracy, self.roundoff_power
        if not (math.isfinite(self.c_trunc) and self.c_trunc > 0 and math.isfinite(self.c_round)
                and 0 < tol < p + q):
            return math.nan, math.nan
        h_lo = ((p + q - tol) * self.c_round / (tol * self.c_trunc)) ** (1.0 / (p + q))
        if self.next_power < 1 or not math.isfinite(self.c_next):
            h_hi = math.nan
        elif self.c_next == 0:
            h_hi = math.inf
        else:
            r = self.next_power
            h_hi = (tol * self.c_trunc / ((r + tol) * self.c_next)) ** (1.0 / r)
        return float(h_lo), float(h_hi)


def _status(c_t: float, c_r: float) -> str:
    if not (math.isfinite(c_t) and math.isfinite(c_r)) or (c_t == 0 and c_r == 0):
        return "undefined"
    if c_r == 0:
        return "no_roundoff"
    return "exact" if c_t == 0 else "ok"


def _magnitude(value: float) -> float:
    value = float(value)
    return abs(value) if math.isfinite(value) else math.nan


def stencil_model(
    stencil: Stencil,
    f_value: float,
    f_high: float,
    dtype: npt.DTypeLike = np.float64,
    *,
    f_next: float | None = None,
    eps_factor: float = DEFAULT_EPS_FACTOR,
    noise: float | None = None,
) -> ErrorModel:
    """Error model of a finite-difference stencil at one point.

    Parameters
    ----------
    stencil : Stencil
        Offsets, exact weights, m and p.
    f_value : float
        f(x), standing in for every sample ``f(x + o_i h)``: valid while
        ``|o_i| h`` is small against the scale on which f varies.
    f_high : float
        ``f^(p+m)(x)`` along the differentiated coordinate.
    dtype : dtype-like
        Number type of the evaluation.
    f_next : float, optional
        ``f^(k)(x)`` with ``k = next_truncation_order(stencil)``, used only by
        :meth:`ErrorModel.asymptotic_window`.
    eps_factor, noise
        See :func:`function_noise`.

    Returns
    -------
    ErrorModel
        With ``C_t = |truncation_constant| |f^(p+m)|`` and
        ``C_r = eps_f sum|w_i| |f(x)|``.

    Examples
    --------
    >>> from harness.stencils import standard_stencil
    >>> m = stencil_model(standard_stencil("forward"), 1.0, 1.0, noise=1e-16)
    >>> round(m.h_star / 2e-8, 12)
    1.0
    """
    eps_f = function_noise(dtype, eps_factor=eps_factor, noise=noise)
    c_t = abs(float(stencil.truncation_constant())) * _magnitude(f_high)
    c_r = eps_f * float(sum(abs(w) for w in stencil.weights)) * _magnitude(f_value)
    k = next_truncation_order(stencil)
    c_next = abs(float(stencil.moment(k) / factorial(k))) * _magnitude(f_next) if f_next is not None else math.nan
    return ErrorModel("stencil", stencil.derivative, stencil.accuracy, stencil.derivative,
                      c_t, c_r, eps_f, _status(c_t, c_r), c_next, k - stencil.derivative - stencil.accuracy)


def next_truncation_order(stencil: Stencil) -> int:
    """Derivative order k of the second truncation term: the first k > p+m with a non-zero moment.

    Examples
    --------
    >>> from harness.stencils import standard_stencil
    >>> next_truncation_order(standard_stencil("forward")), next_truncation_order(standard_stencil("central"))
    (3, 5)
    """
    first = stencil.derivative + stencil.accuracy
    for k in range(first + 1, first + 2 * stencil.n_points + 3):
        if stencil.moment(k) != 0:
            return k
    return first + 1  # pragma: no cover - a stencil's moments cannot all vanish beyond its order


def complex_step_model(
    d1: float,
    d3: float,
    dtype: npt.DTypeLike = np.float64,
    *,
    d5: float | None = None,
    eps_factor: float = DEFAULT_EPS_FACTOR,
    noise: float | None = None,
) -> ErrorModel:
    """Error model of the complex step ``Im f(x + ih) / h``.

    ``Im f(x + ih) / h = f'(x) - f'''(x) h^2 / 6 + O(h^4)`` involves no
    difference of nearly equal numbers, so round-off does not grow like 1/h:
    it is a floor of about ``eps_f |f'(x)|`` (the relative error of the
    computed imaginary part, carried through the division by h). The model is

        E(h) = |f'''(x)| h^2 / 6 + eps_f |f'(x)|.

    It has no minimum at a positive h (E decreases to the floor), so h* is
    *defined* as the largest step whose truncation term is still below the
    floor, ``h* = sqrt(6 eps_f |f'| / |f'''|)``: any smaller step is as good,
    any larger one worse. The predicted minimal error is
    ``E(h*) = 2 eps_f |f'|``; steps below h* reach the floor ``eps_f |f'|``
    (:attr:`ErrorModel.c_round`). Measured on exp(x) sin(x) at 0.7 in
    float64, the floor's rms is 4.1 ``eps_f |f'|`` = 2.0 ``E(h*)`` with the
    default ``eps_factor`` (complex exp, sin and product round several times,
    and the estimate is rounded once more), within the model's factor-10
    claim.

    Parameters
    ----------
    d1, d3 : float
        The first and third derivatives of f at x.
    dtype : dtype-like
        Real number type of the evaluation (its complex partner is used).
    d5 : float, optional
        The fifth derivative (next term ``f^(5) h^4 / 120``), used only by
        :meth:`ErrorModel.asymptotic_window`.
    eps_factor, noise
        See :func:`function_noise`.

    Returns
    -------
    ErrorModel
        ``kind='complex_step'``, ``roundoff_power=0``.
    """
    eps_f = function_noise(dtype, eps_factor=eps_factor, noise=noise)
    c_t = _magnitude(d3) / 6
    c_r = eps_f * _magnitude(d1)
    c_next = _magnitude(d5) / 120 if d5 is not None else math.nan
    return ErrorModel("complex_step", 1, 2, 0, c_t, c_r, eps_f, _status(c_t, c_r), c_next, 2)


# --------------------------------------------------------------------------- #
# Derivatives for the model                                                   #
# --------------------------------------------------------------------------- #

def higher_derivative(
    f_mp: Callable[..., Any],
    point: Sequence[float],
    orders: Sequence[int],
    *,
    dps: int = 30,
) -> float:
    """A (higher) partial derivative of f at a point, to a few digits, as float.

    The model only needs ``f^(p+m)`` to a few significant digits. Total orders
    up to :data:`harness.reference.MAX_ORDER` (6) use the checked
    :func:`~harness.reference.reference_derivative` (asking for 10 agreeing
    digits instead of 20). Higher orders (e.g. central p=6 with m=1 needs
    f^(7)) fall back to ``mpmath.diff`` with the step ``l * 2**-(prec+10)``,
    ``l = min(|x_i|, 1)`` over the differentiated coordinates (relative to the
    point below 1, so ``log`` near 0 stays in its domain; absolute above, as
    in :mod:`harness.reference`). ``mpmath.diff`` raises the working precision
    to ``(prec + 20)(n + 1)`` bits itself, which covers the ``n log2(1/h)``
    bits the differencing cancels. Unlike the reference, that fallback is not
    self-checked; the model needs only a few digits.

    Parameters
    ----------
    f_mp : callable
        ``f_mp(*coords)`` on mpmath numbers (``Expression.mpmath``).
    point : sequence of float
        The point (its exact binary value is used).
    orders : sequence of int
        Multi-index, e.g. ``(3,)`` or ``(0, 5, 0)``.
    dps : int
        Decimal digits of the working precision.

    Returns
    -------
    float
        The derivative, or NaN when it cannot be computed reliably (complex,
        non-finite, a kink, a failing f, a non-finite point).
    """
    orders = tuple(int(o) for o in orders)
    if sum(orders) <= MAX_ORDER:
        ref = reference_derivative(f_mp, point, orders, dps=dps, min_digits=min(10.0, float(dps)))
        return float(ref.hi) if ref.reliable else math.nan
    if not math.isfinite(_value(f_mp, point, dps)):
        return math.nan  # non-finite point, failing f, or complex f (log(-1)): no real derivative
    saved = mpmath.mp.prec
    try:
        with mpmath.workdps(dps):
            xs = [mpmath.mpf(float(v)) for v in point]  # exact: float64 (or narrower) values
            scale = min([abs(x) for x, n in zip(xs, orders) if n and x != 0] + [mpmath.mpf(1)])
            step = mpmath.ldexp(scale, -(mpmath.mp.prec + 10))
            value = mpmath.diff(f_mp, xs, orders, h=step)
        if isinstance(value, mpmath.mpc):
            if value.imag != 0:
                return math.nan
            value = value.real
        value = float(value)
    except Exception:  # noqa: BLE001 - a failing f only means "no model"
        return math.nan
    finally:
        mpmath.mp.prec = saved
    return value if math.isfinite(value) else math.nan


def scheme_model(
    scheme: Scheme,
    f_mp: Callable[..., Any],
    point: Sequence[float],
    component: int = 0,
    dtype: npt.DTypeLike = np.float64,
    *,
    eps_factor: float = DEFAULT_EPS_FACTOR,
    noise: float | None = None,
    dps: int = 30,
    window: bool = True,
    derivatives: Callable[[int], float] | None = None,
) -> ErrorModel:
    """The error model of a scheme on f at a point, along one coordinate.

    The point is first rounded to ``dtype``, as the harness evaluates it.
    The model's h is the absolute step (for ``step_scale='relative'`` curves
    compare with ``h_used``, or divide h* by ``max(1, |x|)``).

    Parameters
    ----------
    scheme : StencilScheme or ComplexStepScheme
    f_mp : callable
        mpmath version of f (``Expression.mpmath``).
    point : sequence of float
        The point (one entry per variable).
    component : int
        Coordinate differentiated.
    dtype : dtype-like
        Number type of the evaluation.
    eps_factor, noise
        See :func:`function_noise`.
    dps : int
        Working precision of the derivatives (see :func:`higher_derivative`).
    window : bool
        Also compute the next truncation term (one more derivative) for
        :meth:`ErrorModel.asymptotic_window`.
    derivatives : callable, optional
        ``derivatives(n)`` returns f^(n) along ``component`` at the point
        (n = 0: f itself). Lets a caller share (cache) derivatives between
        schemes; by default they are computed here.

    Returns
    -------
    ErrorModel

    Raises
    ------
    TypeError
        For schemes without a model (mixed partials, library baselines,
        adaptive step selectors).

    Examples
    --------
    >>> import mpmath
    >>> from harness.schemes import make_scheme
    >>> m = scheme_model(make_scheme("central"), mpmath.exp, [0.0])
    >>> f"{m.h_star:.3e}"   # (3 * 0.3 * 2**-53 * |exp(0)| / |exp'''(0)|)**(1/3)
    '4.640e-06'
    """
    point = [float(np.dtype(dtype).type(v)) for v in point]
    if not 0 <= component < len(point):
        raise ValueError(f"component {component} is out of range for a point of dimension {len(point)}")

    def deriv(n: int) -> float:
        if derivatives is not None:
            return derivatives(n)
        if n == 0:
            return _value(f_mp, point, dps)
        return higher_derivative(f_mp, point, [n if i == component else 0 for i in range(len(point))], dps=dps)

    if isinstance(scheme, ComplexStepScheme):
        return complex_step_model(deriv(1), deriv(3), dtype, d5=deriv(5) if window else None,
                                  eps_factor=eps_factor, noise=noise)
    if isinstance(scheme, StencilScheme):  # includes Richardson schemes (kind 'richardson')
        st = scheme.stencil
        f_next = deriv(next_truncation_order(st)) if window else None
        return stencil_model(st, deriv(0), deriv(st.derivative + st.accuracy), dtype, f_next=f_next,
                             eps_factor=eps_factor, noise=noise)
    raise TypeError(f"no error model for scheme {getattr(scheme, 'name', scheme)!r} of kind "
                    f"{getattr(scheme, 'kind', '?')!r}: only stencil, richardson and complex_step schemes are modelled")


def _value(f_mp: Callable[..., Any], point: Sequence[float], dps: int) -> float:
    """f at the point as a float (NaN if it fails or is not real)."""
    saved = mpmath.mp.prec
    try:
        with mpmath.workdps(dps):
            y = f_mp(*[mpmath.mpf(float(v)) for v in point])
        if isinstance(y, mpmath.mpc):
            y = y.real if y.imag == 0 else mpmath.nan
        return float(y)
    except Exception:  # noqa: BLE001 - a failing f only means "no model"
        return math.nan
    finally:
        mpmath.mp.prec = saved


def model_curve(model: ErrorModel, h: npt.ArrayLike) -> pd.DataFrame:
    """The model on a grid of steps, for dashed model lines in figures.

    Returns
    -------
    DataFrame
        Columns ``h``, ``truncation``, ``roundoff``, ``error``.
    """
    h = np.asarray(h, dtype=float).reshape(-1)
    return pd.DataFrame({"h": h, "truncation": model.truncation(h), "roundoff": model.roundoff(h),
                         "error": model.error(h)})


# --------------------------------------------------------------------------- #
# Observed side: optimum, order and regimes from one curve's rows             #
# --------------------------------------------------------------------------- #

def _as_float(a: npt.ArrayLike) -> np.ndarray:
    return np.asarray(a, dtype=float).reshape(-1)


def fit_order(
    h: npt.ArrayLike,
    err: npt.ArrayLike,
    labels: npt.ArrayLike | None = None,
    *,
    tol: float = 0.25,
    min_points: int = 3,
    min_slope: float = 0.5,
) -> SlopeFit:
    """Observed order over the truncation regime: :func:`harness.analysis.truncation_fit`.

    Optionally restricted to the steps :func:`label_regimes` labels
    ``'truncation'``.

    Parameters
    ----------
    h, err : array_like
        Steps and absolute errors of one curve.
    labels : array_like of str, optional
        From :func:`label_regimes`: restrict the search to the steps
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
    h, err = _as_float(h), _as_float(err)
    if labels is not None:
        chosen = np.asarray(labels).reshape(-1) == "truncation"
        h, err = h[chosen], err[chosen]
    return truncation_fit(h, err, tol=tol, min_points=min_points, min_slope=min_slope)


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
) -> np.ndarray:
    """Tag every step of one error curve with the regime it is in.

    The labels come from the data alone (no model, no hand-picked h):

    1. ``'invalid'``: ``status != 'ok'`` or a non-finite error or step (e.g.
       the ``step_underflow`` row where ``h_used == 0`` and no estimate
       exists; it is not a collapsed estimate, there is none).
    2. The *truncation law* ``T(h) = a h^q`` is the least-squares line over
       the truncation plateau found by :func:`fit_order` (``q >= 0.5``).
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
       floating point) or a relative error >= 1/2. There the error no longer
       depends on h.

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
    h, err, estimate, reference = (_as_float(a) for a in (h, err, estimate, reference))
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
    fit = fit_order(hv, ev)
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
        collapsed = np.isfinite(ref) & (((est == 0) & (ref != 0)) | (ev >= 0.5 * np.abs(ref)))
    sub[(sub == "round-off") & collapsed] = "floor"
    labels[idx] = sub
    return labels


def model_fields(model: ErrorModel) -> dict[str, Any]:
    """The model's fields plus its predictions, as plain values for a table row."""
    return {
        "model_kind": model.kind, "accuracy_order": model.accuracy, "roundoff_power": model.roundoff_power,
        "c_trunc": model.c_trunc, "c_round": model.c_round, "eps_f": model.eps_f, "model_status": model.status,
        "c_next": model.c_next, "next_power": model.next_power,
    }


def model_from_row(row: Any) -> ErrorModel:
    """Rebuild an :class:`ErrorModel` from a row of ``model.parquet``."""
    return ErrorModel(kind=str(row["model_kind"]), derivative=int(row["derivative_order"]),
                      accuracy=int(row["accuracy_order"]), roundoff_power=int(row["roundoff_power"]),
                      c_trunc=float(row["c_trunc"]), c_round=float(row["c_round"]), eps_f=float(row["eps_f"]),
                      status=str(row["model_status"]), c_next=float(row["c_next"]),
                      next_power=int(row["next_power"]))


def table_regimes(table: pd.DataFrame) -> pd.Categorical:
    """:func:`label_regimes` for every curve of a tidy table, aligned with its rows.

    Adaptive rows (one step chosen per point) are labelled ``'adaptive'``.
    """
    from .analysis import cell_slices

    labels = np.empty(len(table), dtype=object)
    if len(table):
        order, starts, stops = cell_slices(table)
        cols = {c: table[c].to_numpy()[order] for c in ("h", "abs_error", "estimate", "reference", "adaptive")}
        status = table["status"].astype(str).to_numpy()[order]
        for a, b in zip(starts, stops):
            idx = order[a:b]
            if cols["adaptive"][a:b].all():
                labels[idx] = "adaptive"
                continue
            labels[idx] = label_regimes(cols["h"][a:b], cols["abs_error"][a:b], status[a:b],
                                        cols["estimate"][a:b], cols["reference"][a:b])
    return pd.Categorical(labels, categories=[*REGIMES, "adaptive"])


def taylor_derivatives(f_mp: Any, point: Sequence[float], component: int, n: int, dps: int) -> list[float]:
    """f and its first n derivatives along one coordinate, to a few digits, in one mpmath call.

    The model needs the size of f^(p+m), not 20 digits of it: one
    ``mpmath.diffs`` call (a single stencil at raised working precision)
    gives all orders at once, with the step scaled to the point for |x| < 1.
    A value that is complex or not finite (a singularity nearby) is NaN,
    which makes the model 'undefined' instead of wrong.
    """
    saved = mpmath.mp.prec
    try:
        x0 = mpmath.mpf(point[component])
        scale = min(mpmath.mpf(1), abs(x0)) if x0 != 0 else mpmath.mpf(1)
        # The n-th difference on a step scaled down with |x| cancels n*|log2 scale|
        # extra bits; mpmath's own working precision only covers the unscaled step.
        extra = n * max(0, -int(mpmath.floor(mpmath.log(scale, 2))))
        with mpmath.workprec(mpmath.libmp.dps_to_prec(dps) + extra):
            xs = [mpmath.mpf(v) for v in point]
            h = mpmath.ldexp(scale, -(mpmath.libmp.dps_to_prec(dps) + 10))

            def along(t: Any) -> Any:
                return f_mp(*(xs[:component] + [t] + xs[component + 1:]))

            values = list(mpmath.diffs(along, x0, n, h=h))
    except Exception:  # noqa: BLE001 - a failing f only means "no model"
        return [float("nan")] * (n + 1)
    finally:
        mpmath.mp.prec = saved
    out = []
    for v in values:
        if isinstance(v, mpmath.mpc):
            v = v.real if v.imag == 0 else mpmath.nan
        fv = float(v)
        out.append(fv if np.isfinite(fv) else float("nan"))
    return out
