"""Library baselines: real scipy and numdifftools calls in the harness's table.

A comparison with today's libraries is only honest when every method sees the
same functions, points, h grid and reference. This module runs the libraries
themselves -- it re-implements none of their formulas -- on one coordinate at
a time and returns a :class:`~harness.evaluate.SchemeEstimates`, exactly like
the broadcast engine does for our own stencils.

Baselines
---------
See :data:`BASELINE_METHODS`; jacobi, numericalderivative and findiff have
their own modules in :mod:`harness.libraries` (documented there). ``n_evals`` is the number of points f is
evaluated at per estimate, measured for a smooth 1-D function with a
counting wrapper (``Derivative`` is ``numdifftools.Derivative``).

====================  =======================================================================  ========  ========  =======
name                  library call (f restricted to one coordinate)                            adaptive  accuracy  n_evals
====================  =======================================================================  ========  ========  =======
scipy_approx_fprime   scipy.optimize.approx_fprime(x, f, h)                                    no        1         2
scipy_2point          approx_derivative(f, x, method='2-point', abs_step=h)                    no        1         2
scipy_3point          approx_derivative(f, x, method='3-point', abs_step=h)                    no        2         3
scipy_cs              approx_derivative(f, x, method='cs', abs_step=h)                         no        2         2
scipy_2point_default  approx_derivative(f, x, method='2-point')                                yes       1         2
scipy_3point_default  approx_derivative(f, x, method='3-point')                                yes       2         3
scipy_cs_default      approx_derivative(f, x, method='cs')                                     yes       2         2
scipy_differentiate   scipy.differentiate.derivative(f, x)                                     yes       8         <= 27
nd_central            Derivative(f, method='central', full_output=True)                        yes       2         31
nd_forward            Derivative(f, method='forward', full_output=True)                        yes       2         16
nd_complex            Derivative(f, method='complex', full_output=True)                        yes       2         2
nd_central_fixed      Derivative(f, step=h, method='central', use_exact_steps=False)           no        2         2
nd_forward_fixed      Derivative(f, step=h, method='forward', order=1, use_exact_steps=False)  no        1         2
nd_complex_fixed      Derivative(f, step=h, method='complex', use_exact_steps=False)           no        2         2
====================  =======================================================================  ========  ========  =======

``approx_derivative`` is ``scipy.optimize._numdiff.approx_derivative``: scipy
(1.17) does not export it from ``scipy.optimize``; ``approx_fprime`` is its
public wrapper. ``approx_fprime``/``approx_derivative`` take one point per
call (a Python loop over steps, points and coordinates);
``scipy.differentiate.derivative`` and ``Derivative`` work elementwise, so
they are called once per coordinate (and step) on all points at once, and
retried point by point if that call fails.

The counts are what the library really evaluates: scipy evaluates ``f(x)``
first even where the formula does not use it (3-point central, complex step),
and numdifftools evaluates ``f(x)`` for the forward and complex methods, and
for every method under ``full_output=True`` (so ``nd_central`` costs 15 steps
x 2 + 1). ``scipy_differentiate`` reports its own per-point count
(``res.nfev``: 1 + 8 + 2 per further iteration), which is what is stored.

Accuracy
--------
``accuracy`` is the truncation order of the difference formula the library
applies at one step. For adaptive methods it is the order of the base rule,
before any extrapolation or step selection, and says nothing about the error
achieved: ``scipy_differentiate`` applies an order-8 central stencil whose
step it shrinks until two successive estimates agree; ``nd_central`` and
``nd_forward`` feed second-order rules at 15 steps into Richardson
extrapolation and Wynn's epsilon algorithm; ``nd_complex`` and the
``*_default`` scipy methods use one step chosen by a rule from x.

Steps
-----
Fixed-step methods return one row per nominal h (shape ``(n_h, n_points,
dim)``, ``h_nominal=None``); adaptive ones return one row
(``h_nominal=[nan]``). ``h_used`` is the step the library's difference
quotient actually uses:

* scipy (``approx_fprime``, ``approx_derivative``): observed from the points f
  was called with -- ``x1 - x`` for 2-point (scipy divides by
  ``(x + h) - x``, the same number in float64), half the span
  ``(x+ - x-) / 2`` for 3-point (scipy divides by the span), ``Im(x1)`` for
  the complex step (scipy divides by h). Observing matters: when
  ``(x + h) - x == 0`` in the working type, scipy silently **replaces** the
  requested absolute step by its default relative step
  ``eps**(1/2 or 1/3) * max(1, |x|)`` -- for the complex step too, which
  needs no such thing (``abs_step=1e-20`` at x=1 really uses 1.49e-8). With
  float32 points scipy's 2-point rounds ``x + h`` to float32 but divides by
  ``(x + h) - x`` computed in float64; ``h_used`` reports the float32
  displacement f actually saw. ``h_used`` is negative where the library steps
  backward (scipy's default step has the sign of x for 2-point and cs).
* numdifftools fixed: exactly h (see below); the points ``x +- h`` are rounded
  as usual, the library divides by h.
* numdifftools adaptive: the library's ``final_step``.
* ``scipy_differentiate``: the largest step of the final order-8 stencil,
  ``initial_step / step_factor**(nit - 1)`` (we pass scipy's defaults 0.5 and
  2 explicitly). The stencil also uses that step / 2, / 4 and / 8.

numdifftools with one fixed step
--------------------------------
``Derivative(f, step=h)`` builds ``MinStepGenerator(base_step=h,
step_nom=1)``, which yields ``max((n + order - 1) // d, 1)`` steps, ``d`` = 2
for central and complex, 1 for forward. For central and complex (order 2)
that is one step; for forward at the default order 2 it is *two* steps, h and
2h, combined into a second-order one-sided rule, so ``nd_forward_fixed``
passes ``order=1`` to get the plain forward difference. With one step the
Richardson rule degenerates to the identity (``num_terms = min(richardson_terms,
len - 1) = 0``) and Wynn's epsilon is not applied (it needs three), so the
estimate is exactly the textbook quotient; ``richardson_terms`` plays no
part. The generator's default ``use_exact_steps=True`` would replace h by
``(1 + h) - 1`` -- not h, and 0 for h < 1.1e-16, after which no step is
generated and the call fails -- so we pass ``use_exact_steps=False``: the step
is exactly the grid's h. Fixed steps run without ``full_output``: the only
"error estimate" a single step gets is ``12.7 * (eps |f'| + h)``, a function of
h rather than an estimate, and asking for it costs an extra ``f(x)`` for
central differences. Their ``error_estimate`` is therefore NaN.

Number types
------------
Estimates are returned in the working type of ``points``. For float32 points
(``BASELINE_METHODS[m]['float32']`` says which type f is evaluated in):
``approx_derivative`` 2-/3-point and ``scipy.differentiate`` honour float32;
``approx_fprime`` converts x to float64; scipy's complex step evaluates in
complex128; numdifftools builds its steps in float64, which would promote
``x + h`` but not ``f(x)`` and so mix precisions in one quotient, so it is
handed the points in float64 (exactly) and computes in double precision. The
double-precision estimates are then rounded to float32.

Failures
--------
NaN and inf from f flow into the estimates (floating-point warnings are
silenced locally). An exception raised inside a library call (by the library
or by f) is caught for that point and coordinate, which then gets NaN
estimate, step and error estimate, and the evaluations made before the
failure as ``n_evals``. Vectorized calls (``scipy_differentiate``,
numdifftools) that fail are retried point by point so only the failing
points get NaN; the evaluations of the failed vectorized attempt are not
counted.

The libraries are optional (``pip install 'numdiff-harness[baselines]'``):
this module imports without them, :func:`available` tells whether one can be
used, and :func:`evaluate_baseline` raises :class:`BaselineUnavailable` when
its library is missing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from .evaluate import SchemeEstimates
from .libraries import LIBRARY_MODULES

__all__ = [
    "BASELINE_METHODS",
    "LIBRARIES",
    "BaselineUnavailable",
    "available",
    "evaluate_baseline",
]

#: Optional libraries a baseline may need (beyond scipy and numdifftools: :mod:`harness.libraries`).
LIBRARIES = ("scipy", "numdifftools", *LIBRARY_MODULES)

_ND_CALL = "numdifftools.Derivative"
_AD_CALL = "scipy.optimize._numdiff.approx_derivative"

#: method name -> library, adaptive, accuracy (order of the base rule),
#: n_evals (per estimate, smooth 1-D function; for ``scipy_differentiate`` the
#: budget at maxiter=10), float32 (type f is evaluated in for float32 points), longdouble (the same for
#: longdouble points; None: the library fails on them),
#: complex_input (f is evaluated at complex points: offered only for functions that take them),
#: call and description.
BASELINE_METHODS: dict[str, dict[str, Any]] = {
    "scipy_approx_fprime": {
        "library": "scipy", "adaptive": False, "accuracy": 1, "n_evals": 2, "float32": "float64",
        "longdouble": "float64",
        "call": "scipy.optimize.approx_fprime(x, f, epsilon=h)",
        "description": "forward difference (f(x+h) - f(x)) / ((x+h) - x); x converted to float64",
    },
    "scipy_2point": {
        "library": "scipy", "adaptive": False, "accuracy": 1, "n_evals": 2, "float32": "float32",
        "longdouble": "longdouble",
        "call": f"{_AD_CALL}(f, x, method='2-point', abs_step=h)",
        "description": "forward difference with absolute step h (replaced by scipy's relative step if x + h == x)",
    },
    "scipy_3point": {
        "library": "scipy", "adaptive": False, "accuracy": 2, "n_evals": 3, "float32": "float32",
        "longdouble": "longdouble",
        "call": f"{_AD_CALL}(f, x, method='3-point', abs_step=h)",
        "description": "central difference (f(x+h) - f(x-h)) / span; f(x) is evaluated too",
    },
    "scipy_cs": {
        "library": "scipy", "adaptive": False, "accuracy": 2, "n_evals": 2, "float32": "complex128",
        "longdouble": "complex128", "complex_input": True,
        "call": f"{_AD_CALL}(f, x, method='cs', abs_step=h)",
        "description": "complex step Im f(x + ih) / h; f(x) is evaluated too; h replaced if x + h == x",
    },
    "scipy_2point_default": {
        "library": "scipy", "adaptive": True, "accuracy": 1, "n_evals": 2, "float32": "float32",
        "longdouble": "longdouble",
        "call": f"{_AD_CALL}(f, x, method='2-point')",
        "description": "forward difference at scipy's default step sqrt(eps) * max(1, |x|)",
    },
    "scipy_3point_default": {
        "library": "scipy", "adaptive": True, "accuracy": 2, "n_evals": 3, "float32": "float32",
        "longdouble": "longdouble",
        "call": f"{_AD_CALL}(f, x, method='3-point')",
        "description": "central difference at scipy's default step eps**(1/3) * max(1, |x|) (approx_derivative's default)",
    },
    "scipy_cs_default": {
        "library": "scipy", "adaptive": True, "accuracy": 2, "n_evals": 2, "float32": "complex128",
        "longdouble": "complex128", "complex_input": True,
        "call": f"{_AD_CALL}(f, x, method='cs')",
        "description": "complex step at scipy's default step sqrt(eps) * max(1, |x|)",
    },
    "scipy_differentiate": {
        "library": "scipy", "adaptive": True, "accuracy": 8, "n_evals": 27, "float32": "float32",
        "longdouble": "longdouble",
        "call": "scipy.differentiate.derivative(f, x, initial_step=0.5, step_factor=2.0)",
        "description": "order-8 central stencils with steps halved until successive estimates agree; "
        "error estimate = |last change|; n_evals varies (res.nfev), 27 is the maxiter=10 budget",
    },
    "nd_central": {
        "library": "numdifftools", "adaptive": True, "accuracy": 2, "n_evals": 31, "float32": "float64",
        "longdouble": None,
        "call": f"{_ND_CALL}(f, method='central', full_output=True)",
        "description": "central differences at 15 decreasing steps, Richardson + Wynn extrapolation, best estimate",
    },
    "nd_forward": {
        "library": "numdifftools", "adaptive": True, "accuracy": 2, "n_evals": 16, "float32": "float64",
        "longdouble": None,
        "call": f"{_ND_CALL}(f, method='forward', full_output=True)",
        "description": "second-order one-sided rule at 15 decreasing steps, Richardson + Wynn extrapolation",
    },
    "nd_complex": {
        "library": "numdifftools", "adaptive": True, "accuracy": 2, "n_evals": 2, "float32": "float64",
        "longdouble": None,
        "complex_input": True,
        "call": f"{_ND_CALL}(f, method='complex', full_output=True)",
        "description": "complex step at numdifftools' default step eps**(1/1.06) * max(log(e - 1 + |x|), 1)",
    },
    "nd_central_fixed": {
        "library": "numdifftools", "adaptive": False, "accuracy": 2, "n_evals": 2, "float32": "float64",
        "longdouble": None,
        "call": f"{_ND_CALL}(f, step=h, method='central', use_exact_steps=False)",
        "description": "central difference at exactly one step h (no extrapolation)",
    },
    "nd_forward_fixed": {
        "library": "numdifftools", "adaptive": False, "accuracy": 1, "n_evals": 2, "float32": "float64",
        "longdouble": None,
        "call": f"{_ND_CALL}(f, step=h, method='forward', order=1, use_exact_steps=False)",
        "description": "forward difference at exactly one step h (order=1; the default order 2 uses h and 2h)",
    },
    "nd_complex_fixed": {
        "library": "numdifftools", "adaptive": False, "accuracy": 2, "n_evals": 2, "float32": "float64",
        "longdouble": None,
        "complex_input": True,
        "call": f"{_ND_CALL}(f, step=h, method='complex', use_exact_steps=False)",
        "description": "complex step at exactly one step h; f(x) is evaluated too (a realness check)",
    },
}

for _module in LIBRARY_MODULES.values():  # jacobi, numericalderivative, findiff: one module each
    BASELINE_METHODS.update(_module.METHODS)

# scipy.differentiate.derivative defaults, passed explicitly so h_used can be derived from nit.
_SD_INITIAL_STEP = 0.5
_SD_STEP_FACTOR = 2.0

# numdifftools options per method.
_ND_OPTIONS: dict[str, dict[str, Any]] = {
    "nd_central": {"method": "central"},
    "nd_forward": {"method": "forward"},
    "nd_complex": {"method": "complex"},
    "nd_central_fixed": {"method": "central", "use_exact_steps": False},
    "nd_forward_fixed": {"method": "forward", "order": 1, "use_exact_steps": False},
    "nd_complex_fixed": {"method": "complex", "use_exact_steps": False},
}

# approx_derivative method per scipy method (None: approx_fprime).
_SCIPY_FD: dict[str, str | None] = {
    "scipy_approx_fprime": None,
    "scipy_2point": "2-point",
    "scipy_3point": "3-point",
    "scipy_cs": "cs",
    "scipy_2point_default": "2-point",
    "scipy_3point_default": "3-point",
    "scipy_cs_default": "cs",
}


class BaselineUnavailable(ImportError):
    """The optional library a baseline needs is not installed."""


def _load(library: str) -> SimpleNamespace:
    """Import what a library's baselines call; BaselineUnavailable if missing."""
    if library not in LIBRARIES:
        raise ValueError(f"unknown baseline library {library!r}; known: {', '.join(LIBRARIES)}")
    try:
        if library in LIBRARY_MODULES:
            return LIBRARY_MODULES[library].load()
        if library == "scipy":
            from scipy.differentiate import derivative
            from scipy.optimize import approx_fprime
            from scipy.optimize._numdiff import approx_derivative

            return SimpleNamespace(approx_fprime=approx_fprime, approx_derivative=approx_derivative,
                                   derivative=derivative)
        import numdifftools

        return SimpleNamespace(Derivative=numdifftools.Derivative)
    except ImportError as exc:
        raise BaselineUnavailable(
            f"baseline library '{library}' is not available ({exc}); "
            "install it with: pip install 'numdiff-harness[baselines]'"
        ) from None


