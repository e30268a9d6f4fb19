"""The complex-step derivative ``Im f(x + i h) / h``: no subtractive cancellation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping

from .. import validate as check
from ..evaluate import BlockContext, SchemeEstimates, call, complex_dtype, displaced_coords
from ..model import ErrorModel, complex_step_model
from ..number_types import complex_unavailable
from ..settings import DTYPES
from .base import Scheme


@dataclass(frozen=True)
class ComplexStepScheme(Scheme):
    """Complex-step first derivative ``Im f(x + i h) / h`` (accuracy order 2, one evaluation).

    The imaginary displacement ``i h`` is exact in the complex working type,
    so the step is the nominal h whatever the sweep's ``step`` setting (the
    rows say ``step='nominal'``). Its error falls to a floor instead of
    growing again at small h: it has no optimum, only a threshold.
    """

    name: str
    kind: ClassVar[str] = "complex_step"
    has_optimum: ClassVar[bool] = False
    sees_absolute_noise: ClassVar[bool] = False  # the noise moves Re f only
    requires: ClassVar[frozenset[str]] = frozenset({"complex_input"})
    derivative: int = 1
    accuracy: int = 2
    n_evals: int = 1

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "ComplexStepScheme":
        check.only_keys(key, spec, ("kind",), "kind complex_step")
        return cls(name=name)

    def skip(self, *, dtype: str, dim: int) -> str | None:
        if complex_dtype(DTYPES[dtype]) is None:
            return complex_unavailable(dtype) or f"{dtype} has no complex type"
        return None

    def conventions(self, step: str, scale: str) -> tuple[str, str]:
        return "nominal", scale

    def memory_per_point(self, n_h: int, dim: int, itemsize: int) -> int:
        return n_h * dim * (dim + 2) * 2 * itemsize

    def evaluate(self, ctx: BlockContext) -> SchemeEstimates:
        """``Im f(x + i h e_j) / h`` for every h, point and coordinate j."""
        points, h = ctx.points, ctx.h_nominal
        ctype = complex_dtype(points.dtype)
        if ctype is None:
            raise ValueError(f"no complex type matches {points.dtype}: complex step is unavailable")
        shift = (1j * h).astype(ctype)
        values = call(ctx.fn, displaced_coords(points.astype(ctype), shift), h.shape)
        est = (values.imag / h).astype(points.dtype, copy=False)
        return SchemeEstimates(self, est, h)

    def model_order(self) -> int:
        return 5

    def model(self, deriv: Callable[[int], float], dtype: Any, *, eps_factor: float, noise: float | None,
              window: bool = True) -> ErrorModel:
        return complex_step_model(deriv(1), deriv(3), dtype, d5=deriv(5) if window else None,
                                  eps_factor=eps_factor, noise=noise)
