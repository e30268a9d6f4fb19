"""findiff (M. Baer, https://github.com/maroba/findiff) as a baseline library.

findiff differentiates arrays sampled on a grid; its finite-difference
weights come from ``findiff.coefficients(deriv, acc)`` (a dict with
``'center'``, ``'forward'`` and ``'backward'`` schemes, each with
``'coefficients'`` and ``'offsets'``). These baselines take those weights
and apply them, as findiff's operators do on a uniform grid of spacing h, to
samples ``f(x + k h)`` for every h of the sweep's grid::

    estimate = sum_k c_k f(x + k h) / h**deriv

The estimate divides by the nominal h (the grid spacing, as findiff does;
``x + k h`` is rounded where it is formed); ``h_used`` is the step that lands,
``(x + h) - x`` in the working type, as for the harness's own stencils, so a
step lost against x is a ``step_underflow`` row, not an ok row of garbage. f is called once per coordinate on all offsets, steps
and points; if that call raises, point by point, and a point whose call
raises gets NaN (its evaluations are still counted). Offsets whose coefficient is exactly 0 are not sampled;
findiff's default, numerical solve leaves rounding-level weights on other
offsets (``coefficients(1, 4)['center']`` gives -2.4e-16 for ``f(x)``,
``coefficients(3, 4)['center']`` 7.8e-15), and those are kept and sampled, as
a findiff user gets them: at small h they add ``w f(x) / h**deriv``. The sum is formed in
the working number type, in offset order (no pairing of symmetric samples).
Each method has the error model of the same stencil (exact weights), so its
curve gets a predicted h* like our own stencils.

===================  ==========================================  ======  ========  =======
name                 weights                                     deriv   accuracy  n_evals
===================  ==========================================  ======  ========  =======
findiff_central2     coefficients(deriv=1, acc=2)['center']      1       2         2
findiff_central4     coefficients(deriv=1, acc=4)['center']      1       4         5
findiff_forward2     coefficients(deriv=1, acc=2)['forward']     1       2         3
findiff_d3_central4  coefficients(deriv=3, acc=4)['center']      3       4         7
===================  ==========================================  ======  ========  =======

``findiff_d3_central4`` is the example of findiff's README
(``findiff.coefficients(deriv=3, acc=4, symbolic=True)``: center
``[1/8, -1, 13/8, 0, -13/8, 1, -1/8]`` on offsets -3..3).
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

LIBRARY = "findiff"

#: method -> (derivative order, accuracy order, scheme).
_SCHEMES: dict[str, tuple[int, int, str]] = {
    "findiff_central2": (1, 2, "center"),
    "findiff_central4": (1, 4, "center"),
    "findiff_forward2": (1, 2, "forward"),
    "findiff_d3_central4": (3, 4, "center"),
}
# Offsets of each scheme (findiff's layout: centre 2 floor((d+1)/2) - 1 + acc points, one-sided as many), for
# the error model; tests check them against findiff itself.
_MODEL_OFFSETS: dict[str, list[int]] = {
    "findiff_central2": [-1, 1],
    "findiff_central4": [-2, -1, 1, 2],
    "findiff_forward2": [0, 1, 2],
    "findiff_d3_central4": [-3, -2, -1, 1, 2, 3],
}
_N_EVALS = {"findiff_central2": 2, "findiff_central4": 5, "findiff_forward2": 3, "findiff_d3_central4": 7}

#: Fields as in :data:`harness.baselines.BASELINE_METHODS`, plus ``derivative`` and ``model_offsets``.
METHODS: dict[str, dict[str, Any]] = {
    name: {
        "library": LIBRARY, "adaptive": False, "accuracy": acc, "n_evals": _N_EVALS[name], "float32": "float32",
        "longdouble": "longdouble",
        "derivative": deriv, "model_offsets": _MODEL_OFFSETS[name],
        "call": f"findiff.coefficients(deriv={deriv}, acc={acc})['{scheme}'] applied to f(x + k h) / h**{deriv}",
        "description": f"findiff's {scheme} weights for derivative {deriv}, accuracy {acc}, at each grid step h",
    }
    for name, (deriv, acc, scheme) in _SCHEMES.items()
}


def load() -> SimpleNamespace:
    """findiff's coefficient function; ImportError when findiff is missing."""
    from findiff import coefficients

    return SimpleNamespace(coefficients=coefficients)


@lru_cache(maxsize=None)
def _weights(coefficients: Callable[..., Any], method: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, coefficients) findiff gives for a method, exact zeros dropped."""
    deriv, acc, scheme = _SCHEMES[method]
    entry = coefficients(deriv=deriv, acc=acc)[scheme]
    offsets = np.asarray(entry["offsets"], dtype=np.int64)
    coefs = np.asarray(entry["coefficients"], dtype=np.float64)
    keep = coefs != 0
    return offsets[keep], coefs[keep]


def weights(method: str) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, coefficients) findiff gives for ``method``, exact zeros dropped (findiff must be installed)."""
    return _weights(load().coefficients, method)


def run(method: str, lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
        steps: Sequence[float | None], out: dict[str, np.ndarray], *, expression: Any = None) -> None:
    """Fill ``out`` (one row per h): one call of f per coordinate on all offsets, steps and points."""
    from ..baselines import _Restricted  # noqa: PLC0415 - harness.baselines imports this package

    deriv = _SCHEMES[method][0]
    offsets, coefs = _weights(lib.coefficients, method)
    dtype = points.dtype
    hs = np.asarray(steps, dtype=dtype)
    c, o = coefs.astype(dtype), offsets.astype(dtype)

    def estimate(pts: np.ndarray, j: int) -> np.ndarray:
        g = _Restricted(fn, [pts[:, k][None, None, :] for k in range(pts.shape[1]) if k != j], j)
        samples = g(pts[:, j][None, None, :] + o[:, None, None] * hs[None, :, None])  # (K, n_h, n_points)
        return np.tensordot(c, samples, axes=1) / hs[:, None] ** deriv

    for j in range(points.shape[1]):
        try:
            out["estimate"][:, :, j] = estimate(points, j)
        except Exception:  # noqa: BLE001 - f raised: retry point by point, NaN where it still raises
            for p in range(points.shape[0]):
                try:
                    out["estimate"][:, p, j] = estimate(points[p:p + 1], j)[:, 0]
                except Exception:  # noqa: BLE001
                    out["estimate"][:, p, j] = np.nan
        # The step that lands, (x + h) - x, as for our stencils: 0 where x + h == x (a step_underflow row);
        # the estimate itself divides by the nominal h, as findiff's weights are applied.
        x = points[:, j][None, :]
        out["h_used"][:, :, j] = (x + hs[:, None]) - x
        out["n_evals"][:, :, j] = offsets.size
    out["h_used"][np.isnan(out["estimate"])] = np.nan
