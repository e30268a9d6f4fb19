"""The user's own Python functions as test functions, behind the interface of a parsed expression.

A function entry may name a callable with Hydra's ``_target_`` convention::

    energy:
      _target_: mypkg.physics.energy     # f(x), x of shape (n,), for dim 1; f(X), X of shape (n, dim), otherwise
      dim: 3                             # default: the length of the first point
      points: [[0.1, 0.2, 0.3]]
      reference: {mpmath: mypkg.physics.energy_mp}   # or {derivative: mypkg.physics.grad_energy}, or omitted
      noise: {level: 1.0e-8}             # as for expressions

The sweep talks to every function through ``FunctionSpec.expression``:
``text``, ``name``, ``dim``, ``numpy(*coords)``, ``mpmath(*coords)``,
``reference_key``, ``unsupported``, ``reference(...)``,
``model_derivatives(...)`` and ``record()``. :class:`~harness.expr.Expression`
answers them from its parsed tree (Arb series, else the checked mpmath path);
:class:`UserFunction` answers them for a callable, which has no tree, so the
Arb path never applies to it. Its references:

* ``{mpmath: twin}``: the twin on one point of mpmath numbers (an mpf for
  dim 1, a list of ``dim`` mpf otherwise) through the checked mpmath path of
  :mod:`harness.reference` (``reference_method = 'mpmath_checked'``);
* ``{derivative: g}``: ``g`` vectorized like f, returning ``n`` values (dim 1)
  or ``(n, dim)`` (the gradient): first derivatives are ``g``'s values
  (``'analytic'``; digits: the precision of what g returned, 15.95 for
  float64, or, when g computes on mpmath numbers, the agreement of two
  working precisions); higher and mixed derivatives are Ridders estimates on
  g (``'estimate'``);
* omitted, and f computes on mpmath numbers (plain arithmetic on its
  argument; :func:`harness.callables.mpmath_reason`): f itself through the
  checked path (``'mpmath_checked'``);
* otherwise a best estimate by Ridders' extrapolation in the widest type f
  takes, longdouble (else float64, logged) (:mod:`harness.ridders`, ``'estimate'``).

The engine's coordinate arrays (any shape, one per coordinate) are stacked
once per call into the ``(n, dim)`` array f takes, so a block stays one call.
Every point f sees is counted, per number type of its input (:meth:`record`
goes to ``meta.json``); a result of another type than the input's is logged
once and rounded to the input's type. If f raises on a block, its points are
evaluated one by one and those where it raises are NaN (logged once).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import mpmath
import numpy as np

from . import callables
from .derivatives import taylor_derivatives
from .errors import ConfigError
from .number_types import finfo, is_real_float, real_dtype
from .reference import Reference, _agreement, exact_point, point_key, reference_derivative, to_float64
from .ridders import estimate_reference, ridders

__all__ = ["FUNCTION_KEYS", "REFERENCE_KEYS", "UserFunction", "make_user_function"]

log = logging.getLogger(__name__)

FUNCTION_KEYS = ("_target_", "dim", "points", "reference", "noise", "description")
REFERENCE_KEYS = ("mpmath", "derivative")
_GRADIENT_DIGITS_CHECK = 1e-6  # an analytic derivative must agree with the estimate of f's derivative this well
_MEMO_SIZE = 4096


class UserFunction:
    """A Python callable with the interface the sweep uses for expressions (see the module docstring).

    Build it with :func:`make_user_function` (or through a config entry
    with ``_target_``); that imports and probes everything first.
    """

    def __init__(self, *, target: str, fn: Callable[..., Any], name: str, dim: int, twin: Any = None,
                 derivative: Any = None, derivative_mp: bool = False, mpmath_ok: bool = False,
                 complex_reason: str | None = None, estimate_dtype: np.dtype = np.dtype(np.longdouble),
                 identity: str, code_sha256: str, config: tuple) -> None:
        self.target, self.fn, self.name, self.dim = target, fn, name, dim
        self.code_sha256 = code_sha256
        self.text = f"{target}(x)"
        self._twin, self._derivative, self._derivative_mp = twin, derivative, derivative_mp
        self._mpmath_ok = mpmath_ok
        self.unsupported: dict[str, str] = {} if complex_reason is None else {"complex_input": complex_reason}
        self.reference_key = (identity, "user")
        self._config = config
        self.evaluations: dict[str, int] = {}
        self.returned_dtypes: dict[str, str] = {}
        self.reference_evaluations = 0
        self.derivative_evaluations = 0
        self.probe_evaluations = 0
        self._gradients: dict[tuple, np.ndarray] = {}
        self._failed = False
        #: The widest type f (and the derivative callable) accept, for Ridders' estimates.
        self.estimate_dtype = np.dtype(estimate_dtype)
        self.retried_evaluations = 0

    # -- what the reference comes from -----------------------------------------------
    @property
    def reference_mode(self) -> str:
        """``'mpmath twin'``, ``'derivative'``, ``'automatic mpmath'`` or ``'estimate'``."""
        if self._twin is not None:
            return "mpmath twin"
        if self._derivative is not None:
            return "derivative"
        return "automatic mpmath" if self._mpmath_ok else "estimate"

    @property
    def has_mpmath(self) -> bool:
        return self._twin is not None or self._mpmath_ok

    # -- evaluation ------------------------------------------------------------------
    def numpy(self, *coords: Any) -> np.ndarray:
        """f on ``dim`` broadcastable coordinate arrays, in one call of the callable.

        Input of an integer type is computed in float64. The result has the
        broadcast shape and the input's type (another returned type is
        recorded, logged once and rounded to it).
        """
        if len(coords) != self.dim:
            raise TypeError(f"function '{self.name}' takes {self.dim} coordinate(s), got {len(coords)}")
        arrays = np.broadcast_arrays(*[np.asarray(c) for c in coords])
        dtype = np.result_type(*arrays)
        if dtype.kind in "biu":
            dtype = np.dtype(np.float64)
        shape = arrays[0].shape
        points = np.stack([a.astype(dtype).reshape(-1) for a in arrays], axis=-1)  # a fresh copy: f may write
        out = np.asarray(self._values(points))
        self.evaluations[dtype.name] = self.evaluations.get(dtype.name, 0) + points.shape[0]
        if out.dtype != dtype:
            out = self._to_type(out, dtype)
        return out.reshape(shape)

    def _values(self, points: np.ndarray) -> np.ndarray:
        """f on ``(n, dim)`` points in one call; if that raises, point by point, NaN where f raises."""
        try:
            out = self.fn(callables.argument(points, self.dim))
        except Exception as exc:  # noqa: BLE001 - a failing f gives NaN rows, never a crashed sweep
            return self._one_by_one(points, exc)
        try:
            return callables.one_per_point(out, points.shape[0], self.dim)
        except ValueError as exc:  # a broken contract, not a value: stop with what came back
            raise ValueError(f"function '{self.name}' ({self.target}): {exc}") from None

    def _one_by_one(self, points: np.ndarray, exc: Exception) -> np.ndarray:
        if not self._failed:
            self._failed = True
            log.warning("function '%s' (%s) raised %s: %s on %d points at once; evaluating them one by one "
                        "(NaN where it raises; logged once)", self.name, self.target, type(exc).__name__, exc,
                        points.shape[0])
        values = np.full(points.shape[0], np.nan, dtype=points.dtype)
        for i in range(points.shape[0]):
            try:
                values[i] = callables.single_value(self.fn(callables.argument(points[i:i + 1], self.dim)))
            except Exception:  # noqa: BLE001, S112 - this point fails: NaN
                continue
        self.retried_evaluations += points.shape[0]
        return values

    def _to_type(self, out: np.ndarray, dtype: np.dtype) -> np.ndarray:
        if dtype.name not in self.returned_dtypes:
            self.returned_dtypes[dtype.name] = out.dtype.name
            log.warning("function '%s' (%s) returned %s for %s input; its values are rounded to %s",
                        self.name, self.target, out.dtype, dtype, dtype)
        if out.dtype.kind == "c" and dtype.kind != "c":  # a complex value of a real f: not real there
            out = np.where(out.imag == 0, out.real, np.nan)
        with np.errstate(all="ignore"):
            return out.astype(dtype)

    def mpmath(self, *coords: Any) -> Any:
        """f (or its mpmath twin) on ``dim`` mpmath numbers; TypeError when it has no mpmath evaluation."""
        if len(coords) != self.dim:
            raise TypeError(f"function '{self.name}' takes {self.dim} coordinate(s), got {len(coords)}")
        if self._twin is not None:
            xs = [mpmath.mpmathify(c) for c in coords]
            return self._twin(xs[0] if self.dim == 1 else xs)
        if not self._mpmath_ok:
            raise TypeError(f"function '{self.name}' ({self.target}) does not compute on mpmath numbers")
        self.reference_evaluations += 1
        return callables.single_value(self.fn(callables.mpmath_argument(coords, self.dim)))

    def _for_estimate(self, points: np.ndarray) -> np.ndarray:
        """f on ``(n, dim)`` points of :attr:`estimate_dtype` as it returns them (for the estimates; counted apart)."""
        self.reference_evaluations += points.shape[0]
        return self._values(points)

    # -- references ------------------------------------------------------------------
    def reference(self, point: Sequence[Any], orders: Sequence[int], *, dps: int, min_digits: float) -> Reference:
        """The reference derivative ``orders`` at the exact point (see the module docstring for the paths)."""
        orders = tuple(int(o) for o in orders)
        if self.has_mpmath:
            return reference_derivative(self.mpmath, point, orders, dps=dps, min_digits=min_digits)
        if self._derivative is None:
            return estimate_reference(self._for_estimate, point, orders, min_digits=min_digits,
                                      dtype=self.estimate_dtype)[0]
        j = next(c for c, n in enumerate(orders) if n)
        if sum(orders) == 1:
            return self._analytic(point, j, dps, min_digits)
        rest = tuple(n - (c == j) for c, n in enumerate(orders))
        return estimate_reference(lambda pts: self._gradient(pts)[:, j], point, rest, min_digits=min_digits,
                                  dtype=self.estimate_dtype)[0]

    def _gradient(self, points: np.ndarray) -> np.ndarray:
        """The derivative callable on ``(n, dim)`` points, as an ``(n, dim)`` array."""
        n = points.shape[0]
        self.derivative_evaluations += n
        out = np.asarray(self._derivative(callables.argument(points, self.dim)))
        if out.shape != ((n,) if self.dim == 1 else (n, self.dim)):
            raise ValueError(f"derivative of function '{self.name}' returned shape {out.shape} for {n} points")
        return out.reshape(n, self.dim)

    def _analytic(self, point: Sequence[Any], j: int, dps: int, min_digits: float) -> Reference:
        xs = exact_point(point)
        if xs is None:
            return Reference(None, math.nan, math.nan, 0.0, "undefined", f"point {tuple(point)} is not finite",
                             "analytic")
        try:
            if self._derivative_mp:
                value, digits = self._analytic_mpmath(xs, j, dps)
            else:
                value, digits = self._analytic_float(point, j)
        except Exception as exc:  # noqa: BLE001 - a failing derivative becomes a status
            return Reference(None, math.nan, math.nan, 0.0, "error",
                             f"the derivative raised {type(exc).__name__}: {exc}", "analytic")
        if isinstance(value, (mpmath.mpc, complex, np.complexfloating)):
            if value.imag != 0:
                return Reference(None, math.nan, math.nan, 0.0, "complex", f"the derivative is {value}", "analytic")
            value = value.real
        hi = to_float64(mpmath.mpf(value)) if isinstance(value, mpmath.mpf) else float(value)
        if not math.isfinite(hi):
            return Reference(None, math.nan, math.nan, digits, "nonfinite", f"the derivative is {hi}", "analytic")
        mid = mpmath.mpf(value) if isinstance(value, mpmath.mpf) else exact_point([value])[0]
        with mpmath.workprec(max(mpmath.mp.prec, 128)):
            lo = to_float64(mid - hi)
        if digits < min(min_digits, dps) and self._derivative_mp:
            return Reference(None, math.nan, math.nan, digits, "disagree",
                             f"the derivative at two precisions agrees to {digits:.1f} digits", "analytic")
        return Reference(mid, hi, lo, digits, "ok", "", "analytic")

    def _analytic_float(self, point: Sequence[Any], j: int) -> tuple[Any, float]:
        """g's value in the type it returns, and that type's digits (15.95 for float64)."""
        key = tuple(point_key(v) for v in point)
        row = self._gradients.get(key)
        if row is None:
            exact64 = all(np.float64(v) == v for v in point)
            pts = np.array([point], dtype=np.float64 if exact64 else np.longdouble)
            row = self._gradient(pts)[0]
            if len(self._gradients) >= _MEMO_SIZE:
                self._gradients.clear()
            self._gradients[key] = row
        value = row[j]
        # The digits of what g returned (bfloat16: 8 bits); 53 for anything else (ints, objects).
        floating = is_real_float(row.dtype) or row.dtype.kind == "c"
        bits = finfo(real_dtype(row.dtype)).nmant + 1 if floating else 53
        return value, bits * math.log10(2)

    def _analytic_mpmath(self, xs: list[Any], j: int, dps: int) -> tuple[Any, float]:
        """g on mpmath numbers at the target precision + 20 and + 120 bits; digits where they agree."""
        p = mpmath.libmp.dps_to_prec(dps)
        values = []
        for extra in (20, 120):
            with mpmath.workprec(p + extra):
                self.derivative_evaluations += 1
                out = np.asarray(self._derivative(callables.mpmath_argument(xs, self.dim)), dtype=object)
                values.append(mpmath.mpmathify(out.reshape(-1)[j if self.dim > 1 else 0]))
        with mpmath.workprec(p + 120):
            digits = _agreement(values[0], values[1], mpmath.mpf(0), float(dps))
        return values[1], digits

    def model_derivatives(self, point: Sequence[float], component: int, n: int, dps: int) -> list[float]:
        """f, f', ..., f^(n) along one coordinate, to a few digits, for the error model (NaN where unknown).

        One ``mpmath.diffs`` call where f has an mpmath evaluation; else f in
        :attr:`estimate_dtype` and Ridders estimates (on the derivative
        callable when given), each kept from 2 digits on.
        """
        if self.has_mpmath:
            return taylor_derivatives(self.mpmath, point, component, n, dps)
        pts = np.array([point], dtype=self.estimate_dtype)
        try:
            with np.errstate(all="ignore"):
                out = [float(np.asarray(self._for_estimate(pts), dtype=np.longdouble)[0])]
        except Exception:  # noqa: BLE001 - a failing f only means "no model"
            return [math.nan] * (n + 1)
        for k in range(1, n + 1):
            orders = tuple(k if c == component else 0 for c in range(self.dim))
            if self._derivative is not None and k == 1:
                ref = self.reference(point, orders, dps=dps, min_digits=2.0)
                out.append(ref.hi if ref.reliable else math.nan)
                continue
            if self._derivative is not None:
                fn, orders = (lambda q: self._gradient(q)[:, component]), tuple(o - (c == component)
                                                                                 for c, o in enumerate(orders))
            else:
                fn = self._for_estimate
            r = ridders(fn, point, orders, dtype=self.estimate_dtype)
            out.append(float(r.value) if r.status == "estimated" and r.digits >= 2 else math.nan)
        return [v if math.isfinite(v) else math.nan for v in out]

    # -- provenance ------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """What ``meta.json`` keeps of the function: target, code hash, reference path and every evaluation."""
        method = {"mpmath twin": "mpmath_checked", "automatic mpmath": "mpmath_checked", "estimate": "estimate",
                  "derivative": "analytic (first derivatives), estimate (higher and mixed)"}[self.reference_mode]
        return {
            "target": self.target,
            "code_sha256": self.code_sha256,
            "dim": self.dim,
            "reference": self.reference_mode,
            "reference_method": method,
            "complex_step": self.unsupported.get("complex_input", "offered"),
            "estimate_dtype": None if self.has_mpmath else self.estimate_dtype.name,
            "evaluations": dict(sorted(self.evaluations.items())),
            "evaluations_total": sum(self.evaluations.values()) + self.retried_evaluations,
            "retried_evaluations": self.retried_evaluations,
            "returned_dtypes": dict(sorted(self.returned_dtypes.items())),
            "reference_evaluations": self.reference_evaluations,
            "derivative_evaluations": self.derivative_evaluations,
            "probe_evaluations": self.probe_evaluations,
        }

    def __repr__(self) -> str:
        return f"UserFunction({self.target!r}, dim={self.dim}, reference={self.reference_mode!r})"

    def __reduce__(self) -> tuple:
        # Functions do not always pickle (closures, lambdas); import and probe again in the other process.
        return (_rebuild, self._config)


def _rebuild(name: str, target: str, dim: int, reference: Any, point: list[float]) -> UserFunction:
    return make_user_function(name, target, dim, reference, np.array(point), key=f"functions.{name}")


def make_user_function(name: str, target: Any, dim: int, reference: Any, point: np.ndarray, *,
                       key: str) -> UserFunction:
    """Import ``target`` and its reference callables, probe them on ``point`` and build the function.

    Raises
    ------
    ConfigError
        Naming the key: a target that cannot be imported or is not callable
        (``_target_``), a callable that does not take ``dim`` coordinates
        (``dim``), a bad ``reference`` entry or reference callable.
    """
    fn = callables.locate(target, f"{key}._target_")
    counted = _Counter(fn)
    point = np.asarray(point, dtype=np.float64).reshape(dim)
    shape = "(n,)" if dim == 1 else f"(n, {dim})"
    try:
        with np.errstate(all="ignore"):
            value = float(np.asarray(callables.call_points(counted, np.array([point, point]), dim),
                                     dtype=np.float64)[0])
    except Exception as exc:  # noqa: BLE001 - whatever the callable does wrong, say so before any work
        raise ConfigError(f"{key}.dim", dim, f"the number of coordinates {target} takes: it is called as f(x) with "
                          f"x of shape {shape} and must return n values",
                          f"on the first point: {type(exc).__name__}: {exc}") from None
    twin = derivative = None
    derivative_mp = mpmath_ok = False
    if reference is not None:
        twin, derivative, derivative_mp = _reference_callables(reference, f"{key}.reference", counted, point, dim,
                                                               value)
    elif (why := callables.mpmath_reason(counted, point, dim, value)) is None:
        mpmath_ok = True
    else:
        log.warning("function '%s' (%s): references are Ridders estimates (reference_method=estimate): %s",
                    name, target, why)
    complex_why = callables.complex_reason(counted, point, dim)
    estimate_dtype = np.dtype(np.float64) if twin is not None or mpmath_ok else _widest_type(
        name, target, [counted] + ([derivative] if derivative is not None else []), point, dim)
    code = callables.code_fingerprint(fn)
    identity = f"callable:{target}@{code}|dim={dim}"
    if twin is not None:
        identity += f"|mpmath:{reference['mpmath']}@{callables.code_fingerprint(twin)}"
    elif derivative is not None:
        identity += f"|derivative:{reference['derivative']}@{callables.code_fingerprint(derivative)}"
    else:
        identity += "|automatic" if mpmath_ok else "|estimate"
    out = UserFunction(target=target, fn=fn, name=name, dim=dim, twin=twin, derivative=derivative,
                       derivative_mp=derivative_mp, mpmath_ok=mpmath_ok, estimate_dtype=estimate_dtype,
                       complex_reason=None if complex_why is None else f"{target} {complex_why}", identity=identity,
                       code_sha256=code, config=(name, target, dim, reference, point.tolist()))
    out.probe_evaluations = counted.points
    return out


def _widest_type(name: str, target: str, fns: list[Callable[..., Any]], point: np.ndarray, dim: int) -> np.dtype:
    """longdouble if every callable takes it (one call each on the point), else float64 (logged)."""
    wide = np.dtype(np.longdouble)
    for fn in fns:
        try:
            with np.errstate(all="ignore"):
                fn(callables.argument(np.array([point], dtype=wide), dim))
        except Exception as exc:  # noqa: BLE001 - then the estimates are made in float64
            log.warning("function '%s' (%s): Ridders estimates in float64, its callables do not take %s input "
                        "(%s: %s)", name, target, wide, type(exc).__name__, exc)
            return np.dtype(np.float64)
    return wide


class _Counter:
    """The callable, counting the points of its numeric calls (the probes')."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn, self.points = fn, 0

    def __call__(self, x: Any) -> Any:
        self.points += int(np.shape(x)[0]) if np.ndim(x) else 1
        return self.fn(x)


def _reference_callables(reference: Any, key: str, fn: Callable[..., Any], point: np.ndarray, dim: int,
                         value: float) -> tuple[Any, Any, bool]:
    """(mpmath twin, derivative, derivative computes on mpmath numbers) from a ``reference`` entry."""
    allowed = "a mapping with one key: mpmath (an mpmath twin of f) or derivative (f's derivative, vectorized)"
    if not isinstance(reference, Mapping) or len(reference) != 1 or next(iter(reference)) not in REFERENCE_KEYS:
        raise ConfigError(key, reference, allowed)
    (kind, target), = reference.items()
    callable_ = callables.locate(target, f"{key}.{kind}")
    if kind == "mpmath":
        return _checked_twin(callable_, f"{key}.{kind}", target, point, dim, value), None, False
    return None, callable_, _checked_derivative(callable_, f"{key}.{kind}", target, fn, point, dim)


def _checked_twin(twin: Any, key: str, target: str, point: np.ndarray, dim: int, value: float) -> Any:
    def as_f(arg: np.ndarray) -> np.ndarray:  # the twin point by point in f's calling convention, for the probe
        rows = np.asarray(arg, dtype=object).reshape(-1, dim)
        return np.array([twin(row[0] if dim == 1 else list(row)) for row in rows], dtype=object)

    why = callables.mpmath_reason(as_f, point, dim, value)
    if why is not None:
        raise ConfigError(key, target, "an mpmath twin of f: it takes one point as mpmath numbers (an mpf for dim "
                          "1, a list of dim mpf otherwise) and returns f there as an mpmath number", why)
    return twin


def _checked_derivative(derivative: Any, key: str, target: str, fn: Callable[..., Any], point: np.ndarray,
                        dim: int) -> bool:
    """Probe the derivative callable; True when it computes on mpmath numbers."""
    shape = (2,) if dim == 1 else (2, dim)
    allowed = (f"f's derivative, vectorized like f: it takes x of shape {'(n,)' if dim == 1 else f'(n, {dim})'} "
               f"and returns {'n values' if dim == 1 else f'the gradient, shape (n, {dim})'}")
    try:
        with np.errstate(all="ignore"):
            raw = np.asarray(derivative(callables.argument(np.array([point, point]), dim)))
            g = raw.astype(np.float64)
    except Exception as exc:  # noqa: BLE001 - say what went wrong before any work
        raise ConfigError(key, target, allowed, f"on the first point: {type(exc).__name__}: {exc}") from None
    if g.shape != shape:
        raise ConfigError(key, target, allowed, f"it returned shape {g.shape} for two points")
    g = g.reshape(2, dim)[0]
    # A g that returns a coarse type (float32, bfloat16) is held to that type's precision, not to float64's.
    tolerance = max(_GRADIENT_DIGITS_CHECK, 4 * float(finfo(raw.dtype).eps)) if is_real_float(raw.dtype) \
        else _GRADIENT_DIGITS_CHECK
    for j in range(dim):  # a wrong derivative would make every error of the sweep wrong
        est = ridders(lambda pts: callables.call_points(fn, pts, dim), point, [int(c == j) for c in range(dim)])
        if est.status == "estimated" and est.digits >= 8 and np.isfinite(g[j]):
            size = max(abs(g[j]), abs(float(est.value)), 1e-300)
            if abs(g[j] - float(est.value)) > max(tolerance * size, 100 * est.error):
                raise ConfigError(key, target, allowed, f"its value {g[j]!r} in coordinate {j} at the first point "
                                  f"is not f's derivative there ({float(est.value)!r}, estimated to "
                                  f"{est.digits:.0f} digits)")
    try:
        with mpmath.workdps(40):
            out = np.asarray(derivative(callables.mpmath_argument([float(v) for v in point], dim)), dtype=object)
        return all(isinstance(v, mpmath.mpf) for v in out.reshape(-1))
    except Exception:  # noqa: BLE001 - then it is evaluated in floating point
        return False
