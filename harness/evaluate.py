"""The vectorized evaluation engine: steps, displaced points, shared samples.

For one block (a function, a number type, a step scale and a chunk of
points) every scheme evaluates through one :class:`BlockContext`. Stencil
schemes *declare* the offsets they read; the context merges them and calls
the function once on the union of displaced points, an array of shape
``(n_offsets, n_h, n_points, dim)``, which each scheme then combines with
array arithmetic (:func:`stencil_estimate`). There is no Python loop over h
or over points. Schemes that need other points (the complex step, mixed
partials, step selectors, library baselines) call ``ctx.fn`` themselves.

Steps are applied *exactly* by default: the step actually used is
``h_used = (x + h) - x`` computed in the working number type, so that
``x + h_used`` is representable and the division by ``h_used`` does not add
the representation error of ``x + h`` to the estimate. Displaced points are
``x + o * h_used``; for offsets that are powers of two (the standard 1- and
2-point stencils) they are exact. With ``step='nominal'`` the given h is used
unchanged (the seed documents' way).

This module knows no scheme kind: it imports neither :mod:`harness.schemes`
nor anything that does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .number_types import is_ml_float, round_rational
from .settings import STEP_MODES, STEP_SCALES
from .stencils import Stencil

__all__ = ["BlockContext", "FloatingPointCounter", "SchemeEstimates", "STEP_MODES", "STEP_SCALES",
           "as_dtype_scalar", "complex_dtype", "displaced_coords", "evaluate_schemes", "nominal_steps",
           "robust_sum", "stencil_estimate", "step_used"]


@dataclass
class SchemeEstimates:
    """Estimates of one scheme for one function and number type.

    Attributes
    ----------
    scheme : Scheme
        The scheme that produced them.
    estimate : ndarray, shape (n_h, n_points, n_partials)
        Estimate of each partial derivative, in the working type. Adaptive
        schemes (step selectors, adaptive library baselines) have
        ``n_h == 1``: one estimate per point at the step they chose.
    h_used : ndarray, shape (n_h, n_points, n_partials)
        Step actually used for each estimate (NaN if a library does not say).
    n_evals : ndarray of int, shape (n_h, n_points, n_partials), optional
        Function evaluations each estimate cost, when it varies per estimate
        (counted by wrapping f); ``None`` means ``scheme.n_evals`` everywhere.
    error_estimate : ndarray, shape (n_h, n_points, n_partials), optional
        The method's own error estimate, if it makes one.
    h_nominal : ndarray, shape (n_h,), optional
        Nominal h of each row; defaults to the sweep's grid. Adaptive schemes
        set it to NaN (they have no grid step).
    components : list of tuple of int, optional
        Coordinates differentiated along the last axis: ``(j,)`` (default:
        every coordinate) or ``(i, j)`` for mixed partials.
    """

    scheme: Any
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
    """Complex type matching a real type, or None (float16 and the ``ml_dtypes`` types have none)."""
    dtype = np.dtype(dtype)
    if dtype == np.float16 or is_ml_float(dtype):
        return None
    return np.result_type(dtype, np.complex64)


def as_dtype_scalar(value: Fraction | float, dtype: np.dtype) -> np.generic:
    """Round an exact rational (or float) to the working number type.

    ``ml_dtypes`` types round the exact value once (:func:`harness.number_types.round_rational`):
    their numerator or denominator alone may not be representable (9 in float8_e5m2).
    """
    dtype = np.dtype(dtype)
    if is_ml_float(dtype):
        return round_rational(value, dtype)
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


def applied_step(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """``(x + h) - x`` in the working type: the step that lands on a representable ``x + h``."""
    return (x + h) - x


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
    return applied_step(points[None, :, :], hs_w)


def call(fn: Callable[..., np.ndarray], coords: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """``fn(*coords)`` broadcast to ``shape`` (a constant f may return a scalar)."""
    out = np.asarray(fn(*coords))
    return np.broadcast_to(out, shape) if out.shape != shape else out


def displaced_coords(points: np.ndarray, shift: np.ndarray) -> list[np.ndarray]:
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


def robust_sum(stencil: Stencil, sample: Callable[[Fraction], np.ndarray], dtype: np.dtype) -> np.ndarray:
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


@dataclass
class BlockContext:
    """Everything a scheme needs to evaluate one block, and the samples schemes share.

    Attributes
    ----------
    fn : callable
        Vectorized ``fn(x0, x1, ...)`` preserving the input dtype (complex
        input too, for the complex step).
    points : ndarray, shape (n_points, dim)
        Points in the working number type.
    hs : ndarray, shape (n_h,) or (n_h, n_points, dim)
        Nominal steps of the grid (cast to the working type when used).
    step : {'exact', 'nominal'}
    scale : {'absolute', 'relative'}
    offsets : set of Fraction
        Union of the stencil offsets the schemes of the block read; all are
        sampled by one call of ``fn`` the first time any is asked for.
    noise : NoiseSpec, optional
        The function's declared noise (already part of ``fn``), for schemes
        that choose their step from the noise level.
    expression : Expression, optional
        The function's parsed expression, for schemes that need more than
        values of ``fn`` (a library's exact-step formulas take its true
        higher derivatives).
    """

    fn: Callable[..., np.ndarray]
    points: np.ndarray
    hs: np.ndarray
    step: str = "exact"
    scale: str = "absolute"
    offsets: frozenset[Fraction] = frozenset()
    noise: Any = None
    expression: Any = None
    _samples: dict[Fraction, np.ndarray] | None = field(default=None, repr=False)
    _h_nominal: np.ndarray | None = field(default=None, repr=False)
    _h_used: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.step not in STEP_MODES:
            raise ValueError(f"step must be one of {STEP_MODES}, got {self.step!r}")
        self.points = np.asarray(self.points)
        if self.points.ndim != 2:
            raise ValueError(f"points must have shape (n_points, dim), got {self.points.shape}")
        self.hs = np.asarray(self.hs)

    @property
    def dtype(self) -> np.dtype:
        return self.points.dtype

    @property
    def h_nominal(self) -> np.ndarray:
        """Nominal steps in the working type, shape ``(n_h, n_points, dim)``."""
        if self._h_nominal is None:
            self._h_nominal = nominal_steps(self.points, self.hs, self.scale)
        return self._h_nominal

    @property
    def h_used(self) -> np.ndarray:
        """Applied steps (:func:`step_used`), shape ``(n_h, n_points, dim)``."""
        if self._h_used is None:
            self._h_used = step_used(self.points, self.hs, self.step, self.scale)
        return self._h_used

    def sample(self, offset: Fraction) -> np.ndarray:
        """``f(x + o h_used e_j)`` for every h, point and coordinate j, shape ``(n_h, n_points, dim)``."""
        if self._samples is None:
            self._samples = self._sample_all()
        return self._samples[Fraction(offset)]

    def _sample_all(self) -> dict[Fraction, np.ndarray]:
        points, h_used, dtype = self.points, self.h_used, self.dtype
        samples: dict[Fraction, np.ndarray] = {}
        offsets = sorted(self.offsets)
        nonzero = [o for o in offsets if o != 0]
        if 0 in offsets:
            f0 = call(self.fn, [points[:, c] for c in range(points.shape[1])], (points.shape[0],))
            samples[Fraction(0)] = np.broadcast_to(f0[None, :, None], h_used.shape)
        if nonzero:
            o_arr = np.array([as_dtype_scalar(o, dtype) for o in nonzero], dtype=dtype)
            shift = o_arr[:, None, None, None] * h_used[None]  # (K, H, N, D)
            values = call(self.fn, displaced_coords(points, shift), shift.shape)
            samples.update({o: values[k] for k, o in enumerate(nonzero)})
        return samples


def stencil_estimate(ctx: BlockContext, stencil: Stencil) -> np.ndarray:
    """``sum_i w_i f(x + o_i h) / h^m`` from the context's shared samples, shape ``(n_h, n_points, dim)``.

    Every offset of ``stencil`` must be among ``ctx.offsets``.
    """
    dtype = ctx.dtype
    est = robust_sum(stencil, ctx.sample, dtype) / ctx.h_used**stencil.derivative
    return est.astype(dtype, copy=False)


def evaluate_schemes(
    fn: Callable[..., np.ndarray],
    points: np.ndarray,
    hs: np.ndarray,
    schemes: Iterable[Any],
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
        Anything following the scheme protocol (:class:`harness.schemes.Scheme`).
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

    Examples
    --------
    >>> import numpy as np
    >>> from harness.schemes import make_scheme
    >>> (est,) = evaluate_schemes(np.exp, np.array([[0.0]]), np.array([2.0**-20]), [make_scheme("central")])
    >>> abs(float(est.estimate[0, 0, 0]) - 1.0) < 1e-10
    True
    """
    schemes = list(schemes)
    counter = counter or FloatingPointCounter()
    ctx = BlockContext(fn, points, hs, step, scale, frozenset(o for s in schemes for o in s.offsets()))
    with np.errstate(all="call", call=counter):
        return [s.evaluate(ctx) for s in schemes]
