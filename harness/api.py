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

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .analysis import summarize, summary_markdown
from .config import DTYPES, FunctionSpec, ReferenceSettings, SweepSpec, _plain, build_spec
from .evaluate import FloatingPointCounter, complex_dtype, evaluate_schemes
from .figures import write_figures
from .model import model_fields, next_truncation_order, scheme_model, table_regimes, taylor_derivatives
from .reference import ReferenceCache
from .schemes import ComplexStepScheme, MixedScheme, StencilScheme
from .store import (PARTS_DIR, atomic_path, git_commit, package_versions, platform_info, read_meta, read_results,
                    utc_now, write_json, write_parquet)
from .store import META_FILE, MODEL_FILE, RESULTS_FILE
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
    # A bar only for long reference runs, only on a terminal and never in multirun jobs.
    quiet = n * k < 500 or _in_multirun()
    for p in tqdm(range(n), desc=f"references {function.name}", unit="point", leave=False,
                  disable=True if quiet else None):
        for j, multi in enumerate(orders):
            ref = cache.get(function.expression.text, function.expression.mpmath, tuple(points[p]), multi,
                            dps=settings.dps, min_digits=settings.min_digits)
            out["hi"][p, j] = ref.hi
            out["lo"][p, j] = ref.lo if np.isfinite(ref.lo) else 0.0
            out["digits"][p, j] = ref.digits
            out["status"][p, j] = ref.status
    return out


def _usable(schemes: Sequence[Any], dtype_name: str, dim: int, first_scale: bool) -> list[Any]:
    """Schemes that exist for this number type and dimension (:func:`_announce_skips` says why not)."""
    keep = []
    for s in schemes:
        if isinstance(s, ComplexStepScheme) and complex_dtype(DTYPES[dtype_name]) is None:
            continue  # float16 has no complex counterpart
        if isinstance(s, MixedScheme) and dim < 2:
            continue  # mixed partials need two coordinates
        if getattr(s, "kind", "") in ("baseline", "selector") and not first_scale:
            continue  # they choose or scale their own steps: run them once, not per step scale
        if getattr(s, "kind", "") == "baseline" and not _baselines().available(s.library):
            continue
        keep.append(s)
    return keep


def _announce_skips(spec: SweepSpec) -> None:
    """One log line per reason a scheme is skipped somewhere in the sweep."""
    missing: dict[str, list[str]] = {}
    for s in spec.schemes:
        if getattr(s, "kind", "") == "baseline" and not _baselines().available(s.library):
            missing.setdefault(s.library, []).append(s.name)
    for library, names in missing.items():
        log.warning("skipping %s: %s is not installed (pip install 'numdiff-harness[baselines]')",
                    ", ".join(names), library)
    no_complex = [d for d in spec.dtypes if complex_dtype(DTYPES[d]) is None]
    complex_schemes = [s.name for s in spec.schemes if isinstance(s, ComplexStepScheme)]
    if no_complex and complex_schemes:
        log.info("%s has no complex type: %s skipped there", ", ".join(no_complex), ", ".join(complex_schemes))


#: Bytes one tidy row costs in memory (about 25 columns), used to size chunks.
ROW_BYTES = 220


def chunk_bounds(spec: SweepSpec, function: FunctionSpec, dtype_name: str) -> list[tuple[int, int]]:
    """Split a function's points so one chunk stays within ``spec.memory_mb``.

    The estimate counts the broadcast sample arrays (offsets x h x dim^2
    coordinates, the mixed-partial product stencil) and the tidy rows each
    point produces; it is deliberately rough and errs on the large side.
    """
    n_h, dim = len(spec.hs), function.dim
    item = DTYPES[dtype_name].itemsize
    offsets = {o for s in spec.schemes if isinstance(s, StencilScheme) for o in s.stencil.offsets}
    per_point = len(offsets) * n_h * dim * (dim + 3) * item
    pairs = dim * (dim - 1) // 2
    for s in spec.schemes:
        if isinstance(s, MixedScheme):
            per_point += s.stencil.n_points**2 * n_h * pairs * (dim + 2) * item
        if isinstance(s, ComplexStepScheme):
            per_point += n_h * dim * (dim + 2) * 2 * item
    rows_per_point = sum(n_h * (pairs if isinstance(s, MixedScheme) else dim) for s in spec.schemes)
    per_point += rows_per_point * ROW_BYTES
    size = max(1, int(spec.memory_mb * 2**20 // max(per_point, 1)))
    n = len(function.points)
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def sweep_block(
    spec: SweepSpec,
    function: FunctionSpec,
    dtype_name: str,
    cache: ReferenceCache,
    step_scale: str = "absolute",
    points: tuple[int, int] | None = None,
) -> Block:
    """All rows of one function in one number type and step scale.

    Parameters
    ----------
    points : (start, stop), optional
        Only this slice of the function's points (a chunk).

    Returns
    -------
    Block
        The rows (with regimes), the error models of its curves and the
        floating-point warnings counted while evaluating.
    """
    dtype = DTYPES[dtype_name]
    start, stop = points if points is not None else (0, len(function.points))
    points = function.points[start:stop].astype(dtype)
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
            point_offset=start,
        ))
    table = finalize(frames)
    table["regime"] = table_regimes(table)
    models = model_rows(spec, function, points, schemes, dtype_name, step_scale, start)
    return Block(table, models, dict(counter.counts))


