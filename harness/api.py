"""The Python API: run a sweep from a config, regenerate a run's outputs.

Data flows one way::

    config -> SweepSpec -> blocks (function x number type x step scale x chunk):
        schemes evaluate -> references -> tidy rows -> per-curve analysis, models
    -> results.parquet, curves.parquet, model.parquet, noise.parquet -> summary, figures

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
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from .config import _plain, build_spec
from .curves import order_curves
from .progress import progress as progress_bar
from .refcache import ReferenceCache
from .rundir import RunDir, read_outputs, spec_fingerprint, write_derived
from .settings import SweepSpec
from .store import git_commit, package_versions, platform_info, read_meta, results_path, utc_now
from .sweep import announce_skips, plan, run_blocks
from .table import finalize

log = logging.getLogger(__name__)


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


def run_spec(
    spec: SweepSpec,
    *,
    out_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    cache: ReferenceCache | None = None,
    progress: bool | None = None,
    resume: bool = True,
) -> pd.DataFrame:
    """Run a validated sweep; optionally write results, metadata and figures.

    Parameters
    ----------
    spec : SweepSpec
    out_dir : path, optional
        Run directory. When given, the tables, ``summary.*``, ``meta.json``
        and ``figures/`` are written there (atomically).
    config : mapping, optional
        Resolved config stored in ``meta.json``.
    overrides : sequence of str
        Command-line overrides stored in ``meta.json``.
    cache : ReferenceCache, optional
        Shared reference cache (a fresh one by default).
    progress : bool, optional
        Show a progress bar; default: on a terminal, never in multirun jobs.
    resume : bool
        Reuse what an earlier run of the *same* sweep (same fingerprint)
        left in ``out_dir``: a complete ``results.parquet`` is returned as
        is, finished blocks under ``parts/`` are not recomputed.

    Returns
    -------
    DataFrame
        The tidy results table.
    """
    started, t0 = utc_now(), time.perf_counter()
    cache = cache or ReferenceCache(spec.reference.cache_dir)
    rundir = RunDir(out_dir, spec_fingerprint(spec)) if out_dir is not None else None
    announce_skips(spec)
    if rundir is not None:
        rundir.check()
    if rundir is not None and resume:
        done = rundir.completed()
        if done is not None:
            log.info("%s: already complete in %s (same sweep); redrawing figures only", spec.name, rundir.path)
            write_derived(*_derived_inputs(rundir.path, done, plot_settings(spec)))
            return done
        rundir.prepare_parts()
    blocks = plan(spec)
    load = rundir.read_part if rundir is not None and resume else None
    store = rundir.write_part if rundir is not None else None
    frames, models, curves, noise, scored, fp_warnings, reused = [], [], [], [], [], {}, 0
    for block, result, was_reused in progress_bar(run_blocks(spec, blocks, cache, load, store), desc=spec.name,
                                                  unit="block", show=progress):
        reused += was_reused
        if result.fp_counts:
            fp_warnings[block.key] = result.fp_counts
            log.debug("%s: floating-point events %s", block.key, result.fp_counts)
        frames.append(result.rows)
        models.append(result.models)
        curves.append(result.curves)
        if result.noise is not None:
            noise.append(result.noise)
        if result.scored is not None:
            scored.append(result.scored)
    if reused:
        log.info("%s: resumed, %d of %d blocks taken from %s", spec.name, reused, len(blocks), rundir.parts)
    table = finalize(frames)
    model_table = _concat(models)
    curve_table = order_curves(_concat(curves), table)
    log.info("references: %d computed, %d from cache (%d from disk)", cache.misses, cache.hits, cache.disk_hits)
    if rundir is None:
        return table
    statuses = table["status"].value_counts().to_dict() if len(table) else {}
    meta = {
        "experiment": spec.name,
        "description": spec.description,
        "fingerprint": rundir.fingerprint,
        "config": _plain(config) if config is not None else None,
        "overrides": list(overrides),
        "started": started,
        "finished": utc_now(),
        "seconds": round(time.perf_counter() - t0, 3),
        "rows": int(len(table)),
        "status_counts": {str(k): int(v) for k, v in statuses.items()},
        "floating_point_warnings": fp_warnings,
        "reference_cache": {"hits": cache.hits, "misses": cache.misses, "disk_hits": cache.disk_hits,
                            "directory": str(cache.directory) if cache.directory else None},
        **_user_functions(spec),
        "plot": plot_settings(spec),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform_info(),
    }
    rundir.finish(table, model_table, curve_table, meta, _concat(noise), _concat(scored))
    write_derived(table, rundir.path, meta["plot"], model_table, curve_table)
    log.info("%s: %d rows (%s) in %.2f s -> %s", spec.name, len(table),
             ", ".join(f"{k} {v}" for k, v in meta["status_counts"].items()), meta["seconds"], rundir.path)
    return table


def report(run_dir: str | Path, *, formats: Iterable[str] | None = None, workers: int | None = None) -> list[Path]:
    """Regenerate the summary, every figure and ``report.html`` of a run from its stored tables.

    Nothing is recomputed: the figures are drawn from ``results.parquet``,
    ``curves.parquet`` and ``model.parquet``; ``report.html`` (one
    self-contained page, :mod:`harness.report_html`) is written with them.

    Parameters
    ----------
    run_dir : path
        A run directory holding ``results.parquet`` (and ``meta.json``).
    formats : iterable of str, optional
        Override the formats stored in ``meta.json``.
    workers : int, optional
        Figure-drawing processes (0: choose); the files do not depend on it.

    Returns
    -------
    list of Path
        Figure files written.
    """
    run_dir = Path(run_dir)
    results_path(run_dir)  # fails before anything is written if this is no run directory
    plot = {**plot_settings(None), **(read_meta(run_dir).get("plot") or {}), "enabled": True}
    if formats is not None:
        plot["formats"] = list(formats)
    if workers is not None:
        plot["workers"] = int(workers)
    return write_derived(*_derived_inputs(run_dir, None, plot))


def plot_settings(spec: SweepSpec | None) -> dict[str, Any]:
    """The plot settings of a sweep as stored in ``meta.json`` (defaults without a spec)."""
    from .settings import PlotSettings

    p = spec.plot if spec is not None else PlotSettings()
    return {"enabled": p.enabled, "formats": list(p.formats), "max_figures": p.max_figures, "dpi": p.dpi,
            "workers": p.workers}


def _derived_inputs(run_dir: Path, table: pd.DataFrame | None, plot: Mapping[str, Any]) -> tuple:
    table, models, curves = read_outputs(run_dir, table)
    return table, run_dir, plot, models, curves


def _user_functions(spec: SweepSpec) -> dict[str, Any]:
    """``{"user_functions": {name: record}}`` for the sweep's Python functions (nothing for expressions only).

    A record (:meth:`harness.userfunc.UserFunction.record`) holds the target,
    its code hash, the reference path and every evaluation the callable made
    in this process: blocks taken from ``parts/`` when resuming cost none.
    """
    records = {f.name: rec for f in spec.functions if (rec := f.expression.record()) is not None}
    return {"user_functions": records} if records else {}


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    non_empty = [f for f in frames if len(f)]
    return pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