def available(library: str) -> bool:
    """Whether the baselines of ``library`` (a name in :data:`LIBRARIES`) can run.

    Raises
    ------
    ValueError
        For a library name other than those in :data:`LIBRARIES`.
    """
    try:
        _load(library)
    except BaselineUnavailable:
        return False
    return True


class _Restricted:
    """f restricted to coordinate ``j``, counting (and optionally recording) the points.

    Called as ``g(t)`` with the other coordinates fixed at ``fixed``, or as
    ``g(t, *others)`` (scipy.differentiate passes them through ``args``).
    ``n_points`` counts points evaluated: a call on an array of k values adds k.
    """

    def __init__(self, fn: Callable[..., Any], fixed: Sequence[Any], j: int, record: bool = False) -> None:
        self.fn, self.fixed, self.j, self.record = fn, list(fixed), j, record
        self.n_points = 0
        self.calls: list[np.ndarray] = []

    def reset(self) -> None:
        self.n_points = 0
        self.calls = []

    def __call__(self, t: Any, *others: Any) -> np.ndarray:
        t = np.asarray(t)
        self.n_points += t.size
        if self.record:
            self.calls.append(t.copy())
        coords = list(others) if others else list(self.fixed)
        coords.insert(self.j, t)
        out = np.asarray(self.fn(*coords))
        shape = np.broadcast_shapes(*(np.shape(c) for c in coords))
        return out if out.shape == shape else np.broadcast_to(out, shape).copy()


