"""Mixed second partials d2f/dxi dxj (Hessian entries) from the product of a first-derivative stencil with itself."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar, Mapping

import numpy as np

from .. import validate as check
from ..errors import ConfigError
from ..evaluate import BlockContext, SchemeEstimates, as_dtype_scalar, call, robust_sum
from ..stencils import Stencil
from .base import Scheme
from .stencil import base_stencil


@dataclass(frozen=True)
class MixedScheme(Scheme):
    """``sum_a sum_b w_a w_b f(x + o_a h e_i + o_b h e_j) / h^2`` for every pair i < j."""

    name: str
    stencil: Stencil
    kind: ClassVar[str] = "mixed"
    derivative: int = 2

    @property
    def accuracy(self) -> int:
        return self.stencil.accuracy

    @property
    def n_evals(self) -> int:
        return self.stencil.n_points**2

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "MixedScheme":
        check.only_keys(key, spec, ("kind", "base"), "kind mixed")
        base = base_stencil(name, spec.get("base", "central"), f"{key}.base")
        if base.derivative != 1:
            raise ConfigError(f"{key}.base", spec.get("base"), "a first-derivative stencil (derivative: 1)")
        return cls(name=name, stencil=base)

    def skip(self, *, dtype: str, dim: int) -> str | None:
        return "mixed partials need two or more variables" if dim < 2 else None

    def partials(self, dim: int) -> list[tuple[int, ...]]:
        return [(i, j) for i in range(dim) for j in range(i + 1, dim)]

    def memory_per_point(self, n_h: int, dim: int, itemsize: int) -> int:
        return self.stencil.n_points**2 * n_h * len(self.partials(dim)) * (dim + 2) * itemsize

    def evaluate(self, ctx: BlockContext) -> SchemeEstimates:
        """Every mixed partial in one call of f.

        Samples ``f(x + o_a h_i e_i + o_b h_j e_j)`` have shape (K, K, H, N, P)
        for the P coordinate pairs; the double sum is a nested robust sum.
        ``h_used`` of a Hessian row is the smaller of its two steps, so a step
        that vanished on either coordinate shows as step_underflow.
        """
        points, h_used = ctx.points, ctx.h_used
        dtype = points.dtype
        n_points, dim = points.shape
        pairs = self.partials(dim)
        n_h = h_used.shape[0]
        if not pairs:
            empty = np.empty((n_h, n_points, 0), dtype=dtype)
            return SchemeEstimates(self, empty, empty.copy(), components=[])
        st = self.stencil
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
        values = call(ctx.fn, coords, shape)

        def inner(oa: Fraction) -> np.ndarray:
            row = values[index[oa]]
            return robust_sum(st, lambda ob: row[index[ob]], dtype)

        est = robust_sum(st, inner, dtype) / (h_i * h_j)
        return SchemeEstimates(self, est.astype(dtype, copy=False), np.minimum(h_i, h_j), components=pairs)
