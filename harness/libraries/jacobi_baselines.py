"""jacobi (H. Dembinski, https://github.com/hdembinski/jacobi) as a baseline library.

``jacobi.jacobi(fn, x)`` differentiates by DERIVEST-like extrapolation: a
central difference (one-sided where f is NaN on one side, detected at the
first step) at the geometric sequence of steps ``h_i = |x| h0 r**i``
(``h0 = 0.25``; ``r = 0.5`` central, ``0.125`` one-sided; ``|x|`` replaced
by 1 at x = 0), a polynomial fit in ``h**2`` through the latest
``maxgrad + 1 = 4`` estimates at each iteration, and the estimate whose fit
has the smallest standard error is kept; that standard error is jacobi's
error estimate. Defaults: ``maxiter=10``, ``rtol=0`` (iterate until the error
estimate stops improving).

====================  ================================================  ========  =======
name                  call (f restricted to one coordinate)             accuracy  n_evals
====================  ================================================  ========  =======
jacobi                jacobi.jacobi(f, x), one point per call            2         <= 21
jacobi_diagonal       jacobi.jacobi(f, xs, diagonal=True), all points    2         <= 20
====================  ================================================  ========  =======

``jacobi_diagonal`` is the vectorized use the package's README shows
(``fdx, fdxe = jacobi(f, x, diagonal=True)`` for an elementwise f over a
linspace): jacobi then differentiates ``f(xs + dx)`` in the scalar ``dx``
at ``dx = 0``, so its steps are absolute (``0.25 r**i``, not scaled by
``|x|``), one-sided mode is chosen once for all points, and every point is
evaluated until the last one has converged (``n_evals`` is the call's total
over the number of points).

``h_used`` is the smallest step of the fit whose estimate jacobi returned:
``h_i`` of the iteration with the smallest error estimate, read from
jacobi's ``diagnostic`` output (``diagnostic['residual']`` holds the error
estimate of every iteration, ``diagnostic['method']`` the direction).
``n_evals`` counts the points f saw (a counting wrapper). jacobi computes in
float64 whatever the points' type (it converts ``x`` with
``np.asarray(x, dtype=float)``), so float32 points are handed over exactly in
float64 and the estimates rounded back.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

LIBRARY = "jacobi"

#: Fields as in :data:`harness.baselines.BASELINE_METHODS`.
METHODS: dict[str, dict[str, Any]] = {
    "jacobi": {
        "library": LIBRARY, "adaptive": True, "accuracy": 2, "n_evals": 18, "float32": "float64",
        "longdouble": "float64",  # x is converted with float(); n-D calls fail on the other coordinates
        "call": "jacobi.jacobi(f, x)",
        "description": "central differences at |x|/4 * 2**-i, polynomial extrapolation in h**2 (DERIVEST-like), "
                       "error estimate = standard error of the fit; one point per call",
    },
    "jacobi_diagonal": {
        "library": LIBRARY, "adaptive": True, "accuracy": 2, "n_evals": 18, "float32": "float64",
        "longdouble": None,  # np.polyfit: float128 is unsupported in linalg
        "call": "jacobi.jacobi(f, xs, diagonal=True)",
        "description": "the same on all points in one call (the README's vectorized use): absolute steps "
                       "0.25 * 2**-i, iterations until every point has converged",
    },
}

# jacobi's defaults (jacobi._jacobi._steps): first step factor, reduction per iteration (central, one-sided).
_H0 = 0.25
_FACTOR = {0: 0.5, 1: 0.125, -1: 0.125}


def load() -> SimpleNamespace:
    """The call the baselines make; ImportError when jacobi is missing."""
    from jacobi import jacobi

    return SimpleNamespace(jacobi=jacobi)


def _steps_used(scale: np.ndarray, diagnostic: dict[str, Any]) -> np.ndarray:
    """Smallest step of the returned fit, per point, from jacobi's diagnostic."""
    residual = np.array([np.ravel(r) for r in diagnostic["residual"][0]])  # (iterations, n)
    if residual.size == 0:
        return np.full(scale.shape, np.nan)
    best = np.argmin(np.where(np.isnan(residual), np.inf, residual), axis=0) + 1  # iteration i >= 1
    md = int(np.ravel(diagnostic["method"])[0])
    return np.abs(scale) * _H0 * _FACTOR[md] ** best


def run(method: str, lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
        steps: Sequence[float | None], out: dict[str, np.ndarray], *, expression: Any = None) -> None:
    """Fill ``out`` for one jacobi method (adaptive: one row)."""
    from ..baselines import _per_coordinate, _Restricted  # noqa: PLC0415 - harness.baselines imports this package

    points = points.astype(np.result_type(points.dtype, np.float64))
    if method == "jacobi_diagonal":
        def call(x: np.ndarray, others: list[np.ndarray], g: _Restricted) -> dict[str, Any]:
            diagnostic: dict[str, Any] = {}
            est, err = lib.jacobi(g, x, diagonal=True, diagnostic=diagnostic)
            return {"estimate": est, "error_estimate": err, "n_evals": None,
                    "h_used": _steps_used(np.ones_like(x), diagnostic)}

        _per_coordinate(call, fn, points, out, pass_others=False, row=0)
        return
    n_points, dim = points.shape
    for p in range(n_points):
        for j in range(dim):
            g = _Restricted(fn, [points[p, c] for c in range(dim) if c != j], j)
            x = float(points[p, j])
            diagnostic = {}
            try:
                est, err = lib.jacobi(g, x, diagnostic=diagnostic)
                h = _steps_used(np.array([x if x != 0 else 1.0]), diagnostic)[0]
            except Exception:  # noqa: BLE001 - a library failure is a NaN result
                est = err = h = np.nan
            out["estimate"][0, p, j], out["error_estimate"][0, p, j] = est, err
            out["h_used"][0, p, j], out["n_evals"][0, p, j] = h, g.n_points