def _observed_step(fd: str | None, calls: list[np.ndarray]) -> float:
    """Step of scipy's difference quotient, from the points f was called with."""
    if fd in (None, "2-point") and len(calls) == 2:
        return (calls[1] - calls[0])[0]
    if fd == "3-point" and len(calls) == 3:  # x, x - h, x + h
        return ((calls[2] - calls[1]) / 2)[0]
    if fd == "cs" and len(calls) == 2:
        return calls[1].imag[0]
    return np.nan


def _run_scipy(method: str, lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
               steps: Sequence[float | None], out: dict[str, np.ndarray]) -> None:
    """approx_fprime / approx_derivative, one call per (step, point, coordinate)."""
    fd = _SCIPY_FD[method]
    n_points, dim = points.shape
    for p in range(n_points):
        row = points[p]
        for j in range(dim):
            g = _Restricted(fn, [row[c] for c in range(dim) if c != j], j, record=True)
            x0 = row[j:j + 1].copy()
            for k, h in enumerate(steps):
                g.reset()
                try:
                    if fd is None:
                        jac = lib.approx_fprime(x0, g, h)
                    else:
                        jac = lib.approx_derivative(g, x0, method=fd, abs_step=h)
                    est, h_used = np.ravel(jac)[0], _observed_step(fd, g.calls)
                except Exception:  # noqa: BLE001 - a library failure is a NaN result
                    est = h_used = np.nan
                out["estimate"][k, p, j] = est
                out["h_used"][k, p, j] = h_used
                out["n_evals"][k, p, j] = g.n_points


