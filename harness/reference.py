"""Checked high-precision reference derivatives.

The harness measures the error of floating-point finite-difference estimates
against a reference derivative computed with mpmath. A bare ``mpmath.diff`` is
not a safe reference: it fails silently. Near a singularity it returns a complex
number (``log`` near 0, ``sqrt`` at 0). At a kink a symmetric difference says 0
(``abs`` at 0). Its ``relative=True`` option scales the step the wrong way: it
uses ``h = 2**(-prec - addprec - mag(x))``, so the step *shrinks* as |x| grows,
so ``log`` at 1e-30 comes out complex, and at ``x == 0`` it raises
``OverflowError``.

:func:`reference_derivative` therefore computes several independent estimates
with its own exactly-placed finite-difference stencils (the same binomial
differences ``mpmath.diff`` uses, but with per-coordinate steps scaled to the
point and a working precision derived from the step). It reports how many
digits the estimates share and an ``ok`` status only when they agree.

Algorithm
---------
Let ``p`` be the binary precision of ``dps`` decimal digits, ``N`` the total
order, ``n_i`` the order in coordinate ``i`` and ``L_i = 2**e_i`` with
``2**(e_i-1) <= |x_i| < 2**e_i`` (``e_i = 0`` when ``x_i == 0``): the scale of
each coordinate. Steps are based on ``l_i = min(L_i, 1)``: relative to the point
when ``|x| < 1``, so ``log`` near 0 stays in its domain, and absolute when
``|x| >= 1``, so ``sin`` at 1e300 is not stepped across periods. Steps are exact
powers of two and stencil points are formed exactly, so the derivative is
taken at the exact binary point.

1. ``f`` at the point and at two probes ``x +- L/1024`` (along every active
   coordinate) give ``F``, the size of ``f`` near the point. The probes only feed
   this size: failures there are ignored.
2. Central differences with ``h_i = l_i * 2**-(q + 10 + 5(N+2))`` at target
   precisions ``q = p`` and ``q = p + 100`` (about dps+30; see
   ``_EXTRA_BITS``). Right and left (``direction`` +1 / -1) forward
   differences with the much smaller ``h_i = l_i * 2**-(2p + 10 + 10(N+1))``
   (their error is first order in h). Each runs at working precision
   ``W = 2q + sum_i n_i (log2(l_i / h_i) + |e_i|) + guard``. The differencing
   loses about ``sum n_i log2(1 / h_i)`` bits, so rounding noise is at most
   about ``S * 2**-2q`` (S below), far below the ``2**-p`` target.
3. Any evaluation that raises -> ``'error'``. Any complex value (an ``mpc``
   with a nonzero imaginary part, however small; an ``mpc`` whose imaginary
   part is exactly 0 counts as real) -> ``'complex'``. Any inf/nan ->
   ``'nonfinite'``. A non-finite point coordinate -> ``'undefined'``.
4. Digits (the agreement rule): with ``b`` the high-precision central estimate,
   ``S = F / prod_i max(L_i, 1)**n_i`` (the size the derivative of a function
   of size ``F`` would have on the point's length scale) and
   ``T = S * 2**-p`` (anything smaller is indistinguishable from zero at the
   working precision), each of central@p, right and left is compared with ``b``
   as ``-log10(|a - b| / max(|b|, T))``. The result is capped at ``dps`` and
   floored at 0. Identical values give the cap ``dps`` (never ``inf``: the
   precision cannot show more). ``digits`` is the minimum over
   the three pairs. So a non-zero derivative is judged by relative agreement,
   while an exactly zero derivative (``cos'(0)``, ``(x**2)'(0)``) is judged
   absolutely against ``T`` and comes out ``ok`` with high digits.
5. ``digits >= min_digits`` -> ``'ok'``; else ``'disagree'``, with the
   estimates in the message. ``value`` is ``b`` rounded to ``p`` bits. ``hi``
   is ``value`` rounded to the nearest float64 (subnormals included) and
   ``lo = float64(value - hi)``. A value outside the float64 range ->
   ``'nonfinite'``. A value below ``T`` whose estimates are step-dependent
   residues (they agree only absolutely, against ``T``, not to
   ``min_digits`` relative digits) is reported as exactly 0: the derivative
   is zero at the working precision. For example, ``((x-1)**3)'(1)`` is 0,
   not the step's tiny truncation residue; ``(x**100000)'(1) = 1e5`` is kept
   although ``f`` is 1e84 at the probes (``T`` ~ 1e33).
6. Unresolved steps: if the steps are relative to a small point
   (``|x_i| < 1/2``) and every stencil sample equals ``f(x)`` at the working
   precision while f differs at ``x +- max(L, 1) * 2**-10``, the derivative
   is below what the steps resolve (``cos`` at 1e-300: ``f' = -1e-300``):
   ``'disagree'``, never 0. (Equal samples on absolute steps bound ``|f'|``
   far below ``T``: ``(x**3 + 1)'(0)`` stays 0.)
7. A failure of f at the point itself (``'error'`` or ``'nonfinite'``: 0/0 in
   ``sin(x)/x`` at 0) is not final yet: the four estimates are recomputed on
   stencils that avoid the point (:func:`_punctured_rule`: odd offsets
   ``+-1, +-3, ...`` for central, ``1..n+1`` one-sided; Fornberg weights) at
   ``_SINGULAR_EXTRA`` times the step's bits more precision. If they all
   succeed and agree, a removable singularity has its limit as the
   reference; otherwise (a pole: ``1/x`` at 0) the failure at the point is
   the status.

An ``f_mp`` may raise :class:`NotReal` where it leaves the real domain (the
strictly real evaluation of :func:`harness.series.real_mpmath` does, also
for intermediate values): status ``'complex'``. When only the left or only
the right one-sided estimate leaves the domain, the message says
``one-sided``: the point is an end of f's real domain (sqrt at 0).

``value``/``hi``/``lo`` are set only when the status is ``'ok'``. Otherwise
they are ``None``/nan/nan, and ``message`` says why. A derivative smaller than
``T`` is known only in the absolute sense ``|f'| <~ T`` and is reported as 0.
That is far below any float64 estimate's round-off on that scale. Relative
errors against such a reference are meaningless (and NaN against 0).

Precision is always changed through ``mpmath.workprec`` and the global
``mpmath.mp.prec`` is restored on exit, even if ``f_mp`` changes it or raises.
Like mpmath itself, this is not thread-safe: use processes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import product
from typing import Any

import mpmath
import numpy as np

from .number_types import is_ml_float
from .settings import ReferenceSettings
from .stencils import fornberg_weights
__all__ = ["MAX_ORDER", "REFERENCE_METHODS", "REFERENCE_STATUSES", "NotReal", "Reference", "exact_point",
           "point_key", "reference_derivative", "to_float64"]

REFERENCE_STATUSES = ("ok", "complex", "nonfinite", "disagree", "undefined", "error")
REFERENCE_METHODS = ("arb", "mpmath_checked", "analytic", "estimate")
"""How a reference was computed: certified Arb ball arithmetic (:mod:`harness.certified`), the
checked high-precision differences of this module, a user's derivative function or Ridders'
extrapolation of a user's function (:mod:`harness.userfunc`, :mod:`harness.ridders`)."""


