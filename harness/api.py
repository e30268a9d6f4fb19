"""The Python API: run a sweep from a config, regenerate figures from a run.

Data flows one way::

    config -> SweepSpec -> (per function x number type) evaluate schemes
           -> reference derivatives -> tidy rows -> results.parquet -> figures

The Hydra CLI (:mod:`harness.cli`) is a thin layer over :func:`run` and
:func:`report`; a notebook can call them directly::

    >>> import harness
    >>> table = harness.run({"functions": {"exp": {"expression": "exp(x)", "points": [1.0]}},
    ...                      "schemes": {"central": None},
    ...                      "grid": {"kind": "logspace", "start": -8, "stop": -1, "num": 8}})
    >>> round(float(table["abs_error"].min()), 12) < 1e-9
    True
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .analysis import summarize
from .config import DTYPES, FunctionSpec, ReferenceSettings, SweepSpec, _plain, build_spec
from .evaluate import FloatingPointCounter, complex_dtype, evaluate_schemes
from .figures import write_figures
from .reference import ReferenceCache
from .schemes import ComplexStepScheme, MixedScheme, StencilScheme
from .store import (PARTS_DIR, git_commit, package_versions, platform_info, read_meta, read_results,
                    utc_now, write_json, write_parquet)
from .store import META_FILE, RESULTS_FILE
from .table import finalize, scheme_rows

log = logging.getLogger(__name__)


def _baselines() -> Any:
    # Imported on use: the baseline libraries are optional extras.
    from . import baselines

    return baselines


def multi_index(partial: tuple[int, ...], derivative: int, dim: int) -> tuple[int, ...]:
    """Derivative multi-index of one estimate: m along ``(j,)``, or 1 along each of ``(i, j)``."""
    if len(partial) == 1:
        return tuple(derivative if c == partial[0] else 0 for c in range(dim))
    return tuple(partial.count(c) for c in range(dim))


def reference_arrays(
    function: FunctionSpec,
    points: np.ndarray,
    orders: Sequence[tuple[int, ...]],
    settings: ReferenceSettings,
    cache: ReferenceCache,
) -> dict[str, np.ndarray]:
    """Reference derivatives, shape (n_points, len(orders)).

    Each (expression, exact point, multi-index, precision) is computed once
    per cache, so number types whose points round to the same value share it.
    """
    n, k = points.shape[0], len(orders)
    out = {
        "hi": np.full((n, k), np.nan),
        "lo": np.zeros((n, k)),
        "digits": np.zeros((n, k)),
        "status": np.empty((n, k), dtype=object),
    }
    for p in range(n):
        for j, multi in enumerate(orders):
            ref = cache.get(function.expression.text, function.expression.mpmath, tuple(points[p]), multi,
                            dps=settings.dps, min_digits=settings.min_digits)
            out["hi"][p, j] = ref.hi
            out["lo"][p, j] = ref.lo if np.isfinite(ref.lo) else 0.0
            out["digits"][p, j] = ref.digits
            out["status"][p, j] = ref.status
    return out


def _usable(schemes: Sequence[Any], dtype_name: str, dim: int, first_scale: bool) -> list[Any]:
    """Schemes that exist for this number type and dimension, logging what is skipped and why."""
    keep = []
    for s in schemes:
        if isinstance(s, ComplexStepScheme) and complex_dtype(DTYPES[dtype_name]) is None:
            log.info("%s has no complex type: skipping %s", dtype_name, s.name)
        elif isinstance(s, MixedScheme) and dim < 2:
            continue  # mixed partials need two coordinates
        elif getattr(s, "kind", "") in ("baseline", "selector") and not first_scale:
            continue  # they choose or scale their own steps: run them once, not per step scale
        elif getattr(s, "kind", "") == "baseline" and not _baselines().available(s.library):
            log.warning("skipping %s: %s is not installed (pip install 'numdiff-harness[baselines]')",
                        s.name, s.library)
        else:
            keep.append(s)
    return keep


def sweep_block(
    spec: SweepSpec,
    function: FunctionSpec,
    dtype_name: str,
    cache: ReferenceCache,
    step_scale: str = "absolute",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """All rows of one function in one number type and step scale.

    Returns
    -------
    (DataFrame, dict)
        The rows and the floating-point warnings counted while evaluating.
    """
    dtype = DTYPES[dtype_name]
    points = function.points.astype(dtype)
    fn = function.expression.numpy
    schemes = _usable(spec.schemes, dtype_name, function.dim, step_scale == spec.step_scales[0])
    counter = FloatingPointCounter()
    vectorized = [s for s in schemes if isinstance(s, (StencilScheme, ComplexStepScheme, MixedScheme))]
    results = dict(zip((s.name for s in vectorized),
                       evaluate_schemes(fn, points, spec.hs, vectorized, step=spec.step, scale=step_scale,
                                        counter=counter)))
    with np.errstate(all="call", call=counter):
        for s in schemes:
            if s.kind == "baseline":
                results[s.name] = _baselines().evaluate_baseline(s, fn, points, spec.hs)
            elif s.kind == "selector":
                from .selectors import evaluate_selector

                results[s.name] = evaluate_selector(s, fn, points, step=spec.step)
    frames = []
    for s in schemes:
        est = results[s.name]
        orders = [multi_index(p, s.derivative, function.dim) for p in est.partials]
        frames.append(scheme_rows(
            experiment=spec.name,
            function=function.name,
            expression=function.expression.text,
            points=points,
            dtype=dtype_name,
            step=spec.step,
            step_scale=step_scale,
            hs=spec.hs,
            estimates=est,
            reference=reference_arrays(function, points, orders, spec.reference, cache),
        ))
    return finalize(frames), dict(counter.counts)


def run_spec(
    spec: SweepSpec,
    *,
    out_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    cache: ReferenceCache | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run a validated sweep; optionally write results, metadata and figures.

    Parameters
    ----------
    spec : SweepSpec
    out_dir : path, optional
        Run directory. When given, ``results.parquet``, ``summary.csv``,
        ``meta.json`` and ``figures/`` are written there (atomically).
    config : mapping, optional
        Resolved config stored in ``meta.json``.
    overrides : sequence of str
        Command-line overrides stored in ``meta.json``.
    cache : ReferenceCache, optional
        Shared reference cache (a fresh one by default).
    progress : bool, optional
        Show a progress bar; default: only on a terminal.

    Returns
    -------
    DataFrame
        The tidy results table.
    """
    started, t0 = utc_now(), time.perf_counter()
    cache = cache or ReferenceCache()
    out = Path(out_dir) if out_dir is not None else None
    blocks = [(f, d, sc) for f in spec.functions for d in spec.dtypes for sc in spec.step_scales]
    frames, fp_warnings = [], {}
    bar = tqdm(blocks, desc=spec.name, unit="block", disable=(not progress) if progress is not None else None,
               leave=False)
    for function, dtype_name, scale in bar:
        frame, counts = sweep_block(spec, function, dtype_name, cache, scale)
        frames.append(frame)
        block = f"{function.name}__{dtype_name}__{scale}"
        if counts:
            fp_warnings[block] = counts
            log.debug("%s: floating-point events %s", block, counts)
        if out is not None:
            # Finished blocks survive an interrupted sweep.
            write_parquet(frame, out / PARTS_DIR / f"{block}.parquet")
    table = finalize(frames)
    if out is None:
        return table

    statuses = table["status"].value_counts().to_dict() if len(table) else {}
    meta = {
        "experiment": spec.name,
        "description": spec.description,
        "config": _plain(config) if config is not None else None,
        "overrides": list(overrides),
        "started": started,
        "finished": utc_now(),
        "seconds": round(time.perf_counter() - t0, 3),
        "rows": int(len(table)),
        "status_counts": {str(k): int(v) for k, v in statuses.items()},
        "floating_point_warnings": fp_warnings,
        "reference_cache": {"hits": cache.hits, "misses": cache.misses},
        "plot": {"enabled": spec.plot.enabled, "formats": list(spec.plot.formats),
                 "max_figures": spec.plot.max_figures, "dpi": spec.plot.dpi},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform_info(),
    }
    write_parquet(table, out / RESULTS_FILE)
    write_json(meta, out / META_FILE)
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    _write_derived(table, out, meta["plot"])
    log.info("%s: %d rows (%s) in %.2f s -> %s", spec.name, len(table),
             ", ".join(f"{k} {v}" for k, v in meta["status_counts"].items()), meta["seconds"], out)
    return table


