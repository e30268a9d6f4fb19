"""``noise.parquet``: one ECnoise estimate per function x point x number type, beside the true level.

For every block (on its first step scale) the noise level of the evaluated
f is estimated with :func:`harness.ecnoise.estimate_noise` along the unit
direction ``(1, ..., 1) / sqrt(dim)`` and stored with the level the function
declared, so a run shows how well the noise can be recovered from f alone.
:func:`curve_noise` turns the declared or estimated level into the error
model's ``eps_f`` for each curve.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from .ecnoise import estimate_noise
from .noise import NoiseSpec, noise_columns
from .table import point_labels

#: Column -> meaning, in table order.
NOISE_COLUMNS: dict[str, str] = {
    "function": "test function name",
    "point_index": "index of the point in the function's point list",
    "point": "the point (after rounding to dtype), exact float reprs",
    "dtype": "number type f was evaluated in",
    "noise_kind": "declared noise: relative, absolute or none",
    "noise_level": "declared noise level (standard deviation; relative to |f| for relative noise), 0 for none",
    "f_value": "noise-free f at the point (float64)",
    "true_noise": "declared absolute noise level at the point (level |f| or level), 0 without declared noise",
    "rounding_noise": "the error model's rounding level of f, eps_factor u |f| (u of dtype)",
    "estimated_noise": "ECnoise's estimate of the absolute noise level (NaN when not detected)",
    "estimated_relative": "estimated_noise / |f_value|",
    "ratio": "estimated_noise / true_noise (NaN without declared noise)",
    "h": "spacing of the last difference table tried (along the direction (1, ..., 1) / sqrt(dim))",
    "order": "difference order k whose level was accepted (0: none)",
    "attempts": "difference tables tried (h * 100 or h / 100 after a failure)",
    "samples": "evaluations of f spent",
    "status": "ok, h_too_small, h_too_large (noise not detected at the last h) or nonfinite",
}


def noise_rows(function: Any, fn: Callable[..., np.ndarray], points: np.ndarray, dtype_name: str,
               rounding_eps: float, point_offset: int = 0) -> pd.DataFrame:
    """ECnoise at every point of a block, beside the declared level.

    Parameters
    ----------
    function : FunctionSpec
    fn : callable
        The evaluated (noisy) numpy function.
    points : ndarray, shape (n_points, dim)
        The block's points in the working type.
    dtype_name : str
    rounding_eps : float
        The model's relative rounding level of f in this type (``eps_factor u``).
    point_offset : int
        Index of ``points[0]`` in the function's point list.

    Returns
    -------
    DataFrame
        Columns :data:`NOISE_COLUMNS`, one row per point.
    """
    dtype = points.dtype
    dim = points.shape[1]
    direction = np.full(dim, 1 / math.sqrt(dim)).astype(dtype) if dim > 1 else np.ones(1, dtype=dtype)

    def sample(idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        coords = [points[idx, c][None, :] + t * direction[c] for c in range(dim)]
        return np.broadcast_to(np.asarray(fn(*coords)), t.shape)

    with np.errstate(all="ignore"):
        est = estimate_noise(sample, np.max(np.abs(points), axis=1))
        f_value = np.asarray(function.expression.numpy(*[points[:, c].astype(np.float64) for c in range(dim)]),
                             dtype=np.float64).reshape(-1)
        declared: NoiseSpec | None = function.noise
        true = declared.sigma(f_value) if declared is not None else np.zeros_like(f_value)
        f_abs = np.abs(f_value)
        relative = est.noise / f_abs
        ratio = np.where(true > 0, est.noise / true, np.nan)
    kind, level = noise_columns(declared)
    n = points.shape[0]
    return pd.DataFrame({
        "function": function.name,
        "point_index": np.arange(n, dtype=np.int64) + point_offset,
        "point": point_labels(points.astype(np.float64)),
        "dtype": dtype_name,
        "noise_kind": kind,
        "noise_level": level,
        "f_value": f_value,
        "true_noise": true,
        "rounding_noise": rounding_eps * f_abs,
        "estimated_noise": est.noise,
        "estimated_relative": relative,
        "ratio": ratio,
        "h": est.h,
        "order": est.order,
        "attempts": est.attempts,
        "samples": est.samples,
        "status": est.status,
    })


def curve_noise(declared: NoiseSpec | None, setting: Any, f_value: float, magnitude: float, rounding_eps: float,
                estimated: float = math.nan) -> tuple[str, float | None, float]:
    """The noise the error model uses for one curve: ``(source, noise, magnitude)``.

    The model's round-off constant is ``C_r = eps_f sum|w_i| M`` with
    ``eps_f = noise`` (or ``eps_factor u`` when noise is None) and ``M`` the
    magnitude (``|f(x)|``). The rules, in order:

    * ``model.noise`` a number: that relative level, as before (``'setting'``);
    * ``model.noise: estimate`` and ECnoise detected noise: the estimate
      (it includes the rounding of f) (``'estimate'``);
    * declared noise: its absolute level ``s`` and the rounding ``r =
      eps_factor u M`` in quadrature, ``sqrt(s^2 + r^2)`` (``'declared'``);
    * otherwise rounding alone (``'rounding'``).

    An absolute level is passed as ``noise = level / M`` with ``M = |f(x)|``,
    or with ``M = 1`` where ``f(x) = 0`` (absolute noise does not vanish with f).
    ``eps_f`` is the noise's standard deviation: the model's h* is then the
    minimiser of the rms error for central differences and 1.19 times it for
    forward differences (whose rms optimum is Moré & Wild's ``1.68 sqrt(eps_f
    / |f''|)`` against ``2 sqrt(eps_f / |f''|)``).

    Parameters
    ----------
    declared : NoiseSpec or None
    setting : None, float or 'estimate'
        ``model.noise``.
    f_value : float
        Noise-free f(x).
    magnitude : float
        ``|f(x)|`` as the model uses it (``|f| + |x f'|`` for nominal steps).
    rounding_eps : float
        ``eps_factor u`` of the number type.
    estimated : float
        ECnoise's absolute level at the point (NaN if not detected).
    """
    if setting is not None and setting != "estimate":
        return "setting", float(setting), magnitude
    if setting == "estimate" and math.isfinite(estimated) and estimated > 0:
        sigma = estimated
        source = "estimate"
    elif declared is not None and declared.level > 0:
        sigma = math.hypot(float(declared.sigma(f_value)), rounding_eps * magnitude)
        source = "declared"
    else:
        return "rounding", None, magnitude
    if magnitude > 0 and math.isfinite(magnitude):
        return source, sigma / magnitude, magnitude
    return source, sigma, 1.0
