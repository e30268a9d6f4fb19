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
from .schemes import ComplexStepScheme
from .store import (PARTS_DIR, git_commit, package_versions, platform_info, read_meta, read_results,
                    utc_now, write_json, write_parquet)
from .store import META_FILE, RESULTS_FILE
from .table import finalize, scheme_rows

log = logging.getLogger(__name__)


def reference_arrays(
    function: FunctionSpec,
    points: np.ndarray,
    derivative: int,
    settings: ReferenceSettings,
    cache: ReferenceCache,
) -> dict[str, np.ndarray]:
    """Reference derivative of every point and component, shape (n_points, dim).

    Each (expression, exact point, multi-index, precision) is computed once
    per cache, so number types whose points round to the same value share it.
    """
    n, dim = points.shape
    out = {
        "hi": np.full((n, dim), np.nan),
        "lo": np.zeros((n, dim)),
        "digits": np.zeros((n, dim)),
        "status": np.empty((n, dim), dtype=object),
    }
    for p in range(n):
        for j in range(dim):
            orders = tuple(derivative if c == j else 0 for c in range(dim))
            ref = cache.get(function.expression.text, function.expression.mpmath, tuple(points[p]), orders,
                            dps=settings.dps, min_digits=settings.min_digits)
            out["hi"][p, j] = ref.hi
            out["lo"][p, j] = ref.lo if np.isfinite(ref.lo) else 0.0
            out["digits"][p, j] = ref.digits
            out["status"][p, j] = ref.status
    return out


def sweep_block(
    spec: SweepSpec,
    function: FunctionSpec,
    dtype_name: str,
    cache: ReferenceCache,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """All rows of one function in one number type.

    Returns
    -------
    (DataFrame, dict)
        The rows and the floating-point warnings counted while evaluating.
    """
    dtype = DTYPES[dtype_name]
    points = function.points.astype(dtype)
    schemes = list(spec.schemes)
    if complex_dtype(dtype) is None:
        skipped = [s.name for s in schemes if isinstance(s, ComplexStepScheme)]
        if skipped:
            log.info("%s has no complex type: skipping %s", dtype_name, ", ".join(skipped))
        schemes = [s for s in schemes if not isinstance(s, ComplexStepScheme)]
    counter = FloatingPointCounter()
    estimates = evaluate_schemes(function.expression.numpy, points, spec.hs, schemes, step=spec.step,
                                 counter=counter)
    references = {
        m: reference_arrays(function, points, m, spec.reference, cache)
        for m in sorted({s.derivative for s in schemes})
    }
    frames = [
        scheme_rows(
            experiment=spec.name,
            function=function.name,
            expression=function.expression.text,
            points=points,
            dtype=dtype_name,
            step=spec.step,
            hs=spec.hs,
            estimates=est,
            reference=references[est.scheme.derivative],
        )
        for est in estimates
    ]
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
    blocks = [(f, d) for f in spec.functions for d in spec.dtypes]
    frames, fp_warnings = [], {}
    bar = tqdm(blocks, desc=spec.name, unit="block", disable=(not progress) if progress is not None else None,
               leave=False)
    for function, dtype_name in bar:
        frame, counts = sweep_block(spec, function, dtype_name, cache)
        frames.append(frame)
        if counts:
            fp_warnings[f"{function.name}/{dtype_name}"] = counts
            log.debug("%s/%s: floating-point events %s", function.name, dtype_name, counts)
        if out is not None:
            # Finished blocks survive an interrupted sweep.
            write_parquet(frame, out / PARTS_DIR / f"{function.name}__{dtype_name}.parquet")
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
