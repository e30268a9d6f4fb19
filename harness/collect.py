"""Merge the jobs of a Hydra multirun into one tidy table.

``harness collect SWEEP_DIR`` reads every job's ``results.parquet``, adds the
job's name and its overrides as columns, and writes
``SWEEP_DIR/collected/`` (``results.parquet``, ``meta.json``,
``manifest.json``; the jobs' ``model.parquet``, ``curves.parquet`` and
``noise.parquet`` likewise merged, and the leaderboard of
:mod:`harness.leaderboard` across jobs). Jobs that are missing, failed or unreadable are named in
the manifest and the log; the others are collected anyway.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import ResultsError, RunDirError
from .leaderboard import SCORED_FILE, candidate_rows, write_leaderboard
from .store import (CURVES_FILE, META_FILE, MODEL_FILE, NOISE_FILE, RESULTS_FILE, read_meta, utc_now, write_json,
                    write_parquet)
from .table import finalize

log = logging.getLogger(__name__)

COLLECTED_DIR = "collected"
JOB_STATUSES = ("ok", "failed", "corrupt", "incomplete", "missing")


def _job_number(path: Path) -> tuple[int, str]:
    return (int(path.name), path.name) if path.name.isdigit() else (10**9, path.name)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job folders of a sweep: the subfolders Hydra gave a ``.hydra`` record."""
    return sorted((p.parent for p in sweep_dir.glob("*/.hydra") if p.parent.name != COLLECTED_DIR), key=_job_number)


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Override lists of every job the sweep asked for, from ``multirun.yaml`` (None if unknown).

    The basic sweeper's jobs are the cartesian product of the swept values, in
    the order the overrides were given; other sweepers (e.g. an optimiser's)
    cannot be expanded from the file, and then only the jobs present count.
    """
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        hydra_cfg = yaml.safe_load(path.read_text())["hydra"]
        sweeper = str((hydra_cfg.get("sweeper") or {}).get("_target_", ""))
        if sweeper and not sweeper.endswith("BasicSweeper"):
            return None
        parsed = OverridesParser.create().parse_overrides(overrides=list(hydra_cfg["overrides"]["task"]))
        axes = [[f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override()
                else [f"{o.get_key_element()}={o.get_value_element_as_str()}"] for o in parsed]
        return [list(job) for job in itertools.product(*axes)]
    except Exception as exc:  # noqa: BLE001 - an unreadable record: count what is there
        log.debug("cannot expand the sweep in %s: %s", path, exc)
        return None


def _overrides(job: Path) -> list[str]:
    """The job's overrides: as its finished run recorded them in meta.json, else Hydra's record.

    meta.json comes first: Hydra rewrites ``.hydra/`` before the harness can
    refuse a different sweep in a finished job folder, so there it may
    describe the refused sweep, not the rows.
    """
    try:
        recorded = read_meta(job).get("overrides")
    except ResultsError:
        recorded = None
    if isinstance(recorded, list):
        return [str(o) for o in recorded]
    path = job / ".hydra" / "overrides.yaml"
    try:
        return list(yaml.safe_load(path.read_text()) or [])
    except (OSError, yaml.YAMLError):
        return []


def _override_columns(overrides: list[str]) -> dict[str, str]:
    cols = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and not key.startswith("hydra."):
            cols[f"override.{key.lstrip('+~')}"] = value
    return cols


#: meta.json fields that are sums over the jobs of a sweep.
_SUMMED = ("seconds",)


def collected_meta(metas: dict[str, dict[str, Any]], table: pd.DataFrame) -> dict[str, Any]:
    """meta.json of a collected sweep: what its jobs share, sums and counts over all of them, the rest per job.

    ``rows`` and ``status_counts`` are counted on the merged table;
    ``seconds`` and the reference-cache counts are summed; ``started`` is the
    earliest, ``finished`` the latest; floating-point warnings are merged
    under ``job/block`` keys. A field the jobs do not share (``config``,
    ``overrides``, ``fingerprint``, ...) is left out of the top level and
    kept in ``per_job`` (``{field: {job: value}}``), never one job's value
    standing for all.

    Examples
    --------
    >>> t = pd.DataFrame({"status": pd.Categorical(["ok", "ok", "nonfinite"])})
    >>> m = collected_meta({"0": {"experiment": "e", "seconds": 1.5, "fingerprint": "a"},
    ...                     "1": {"experiment": "e", "seconds": 2.0, "fingerprint": "b"}}, t)
    >>> m["experiment"], m["seconds"], m["rows"], m["status_counts"], m["per_job"]["fingerprint"]
    ('e', 3.5, 3, {'ok': 2, 'nonfinite': 1}, {'0': 'a', '1': 'b'})
    """
    statuses = table["status"].astype(str).value_counts().to_dict() if len(table) else {}
    out: dict[str, Any] = {"jobs": list(metas), "rows": int(len(table)),
                           "status_counts": {str(k): int(v) for k, v in statuses.items()}}
    per_job: dict[str, dict[str, Any]] = {}
    keys = list(dict.fromkeys(k for m in metas.values() for k in m))
    for key in keys:
        if key in out:
            continue
        values = {job: m.get(key) for job, m in metas.items()}
        distinct = {repr(v) for v in values.values()}
        if len(distinct) == 1:
            out[key] = next(iter(values.values()))
        elif key in _SUMMED:
            out[key] = round(sum(float(v or 0) for v in values.values()), 3)
        elif key in ("started", "finished"):
            present = [v for v in values.values() if v]
            out[key] = (min if key == "started" else max)(present) if present else None
        elif key == "reference_cache":
            caches = [v for v in values.values() if isinstance(v, dict)]
            out[key] = {c: sum(int(x.get(c) or 0) for x in caches) for c in ("hits", "misses", "disk_hits")}
            dirs = {x.get("directory") for x in caches}
            out[key]["directory"] = dirs.pop() if len(dirs) == 1 else None
        elif key == "floating_point_warnings":
            out[key] = {f"{job}/{block}": w for job, v in values.items() if isinstance(v, dict)
                        for block, w in v.items()}
        else:
            per_job[key] = values
    out["per_job"] = per_job
    return out


def read_job(job: Path) -> tuple[str, pd.DataFrame | None, str]:
    """Status, table and a one-line reason for one job folder."""
    results = job / RESULTS_FILE
    if not results.is_file():
        error = job / "error.txt"
        if error.is_file():
            return "failed", None, error.read_text().strip().splitlines()[0]
        if (job / "parts").is_dir():
            return "incomplete", None, "interrupted: finished blocks in parts/, no results.parquet"
        return "failed", None, "no results.parquet (see the job's log)"
    try:
        table = pd.read_parquet(results, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not fatal
        return "corrupt", None, f"unreadable results.parquet: {exc}"
    try:
        rows = read_meta(job).get("rows")
    except ResultsError as exc:
        return "corrupt", None, str(exc)
    if rows is not None and rows != len(table):
        return "corrupt", None, f"results.parquet has {len(table)} rows, meta.json says {rows}"
    return "ok", table, ""


def collect(sweep_dir: str | Path, *, out_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Merge a multirun's job tables into one and write it with a manifest.

    Parameters
    ----------
    sweep_dir : path
        The multirun folder (holding ``multirun.yaml`` and one folder per job).
    out_dir : path, optional
        Where to write; default ``SWEEP_DIR/collected``.

    Returns
    -------
    (DataFrame, dict)
        The merged table (columns of the results schema plus ``job`` and
        ``override.<key>`` per swept key) and the manifest.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"no sweep folder {sweep_dir}")
    out = Path(out_dir) if out_dir is not None else sweep_dir / COLLECTED_DIR
    jobs = job_dirs(sweep_dir)
    if not jobs and not (sweep_dir / "multirun.yaml").is_file():
        hint = (" it is a single run: use `harness report` on it" if (sweep_dir / RESULTS_FILE).is_file()
                else " expected multirun.yaml and one folder per job (0/, 1/, ...)")
        raise RunDirError(f"{sweep_dir} is not a multirun sweep folder;{hint}; nothing was written")
    manifest_jobs: list[dict[str, Any]] = []
    frames, model_frames, curve_frames, noise_frames, scored_frames = [], [], [], [], []
    for job in jobs:
        status, table, reason = read_job(job)
        overrides = _overrides(job)
        manifest_jobs.append({"job": job.name, "status": status, "reason": reason, "overrides": overrides,
                              "rows": 0 if table is None else len(table)})
        if table is None:
            log.warning("job %s %s: %s", job.name, status, reason)
            continue
        extra = {"job": job.name, **_override_columns(overrides)}
        frames.append(table.assign(**extra))
        for name, frames_of in ((MODEL_FILE, model_frames), (CURVES_FILE, curve_frames), (NOISE_FILE, noise_frames),
                                (SCORED_FILE, scored_frames)):
            path = job / name
            if path.is_file():
                try:
                    frames_of.append(pd.read_parquet(path).assign(**extra))
                except Exception as exc:  # noqa: BLE001 - the summary then lacks this job's models / analysis
                    log.warning("job %s: unreadable %s (%s)", job.name, name, exc)
    expected = expected_jobs(sweep_dir)
    if expected is not None:
        present = {tuple(j["overrides"]) for j in manifest_jobs}
        for i, overrides in enumerate(expected):
            if tuple(overrides) not in present:
                manifest_jobs.append({"job": str(i), "status": "missing", "reason": "never started",
                                      "overrides": overrides, "rows": 0})
                log.warning("job %d missing: %s", i, " ".join(overrides))
    table = _merge(frames)
    counts = {s: sum(j["status"] == s for j in manifest_jobs) for s in JOB_STATUSES}
    manifest = {"sweep_dir": str(sweep_dir), "collected": utc_now(), "rows": len(table), "jobs": manifest_jobs,
                "counts": counts}
    ok_jobs = [j["job"] for j in manifest_jobs if j["status"] == "ok"]
    meta = collected_meta({job: read_meta(sweep_dir / job) for job in ok_jobs}, table)
    meta["collected_from"] = str(sweep_dir)
    write_parquet(table, out / RESULTS_FILE)
    if model_frames:
        write_parquet(pd.concat(model_frames, ignore_index=True), out / MODEL_FILE)
    if noise_frames:
        write_parquet(pd.concat(noise_frames, ignore_index=True), out / NOISE_FILE)
    if curve_frames and len(curve_frames) == len(frames):  # else report analyses the merged table afresh
        write_parquet(pd.concat(curve_frames, ignore_index=True), out / CURVES_FILE)
    write_json(meta, out / META_FILE)
    write_json(manifest, out / "manifest.json")
    # The same leaderboard as a run's, across jobs (number types stay apart, problem sets add up), from the
    # rows each job scored (jobs stored without them: from their table, here).
    models = pd.concat(model_frames, ignore_index=True) if model_frames else None
    if scored_frames and len(scored_frames) == len(frames):
        scored = pd.concat(scored_frames, ignore_index=True)
    else:
        scored = candidate_rows(table, models) if len(table) else pd.DataFrame()
    write_parquet(scored, out / SCORED_FILE)
    write_leaderboard(scored, out, title=f"collected from {sweep_dir.name}")
    log.info("collected %d rows from %d of %d jobs into %s (%s)", len(table), counts["ok"], len(manifest_jobs), out,
             ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return table, manifest


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate job tables; override columns a job lacks become missing values."""
    if not frames:
        return finalize([])
    extra = list(dict.fromkeys(c for f in frames for c in f.columns if c == "job" or c.startswith("override.")))
    base = finalize([f.drop(columns=[c for c in extra if c in f.columns]) for f in frames])
    for col in extra:
        values = pd.concat([f[col] if col in f.columns else pd.Series([None] * len(f), dtype=object)
                            for f in frames], ignore_index=True)
        base[col] = values.astype("category")
    return base
