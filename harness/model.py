"""The predicted error model: truncation and round-off constants, h* and E(h*).

From the scheme, the function and the number type, as pure functions. A stencil
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

The observed side (optimum, order and regimes read from the data) is
:mod:`harness.curves`; the derivatives f^(n) the constants need come from
:mod:`harness.derivatives`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import factorial
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from .derivatives import higher_derivative, model_derivatives, value_at
from .noise_report import curve_noise
from .number_types import finfo
from .settings import DEFAULT_EPS_FACTOR as _DEFAULT_EPS_FACTOR
from .settings import DTYPES, ModelSettings
from .stencils import Stencil

__all__ = [
    "DEFAULT_EPS_FACTOR",
    "MODEL_STATUSES",
    "ErrorModel",
    "complex_step_model",
    "function_noise",
    "model_curve",
    "model_fields",
    "model_from_row",
    "model_rows",
    "next_truncation_order",
    "optimal_step",
    "scheme_model",
    "stencil_model",
    "unit_roundoff",
]

DEFAULT_EPS_FACTOR = _DEFAULT_EPS_FACTOR
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
    >>> unit_roundoff("bfloat16") == 2.0**-8, unit_roundoff("float8_e4m3fn") == 2.0**-4
    (True, True)
    """
    return float(finfo(dtype).eps) / 2


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


def scheme_model(
    scheme: Any,
    f_mp: Callable[..., Any],
    point: Sequence[float],
    component: int = 0,
    dtype: npt.DTypeLike = np.float64,
    *,
    eps_factor: float = DEFAULT_EPS_FACTOR,
    noise: float | None = None,
    dps: int = ModelSettings.dps,
    window: bool = True,
    derivatives: Callable[[int], float] | None = None,
) -> ErrorModel:
    """The error model of a scheme on f at a point, along one coordinate.

    The point is first rounded to ``dtype``, as the harness evaluates it.
    The model's h is the absolute step (for ``step_scale='relative'`` curves
    compare with ``h_used``, or divide h* by ``max(1, |x|)``).

    Parameters
    ----------
    scheme : Scheme
        Any scheme whose :meth:`~harness.schemes.Scheme.model` gives a model.
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
        Working precision of the derivatives (see :func:`harness.derivatives.higher_derivative`).
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
    >>> f"{m.h_star:.3e}"   # (3 * 0.3 * 2**-53 * |exp(0)| / |f'''(0)|)**(1/3)
    '4.640e-06'
    """
    point = [float(np.dtype(dtype).type(v)) for v in point]
    if not 0 <= component < len(point):
        raise ValueError(f"component {component} is out of range for a point of dimension {len(point)}")

    def deriv(n: int) -> float:
        if derivatives is not None:
            return derivatives(n)
        if n == 0:
            return value_at(f_mp, point, dps)
        return higher_derivative(f_mp, point, [n if i == component else 0 for i in range(len(point))], dps=dps)

    model = scheme.model(deriv, dtype, eps_factor=eps_factor, noise=noise, window=window)
    if model is None:
        raise TypeError(f"no error model for scheme {getattr(scheme, 'name', scheme)!r} of kind "
                        f"{getattr(scheme, 'kind', '?')!r}")
    return model


def model_rows(
    function: Any,
    points: np.ndarray,
    schemes: Sequence[Any],
    dtype_name: str,
    step: str,
    step_scale: str,
    settings: ModelSettings,
    point_offset: int = 0,
    *,
    estimated_noise: np.ndarray | None = None,
    cache: Any = None,
) -> pd.DataFrame:
    """The error model (predicted h*, minimal error, constants) of every modelled curve of a block.

    Higher derivatives f^(n) come from :func:`harness.derivatives.model_derivatives`
    (one certified Arb series per point and coordinate, shared by all schemes;
    one mpmath call where the series cannot be formed), through ``cache`` when
    given; a derivative that cannot be computed makes the model 'undefined',
    never a number.

    Parameters
    ----------
    function : FunctionSpec
    points : ndarray, shape (n_points, dim)
        The block's points in the working type.
    schemes : sequence of Scheme
        The block's schemes; those whose ``model_order()`` is 0 have no model.
    dtype_name, step, step_scale : str
        The block's number type and step conventions.
    settings : ModelSettings
    point_offset : int
        Index of ``points[0]`` in the function's point list.
    estimated_noise : ndarray, shape (n_points,), optional
        ECnoise's absolute noise level per point, used when ``settings.noise``
        is ``'estimate'``. Which noise a curve's ``eps_f`` comes from (a
        function's declared noise, the estimate, ``model.noise`` or rounding)
        is :func:`harness.noise_report.curve_noise`; it is stored in
        ``noise_source``.
    cache : ReferenceCache, optional
        Keeps the derivatives with the references (:meth:`~harness.refcache.ReferenceCache.derivatives`).

    Returns
    -------
    DataFrame
        One row per (point, component, modelled scheme); empty without models.
    """
    modelled = [s for s in schemes if s.model_order() > 0]
    if not settings.enabled or not modelled:
        return pd.DataFrame()
    top = max(s.model_order() for s in modelled)
    rows = []
    for p in range(points.shape[0]):
        floats = [float(v) for v in points[p]]
        for j in range(function.dim):
            derivs = (cache.derivatives if cache is not None else model_derivatives)(
                function.expression, floats, j, top, settings.dps)
            f_value = float(derivs[0])
            if step == "nominal":
                # A nominal step is rounded where x + o h is formed: f then sees an extra
                # error of about u |x f'(x)| per sample, on top of the rounding of f itself.
                # Both scale with eps_f, so the model counts |f| + |x f'| as the magnitude.
                derivs = [abs(derivs[0]) + abs(floats[j] * derivs[1]), *derivs[1:]]
            h_scale = max(1.0, abs(floats[j])) if step_scale == "relative" else 1.0
            estimated = float(estimated_noise[p]) if estimated_noise is not None else math.nan
            rounding = function_noise(DTYPES[dtype_name], eps_factor=settings.eps_factor)
            source, noise, magnitude = curve_noise(function.noise, settings.noise, f_value, abs(float(derivs[0])),
                                                   rounding, estimated)
            # A scheme that reads only Im f never sees an absolute (real) noise: rounding alone, unless
            # model.noise sets a level outright.
            absolute = function.noise is not None and function.noise.kind == "absolute" and (
                settings.noise is None or settings.noise == "estimate")
            blind = curve_noise(None, None, f_value, abs(float(derivs[0])), rounding) if absolute else None
            derivs = [magnitude, *derivs[1:]]
            for s in modelled:
                s_source, s_noise = (blind[0], blind[1]) if blind and not s.sees_absolute_noise else (source, noise)
                m = s.model(derivs.__getitem__, DTYPES[dtype_name], eps_factor=settings.eps_factor, noise=s_noise)
                rows.append({
                    "function": function.name, "point_index": point_offset + p, "component": j, "component2": -1,
                    "derivative_order": s.derivative, "scheme": s.name, "dtype": dtype_name,
                    "step_scale": s.conventions(step, step_scale)[1], **model_fields(m), "h_scale": h_scale,
                    "predicted_h_star": m.h_star / h_scale, "predicted_min_error": m.min_error,
                    "noise_source": s_source,
                })
    return pd.DataFrame(rows)
