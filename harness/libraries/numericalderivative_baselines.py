"""numericalderivative (M. Baudin, https://github.com/mbaudin47/numericalderivative) as a baseline library.

Its step searches, each scored at the step it returns with the library's
own difference formula (``compute_first_derivative`` / ``compute_derivative``),
and its exact-optimal-step formulas fed with the true higher derivative.

=========================  =====================================================================  ====  ===
name                       call (f restricted to one coordinate, s = max(1, |x|))                 rule  acc
=========================  =====================================================================  ====  ===
nder_stepleman_winarsky    SteplemanWinarsky(f, x).find_step(initial_step=s)                      cent  2
nder_gmsw                  GillMurraySaundersWright(f, x, eps_f).find_step(1e-16 s, s)            fwd   1
nder_dumontet_vignes       DumontetVignes(f, x, eps, eps_f).find_step(kmin=1e-10 s, kmax=s)       cent  2
nder_sxxn_forward          ShiXieXuanNocedalForward(f, x, eps_f).find_step(2 sqrt(eps_f))         fwd   1
nder_sxxn_central          ShiXieXuanNocedalGeneral(GeneralFiniteDifference(f, x, 1, 2,           cent  2
                           'central'), eps_f).find_step()
nder_exact_forward         FirstDerivativeForward.compute_step(f''(x), eps |f(x)|)                fwd   1
nder_exact_central         FirstDerivativeCentral.compute_step(f'''(x), eps |f(x)|)               cent  2
=========================  =====================================================================  ====  ===

Settings. Every method but Stepleman-Winarsky needs the absolute precision
``eps_f`` of f; the library defaults to ``1e-15`` and advises, when it is
unknown and ``f(x) != 0``, ``absolute_precision = relative_precision * |f(x)|``.
We follow that advice with ``relative_precision = eps`` (float64):
``eps_f = eps |f(x)|``, or the default ``1e-15`` where ``f(x) = 0``; ``f(x)`` for
it is one counted evaluation (Dumontet-Vignes also gets
``relative_precision = eps``). With the default ``1e-15`` everywhere the
searches fail on 30 to 40% of the benchmark's points (wherever ``|f|`` is far
from 1). The searches also need a start or a search interval, which the
library leaves to the user (its own benchmark examples tune them per
problem). We use one rule for every problem, scaled to the point: the value
its benchmark examples use for most problems (initial step or ``kmax`` of 1,
``kmin = 1e-16 kmax`` for GMSW as there, ``1e-10`` for Dumontet-Vignes as
there), times ``s = max(1, |x|)``. Dumontet-Vignes' own default interval
(``x 2**-52`` to ``x 2**52``) fails on almost every problem ("Cannot evaluate
L(kmax)"). ``ShiXieXuanNocedalForward`` is given the initial step its
``find_step`` means to default to (``FirstDerivativeForward.compute_step(1,
absolute_precision)`` = ``2 sqrt(eps_f)``; version 0.3 raises a TypeError when
``initial_step`` is left at None).

The exact formulas need the true second or third derivative: it comes from
the harness's mpmath derivatives (:func:`harness.derivatives.taylor_derivatives`)
of the function's expression, with the same ``eps_f`` (their docstrings:
"abs(relative_precision * f(x))").
Their second output, the optimal total error, is the error estimate.

``h_used`` is the step the library's formula divides by: ``(x + h) - x``
(its "magic trick") for all but ``nder_sxxn_central``, whose
``GeneralFiniteDifference`` uses h as returned.

Failures (the library raises ValueError when a search does not converge or a
step vanishes, ZeroDivisionError or TypeError on poles) give NaN estimate,
step and error estimate, with the evaluations made until then. The library
works on Python scalars in float64; float32 points are handed over exactly
in float64 and the estimates rounded back. ``n_evals`` counts the points f
saw (a counting wrapper), including the library's own repeated ``f(x)``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

LIBRARY = "numericalderivative"

_ND = "numericalderivative"


def _info(accuracy: int, n_evals: int, call: str, description: str) -> dict[str, Any]:
    return {"library": LIBRARY, "adaptive": True, "accuracy": accuracy, "n_evals": n_evals, "float32": "float64",
            "longdouble": "float64",
            "call": call, "description": description}


#: Fields as in :data:`harness.baselines.BASELINE_METHODS` (n_evals: measured on exp at 1).
METHODS: dict[str, dict[str, Any]] = {
    "nder_stepleman_winarsky": _info(
        2, 30, f"{_ND}.SteplemanWinarsky(f, x).find_step(max(1, |x|))",
        "Stepleman & Winarsky (1979): central differences at h / 4**i until their differences stop decreasing"),
    "nder_gmsw": _info(
        1, 19, f"{_ND}.GillMurraySaundersWright(f, x, eps |f(x)|).find_step(1e-16 s, s)",
        "simplified GMSW (1983): bisection in log k for a condition error of the second difference in "
        "[0.001, 0.1], then h = 2 sqrt(eps_f / |f''|)"),
    "nder_dumontet_vignes": _info(
        2, 20, f"{_ND}.DumontetVignes(f, x, eps, eps |f(x)|).find_step(kmin=1e-10 s, kmax=s)",
        "Dumontet & Vignes (1977): bisection on the ratio of bounds of a third-difference estimate, "
        "then h = (3 eps_f / |f'''|)**(1/3)"),
    "nder_sxxn_forward": _info(
        1, 9, f"{_ND}.ShiXieXuanNocedalForward(f, x, eps |f(x)|).find_step(2 sqrt(eps_f))",
        "Shi, Xie, Xuan & Nocedal (2022): bisection on a test ratio of forward differences"),
    "nder_sxxn_central": _info(
        2, 11, f"{_ND}.ShiXieXuanNocedalGeneral(GeneralFiniteDifference(f, x, 1, 2, 'central'), eps |f(x)|)"
        ".find_step()",
        "Shi, Xie, Xuan & Nocedal (2022) for a central difference of order 2"),
    "nder_exact_forward": _info(
        1, 4, f"{_ND}.FirstDerivativeForward.compute_step(f''(x), eps |f(x)|)",
        "forward difference at the exact optimal step 2 sqrt(eps_f / |f''|) (true f'' from mpmath)"),
    "nder_exact_central": _info(
        2, 3, f"{_ND}.FirstDerivativeCentral.compute_step(f'''(x), eps |f(x)|)",
        "central difference at the exact optimal step (3 eps_f / |f'''|)**(1/3) (true f''' from mpmath)"),
}

_EPS = float(np.finfo(np.float64).eps)
_DEFAULT_PRECISION = 1e-15  # the library's default absolute_precision


def load() -> SimpleNamespace:
    """The module the baselines call; ImportError when numericalderivative is missing."""
    import numericalderivative

    return SimpleNamespace(nd=numericalderivative)


def absolute_precision(fx: float) -> float:
    """``eps |f(x)|``: the library's advice when the absolute precision is unknown; its default where f(x) = 0."""
    return _EPS * abs(fx) if fx != 0 and math.isfinite(fx) else _DEFAULT_PRECISION