class Block(NamedTuple):
    """What one (function, number type, step scale, chunk) produces."""

    rows: pd.DataFrame
    models: pd.DataFrame
    fp_counts: dict[str, int]


def model_rows(
    spec: SweepSpec,
    function: FunctionSpec,
    points: np.ndarray,
    schemes: Sequence[Any],
    dtype_name: str,
    step_scale: str,
    point_offset: int,
) -> pd.DataFrame:
    """The error model (predicted h*, minimal error, constants) of every modelled curve.

    Higher derivatives f^(n) come from :func:`taylor_derivatives` (one
    mpmath call per point and coordinate, shared by all schemes); a
    derivative that cannot be computed makes the model 'undefined', never a
    number.
    """
    settings = spec.model
    modelled = [s for s in schemes if isinstance(s, (StencilScheme, ComplexStepScheme))]
    if not settings.enabled or not modelled:
        return pd.DataFrame()
    top = max(_model_orders(s) for s in modelled)
    rows = []
    for p in range(points.shape[0]):
        floats = [float(v) for v in points[p]]
        for j in range(function.dim):
            derivs = taylor_derivatives(function.expression.mpmath, floats, j, top, settings.dps)
            if spec.step == "nominal":
                # A nominal step is rounded where x + o h is formed: f then sees an extra
                # error of about u |x f'(x)| per sample, on top of the rounding of f itself.
                # Both scale with eps_f, so the model counts |f| + |x f'| as the magnitude.
                derivs = [abs(derivs[0]) + abs(floats[j] * derivs[1]), *derivs[1:]]
            h_scale = max(1.0, abs(floats[j])) if step_scale == "relative" else 1.0
            for s in modelled:
                m = scheme_model(s, function.expression.mpmath, floats, j, DTYPES[dtype_name],
                                 eps_factor=settings.eps_factor, noise=settings.noise,
                                 derivatives=derivs.__getitem__)
                rows.append({
                    "function": function.name, "point_index": point_offset + p, "component": j, "component2": -1,
                    "derivative_order": s.derivative, "scheme": s.name, "dtype": dtype_name,
                    "step_scale": step_scale, **model_fields(m), "h_scale": h_scale,
                    "predicted_h_star": m.h_star / h_scale, "predicted_min_error": m.min_error,
                })
    return pd.DataFrame(rows)


def _model_orders(scheme: Any) -> int:
    """Highest derivative order the model of a scheme asks for (with its next term)."""
    if isinstance(scheme, ComplexStepScheme):
        return 5
    st = scheme.stencil
    return max(st.derivative + st.accuracy, next_truncation_order(st))


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
        Run directory. When given, ``results.parquet``, ``summary.csv``,
        ``meta.json`` and ``figures/`` are written there (atomically).
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
    out = Path(out_dir) if out_dir is not None else None
    fingerprint = spec_fingerprint(spec)
    _announce_skips(spec)
    if out is not None and resume:
        done = _completed(out, fingerprint)
        if done is not None:
            log.info("%s: already complete in %s (same sweep); redrawing figures only", spec.name, out)
            _write_derived(done, out, _plot_settings(spec), _read_models(out))
            return done
        _prepare_parts(out, fingerprint)
    blocks = [(f, d, sc, chunk) for f in spec.functions for d in spec.dtypes for sc in spec.step_scales
              for chunk in chunk_bounds(spec, f, d)]
    frames, model_frames, fp_warnings, reused = [], [], {}, 0
    if progress is None:
        progress = not _in_multirun()
    bar = tqdm(blocks, desc=spec.name, unit="block", disable=None if progress else True, leave=False)
    for function, dtype_name, scale, (a, b) in bar:
        block = f"{function.name}__{dtype_name}__{scale}__{a}-{b}"
        part = out / PARTS_DIR / f"{block}.parquet" if out is not None else None
        done = _read_part(part) if part is not None and resume else None
        if done is not None:
            reused += 1
        else:
            done = sweep_block(spec, function, dtype_name, cache, scale, (a, b))
            if part is not None:
                # Finished blocks survive an interrupted sweep; a rerun picks them up.
                # The model part goes first: a block counts as done when its rows exist.
                write_parquet(done.models, part.with_suffix(".model.parquet"))
                write_json(done.fp_counts, part.with_suffix(".fp.json"))
                write_parquet(done.rows, part)
        if done.fp_counts:
            fp_warnings[block] = done.fp_counts
            log.debug("%s: floating-point events %s", block, done.fp_counts)
        frames.append(done.rows)
        model_frames.append(done.models)
    if reused:
        log.info("%s: resumed, %d of %d blocks taken from %s", spec.name, reused, len(blocks), out / PARTS_DIR)
    table = finalize(frames)
    non_empty = [m for m in model_frames if len(m)]
    models = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()
    log.info("references: %d computed, %d from cache (%d from disk)", cache.misses, cache.hits, cache.disk_hits)
    if out is None:
        return table

    statuses = table["status"].value_counts().to_dict() if len(table) else {}
    meta = {
        "experiment": spec.name,
        "description": spec.description,
        "fingerprint": fingerprint,
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
        "plot": _plot_settings(spec),
        "versions": package_versions(),
        "git_commit": git_commit(),
        "platform": platform_info(),
    }
    write_parquet(table, out / RESULTS_FILE)
    write_parquet(models, out / MODEL_FILE)
    write_json(meta, out / META_FILE)
    shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
    _write_derived(table, out, meta["plot"], models)
    log.info("%s: %d rows (%s) in %.2f s -> %s", spec.name, len(table),
             ", ".join(f"{k} {v}" for k, v in meta["status_counts"].items()), meta["seconds"], out)
    return table