class NotReal(ArithmeticError):
    """Raised by an ``f_mp`` that leaves the real domain (status ``'complex'``).

    A strictly real evaluation (:func:`harness.series.real_mpmath`) raises it
    at the first intermediate value that is not real, e.g. ``sqrt`` of a
    negative number in ``sqrt(x)**2``, whose final value would be real again.
    """

MAX_ORDER = 6
"""Largest total derivative order accepted."""

_GUARD = 10
"""Extra bits of step beyond the target precision (mpmath's ``addprec``)."""

_EXTRA_BITS = 100
"""Extra target precision of the second central estimate.

Each estimate's error is about ``2**-2q`` relative (rounding noise; truncation
is smaller still), so an estimate at ``p + 100`` bits is ~2**-200 more
accurate than the one at ``p`` and the difference of the two measures the
latter's error alone. Its step is also 2**100 times smaller, which exposes a
step-dependent (singular) result. Going to 2x or 4x the precision would cost
far more (working precision grows like ``(N + 2) q``) and check nothing more.
"""

SKEW_BITS = 64
"""For a mixed partial, two more central estimates whose steps are 2**64 apart between coordinates (one
ordering and the reverse): each approximates one order of differentiation, which differ where f is not C^2."""

_PROBE_BITS = 10
"""Scale probes sit at ``x +- L * 2**-10``: inside the point's binade, so they
never cross zero, yet far enough to see the size of ``f`` when ``f(x) == 0``."""

_SINGULAR_EXTRA = 3
"""Extra working precision, in multiples of the step's bits, of stencils that avoid a point where f
itself fails (a removable singularity such as sin(x)/x at 0): f cancels about ``k log2(1/h)`` bits
internally next to a zero of order k of its numerator and denominator. Too few bits show as
disagreement between the two central estimates (their precisions and steps differ), never as a
wrong number."""


