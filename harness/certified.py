"""Reference derivatives with a proof: Arb balls, the checked mpmath path as the fallback.

:func:`certified_reference` evaluates the expression's Taylor series in Arb
ball arithmetic (:mod:`harness.series`) at the exact binary point. The
reference is the ball's midpoint; ``reference_digits`` are the digits its
radius certifies (``-log10(rad / |mid|)``, capped at ``dps``); the method is
``'arb'``. Precision: the target is ``p`` bits (``dps`` digits); the series
runs at ``p + 64`` bits and, while the ball certifies fewer than ``dps``
digits (cancellation), again at ``p + 256``, ``p + 1024`` and ``p + 4096``.

Partial derivatives seed one coordinate. A mixed partial of order N in
coordinates ``i < j < ...`` (orders ``a, b, ...``) is read off the
directional series along ``v = e_i + l_j e_j + ...``: their N-th
coefficient is a polynomial in the ``l``'s whose coefficient of
``l_j^b ...`` is ``d^N f / dx_i^a dx_j^b ... / (a! b! ...)``. It is
extracted exactly by Lagrange interpolation on the nodes
``l = 0, 1, -1, 2, -2, ...`` (N + 1 of them per coordinate, rational
weights), so a Hessian entry costs two series of order 2
(``(c(1) - c(-1)) / 2``). Ball arithmetic carries the radius through.

A ball that contains 0 is a certified *zero or tiny*: ``|f^(n)| <= B = |mid| + rad``.
It is stored as the reference 0.0 with status ``'ok'`` and digits ``dps``
only when B is below what float64 can show: ``B <= T = S * 2**-p``, the zero
threshold of :mod:`harness.reference`, with ``S`` the size of ``f`` on the
point's length scale (its Taylor polynomial at ``x +- L/1024`` over
``max(L, 1)**n``), so the derivative is zero at the working precision,
relative to f; or ``B <= 2**-1075``, so every value in the ball rounds to
0.0 in float64 (f identically 0 computed with cancellation, ``g - g``,
reaches it as the precision is raised). An exact zero (``rad == 0``) is
always stored. A ball that still straddles 0 above both at the highest
precision is ``'disagree'``, never a number. A certified non-zero value is
never rounded to 0, however small (``cos'(1e-300) = -1e-300``).

An argument certainly outside a function's real domain gives ``'complex'``
(numpy's real f is NaN there). Where the series cannot be formed (a domain
end, a kink, a pole or a 0/0 such as sin(x)/x at 0, a non-finite ball, more
than 64 directions for a mixed partial) the checked mpmath path of
:func:`harness.reference.reference_derivative` decides, on the strictly real
evaluation :func:`harness.series.real_mpmath` (method ``'mpmath_checked'``).

:func:`certified_derivatives` gives the error model its ``f, f', ..., f^(n)``
along one coordinate from one series.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from itertools import product
from typing import Any, Sequence

import flint
import mpmath
import numpy as np
from flint import arb
from mpmath import libmp

from .expr import Expression
from .reference import (NotReal, Reference, _validate_orders, exact_point, reference_derivative, to_float64)
from .series import SeriesUnavailable, compile_series, real_mpmath
from .settings import ReferenceSettings

__all__ = ["EXTRA_BITS", "MAX_DIRECTIONS", "arb_point", "certified_derivatives", "certified_reference",
           "derivative_ball", "directions"]

EXTRA_BITS = (64, 256, 1024, 4096)
"""Working precision over the target, tried in turn until the ball certifies ``dps`` digits."""

MAX_DIRECTIONS = 64
"""Most directional series one mixed partial may take; beyond, the checked mpmath path decides."""

_LOG10_2 = math.log10(2)
_FLOAT64_ZERO = arb(2) ** -1075
"""Every real number of magnitude at most this rounds to 0.0 in float64 (half the smallest subnormal)."""
_PROBE_BITS = 10  # as harness.reference: the size of f is taken at x +- L * 2**-10


# --------------------------------------------------------------------------- #
# Directions                                                                  #
# --------------------------------------------------------------------------- #

def _nodes(n: int) -> list[int]:
    return [(k + 1) // 2 * (1 if k % 2 else -1) for k in range(n + 1)]  # 0, 1, -1, 2, -2, ...


@lru_cache(maxsize=None)
def _extraction_weights(degree: int, power: int) -> tuple[tuple[int, Fraction], ...]:
    """(node, weight) with ``sum w p(node) = [z^power] p`` for every polynomial p of the given degree."""
    nodes = _nodes(degree)
    out = []
    for m, lm in enumerate(nodes):
        poly = [Fraction(1)]  # Lagrange basis polynomial of node m, coefficients low to high
        for k, lk in enumerate(nodes):
            if k != m:
                poly = [Fraction(0), *poly]
                for q in range(len(poly) - 1):
                    poly[q] -= lk * poly[q + 1]
                poly = [c / (lm - lk) for c in poly]
        if poly[power]:
            out.append((lm, poly[power]))
    return tuple(out)


@lru_cache(maxsize=4096)
def directions(orders: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], Fraction], ...]:
    """Directions v and weights w with ``d^alpha f / alpha! = sum_v w c_N(v)``.

    ``c_N(v)`` is the N-th Taylor coefficient of ``f(x + t v)``, ``N = |alpha|``.

    Examples
    --------
    >>> directions((0, 3))
    (((0, 1), Fraction(1, 1)),)
    >>> [(v, str(w)) for v, w in directions((1, 1))]
    [((1, 1), '1/2'), ((1, -1), '-1/2')]
    """
    active = [i for i, n in enumerate(orders) if n]
    total = sum(orders)
    first, rest = active[0], active[1:]
    out = []
    for combo in product(*(_extraction_weights(total, orders[j]) for j in rest)):
        v = [0] * len(orders)
        v[first] = 1
        w = Fraction(1)
        for j, (node, weight) in zip(rest, combo):
            v[j] = node
            w *= weight
        out.append((tuple(v), w))
    return tuple(out)


# --------------------------------------------------------------------------- #
# References                                                                  #
# --------------------------------------------------------------------------- #

def _to_arb(x: mpmath.mpf) -> arb:
    sign, man, exp, bits = x._mpf_
    with flint.ctx.workprec(int(bits) + 8):  # exact: an integer times a power of two
        return arb(-int(man) if sign else int(man)) * arb(2) ** int(exp)


def arb_point(point: Sequence[Any]) -> tuple[list[arb], list[int]] | None:
    """Exact Arb coordinates and the exponents ``e`` with ``2**(e-1) <= |x| < 2**e`` (0 at 0); None if not finite."""
    xs, mags = [], []
    for v in point:
        if isinstance(v, (float, int, np.float64, np.float32, np.float16)):
            f = float(v)
            if not math.isfinite(f) or f != v:  # an int beyond float64: take the exact path
                xs = None
                break
            xs.append(arb(f))
            mags.append(math.frexp(f)[1] if f else 0)
        else:
            xs = None
            break
    if xs is not None:
        return xs, mags
    exact = exact_point(point)
    if exact is None:
        return None
    return [_to_arb(x) for x in exact], [int(mpmath.mag(x)) if x != 0 else 0 for x in exact]


def _rounded(x: arb, prec: int) -> tuple[mpmath.mpf, float, float]:
    """The midpoint rounded to ``prec`` bits, and its double-double ``hi + lo`` (lo NaN if hi is not finite)."""
    man, exp = x.mid().man_exp()
    mid = libmp.from_man_exp(int(man), int(exp), prec, libmp.round_nearest)
    hi = to_float64(mpmath.mp.make_mpf(mid))
    if not math.isfinite(hi):
        return mpmath.mp.make_mpf(mid), hi, math.nan
    return mpmath.mp.make_mpf(mid), hi, to_float64(mpmath.mp.make_mpf(libmp.mpf_sub(mid, libmp.from_float(hi))))


def _size_bound(coeffs: Sequence[arb], delta: arb) -> arb:
    """``sum |c_k| delta**k``, the size of the Taylor polynomial at distance delta (an upper bound)."""
    return sum((c.abs_upper() * delta**k for k, c in enumerate(coeffs)), arb(0))


def _ball(series: Any, xs: list[arb], orders: tuple[int, ...], mags: list[int], prec: int) -> tuple[arb, arb]:
    """The derivative's ball and the size S of f on the point's scale."""
    total = sum(orders)
    with flint.ctx.workprec(prec):
        value, size = arb(0), arb(0)
        delta = arb(2) ** (max(e for e, n in zip(mags, orders) if n) - _PROBE_BITS)
        for v, w in directions(orders):
            coeffs = series.taylor(xs, list(v), total, prec)
            value += coeffs[total] * arb(w.numerator) / w.denominator
            size = size.max(_size_bound(coeffs, delta))
        for n in orders:
            value *= math.factorial(n)
        for n, e in zip(orders, mags):
            if n and e > 0:
                size = size * arb(2) ** (-n * e)
    return value, size


def derivative_ball(expression: Expression, point: Sequence[Any], orders: Sequence[int], *,
                    dps: int = ReferenceSettings.dps) -> arb:
    """The Arb ball of a partial derivative at the first working precision of :func:`certified_reference`.

    Raises
    ------
    SeriesUnavailable, NotReal
        As :meth:`harness.series.SeriesFunction.taylor`.
    """
    ords = _validate_orders(point, orders)
    exact = arb_point(point)
    if exact is None:
        raise SeriesUnavailable(f"point {tuple(point)} is not finite")
    xs, mags = exact
    return _ball(compile_series(expression), xs, ords, mags, mpmath.libmp.dps_to_prec(dps) + EXTRA_BITS[0])[0]


def certified_reference(expression: Expression, point: Sequence[Any], orders: Sequence[int], *,
                        dps: int = ReferenceSettings.dps,
                        min_digits: float = ReferenceSettings.min_digits) -> Reference:
    """Partial derivative of an expression at an exact binary point: an Arb ball, else the checked path.

    Parameters
    ----------
    expression : Expression
        A parsed expression (:func:`harness.expr.parse_expression`).
    point, orders, dps, min_digits
        As :func:`harness.reference.reference_derivative`.

    Returns
    -------
    Reference
        ``method == 'arb'`` when the series decided (ok, or not real at the
        point, or a ball straddling 0 / too wide), else the checked path's
        reference (``'mpmath_checked'``).

    Examples
    --------
    >>> from harness.expr import parse_expression
    >>> r = certified_reference(parse_expression("log(x)"), [1e20], [1])
    >>> r.status, r.method, r.hi, r.digits
    ('ok', 'arb', 1e-20, 50.0)
    >>> r = certified_reference(parse_expression("sin(x) / x"), [0.0], [1])
    >>> r.status, r.method, r.hi
    ('ok', 'mpmath_checked', 0.0)
    """
    ords = _validate_orders(point, orders)
    exact = arb_point(point)
    if exact is None or len(directions(ords)) > MAX_DIRECTIONS:
        return reference_derivative(real_mpmath(expression), point, ords, dps=dps, min_digits=min_digits)
    try:
        return _arb_reference(expression, *exact, ords, int(dps), float(min_digits))
    except SeriesUnavailable as exc:
        if _overflows(expression, point):
            # exp(exp(exp(x))) at 10: the checked path would grind through exp(1e9565) in mpmath for minutes.
            return Reference(None, math.nan, math.nan, 0.0, "nonfinite",
                             f"f overflows at the point (float64 gives inf; Arb: {exc})", "arb")
        return reference_derivative(real_mpmath(expression), point, ords, dps=dps, min_digits=min_digits)
    except NotReal as exc:
        return Reference(None, math.nan, math.nan, 0.0, "complex", f"at the point: {exc}", "arb")


def _overflows(expression: Expression, point: Sequence[float]) -> bool:
    """f is +-inf in float64 at the point: an overflow or a pole (0/0 and the like give NaN, not inf)."""
    with np.errstate(all="ignore"):
        try:
            value = np.asarray(expression.numpy(*[np.float64(v) for v in point]), dtype=np.float64)
        except (ArithmeticError, ValueError, TypeError):
            return False
    return bool(np.isinf(value).all())


def _arb_reference(expression: Expression, point: list[arb], mags: list[int], orders: tuple[int, ...], dps: int,
                   min_digits: float) -> Reference:
    if dps < 1 or not 0 <= min_digits <= dps:
        raise ValueError(f"need dps >= 1 and 0 <= min_digits <= dps, got dps={dps}, min_digits={min_digits}")
    p = mpmath.libmp.dps_to_prec(dps)
    series = compile_series(expression)
    cap = float(dps)
    for extra in EXTRA_BITS:
        value, size = _ball(series, point, orders, mags, p + extra)
        threshold = size * arb(2) ** -p
        if not value.is_finite():
            raise SeriesUnavailable("the derivative's ball is not finite")
        if value.contains(0):
            bound = value.abs_upper()
            # A zero is taken only when exact, or when the highest precision still cannot tell it from 0: a tiny
            # derivative (sin(x)/x at 3e-200: -1e-200) straddles 0 at the first precision and resolves later.
            last = extra == EXTRA_BITS[-1]
            if bound == 0 or (last and (bound <= threshold or bound <= _FLOAT64_ZERO)):
                return Reference(mpmath.mpf(0), 0.0, 0.0, cap, "ok", "", "arb")
            digits = 0.0
        else:
            digits = min(cap, max(0.0, value.rel_accuracy_bits() * _LOG10_2))
            if digits >= cap:
                break
    if value.contains(0):
        return Reference(None, math.nan, math.nan, 0.0, "disagree",
                         f"the Arb ball {value.str(5, radius=True)} contains 0 but its radius exceeds the zero "
                         f"threshold {threshold.str(3)} at {p + EXTRA_BITS[-1]} bits", "arb")
    if digits < min_digits:
        return Reference(None, math.nan, math.nan, digits, "disagree",
                         f"the Arb ball {value.str(5, radius=True)} certifies {digits:.1f} digits < min_digits "
                         f"{min_digits:g} at {p + EXTRA_BITS[-1]} bits", "arb")
    mid, hi, lo = _rounded(value, p)
    if not math.isfinite(hi):
        return Reference(None, math.nan, math.nan, digits, "nonfinite",
                         f"reference {mpmath.nstr(mid, 8)} overflows float64", "arb")
    return Reference(mid, hi, lo, digits, "ok", "", "arb")


# --------------------------------------------------------------------------- #
# The error model's derivatives                                               #
# --------------------------------------------------------------------------- #

def certified_derivatives(expression: Expression, point: Sequence[float], component: int, n: int,
                          dps: int) -> list[float] | None:
    """``f, f', ..., f^(n)`` along one coordinate as floats, from one Arb series.

    A derivative whose ball straddles 0 is 0.0 when below the zero thresholds
    (see the module docstring). At a point where f is not real all are NaN
    (the model is then 'undefined' rather than wrong).

    Returns
    -------
    list of float, or None
        None when the series cannot be formed at the point, or a ball
        certifies fewer than 10 digits or straddles 0 above the thresholds
        (the caller falls back to :func:`harness.derivatives.taylor_derivatives`).
    """
    xs = exact_point(point)
    if xs is None:
        return [math.nan] * (n + 1)
    p = mpmath.libmp.dps_to_prec(dps)
    seed = [1 if i == component else 0 for i in range(len(xs))]
    try:
        coeffs = compile_series(expression).taylor([_to_arb(x) for x in xs], seed, n, p + EXTRA_BITS[0])
    except SeriesUnavailable:
        return None
    except NotReal:
        return [math.nan] * (n + 1)
    e = int(mpmath.mag(xs[component])) if xs[component] != 0 else 0
    out = []
    with flint.ctx.workprec(p + EXTRA_BITS[0]):
        size = _size_bound(coeffs, arb(2) ** (e - _PROBE_BITS))
        for k, c in enumerate(coeffs):
            d = c * math.factorial(k)
            if d.contains(0):
                bound = d.abs_upper()
                if not (bound <= size * arb(2) ** (-p - k * max(e, 0)) or bound <= _FLOAT64_ZERO):
                    return None
                out.append(0.0)
            elif d.rel_accuracy_bits() * _LOG10_2 < 10:
                return None
            else:
                v = float(d.mid())
                out.append(v if math.isfinite(v) else math.nan)
    return out
