"""The tidy results table: one row per estimate.

Column meanings are documented in the README ("Results schema") and in
:data:`COLUMNS`. Errors are computed against the double-double reference
``hi + lo`` (longdouble estimates in longdouble), so the stored ``abs_error``
is not limited by the rounding of ``reference`` to float64.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from .evaluate import SchemeEstimates

#: Column -> meaning, in table order.
COLUMNS: dict[str, str] = {
    "experiment": "experiment (config `name`) that produced the row",
    "function": "test function name",
    "expression": "its expression text",
    "dim": "number of variables",
    "point_index": "index of the point in the function's point list",
    "point": "the point actually evaluated (after rounding to dtype), as exact float reprs",
    "component": "coordinate differentiated (0-based); 0 for 1-D functions",
    "component2": "second coordinate of a mixed partial d2f/dxi dxj (i = component), -1 otherwise",
    "derivative_order": "derivative order m",
    "scheme": "scheme name",
    "scheme_kind": "stencil, richardson, complex_step, mixed, baseline or selector",
    "accuracy_order": "accuracy order p of the scheme (derived from its stencil)",
    "dtype": "number type the estimate was computed in",
    "step": "how h was applied: exact ((x+h)-x), nominal (h as given) or library (the library's own rule)",
    "step_scale": "absolute (h), relative (h * max(1, |x|)), search (a selector searched for h) or library",
    "adaptive": "True when the scheme chose its own step (selectors, adaptive baselines): one row per point",
    "h": "nominal step from the grid (NaN for adaptive rows)",
    "h_used": "step actually used, in dtype, as float64",
    "estimate": "the finite-difference estimate (as float64)",
    "reference": "reference derivative rounded to float64 (NaN when unreliable; 0.0 for a certified zero-or-tiny ball)",
    "abs_error": "|estimate - reference| (NaN when the reference is unreliable)",
    "rel_error": "abs_error / |reference| (NaN when the reference is 0 or unreliable)",
    "reference_digits": "decimal digits the Arb ball certifies, or on which the checked estimates agree (<= dps)",
    "reference_status": "ok, or why the reference is unreliable (complex, nonfinite, disagree, undefined, error)",
    "reference_method": "how the reference was computed: arb (certified ball arithmetic), mpmath_checked, analytic "
                        "(a user's derivative function) or estimate (Ridders' extrapolation of a user's function)",
    "error_estimate": "the method's own error estimate (library baselines, selectors), NaN otherwise",
    "n_evals": "function evaluations this estimate cost (counted by wrapping f for baselines and selectors)",
    "status": "ok | unreliable_reference | step_underflow | nonfinite",
    "regime": "truncation | round-off | transition | floor | invalid, from the curve's own data; adaptive for "
              "selector/adaptive rows",
    "noise_kind": "noise the function declares: relative, absolute or none",
    "noise_level": "declared noise level (standard deviation, relative to |f| for relative noise); 0 for none",
}

ROW_STATUSES = ("ok", "unreliable_reference", "step_underflow", "nonfinite")
CATEGORICAL = ("experiment", "function", "expression", "point", "scheme", "scheme_kind", "dtype", "step",
               "step_scale", "reference_status", "reference_method", "status", "regime", "noise_kind")
#: Columns that identify one curve (error against h).
CELL = ["function", "point_index", "component", "component2", "derivative_order", "scheme", "dtype", "step_scale"]


def point_labels(points: np.ndarray) -> list[str]:
    """Exact, readable label of each point: ``'0.7'`` or ``'(1.0, 1.0, 1.0)'``."""
    labels = []
    for row in points:
        vals = [repr(float(v)) for v in row]
        labels.append(vals[0] if len(vals) == 1 else "(" + ", ".join(vals) + ")")
    return labels


def absolute_error(estimate: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``|estimate - (hi + lo)|`` without losing the tail ``lo``.

    For float16/32/64 estimates ``estimate - hi`` is computed in float64 and
    is exact whenever the estimate is within a factor 2 of the reference, so
    subtracting ``lo`` afterwards keeps the reference's extra precision.
    Longdouble estimates are compared in longdouble.
    """
    if estimate.dtype == np.longdouble and np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:
        ref = hi.astype(np.longdouble) + lo.astype(np.longdouble)
        return np.abs(estimate - ref).astype(np.float64)
    return np.abs((estimate.astype(np.float64) - hi) - lo)