@dataclass(frozen=True)
class Reference:
    """A checked reference derivative.

    Attributes
    ----------
    value : mpmath.mpf or None
        The reference at the working precision (``dps`` digits). None unless
        ``status == 'ok'``.
    hi : float
        ``value`` rounded to the nearest float64 (nan if there is no value).
    lo : float
        ``float64(value - hi)``, the double-double tail. The error of a float64
        estimate ``est`` is then ``(est - hi) - lo`` (exact whenever ``est`` is
        within a factor 2 of ``hi``). nan if there is no value.
    digits : float
        Agreeing significant decimal digits among the independent estimates
        (capped at ``dps``, also when all agree exactly; 0 if they do not agree
        at all or could not be computed).
    status : str
        ``'ok'`` only if reliable; otherwise one of :data:`REFERENCE_STATUSES`.
    message : str
        Why the reference is not ok ('' when ok).
    method : str
        How it was computed, one of :data:`REFERENCE_METHODS`.

    Examples
    --------
    >>> import mpmath
    >>> r = reference_derivative(mpmath.exp, [0.0], [1])
    >>> r.reliable, r.hi, r.lo, r.message
    (True, 1.0, 0.0, '')
    """

    value: mpmath.mpf | None
    hi: float
    lo: float
    digits: float
    status: str
    message: str
    method: str = "mpmath_checked"

    @property
    def reliable(self) -> bool:
        """True when ``status == 'ok'``."""
        return self.status == "ok"


# --------------------------------------------------------------------------- #
# Inputs                                                                      #
# --------------------------------------------------------------------------- #

def _ratio(v: Any) -> tuple[int, int] | None:
    """Exact ``(numerator, denominator)`` of a binary float, None if not finite."""
    if isinstance(v, np.generic) and is_ml_float(v.dtype):
        v = float(v)  # bfloat16 and float8 values are exact in float64
    if isinstance(v, mpmath.mpf):
        if not mpmath.isfinite(v):
            return None
        man, exp = v.man_exp
        if man is None or man == 0:
            return (0, 1)
        man = -man if v < 0 else man  # man_exp holds |mantissa|
        return (int(man) << exp, 1) if exp >= 0 else (int(man), 1 << -exp)
    if isinstance(v, (np.floating, np.integer)):
        if isinstance(v, np.floating) and not np.isfinite(v):
            return None
        return v.as_integer_ratio() if isinstance(v, np.floating) else (int(v), 1)
    if isinstance(v, (float, int)):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v.as_integer_ratio()
    raise TypeError(f"point coordinate {v!r} ({type(v).__name__}) is not a real binary floating-point number")


def _exact_mpf(num: int, den: int) -> mpmath.mpf:
    """The mpf equal to num/den exactly (den must be a power of two)."""
    if den & (den - 1):
        raise ValueError(f"{num}/{den} is not a binary floating-point value")
    with mpmath.workprec(max(num.bit_length(), 1) + 8):
        return mpmath.ldexp(mpmath.mpf(num), -(den.bit_length() - 1))


def exact_point(point: Sequence[Any]) -> list[mpmath.mpf] | None:
    """The exact binary value of every coordinate as an mpf, or None if one is not finite."""
    ratios = [_ratio(v) for v in point]
    if any(r is None for r in ratios):
        return None
    return [_exact_mpf(*r) for r in ratios]


def point_key(v: Any) -> str:
    """Exact text of one coordinate: ``float.hex`` when float64 holds it exactly."""
    r = _ratio(v)
    if r is None:
        return float(v).hex()
    try:
        f = r[0] / r[1]  # correctly rounded int division
    except OverflowError:
        f = math.inf
    if math.isfinite(f) and f.as_integer_ratio() == r:
        return f.hex()
    return f"{r[0]}/{r[1]}"


def _validate_orders(point: Sequence[Any], orders: Sequence[int]) -> tuple[int, ...]:
    try:
        ords = tuple(operator.index(o) for o in orders)
    except TypeError as exc:
        raise ValueError(f"orders must be non-negative integers, got {orders!r}") from exc
    if len(ords) != len(point) or not ords:
        raise ValueError(f"orders {ords} must have one entry per coordinate of the point ({len(point)})")
    if any(o < 0 for o in ords):
        raise ValueError(f"orders {ords} must be non-negative")
    if not 1 <= sum(ords) <= MAX_ORDER:
        raise ValueError(f"total order of {ords} must be between 1 and {MAX_ORDER}")
    return ords