def _plot_settings(spec: SweepSpec) -> dict[str, Any]:
    return {"enabled": spec.plot.enabled, "formats": list(spec.plot.formats), "max_figures": spec.plot.max_figures,
            "dpi": spec.plot.dpi}


def spec_fingerprint(spec: SweepSpec) -> str:
    """SHA-256 of everything that determines the stored tables of a sweep.

    Functions, points, schemes, grid, number types, step conventions,
    reference and model settings, the experiment name and the package
    version; not the plot settings (figures are always redrawn from the
    tables) nor the memory budget (chunking changes no row).
    """
    payload = {
        "functions": [(f.name, f.expression.text, [[float(v).hex() for v in row] for row in f.points])
                      for f in spec.functions],
        "schemes": [repr(s) for s in spec.schemes],
        "hs": [float(h).hex() for h in spec.hs],
        "dtypes": list(spec.dtypes),
        "step": spec.step,
        "step_scales": list(spec.step_scales),
        "reference": [spec.reference.dps, spec.reference.min_digits],
        "model": dataclasses.asdict(spec.model),
        "name": spec.name,
        "version": package_versions().get("numdiff-harness"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_models(run_dir: Path) -> pd.DataFrame | None:
    """``model.parquet`` of a run, or None for runs stored without one."""
    path = run_dir / MODEL_FILE
    return pd.read_parquet(path) if path.is_file() else None


def _completed(out: Path, fingerprint: str) -> pd.DataFrame | None:
    """The stored table of a finished run of the same sweep, else None."""
    if read_meta(out).get("fingerprint") != fingerprint:
        return None
    try:
        return read_results(out)
    except (OSError, ValueError):
        return None


def _prepare_parts(out: Path, fingerprint: str) -> Path:
    """Parts folder for this sweep; parts of a different sweep are discarded."""
    parts = out / PARTS_DIR
    stamp = parts / "fingerprint.txt"
    if parts.exists() and (not stamp.is_file() or stamp.read_text().strip() != fingerprint):
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    for stale in parts.glob(".*.tmp"):  # left by a killed writer; never read as a part
        stale.unlink(missing_ok=True)
    if not stamp.is_file():
        with atomic_path(stamp) as tmp:
            tmp.write_text(fingerprint + "\n")
    return parts


def _read_part(path: Path) -> Block | None:
    """A finished block, or None if absent or unreadable (then it is recomputed)."""
    model_path = path.with_suffix(".model.parquet")
    if not path.is_file() or not model_path.is_file():
        return None
    fp_path = path.with_suffix(".fp.json")
    try:
        counts = json.loads(fp_path.read_text()) if fp_path.is_file() else {}
        return Block(pd.read_parquet(path, engine="pyarrow"), pd.read_parquet(model_path, engine="pyarrow"), counts)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a damaged file
        log.warning("recomputing %s: unreadable part (%s)", path.name, exc)
        return None


def _in_multirun() -> bool:
    """True inside a Hydra multirun job (progress bars would interleave)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:  # noqa: BLE001 - no Hydra context at all
        return False


def _write_derived(table: pd.DataFrame, out: Path, plot: Mapping[str, Any],
                   models: pd.DataFrame | None = None) -> list[Path]:
    """Summary tables and figures: everything rebuilt from the stored tables."""
    summary = summarize(table, models)
    write_parquet(summary, out / "summary.parquet")
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(summary_markdown(summary, title=str(read_meta(out).get("experiment", out.name))))
    if not plot.get("enabled", True):
        return []
    return write_figures(table, out, formats=plot.get("formats", ("svg", "png")),
                         max_figures=plot.get("max_figures", 60), dpi=plot.get("dpi", 120), models=models,
                         summary=summary)


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
    return _write_derived(table, run_dir, plot, _read_models(run_dir))
