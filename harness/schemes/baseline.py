"""Library baselines as schemes: real calls of scipy, numdifftools, jacobi, numericalderivative, findiff.

See :mod:`harness.baselines` and :mod:`harness.libraries`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

import numpy as np

from .. import validate as check
from .. import baselines as libraries
from ..baselines import BASELINE_METHODS, evaluate_baseline
from ..evaluate import BlockContext, SchemeEstimates
from ..number_types import is_ml_float
from ..model import ErrorModel
from ..stencils import stencil_from_offsets
from ..settings import DTYPES
from .base import Scheme
from .stencil import StencilScheme

# Where longdouble is float64 (MSVC, Apple silicon), a float64 computation is a longdouble one.
_LONGDOUBLE_IS_WIDER = bool(np.finfo(np.longdouble).eps < np.finfo(np.float64).eps)


@dataclass(frozen=True)
class BaselineScheme(Scheme):
    """A library baseline, configured like a scheme.

    Attributes
    ----------
    name : str
        Name used in tables and legends (the config name).
    method : str
        Key of :data:`harness.baselines.BASELINE_METHODS`.
    accuracy : int
        Truncation order of the library's base difference rule (for adaptive
        methods: before extrapolation and step selection).
    n_evals : int
        Nominal evaluations per estimate (measured per-estimate counts are in
        ``SchemeEstimates.n_evals``).
    adaptive : bool
        True when the library chooses the step (one row per point).
    library : str
        A name in :data:`harness.baselines.LIBRARIES`.
    derivative : int
        Derivative order (1 but for findiff's third-derivative method).
    """

    name: str
    method: str
    accuracy: int
    n_evals: int
    library: str
    adaptive: bool = False  # type: ignore[misc]  # a field here: it depends on the method
    derivative: int = 1
    kind: ClassVar[str] = "baseline"
    own_steps: ClassVar[bool] = True

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "BaselineScheme":
        """``{kind: baseline, method: <method>}`` (``kind`` may be left out)."""
        check.only_keys(key, spec, ("kind", "method"), "kind baseline")
        check.one_of(f"{key}.kind", spec.get("kind", "baseline"), ("baseline",))
        method = check.one_of(f"{key}.method", spec.get("method"), BASELINE_METHODS)
        info = BASELINE_METHODS[method]
        return cls(name=name, method=method, accuracy=info["accuracy"], n_evals=info["n_evals"],
                   adaptive=info["adaptive"], library=info["library"], derivative=info.get("derivative", 1))

    def skip(self, *, dtype: str, dim: int) -> str | None:
        if not libraries.available(self.library):
            return f"{self.library} is not installed (pip install 'numdiff-harness[baselines]')"
        if is_ml_float(DTYPES[dtype]):
            # scipy's approx_derivative and differentiate fail on them; the others would compute in float64.
            return f"{self.library} has no {dtype} arithmetic"
        if dtype == "longdouble" and _LONGDOUBLE_IS_WIDER:
            wide = BASELINE_METHODS[self.method]["longdouble"]
            if wide is None:
                return f"{self.library} fails on longdouble points (its C or linear-algebra kernels take float64)"
            if wide != "longdouble":
                # Rows labelled longdouble would hold a float64 computation: a false comparison.
                return f"{self.method} computes f in {wide}, not in longdouble"
        return None

    @property
    def requires(self) -> frozenset[str]:  # type: ignore[override]  # per method, not per class
        return frozenset({"complex_input"}) if BASELINE_METHODS[self.method].get("complex_input") else frozenset()

    def conventions(self, step: str, scale: str) -> tuple[str, str]:
        # The library applies h by its own rule; fixed-step methods are handed h as an absolute step.
        return "library", "library" if self.adaptive else "absolute"

    def evaluate(self, ctx: BlockContext) -> SchemeEstimates:
        hs = ctx.hs if ctx.hs.ndim == 1 else ctx.hs.reshape(ctx.hs.shape[0], -1)[:, 0]
        return evaluate_baseline(self, ctx.fn, ctx.points, hs, expression=ctx.expression)

    # A fixed-step method whose weights are a stencil's (findiff) has that stencil's error model.
    def _model_scheme(self) -> StencilScheme | None:
        offsets = BASELINE_METHODS[self.method].get("model_offsets")
        if offsets is None:
            return None
        return StencilScheme(self.name, stencil_from_offsets(offsets, self.derivative))

    def model_order(self) -> int:
        stencil = self._model_scheme()
        return 0 if stencil is None else stencil.model_order()

    def model(self, deriv: Callable[[int], float], dtype: Any, *, eps_factor: float, noise: float | None,
              window: bool = True) -> ErrorModel | None:
        stencil = self._model_scheme()
        if stencil is None:
            return None
        return stencil.model(deriv, dtype, eps_factor=eps_factor, noise=noise, window=window)


def make_baseline(name: str, spec: Mapping[str, Any] | str | None = None, *, key: str | None = None) -> BaselineScheme:
    """Build a baseline from a config entry: a mapping, a bare method name, or None (``name`` is the method).

    Examples
    --------
    >>> make_baseline("sp", {"kind": "baseline", "method": "scipy_3point"}).accuracy
    2
    """
    key = key or f"schemes.{name}"
    if spec is None or isinstance(spec, str):
        spec = {"method": name if spec is None else spec}
    check.mapping(key, spec, "a mapping {kind: baseline, method: <method>} or a method name")
    return BaselineScheme.from_config(name, spec, key)