# --------------------------------------------------------------------------- #
# Evaluation                                                                  #
# --------------------------------------------------------------------------- #

class _Failed(Exception):
    """An evaluation of f that cannot give a real finite reference."""

    def __init__(self, status: str, text: str):
        super().__init__(text)
        self.status = status
        self.text = text


def _fmt(v: Any) -> str:
    return mpmath.nstr(v, 8)


def _coords_text(coords: Sequence[mpmath.mpf]) -> str:
    return "(" + ", ".join(_fmt(c) for c in coords) + ")"


def _call(f: Callable[..., Any], coords: list[mpmath.mpf]) -> mpmath.mpf:
    """f(*coords) as a real finite mpf, or raise _Failed."""
    try:
        y = f(*coords)
    except NotReal as exc:
        raise _Failed("complex", f"f{_coords_text(coords)} is not real: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any failure of user code becomes a status
        raise _Failed("error", f"f{_coords_text(coords)} raised {type(exc).__name__}: {exc}") from None
    if isinstance(y, mpmath.mpc):
        if y.imag != 0:
            raise _Failed("complex", f"f{_coords_text(coords)} = {_fmt(y)} is complex")
        y = y.real
    elif isinstance(y, (bool, np.bool_)) or not isinstance(y, (mpmath.mpf, int, float, np.floating, np.integer)):
        if isinstance(y, (complex, np.complexfloating)):
            if y.imag != 0:
                raise _Failed("complex", f"f{_coords_text(coords)} = {y} is complex")
            y = y.real
        else:
            raise _Failed("error", f"f{_coords_text(coords)} returned {type(y).__name__}, not a number")
    if not isinstance(y, mpmath.mpf):
        y = mpmath.mpf(int(y)) if isinstance(y, (int, np.integer)) else mpmath.mpf(float(y))
    if not mpmath.isfinite(y):
        raise _Failed("nonfinite", f"f{_coords_text(coords)} = {_fmt(y)}")
    return y


@dataclass
class _Problem:
    f: Callable[..., Any]
    xs: list[mpmath.mpf]
    orders: tuple[int, ...]
    active: tuple[int, ...]
    mags: tuple[int, ...]        # e_i per active coordinate: L_i = 2**e_i, steps l_i = 2**min(e_i, 0)
    fmax: mpmath.mpf             # largest |f| seen so far (F)
    f0: mpmath.mpf = mpmath.mpf(0)     # f(x)
    fdev: mpmath.mpf = mpmath.mpf(0)   # largest |f(s) - f(x)| over the central stencils' samples
    moved: bool = False                # some stencil sample differs from f(x)

    def work_prec(self, target: int, step_bits: int) -> int:
        """Working precision for a stencil with h_i = l_i * 2**-step_bits."""
        loss = sum(self.orders[i] * (step_bits + abs(e)) for i, e in zip(self.active, self.mags))
        return 2 * target + loss + 20 + sum(self.orders)

    def step_exponents(self, step_bits: int, skew: Sequence[int] = ()) -> list[int]:
        """``log2 h_i`` per active coordinate: ``l_i 2**-step_bits``, ``skew[i]`` bits smaller still."""
        skew = tuple(skew) or (0,) * len(self.mags)
        return [min(e, 0) - step_bits - k for e, k in zip(self.mags, skew)]

    def stencil(self, step_bits: int, work: int, direction: int, skew: Sequence[int] = ()) -> mpmath.mpf:
        """Central (direction 0) or one-sided (+1/-1) difference, exact nodes.

        ``skew``: extra bits per active coordinate, its step ``2**-skew`` times smaller than the others'.
        """
        hexp = self.step_exponents(step_bits, skew)
        with mpmath.workprec(work):
            total = mpmath.mpf(0)
            base: mpmath.mpf | None = None  # f(x) at this stencil's precision, only when needed (see below)
            ranges = [range(self.orders[i] + 1) for i in self.active]
            for ks in product(*ranges):
                coords = list(self.xs)
                weight = 1
                for i, k, he in zip(self.active, ks, hexp):
                    n = self.orders[i]
                    off = (2 * k - n) if direction == 0 else direction * k
                    if off:
                        coords[i] = mpmath.fadd(self.xs[i], mpmath.ldexp(mpmath.mpf(off), he), exact=True)
                    weight *= (-1) ** (n - k) * math.comb(n, k)
                y = _call(self.f, coords)
                self.fmax = max(self.fmax, abs(y))
                if not self.moved and y != self.f0:
                    # f0 was taken at another precision: cos(1e-300) is 1 at one, 1 - 2**-1996 at a higher
                    # one. A sample has moved only if it differs from f(x) at the same precision.
                    if base is None:
                        base = _call(self.f, list(self.xs))
                    self.moved = y != base
                if direction == 0:
                    self.fdev = max(self.fdev, abs(y - self.f0))
                total += weight * y
            # divide by prod (2 h_i)^n_i (central) or prod (d h_i)^n_i (one-sided): powers of two
            shift = sum(self.orders[i] * (he + (1 if direction == 0 else 0)) for i, he in zip(self.active, hexp))
            result = mpmath.ldexp(total, -shift)
            if direction < 0 and sum(self.orders) % 2:
                result = -result
            return result

    def rule_stencil(self, step_bits: int, work: int, rules: Sequence[Sequence[tuple[int, Fraction]]],
                     skew: Sequence[int] = ()) -> mpmath.mpf:
        """``sum prod_i w_i f(x + o_i h_i) / prod_i h_i**n_i``, one rule of (offset, weight) per active coordinate.

        ``skew`` as in :meth:`stencil`.
        """
        hexp = self.step_exponents(step_bits, skew)
        with mpmath.workprec(work):
            total = mpmath.mpf(0)
            for combo in product(*rules):
                coords = list(self.xs)
                weight = mpmath.mpf(1)
                for i, (off, w), he in zip(self.active, combo, hexp):
                    coords[i] = mpmath.fadd(self.xs[i], mpmath.ldexp(mpmath.mpf(off), he), exact=True)
                    weight *= mpmath.mpf(w.numerator) / w.denominator
                y = _call(self.f, coords)
                self.fmax = max(self.fmax, abs(y))
                total += weight * y
            return mpmath.ldexp(total, -sum(self.orders[i] * he for i, he in zip(self.active, hexp)))

    def varies_nearby(self, work: int) -> bool:
        """Whether f at ``x +- max(L, 1) * 2**-_PROBE_BITS`` (an absolute distance) differs from f(x)."""
        with mpmath.workprec(work):
            for d in (1, -1):
                coords = list(self.xs)
                for i, e in zip(self.active, self.mags):
                    coords[i] = mpmath.fadd(self.xs[i], mpmath.ldexp(mpmath.mpf(d), max(e, 0) - _PROBE_BITS),
                                            exact=True)
                try:
                    if _call(self.f, coords) != self.f0:
                        return True
                except _Failed:
                    return True
        return False

    def probe_size(self, work: int) -> None:
        """Update fmax with |f| at x +- L * 2**-_PROBE_BITS (failures ignored)."""
        with mpmath.workprec(work):
            for d in (1, -1):
                coords = list(self.xs)
                for i, e in zip(self.active, self.mags):
                    coords[i] = mpmath.fadd(self.xs[i], mpmath.ldexp(mpmath.mpf(d), e - _PROBE_BITS), exact=True)
                try:
                    y = self.f(*coords)
                    a = abs(y)
                    if mpmath.isfinite(a):
                        self.fmax = max(self.fmax, mpmath.mpf(a))
                except Exception:  # noqa: BLE001 - probes only estimate a size
                    pass


@lru_cache(maxsize=None)
def _punctured_rule(n: int, direction: int) -> tuple[tuple[int, Fraction], ...]:
    """Exact (offset, weight) pairs for f^(n) at 0 from samples that avoid 0.

    Central (direction 0): the odd offsets ``-n, -n+2, ..., n`` for odd n (the
    binomial difference) and ``+-1, +-3, ..., +-(n+1)`` for even n, error O(h^2);
    one-sided: ``d, 2d, ..., (n+1)d``, error O(h). Weights by Fornberg's algorithm.
    """
    if direction == 0:
        offsets = list(range(-n, n + 1, 2)) if n % 2 else list(range(-n - 1, n + 2, 2))
    else:
        offsets = [direction * k for k in range(1, n + 2)]
    return tuple(zip(offsets, fornberg_weights(offsets, n)))


def _to_float64(v: mpmath.mpf) -> float:
    """Round an mpf to the nearest float64 (ties to even), subnormals included."""
    if v == 0:
        return 0.0
    if mpmath.mag(v) <= -1021:  # below 2**-1021: round on the fixed 2**-1074 grid
        with mpmath.workprec(64):
            m = mpmath.nint(mpmath.ldexp(v, 1074))
        return math.ldexp(int(m), -1074)
    return mpmath.libmp.to_float(v._mpf_, rnd=mpmath.libmp.round_nearest)


to_float64 = _to_float64


def _agreement(a: mpmath.mpf, b: mpmath.mpf, zero_scale: mpmath.mpf, cap: float) -> float:
    if a == b:
        return cap
    with mpmath.workprec(64):
        denom = max(abs(b), zero_scale)
        if denom == 0:
            return 0.0
        d = -float(mpmath.log10(abs(a - b) / denom))
    return min(max(d, 0.0), cap)


def _unreliable(status: str, message: str, digits: float = 0.0) -> Reference:
    return Reference(value=None, hi=math.nan, lo=math.nan, digits=digits, status=status, message=message)


# --------------------------------------------------------------------------- #
# Public API                                                                  #
# --------------------------------------------------------------------------- #

def reference_derivative(
    f_mp: Callable[..., Any],
    point: Sequence[float],
    orders: Sequence[int],
    *,
    dps: int = ReferenceSettings.dps,
    min_digits: float = ReferenceSettings.min_digits,
) -> Reference:
    """Partial derivative of ``f_mp`` at an exact binary point, with a self-check.

    Parameters
    ----------
    f_mp : callable
        ``f_mp(*coords)`` takes ``len(point)`` mpmath numbers and returns an
        ``mpf`` (an ``mpc`` with zero imaginary part, an int or a float are
        accepted too). It may raise: the failure becomes a status, never an
        exception out of this function.
    point : sequence of float
        Python floats, ints or numpy floating scalars (float16/32/64,
        longdouble, the ``ml_dtypes`` types). The derivative is taken at
        their exact binary values.
    orders : sequence of int
        Multi-index, one non-negative order per coordinate, total order 1..6:
        ``(1,)`` is f', ``(0, 1, 0)`` is d/dx1, ``(1, 1)`` a mixed second partial.
    dps : int, keyword-only
        Working precision in decimal digits (``value`` is stored at it).
    min_digits : float, keyword-only
        Digits the independent estimates must share for status ``'ok'``
        (``0 <= min_digits <= dps``).

    Returns
    -------
    Reference
        ``status == 'ok'`` with ``value``/``hi``/``lo`` set, or an unreliable
        reference whose ``message`` says why. See the module docstring for the
        estimates and the digit rule.

    Raises
    ------
    ValueError
        For programming errors only: ``orders`` of the wrong length, negative,
        or of total order outside 1..6; ``dps < 1``; ``min_digits`` outside
        ``[0, dps]``; a point coordinate that is not a binary float.

    Examples
    --------
    >>> import mpmath
    >>> r = reference_derivative(mpmath.log, [1e20], [1])
    >>> r.status, r.hi, r.digits >= 30
    ('ok', 1e-20, True)
    >>> reference_derivative(lambda x, y: x**2 * y**3, [1.5, -0.5], [1, 1]).hi
    2.25
    >>> r = reference_derivative(abs, [0.0], [1])
    >>> r.status, r.hi
    ('disagree', nan)
    >>> print(r.message)  # doctest: +ELLIPSIS
    left -1.0, right 1.0: one-sided derivatives differ (kink?); ...
    >>> reference_derivative(mpmath.sqrt, [0.0], [1]).status
    'complex'
    >>> reference_derivative(lambda x: 1 / x, [0.0], [1]).status
    'error'
    """
    ords = _validate_orders(point, orders)
    dps = operator.index(dps)
    if dps < 1:
        raise ValueError(f"dps must be >= 1, got {dps}")
    min_digits = float(min_digits)
    if not 0 <= min_digits <= dps:
        raise ValueError(f"min_digits must be in [0, dps={dps}], got {min_digits}")
    xs = exact_point(point)
    if xs is None:
        return _unreliable("undefined", f"point {tuple(float(v) for v in point)} is not finite")
    saved = mpmath.mp.prec
    try:
        return _reference(f_mp, xs, ords, dps, min_digits)
    finally:
        mpmath.mp.prec = saved  # in case f_mp changed the global precision


def _reference(f: Callable[..., Any], xs: list[mpmath.mpf], orders: tuple[int, ...],
               dps: int, min_digits: float) -> Reference:
    with mpmath.workdps(dps):
        p = mpmath.mp.prec
    n_total = sum(orders)
    active = tuple(i for i, n in enumerate(orders) if n)
    mags = tuple(int(mpmath.mag(xs[i])) if xs[i] != 0 else 0 for i in active)
    prob = _Problem(f=f, xs=xs, orders=orders, active=active, mags=mags, fmax=mpmath.mpf(0))

    central_bits = _GUARD + 5 * (n_total + 2)        # central: error O(h^2)
    side_bits = 2 * p + _GUARD + 10 * (n_total + 1)  # one-sided: error O(h), so a much smaller step
    work_c = prob.work_prec(p, p + central_bits)

    # f at the point decides the status outright if it is not real there. If f fails at the point
    # itself (0/0 in sin(x)/x at 0), stencils that avoid the point may still find a limit: they
    # must all agree, else the failure at the point stands (a pole such as 1/x at 0).
    singular: _Failed | None = None
    try:
        with mpmath.workprec(work_c):
            prob.f0 = _call(f, list(xs))
            prob.fmax = abs(prob.f0)
    except _Failed as fail:
        if fail.status == "complex":
            return _unreliable(fail.status, f"at the point: {fail.text}")
        singular = fail
    prob.probe_size(work_c)

    q_hi = p + _EXTRA_BITS
    dps_hi = int(q_hi / math.log2(10))
    work_side = prob.work_prec(p, side_bits)
    plans: list[tuple[str, int, int, int, tuple[int, ...]]] = [
        (f"central@{dps}", p + central_bits, work_c, 0, ()),
        (f"central@{dps_hi}", q_hi + central_bits, prob.work_prec(q_hi, q_hi + central_bits), 0, ()),
        # One-sided stencils get at least 2 side_bits + p bits: an f whose evaluation cancels quadratically in
        # the step (arccos(cos(x)) at 0: cos(h) = 1 - h**2/2 rounds to 1, so f(h) came out 0 instead of h)
        # then shows its kink instead of a flat side that agrees with the central estimates.
        ("right", side_bits, max(work_side, 2 * side_bits + p), 1, ()),
        ("left", side_bits, max(work_side, 2 * side_bits + p), -1, ()),
    ]
    if len(active) > 1:
        # A mixed partial of a function that is not C^2 depends on the order of differentiation
        # (x y (x^2 - y^2) / (x^2 + y^2) at 0: f_xy = -1, f_yx = +1), and equal steps in every coordinate
        # average the orders to 0. Steps 2**SKEW_BITS apart, one way and the other, take each order.
        # Each at the two steps of the central estimates: only a step-independent (converged) value that
        # differs from the central one is an order of differentiation; a smooth f's skewed residue of
        # O(h^2) (exactly 0 unskewed by symmetry) shrinks with the step.
        work_hi = plans[1][2]
        for name, ramp in (("skewed", range(len(active))), ("skewed back", range(len(active) - 1, -1, -1))):
            skew = tuple(SKEW_BITS * r for r in ramp)
            extra = sum(orders[i] * k for i, k in zip(active, skew))
            plans.append((name, p + central_bits, work_c + extra, 0, skew))
            plans.append((f"{name}@{dps_hi}", q_hi + central_bits, work_hi + extra, 0, skew))
    results: dict[str, mpmath.mpf] = {}
    failures: list[tuple[str, _Failed]] = []
    for name, step_bits, work, direction, skew in plans:
        try:
            if singular is None:
                results[name] = prob.stencil(step_bits, work, direction, skew)
            else:
                rules = [_punctured_rule(orders[i], direction) for i in active]
                results[name] = prob.rule_stencil(step_bits, work + _SINGULAR_EXTRA * (step_bits + max(skew, default=0)),
                                                  rules, skew)
        except _Failed as fail:
            failures.append((name, fail))
    if failures:
        for status in ("error", "complex", "nonfinite"):
            if any(fl.status == status for _, fl in failures):
                break
        parts = [f"{name}: {fl.text}" for name, fl in failures]
        parts += [f"{name} {_fmt(v)}" for name, v in results.items()]
        if singular is not None:
            return _unreliable(singular.status, f"at the point: {singular.text}; stencils avoiding the point: "
                               + "; ".join(parts))
        failed = {name: fl.status for name, fl in failures}
        for side, other in (("left", "right"), ("right", "left")):
            if failed.get(side) == "complex" and other in results:
                parts.insert(0, f"one-sided: f is real only {other} of the point (an end of its real domain)")
        return _unreliable(status, "; ".join(parts))

    c0, chi, right, left = (results[name] for name, *_ in plans[:4])
    if prob.f0 != 0 and prob.fdev > abs(prob.f0):
        # f changes by more than its own size within a step of l * 2**-(p + ...): no difference
        # quotient resolves it (x**1e300 at 1 reaches 10**(10**242) there); flag, never snap to 0.
        return _unreliable("disagree", f"f changes by more than |f(x)| = {_fmt(abs(prob.f0))} across the reference "
                           f"stencil (up to {_fmt(prob.fdev)}): the steps cannot resolve this function here")
    with mpmath.workprec(64):
        scale = prob.fmax
        for i, e in zip(active, mags):
            scale = mpmath.ldexp(scale, -orders[i] * max(e, 0))
        zero_scale = mpmath.ldexp(scale, -p)   # T = S * 2**-p
    cap = float(dps)
    pair_digits = {
        f"central@{dps}": _agreement(c0, chi, zero_scale, cap),
        "right": _agreement(right, chi, zero_scale, cap),
        "left": _agreement(left, chi, zero_scale, cap),
    }
    order_dependent = [
        name for name, *_ in plans[4::2]
        if _agreement(results[name], results[f"{name}@{dps_hi}"], mpmath.mpf(0), cap) >= min_digits
        and _agreement(results[f"{name}@{dps_hi}"], chi, zero_scale, cap) < min_digits]
    if order_dependent:
        what = ", ".join(f"{name} {_fmt(results[name])}" for name in order_dependent)
        why = (f"the mixed partial depends on the order of differentiation (steps 2**{SKEW_BITS} apart between "
               f"coordinates: {what}; equal steps {_fmt(chi)}): f is not C^2 here")
        return _unreliable(singular.status if singular is not None else "disagree",
                           (f"at the point: {singular.text}; " if singular is not None else "") + why)
    digits = min(pair_digits.values())
    if digits < min_digits:
        lr = _agreement(left, right, zero_scale, cap)
        estimates = ", ".join(f"{name} {_fmt(v)}" for name, v in results.items())
        if lr < min_digits and pair_digits[f"central@{dps}"] >= min_digits:
            why = f"left {_fmt(left)}, right {_fmt(right)}: one-sided derivatives differ (kink?)"
        elif pair_digits[f"central@{dps}"] < min_digits:
            why = "central estimates depend on precision and step (singular or ill-conditioned near the point?)"
        else:
            why = "one-sided estimates disagree with the central ones"
        if singular is not None:
            return _unreliable(singular.status, f"at the point: {singular.text}; stencils avoiding the point "
                               f"agree to {digits:.1f} digits only, no limit ({estimates})", digits)
        return _unreliable(
            "disagree",
            f"{why}; estimates agree to {digits:.1f} digits < min_digits {min_digits:g} ({estimates})",
            digits,
        )
    if singular is None and not prob.moved and any(e < 0 for e in mags) and prob.varies_nearby(work_c):
        # Steps relative to a small point (|x| < 1/2) and every sample equal to f(x), although f changes
        # nearby: cos at 1e-300 has f' = -1e-300, far below what the working precision resolves over
        # steps of 1e-300 * 2**-p. Reporting 0 would invent a zero. (At |x| >= 1/2 the steps are
        # absolute and equal samples do bound |f'| far below T: (x**3 + 1)'(0) is 0.)
        return _unreliable("disagree", f"every stencil sample equals f(x) = {_fmt(prob.f0)} at the working "
                           f"precision although f changes near the point: the derivative is below what the "
                           f"steps resolve, not known to be 0")

    # Below T the derivative is zero at the working precision: say so exactly, rather than
    # report a truncation residue such as 1e-177 for ((x-1)**3)'(1). T comes from |f| at
    # probes away from the point, so it only decides between "zero" and "residue" when the
    # estimates really are residues: step-dependent, not agreeing *relatively* with each
    # other. A derivative the estimates reproduce to min_digits relative digits at steps
    # 2**100 apart is real, however small against f away from the point (x**100000 at 1:
    # f is 1e84 at the probes, the derivative 1e5).
    relative = min(_agreement(c0, chi, mpmath.mpf(0), cap), _agreement(right, chi, mpmath.mpf(0), cap),
                   _agreement(left, chi, mpmath.mpf(0), cap))
    with mpmath.workprec(p):
        value = mpmath.mpf(0) if abs(chi) < zero_scale and relative < min_digits else +chi
    hi = _to_float64(value)
    if not math.isfinite(hi):
        return _unreliable("nonfinite", f"reference {_fmt(value)} overflows float64", digits)
    lo = _to_float64(mpmath.fsub(value, hi, exact=True))
    return Reference(value=value, hi=hi, lo=lo, digits=digits, status="ok", message="")