def _write_derived(table: pd.DataFrame, out: Path, plot: Mapping[str, Any]) -> list[Path]:
    """Summary table and figures: everything rebuilt from the results table."""
    summary = summarize(table)
    write_parquet(summary, out / "summary.parquet")
    from .store import atomic_path

    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    if not plot.get("enabled", True):
        return []
    return write_figures(table, out, formats=plot.get("formats", ("svg", "png")),
                         max_figures=plot.get("max_figures", 60), dpi=plot.get("dpi", 120))


def run(
    cfg: Any,
    *,
    out_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool | None = None,
) -> pd.DataFrame:
    """Validate a config and run its sweep.

    Parameters
    ----------
    cfg : DictConfig or mapping
        A composed config (``functions``, ``schemes``, ``grid``, ``dtypes``,
        ``step``, ``reference``, ``plot``, ``name``).
    out_dir : path, optional
        Where to write results; nothing is written when omitted.
    overrides : sequence of str
        Recorded in ``meta.json``.
    progress : bool, optional
        Progress bar; default only on a terminal.

    Returns
    -------
    DataFrame
        One row per estimate (see :data:`harness.table.COLUMNS`).

    Raises
    ------
    ConfigError
        Before any work, if the config is invalid.
    """
    spec = build_spec(cfg)
    return run_spec(spec, out_dir=out_dir, config=_plain(cfg), overrides=overrides, progress=progress)


def report(run_dir: str | Path, *, formats: Iterable[str] | None = None) -> list[Path]:
    """Regenerate the summary and every figure of a run from its stored table.

    Nothing is recomputed: the figures are drawn from ``results.parquet``.

    Parameters
    ----------
    run_dir : path
        A run directory holding ``results.parquet`` (and ``meta.json``).
    formats : iterable of str, optional
        Override the formats stored in ``meta.json``.

    Returns
    -------
    list of Path
        Figure files written.
    """
    run_dir = Path(run_dir)
    table = read_results(run_dir)
    plot = dict(read_meta(run_dir).get("plot") or {})
    plot["enabled"] = True
    if formats is not None:
        plot["formats"] = list(formats)
    return _write_derived(table, run_dir, plot)
