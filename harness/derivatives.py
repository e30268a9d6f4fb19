"""Higher derivatives f^(n) for the error model's constants, to a few significant digits.

The model needs the *size* of f^(p+m) and f, not 20 digits of them.
:func:`model_derivatives` gives f and its first n derivatives along one
coordinate of an expression from one certified Arb series
(:func:`harness.certified.certified_derivatives`; the path a sweep uses,
shared by all schemes at a point and cached with the references), and where
the series cannot be formed from one ``mpmath.diffs`` call
(:func:`taylor_derivatives`); :func:`higher_derivative` gives one partial
derivative of a bare callable through the checked reference (standalone
:func:`harness.model.scheme_model`). A derivative that cannot be computed is
NaN, which makes a model 'undefined' instead of wrong.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import mpmath
import numpy as np

from .certified import certified_derivatives
from .reference import MAX_ORDER, reference_derivative
from .settings import ModelSettings

__all__ = ["higher_derivative", "model_derivatives", "taylor_derivatives", "value_at"]


def model_derivatives(expression: Any, point: Sequence[float], component: int, n: int, dps: int) -> list[float]:
    """f and its first n derivatives along one coordinate of an expression, as floats.

    One certified Arb series (all orders at once); where the series cannot be
    formed at the point (a removable singularity, a domain end),
    :func:`taylor_derivatives` on the expression's mpmath function.
    """
    out = certified_derivatives(expression, point, component, n, dps)
    return out if out is not None else taylor_derivatives(expression.mpmath, point, component, n, dps)


def higher_derivative(
    f_mp: Callable[..., Any],
    point: Sequence[float],
    orders: Sequence[int],
    *,
    dps: int = ModelSettings.dps,
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
    if not math.isfinite(value_at(f_mp, point, dps)):
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


def value_at(f_mp: Callable[..., Any], point: Sequence[float], dps: int) -> float:
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