def scheme_rows(
    *,
    experiment: str,
    function: str,
    expression: str,
    points: np.ndarray,
    dtype: str,
    step: str,
    hs: np.ndarray,
    estimates: SchemeEstimates,
    reference: Mapping[str, np.ndarray],
    step_scale: str = "absolute",
    point_offset: int = 0,
    noise_kind: str = "none",
    noise_level: float = 0.0,
) -> pd.DataFrame:
    """Rows of one scheme on one function and number type.

    Parameters
    ----------
    points : ndarray, shape (n_points, dim)
        Points in the working number type.
    hs : ndarray, shape (n_h,)
        Nominal steps (ignored when ``estimates.h_nominal`` is set).
    estimates : SchemeEstimates
        Arrays of shape (n_h, n_points, n_partials).
    reference : mapping
        Arrays of shape (n_points, n_partials) under keys ``hi``, ``lo``,
        ``digits``, ``status`` and ``method`` (strings), matching ``estimates.partials``.
    point_offset : int
        Index of ``points[0]`` in the function's point list (chunked sweeps).
    noise_kind, noise_level
        The function's declared noise (:func:`harness.noise.noise_columns`).

    Returns
    -------
    DataFrame
        Rows ordered by point, component, h.
    """
    n_h, n_points, n_partials = estimates.estimate.shape
    dim = points.shape[1]
    order = (1, 2, 0)  # (H, N, P) -> (N, P, H) so h varies fastest

    def flat(a: np.ndarray) -> np.ndarray:
        return np.transpose(a, order).reshape(-1)

    est = flat(estimates.estimate)
    h_used = flat(estimates.h_used)
    h_nominal = hs if estimates.h_nominal is None else estimates.h_nominal
    partials = estimates.partials
    first = np.array([p[0] for p in partials], dtype=np.int64)
    second = np.array([p[1] if len(p) > 1 else -1 for p in partials], dtype=np.int64)

    def per_cell(a: np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(a).reshape(-1), n_h)

    hi, lo = per_cell(reference["hi"]), per_cell(reference["lo"])
    ref_status = per_cell(reference["status"])
    with np.errstate(all="ignore"):
        abs_error = absolute_error(est, hi, lo)
        rel_error = np.where(hi != 0, abs_error / np.abs(hi), np.nan)
    unreliable = ref_status != "ok"
    abs_error[unreliable] = np.nan
    rel_error[unreliable] = np.nan

    # Status codes index ROW_STATUSES; later rules win.
    status = np.zeros(est.shape, dtype=np.int8)
    status[~np.isfinite(est)] = ROW_STATUSES.index("nonfinite")
    status[h_used == 0] = ROW_STATUSES.index("step_underflow")
    status[unreliable] = ROW_STATUSES.index("unreliable_reference")

    scheme = estimates.scheme
    n_rows = est.size
    # String columns are built as categoricals from integer codes: building
    # millions of Python strings would cost far more than the sweep itself.
    def constant(value: str) -> pd.Categorical:
        return pd.Categorical.from_codes(np.zeros(n_rows, dtype=np.int8), categories=[value])

    ref_categories, ref_codes = np.unique(ref_status.astype(str), return_inverse=True)
    # Points that round to the same value in a coarse type (float8, float16) share one label.
    label_code, labels = pd.factorize(np.array(point_labels(points.astype(np.float64)), dtype=object))
    method_categories, method_codes = np.unique(np.asarray(reference["method"]).astype(str).reshape(-1),
                                                return_inverse=True)
    method_codes = np.repeat(method_codes.reshape(-1), n_h)  # one method per cell: unique before repeating
    point_codes = np.repeat(np.arange(n_points), n_partials * n_h)
    frame = pd.DataFrame(
        {
            "experiment": constant(experiment),
            "function": constant(function),
            "expression": constant(expression),
            "dim": np.full(n_rows, dim, dtype=np.int64),
            "point_index": point_codes.astype(np.int64) + point_offset,
            "point": pd.Categorical.from_codes(label_code[point_codes], categories=labels),
            "component": np.tile(np.repeat(first, n_h), n_points),
            "component2": np.tile(np.repeat(second, n_h), n_points),
            "derivative_order": np.full(n_rows, scheme.derivative, dtype=np.int64),
            "scheme": constant(scheme.name),
            "scheme_kind": constant(scheme.kind),
            "accuracy_order": np.full(n_rows, scheme.accuracy, dtype=np.int64),
            "dtype": constant(dtype),
            "step": constant(step),
            "step_scale": constant(step_scale),
            "adaptive": np.full(n_rows, estimates.adaptive),
            "h": np.tile(np.asarray(h_nominal, dtype=np.float64), n_points * n_partials),
            "h_used": h_used.astype(np.float64),
            "estimate": est.astype(np.float64),
            "reference": hi,
            "abs_error": abs_error,
            "rel_error": rel_error,
            "reference_digits": per_cell(reference["digits"]).astype(np.float64),
            "reference_status": pd.Categorical.from_codes(ref_codes.reshape(-1), categories=list(ref_categories)),
            "reference_method": pd.Categorical.from_codes(method_codes, categories=list(method_categories)),
            "error_estimate": (flat(estimates.error_estimate).astype(np.float64)
                               if estimates.error_estimate is not None else np.full(n_rows, np.nan)),
            "n_evals": (flat(estimates.n_evals).astype(np.int64) if estimates.n_evals is not None
                        else np.full(n_rows, scheme.n_evals, dtype=np.int64)),
            "status": pd.Categorical.from_codes(status, categories=list(ROW_STATUSES)),
            "regime": constant(""),  # labelled per curve once the block is complete
            "noise_kind": constant(noise_kind),
            "noise_level": np.full(n_rows, noise_level, dtype=np.float64),
        },
        copy=False,  # one block per column: finalize() can release them one by one
    )
    return frame


