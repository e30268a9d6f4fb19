"""Vectorized evaluation of every scheme on every point and step at once.

For one function and one number type, all stencil offsets of all schemes are
merged; the function is then called once on the union of displaced points,
an array of shape ``(n_offsets, n_h, n_points, dim)``, and each scheme
combines its samples with array arithmetic. There is no Python loop over h
or over points.

Steps are applied *exactly* by default: the step actually used is
``h_used = (x + h) - x`` computed in the working number type, so that
``x + h_used`` is representable and the division by ``h_used`` does not add
the representation error of ``x + h`` to the estimate. Displaced points are
``x + o * h_used``; for offsets that are powers of two (the standard 1- and
2-point stencils) they are exact. With ``step='nominal'`` the given h is used
unchanged (the seed documents' way).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Sequence

import numpy as np

from .schemes import ComplexStepScheme, MixedScheme, Scheme, StencilScheme
from .stencils import Stencil

STEP_MODES = ("exact", "nominal")
STEP_SCALES = ("absolute", "relative")


@dataclass
class SchemeEstimates:
    """Estimates of one scheme for one function and number type.

    Attributes
    ----------
    scheme : Scheme
    estimate : ndarray, shape (n_h, n_points, dim)
        Estimate of the derivative along each coordinate, in the working type.
        Adaptive schemes (step selectors, adaptive library baselines) have
        ``n_h == 1``: one estimate per point at the step they chose.
    h_used : ndarray, shape (n_h, n_points, dim)
        Step actually used for each estimate (NaN if a library does not say).
    n_evals : ndarray of int, shape (n_h, n_points, dim), optional
        Function evaluations each estimate cost, when it varies per estimate
        (counted by wrapping f); ``None`` means ``scheme.n_evals`` everywhere.
    error_estimate : ndarray, shape (n_h, n_points, dim), optional
        The method's own error estimate, if it makes one.
    h_nominal : ndarray, shape (n_h,), optional
        Nominal h of each row; defaults to the sweep's grid. Adaptive schemes
        set it to NaN (they have no grid step).
    """

    scheme: Scheme
    estimate: np.ndarray
    h_used: np.ndarray
    n_evals: np.ndarray | None = None
    error_estimate: np.ndarray | None = None
    h_nominal: np.ndarray | None = None
    components: list[tuple[int, ...]] | None = None

    @property
    def partials(self) -> list[tuple[int, ...]]:
        """Coordinates differentiated along the last axis: ``(j,)`` or ``(i, j)`` for mixed partials."""
        if self.components is not None:
            return self.components
        return [(j,) for j in range(self.estimate.shape[-1])]

    @property
    def adaptive(self) -> bool:
        """True when the scheme chose its own step (one row per point)."""
        return self.h_nominal is not None and bool(np.all(np.isnan(self.h_nominal)))


class FloatingPointCounter:
    """``np.errstate`` callback that counts floating-point events by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str, flag: int) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def complex_dtype(dtype: np.dtype) -> np.dtype | None:
    """Complex type matching a real type, or None (float16 has none)."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return None
    return np.result_type(dtype, np.complex64)


def as_dtype_scalar(value: Fraction | float, dtype: np.dtype) -> np.generic:
    """Round an exact rational (or float) to the working number type."""
    dtype = np.dtype(dtype)
    if isinstance(value, Fraction):
        return dtype.type(value.numerator) / dtype.type(value.denominator)
    return dtype.type(value)


def nominal_steps(points: np.ndarray, hs: np.ndarray, scale: str = "absolute") -> np.ndarray:
    """Nominal steps per point and coordinate, shape ``(n_h, n_points, dim)``, in the working type.

    ``scale='relative'`` multiplies h by ``max(1, |x_j|)`` (scipy's convention).
    """
    hs = np.asarray(hs)
    hs_w = hs.astype(points.dtype)
    if hs_w.ndim == 1:
        hs_w = hs_w[:, None, None]
    if scale == "relative":
        hs_w = hs_w * np.maximum(np.abs(points), 1).astype(points.dtype)[None]
    elif scale != "absolute":
        raise ValueError(f"step scale must be one of {STEP_SCALES}, got {scale!r}")
    return np.broadcast_to(hs_w, (hs_w.shape[0],) + points.shape).copy()


def step_used(points: np.ndarray, hs: np.ndarray, step: str = "exact", scale: str = "absolute") -> np.ndarray:
    """Steps actually applied, shape ``(n_h, n_points, dim)``.

    Parameters
    ----------
    points : ndarray, shape (n_points, dim)
        Evaluation points in the working type.
    hs : ndarray, shape (n_h,) or (n_h, n_points, dim)
        Nominal steps, common to all points or per point and coordinate
        (step selectors choose h per point).
    step : {'exact', 'nominal'}
        ``'exact'`` returns ``(x + h) - x`` in the working type.
    scale : {'absolute', 'relative'}
        See :func:`nominal_steps`.
    """
    hs_w = nominal_steps(points, hs, scale)
    if step == "nominal":
        return hs_w
    x = points[None, :, :]
    return (x + hs_w) - x


def _call(fn: Callable[..., np.ndarray], coords: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    out = np.asarray(fn(*coords))
    return np.broadcast_to(out, shape) if out.shape != shape else out


def _displaced_coords(points: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
    """Coordinates of ``x + shift`` along each axis separately.

    ``shift`` has shape ``lead + (n_points, dim)``: entry ``[..., p, j]`` is
    the displacement of point p along coordinate j. The returned arrays have
    that shape too; array c holds coordinate c of every displaced point.
    """
    n_points, dim = points.shape
    shape = shift.shape
    coords = []
    for c in range(dim):
        xc = np.empty(shape, dtype=np.result_type(points.dtype, shift.dtype))
        xc[...] = points[:, c][:, None]
        xc[..., c] += shift[..., c]
        coords.append(xc)
    return coords


def _robust_sum(stencil: Stencil, sample: Callable[[Fraction], np.ndarray], dtype: np.dtype) -> np.ndarray:
    """``sum_i w_i F(o_i)`` arranged so equal samples give exactly 0.

    Antisymmetric pairs are differenced first, ``w (F(o) - F(-o))``; every
    other sample enters as ``w (F(o) - F(base))``, which changes nothing
    mathematically because the weights of a derivative stencil sum to 0.
    A left-to-right sum of e.g. ``F - 8F + 8F - F`` would not be 0 in floating
    point and would invent error at tiny h.
    """
    weights = dict(zip(stencil.offsets, stencil.weights))
    total = None

    def add(term: np.ndarray) -> None:
        nonlocal total
        total = term if total is None else total + term

    for o in sorted((o for o in weights if o > 0), reverse=True):
        if -o in weights and weights[-o] == -weights[o]:
            add(as_dtype_scalar(weights[o], dtype) * (sample(o) - sample(-o)))
            del weights[o], weights[-o]
    if weights:
        base = min(weights, key=lambda o: (abs(o), o))
        f_base = sample(base)
        for o in sorted(weights, key=lambda o: (-abs(o), o)):
            if o != base:
                add(as_dtype_scalar(weights[o], dtype) * (sample(o) - f_base))
    return total


def evaluate_schemes(
    fn: Callable[..., np.ndarray],
    points: np.ndarray,
    hs: np.ndarray,
    schemes: Iterable[Scheme],
    *,
    step: str = "exact",
    scale: str = "absolute",
    counter: FloatingPointCounter | None = None,
) -> list[SchemeEstimates]:
    """Evaluate every scheme on every point and step with broadcasting.

    Parameters
    ----------
    fn : callable
        Vectorized function ``fn(x0, x1, ...) -> array`` that preserves the
        input dtype and accepts complex input for the complex step.
    points : ndarray, shape (n_points, dim)
        Points, already in the working number type.
    hs : ndarray, shape (n_h,) or (n_h, n_points, dim)
        Nominal steps (any float type; cast to the working type), shared by
        all points or given per point and coordinate.
    schemes : iterable of Scheme
    step : {'exact', 'nominal'}
        How h is applied; see the module docstring.
    scale : {'absolute', 'relative'}
        Absolute h, or h * max(1, |x|) per coordinate.
    counter : FloatingPointCounter, optional
        Receives floating-point warnings instead of the console.

    Returns
    -------
    list of SchemeEstimates
        One entry per scheme, in the given order. Non-finite samples give
        non-finite estimates; nothing raises for domain problems.
    """
    if step not in STEP_MODES:
        raise ValueError(f"step must be one of {STEP_MODES}, got {step!r}")
    points = np.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"points must have shape (n_points, dim), got {points.shape}")
    dtype = points.dtype
    schemes = list(schemes)
    counter = counter or FloatingPointCounter()
    h_nominal = nominal_steps(points, np.asarray(hs), scale)  # (H, N, D)
    h_used = step_used(points, np.asarray(hs), step, scale)
    grid_shape = h_used.shape

    results: list[SchemeEstimates] = []
    with np.errstate(all="call", call=counter):
        stencils = [s.stencil for s in schemes if isinstance(s, StencilScheme)]
        samples: dict[Fraction, np.ndarray] = {}
        if stencils:
            offsets = sorted({o for st in stencils for o in st.offsets})
            nonzero = [o for o in offsets if o != 0]
            if 0 in offsets:
                f0 = _call(fn, [points[:, c] for c in range(points.shape[1])], (points.shape[0],))
                samples[Fraction(0)] = np.broadcast_to(f0[None, :, None], grid_shape)
            if nonzero:
                o_arr = np.array([as_dtype_scalar(o, dtype) for o in nonzero], dtype=dtype)
                shift = o_arr[:, None, None, None] * h_used[None]  # (K, H, N, D)
                values = _call(fn, _displaced_coords(points, shift), shift.shape)
                samples.update({o: values[k] for k, o in enumerate(nonzero)})

        for scheme in schemes:
            if isinstance(scheme, StencilScheme):
                st = scheme.stencil
                est = _robust_sum(st, samples.__getitem__, dtype) / h_used**st.derivative
                results.append(SchemeEstimates(scheme, est.astype(dtype, copy=False), h_used))
            elif isinstance(scheme, ComplexStepScheme):
                results.append(_complex_step(fn, points, h_nominal, scheme))
            elif isinstance(scheme, MixedScheme):
                results.append(_mixed_partials(fn, points, h_used, scheme))
            else:  # pragma: no cover - Scheme is a closed union
                raise TypeError(f"unknown scheme type {type(scheme).__name__}")
    return results


def _complex_step(fn: Callable[..., np.ndarray], points: np.ndarray, h: np.ndarray,
                  scheme: ComplexStepScheme) -> SchemeEstimates:
    """``Im f(x + i h e_j) / h`` for every h, point and coordinate j (h: (H, N, D))."""
    ctype = complex_dtype(points.dtype)
    if ctype is None:
        raise ValueError(f"no complex type matches {points.dtype}: complex step is unavailable")
    shift = (1j * h).astype(ctype)
    values = _call(fn, _displaced_coords(points.astype(ctype), shift), h.shape)
    est = (values.imag / h).astype(points.dtype, copy=False)
    return SchemeEstimates(scheme, est, h)


def _mixed_partials(fn: Callable[..., np.ndarray], points: np.ndarray, h_used: np.ndarray,
                    scheme: MixedScheme) -> SchemeEstimates:
    """Every mixed partial d2f/dxi dxj (i < j) from the product stencil, in one call of f.

    Samples ``f(x + o_a h_i e_i + o_b h_j e_j)`` have shape (K, K, H, N, P) for
    the P coordinate pairs; the double sum is taken as a nested robust sum.
    """
    dtype = points.dtype
    n_points, dim = points.shape
    pairs = [(i, j) for i in range(dim) for j in range(i + 1, dim)]
    n_h = h_used.shape[0]
    if not pairs:
        empty = np.empty((n_h, n_points, 0), dtype=dtype)
        return SchemeEstimates(scheme, empty, empty.copy(), components=[])
    st = scheme.stencil
    index = {o: k for k, o in enumerate(st.offsets)}
    o = np.array([as_dtype_scalar(v, dtype) for v in st.offsets], dtype=dtype)
    first = np.array([i for i, _ in pairs])
    second = np.array([j for _, j in pairs])
    h_i, h_j = h_used[:, :, first], h_used[:, :, second]  # (H, N, P)
    shape = (len(o), len(o), n_h, n_points, len(pairs))
    coords = []
    for c in range(dim):
        xc = np.empty(shape, dtype=dtype)
        xc[...] = points[:, c][:, None]
        on_i, on_j = first == c, second == c
        if on_i.any():
            xc[..., on_i] += o[:, None, None, None, None] * h_i[None, None][..., on_i]
        if on_j.any():
            xc[..., on_j] += o[None, :, None, None, None] * h_j[None, None][..., on_j]
        coords.append(xc)
    values = _call(fn, coords, shape)

    def inner(oa: Fraction) -> np.ndarray:
        row = values[index[oa]]
        return _robust_sum(st, lambda ob: row[index[ob]], dtype)

    est = _robust_sum(st, inner, dtype) / (h_i * h_j)
    # h_used of a Hessian row is the smaller of its two steps, so a step that
    # vanished on either coordinate shows as step_underflow.
    return SchemeEstimates(scheme, est.astype(dtype, copy=False), np.minimum(h_i, h_j), components=pairs)