def _vectorized(call: Callable[[np.ndarray, list[np.ndarray], Callable[..., Any]], dict[str, Any]],
                fn: Callable[..., Any], x: np.ndarray, others: list[np.ndarray], j: int,
                pass_others: bool) -> dict[str, np.ndarray]:
    """Run ``call`` on all points of one coordinate; retry point by point on failure.

    ``call(x, others, g)`` returns arrays of shape ``(n,)``; its ``n_evals``
    entry may be None, meaning "count with the wrapper" (equal per point).
    """
    def once(xs: np.ndarray, os: list[np.ndarray]) -> tuple[dict[str, Any] | None, int]:
        g = _Restricted(fn, [] if pass_others else os, j)
        try:
            res = call(xs, os, g)
        except Exception:  # noqa: BLE001 - a library failure is a NaN result
            return None, g.n_points
        if res.get("n_evals") is None:
            res["n_evals"] = np.full(xs.shape, g.n_points // xs.size)
        return res, g.n_points

    res, _ = once(x, others)
    if res is not None:
        return res
    parts: dict[str, list[Any]] = {"estimate": [], "h_used": [], "error_estimate": [], "n_evals": []}
    for p in range(x.size):
        res, n_points = once(x[p:p + 1], [o[p:p + 1] for o in others])
        for name in parts:
            if res is not None:
                parts[name].append(np.ravel(res[name])[0])
            else:
                parts[name].append(n_points if name == "n_evals" else np.nan)
    return {name: np.array(v) for name, v in parts.items()}


def _run_differentiate(lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
                       out: dict[str, np.ndarray]) -> None:
    """scipy.differentiate.derivative, vectorized over points, one call per coordinate."""

    def call(x: np.ndarray, others: list[np.ndarray], g: _Restricted) -> dict[str, Any]:
        res = lib.derivative(g, x, args=tuple(others), initial_step=_SD_INITIAL_STEP,
                             step_factor=_SD_STEP_FACTOR)
        nit = np.asarray(res.nit)
        h = np.where(nit >= 1, _SD_INITIAL_STEP / _SD_STEP_FACTOR ** np.maximum(nit - 1.0, 0.0), np.nan)
        return {"estimate": res.df, "h_used": h, "error_estimate": res.error,
                "n_evals": np.asarray(res.nfev, dtype=np.int64)}

    _per_coordinate(call, fn, points, out, pass_others=True, row=0)


def _per_coordinate(call: Callable[..., dict[str, Any]], fn: Callable[..., Any], points: np.ndarray,
                    out: dict[str, np.ndarray], *, pass_others: bool, row: int) -> None:
    dim = points.shape[1]
    for j in range(dim):
        others = [points[:, c] for c in range(dim) if c != j]
        res = _vectorized(call, fn, points[:, j].copy(), others, j, pass_others)
        for name, value in res.items():
            out[name][row, :, j] = value


def _run_numdifftools(method: str, lib: SimpleNamespace, fn: Callable[..., Any], points: np.ndarray,
                      steps: Sequence[float | None], out: dict[str, np.ndarray]) -> None:
    """numdifftools.Derivative, vectorized over points (it works elementwise)."""
    options = _ND_OPTIONS[method]
    # numdifftools builds steps in float64: give it float64 points so f(x) and f(x + h) share a type.
    points = points.astype(np.result_type(points.dtype, np.float64))
    for k, h in enumerate(steps):
        if h is None:
            def call(x: np.ndarray, others: list[np.ndarray], g: _Restricted) -> dict[str, Any]:
                r = lib.Derivative(g, full_output=True, **options)(x)
                return {"estimate": r.estimate, "h_used": np.abs(r.final_step), "error_estimate": r.error_estimate}
        else:
            def call(x: np.ndarray, others: list[np.ndarray], g: _Restricted, h: float = h) -> dict[str, Any]:
                est = lib.Derivative(g, step=h, **options)(x)
                return {"estimate": est, "h_used": np.full(x.shape, h), "error_estimate": np.full(x.shape, np.nan)}

        _per_coordinate(call, fn, points, out, pass_others=False, row=k)


def evaluate_baseline(scheme: Any, fn: Callable[..., Any], points: np.ndarray,
                      hs: np.ndarray, *, expression: Any = None) -> SchemeEstimates:
    """Run one library baseline on every point, coordinate (and h, if fixed-step).

    Parameters
    ----------
    scheme : BaselineScheme
        From :func:`harness.schemes.make_baseline` (only ``scheme.method`` is read).
    fn : callable
        Vectorized ``fn(x0, x1, ...)`` preserving the input dtype (complex
        input for the complex-step methods), e.g. ``parse_expression(t).numpy``.
        Each partial derivative is taken separately by restricting ``fn`` to
        one coordinate, the others fixed at the point.
    points : ndarray, shape (n_points, dim)
        Points in the working number type.
    hs : ndarray, shape (n_h,)
        Nominal steps; used only by fixed-step methods.
    expression : Expression, optional
        The function's expression (:mod:`harness.expr`), for methods that need
        its true higher derivatives (numericalderivative's exact-step formulas).

    Returns
    -------
    SchemeEstimates
        Fixed-step: arrays of shape ``(n_h, n_points, dim)`` and
        ``h_nominal=None``. Adaptive: shape ``(1, n_points, dim)`` and
        ``h_nominal=[nan]``. ``estimate`` is in the working type; ``h_used``
        (see the module docstring) and ``error_estimate`` (NaN where the
        library gives none) are float64 (longdouble for longdouble points);
        ``n_evals`` (int64) counts the points f was evaluated at per estimate.

    Raises
    ------
    BaselineUnavailable
        If the method's library is not installed.
    ValueError
        For an unknown method or badly shaped ``points``/``hs``.
    """
    if scheme.method not in BASELINE_METHODS:
        raise ValueError(f"unknown baseline method {scheme.method!r}; known: {', '.join(BASELINE_METHODS)}")
    info = BASELINE_METHODS[scheme.method]
    lib = _load(info["library"])
    points = np.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"points must have shape (n_points, dim), got {points.shape}")
    hs = np.atleast_1d(np.asarray(hs))
    if hs.ndim != 1:
        raise ValueError(f"hs must have shape (n_h,), got {hs.shape}")
    adaptive = bool(info["adaptive"])
    steps: list[float | None] = [None] if adaptive else [float(h) for h in hs]
    shape = (len(steps),) + points.shape
    wide = np.result_type(points.dtype, np.float64)
    out = {
        "estimate": np.full(shape, np.nan, dtype=wide),
        "h_used": np.full(shape, np.nan, dtype=wide),
        "error_estimate": np.full(shape, np.nan, dtype=wide),
        "n_evals": np.zeros(shape, dtype=np.int64),
    }
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message="All-NaN slice encountered")
        if points.size == 0:
            pass
        elif scheme.method == "scipy_differentiate":
            _run_differentiate(lib, fn, points, out)
        elif info["library"] in LIBRARY_MODULES:
            LIBRARY_MODULES[info["library"]].run(scheme.method, lib, fn, points, steps, out, expression=expression)
        elif info["library"] == "scipy":
            _run_scipy(scheme.method, lib, fn, points, steps, out)
        else:
            _run_numdifftools(scheme.method, lib, fn, points, steps, out)
        estimate = out["estimate"].astype(points.dtype)
    return SchemeEstimates(
        scheme,
        estimate,
        out["h_used"],
        n_evals=out["n_evals"],
        error_estimate=out["error_estimate"],
        h_nominal=np.array([np.nan]) if adaptive else None,
    )