def finalize(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate row blocks into one table with categorical string columns.

    The blocks are consumed (a list of them is emptied): each column is let
    go as soon as it has been concatenated, so peak memory stays near one
    table rather than two (a 10^7-row sweep holds about 1.4 GB of rows).
    """
    # Each block's columns are taken out as Series (sharing its arrays) and a list of blocks is emptied,
    # so every column is released as soon as it is concatenated. (Popping columns one by one from the
    # DataFrames would cost a block-manager rebuild per column.)
    blocks = [dict(f.items()) for f in frames if len(f)]
    if isinstance(frames, list):
        frames.clear()
    if not blocks:
        return empty_table()
    columns = {}
    for col in COLUMNS:
        parts = [b.pop(col) for b in blocks]
        if col in CATEGORICAL:
            parts = [p if isinstance(p.dtype, pd.CategoricalDtype) else p.astype("category") for p in parts]
            columns[col] = union_categoricals(parts, ignore_order=True)
        else:
            columns[col] = np.concatenate([p.to_numpy() for p in parts])
        del parts
        _return_freed_memory()
    return pd.DataFrame(columns, copy=False)


def _trimmer() -> Any:
    """glibc's ``malloc_trim`` (None elsewhere)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _trimmer()


def _return_freed_memory() -> None:
    """Give the memory of freed blocks back to the system at once.

    A block's columns are small arrays that glibc keeps in its heap once
    freed, where the large concatenated columns (mmap'd) cannot reuse them:
    without this, the blocks' memory stays in the process until the end and
    the peak is two tables instead of one (10^7 rows: about +1 GiB).
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def empty_table() -> pd.DataFrame:
    """A table with the schema's columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