def _search(method: str, nd: Any, g: Callable[[float], Any], x: float) -> tuple[float, float, float]:
    """(estimate, step, error estimate) of one step search at one point."""
    s = max(1.0, abs(x))
    if method == "nder_stepleman_winarsky":
        alg = nd.SteplemanWinarsky(g, x)
        h, _ = alg.find_step(s)
        return alg.compute_first_derivative(h), h, math.nan
    eps_f = absolute_precision(float(g(x)))
    if method == "nder_gmsw":
        alg = nd.GillMurraySaundersWright(g, x, absolute_precision=eps_f)
        h, _ = alg.find_step(1e-16 * s, s)
        return alg.compute_first_derivative(h), h, math.nan
    if method == "nder_dumontet_vignes":
        alg = nd.DumontetVignes(g, x, relative_precision=_EPS, absolute_precision=eps_f)
        h, _ = alg.find_step(kmin=1e-10 * s, kmax=s)
        return alg.compute_first_derivative(h), h, math.nan
    if method == "nder_sxxn_forward":
        alg = nd.ShiXieXuanNocedalForward(g, x, absolute_precision=eps_f)
        h0, _ = nd.FirstDerivativeForward.compute_step(1.0, eps_f)
        h, _ = alg.find_step(h0)
        return alg.compute_first_derivative(h), h, math.nan
    if method == "nder_sxxn_central":
        formula = nd.GeneralFiniteDifference(g, x, 1, 2, "central")
        alg = nd.ShiXieXuanNocedalGeneral(formula, absolute_precision=eps_f)
        h, _ = alg.find_step()
        return alg.compute_derivative(h), h, math.nan
    raise ValueError(f"unknown numericalderivative method {method!r}")


def _exact(method: str, nd: Any, g: Callable[[float], Any], x: float, derivs: Sequence[float]
           ) -> tuple[float, float, float]:
    """(estimate, step, optimal error) at the library's exact optimal step, from the true second or third derivative."""
    eps_f = absolute_precision(float(g(x)))
    if method == "nder_exact_forward":
        h, err = nd.FirstDerivativeForward.compute_step(derivs[2], eps_f)
        return nd.FirstDerivativeForward(g, x).compute(h), h, err
    h, err = nd.FirstDerivativeCentral.compute_step(derivs[3], eps_f)
    return nd.FirstDerivativeCentral(g, x).compute(h), h, err


def run(method: str, lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
        steps: Sequence[float | None], out: dict[str, np.ndarray], *, expression: Any = None) -> None:
    """Fill ``out`` for one numericalderivative method (adaptive: one row), one point and coordinate per call."""
    from ..baselines import _Restricted  # noqa: PLC0415 - harness.baselines imports this package
    from ..derivatives import taylor_derivatives
    from ..settings import ModelSettings

    exact = method.startswith("nder_exact_")
    points = points.astype(np.float64)
    n_points, dim = points.shape
    for p in range(n_points):
        for j in range(dim):
            g = _Restricted(fn, [points[p, c] for c in range(dim) if c != j], j)
            x = float(points[p, j])
            try:
                if exact:
                    if expression is None:
                        raise ValueError("the exact-step formulas need the function's expression")
                    derivs = taylor_derivatives(expression.mpmath, list(points[p]), j, 3, ModelSettings.dps)
                    est, h, err = _exact(method, lib.nd, g, x, derivs)
                else:
                    est, h, err = _search(method, lib.nd, g, x)
                # The library's formulas divide by (x + h) - x ("magic trick"); GeneralFiniteDifference by h.
                est, h = float(est), float(h if method == "nder_sxxn_central" else (x + h) - x)
                if not math.isfinite(h):  # e.g. an exact step for f'' = 0 is infinite: no step was used
                    est = h = err = math.nan
            except Exception:  # noqa: BLE001 - a library failure (ValueError, ZeroDivisionError, ...) is a NaN row
                est = h = err = math.nan
            out["estimate"][0, p, j], out["h_used"][0, p, j] = est, h
            out["error_estimate"][0, p, j], out["n_evals"][0, p, j] = err, g.n_points
