"""Sweep planning and execution: which blocks, which schemes, one block's rows.

A sweep is cut into *blocks*: one function x number type x step scale x
chunk of points. Each block is evaluated with every scheme that applies
(each scheme says itself whether and why not, :meth:`Scheme.skip_for`), gets its
references, rows, per-curve analysis and error models, and can be stored and
reused on its own (see :mod:`harness.rundir`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, NamedTuple, Optional, Sequence

import numpy as np
import pandas as pd

from .curves import analyse_table
from .leaderboard import candidate_rows
from .evaluate import BlockContext, FloatingPointCounter
from .model import function_noise, model_rows
from .noise import noise_columns, noisy
from .noise_report import noise_rows
from .refcache import ReferenceCache, multi_index, reference_table
from .settings import DTYPES, FunctionSpec, SweepSpec
from .table import finalize, scheme_rows

log = logging.getLogger(__name__)

#: Bytes one tidy row costs in memory (about 25 columns), used to size chunks.
ROW_BYTES = 220


@dataclass(frozen=True)
class BlockPlan:
    """One block of a sweep: a function, a number type, a step scale and a slice of its points."""

    function: FunctionSpec
    dtype: str
    step_scale: str
    start: int
    stop: int
    schemes: tuple

    @property
    def key(self) -> str:
        """Stable, file-name-safe identifier (parts are stored under it)."""
        return f"{self.function.name}__{self.dtype}__{self.step_scale}__{self.start}-{self.stop}"


class BlockResult(NamedTuple):
    """What one block produces."""

    rows: pd.DataFrame
    models: pd.DataFrame
    curves: pd.DataFrame
    fp_counts: dict[str, int]
    noise: Optional[pd.DataFrame] = None  # ECnoise per point (first step scale of a block only)
    scored: Optional[pd.DataFrame] = None  # the rows the leaderboard scores (harness.leaderboard.candidate_rows)


def applicable(spec: SweepSpec, function: FunctionSpec, dtype: str, step_scale: str) -> tuple:
    """Schemes that run in this block: not skipped, and schemes with their own steps only once."""
    first_scale = step_scale == spec.step_scales[0]
    return tuple(s for s in spec.schemes if s.skip_for(function, dtype) is None
                 and (first_scale or not s.own_steps))


def announce_skips(spec: SweepSpec) -> None:
    """One log line per reason a scheme is skipped somewhere in the sweep."""
    by_reason: dict[str, dict[str, None]] = {}
    for f in spec.functions:
        for d in spec.dtypes:
            for s in spec.schemes:
                why = s.skip_for(f, d)
                if why is not None:
                    by_reason.setdefault(why, {})[s.name] = None
    for why, names in by_reason.items():
        log.warning("skipping %s: %s", ", ".join(names), why)


def chunk_bounds(spec: SweepSpec, function: FunctionSpec, dtype: str) -> list[tuple[int, int]]:
    """Split a function's points so one chunk stays within ``spec.memory_mb``.

    The estimate counts the shared stencil samples (offsets x h x dim^2
    coordinates), each scheme's own arrays (:meth:`Scheme.memory_per_point`)
    and the tidy rows each point produces; it is deliberately rough and errs
    on the large side.
    """
    n_h, dim = len(spec.hs), function.dim
    item = DTYPES[dtype].itemsize
    offsets: set[Fraction] = set().union(*(s.offsets() for s in spec.schemes))
    per_point = len(offsets) * n_h * dim * (dim + 3) * item
    per_point += sum(s.memory_per_point(n_h, dim, item) for s in spec.schemes)
    per_point += sum(n_h * len(s.partials(dim)) for s in spec.schemes) * ROW_BYTES
    size = max(1, int(spec.memory_mb * 2**20 // max(per_point, 1)))
    n = len(function.points)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def plan(spec: SweepSpec) -> list[BlockPlan]:
    """Every block of the sweep, in a fixed order (function, number type, step scale, chunk)."""
    return [BlockPlan(f, d, sc, a, b, applicable(spec, f, d, sc))
            for f in spec.functions for d in spec.dtypes for sc in spec.step_scales
            for a, b in chunk_bounds(spec, f, d)]


def sweep_block(spec: SweepSpec, block: BlockPlan, cache: ReferenceCache) -> BlockResult:
    """All rows of one block, with their regimes, the per-curve analysis and the error models."""
    function, dtype = block.function, DTYPES[block.dtype]
    points = function.points[block.start:block.stop].astype(dtype)
    schemes = block.schemes
    counter = FloatingPointCounter()
    fn = noisy(function.expression.numpy, function.noise)
    ctx = BlockContext(fn, points, spec.hs, spec.step, block.step_scale,
                       frozenset().union(*(s.offsets() for s in schemes)), noise=function.noise,
                       expression=function.expression)
    with np.errstate(all="call", call=counter):
        results = [s.evaluate(ctx) for s in schemes]
    noise_kind, noise_level = noise_columns(function.noise)
    frames = []
    for s, est in zip(schemes, results):
        step, scale = s.conventions(spec.step, block.step_scale)
        orders = [multi_index(p, s.derivative, function.dim) for p in est.partials]
        frames.append(scheme_rows(
            experiment=spec.name, function=function.name, expression=function.expression.text, points=points,
            dtype=block.dtype, step=step, step_scale=scale, hs=spec.hs, estimates=est,
            reference=reference_table(function, points, orders, spec.reference, cache), point_offset=block.start,
            noise_kind=noise_kind, noise_level=noise_level,
        ))
    table = finalize(frames)
    kinds = {s.kind: s.has_optimum for s in schemes}
    regimes, curves = analyse_table(table, kinds.__getitem__)
    table["regime"] = regimes
    # ECnoise per point; the noise of f does not depend on the step scale, so it is kept for the first one.
    first = block.step_scale == spec.step_scales[0]
    noise = None
    if first or spec.model.noise == "estimate":
        noise = noise_rows(function, fn, points, block.dtype,
                           function_noise(DTYPES[block.dtype], eps_factor=spec.model.eps_factor), block.start)
    estimated = noise["estimated_noise"].to_numpy() if spec.model.noise == "estimate" else None
    models = model_rows(function, points, schemes, block.dtype, spec.step, block.step_scale, spec.model,
                        block.start, estimated_noise=estimated, cache=cache)
    scored = candidate_rows(table, models)  # per block: the leaderboard never scans the whole table
    return BlockResult(table, models, curves, dict(counter.counts), noise if first else None, scored)


def run_blocks(spec: SweepSpec, blocks: Sequence[BlockPlan], cache: ReferenceCache,
               load: Callable[[BlockPlan], BlockResult | None] | None = None,
               store: Callable[[BlockPlan, BlockResult], None] | None = None) -> Iterator[tuple[BlockPlan, BlockResult, bool]]:
    """Compute (or ``load``) every block in order, ``store`` each new one at once; yields (block, result, reused)."""
    for block in blocks:
        done = load(block) if load is not None else None
        if done is not None:
            yield block, done, True
            continue
        done = sweep_block(spec, block, cache)
        if store is not None:
            store(block, done)
        yield block, done, False
