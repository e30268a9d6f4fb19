"""The run directory: fingerprint, finished parts, resume, metadata and derived outputs.

A run directory holds ``results.parquet`` (the tidy table), ``model.parquet``
(the predicted models), ``curves.parquet`` (the per-curve analysis),
``noise.parquet`` (ECnoise per function, point and number type),
``meta.json`` (provenance), the summary tables, the leaderboard
(:mod:`harness.leaderboard`) and ``figures/``. While a
sweep runs, each finished block is stored under ``parts/``; an interrupted
run keeps those, and a rerun of the *same* sweep (same fingerprint) reuses
them. Every file is renamed into place (:mod:`harness.store`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from .analysis import summarize_curves, summary_markdown
from .curves import analyse_table
from .errors import RunDirError
from .format_summary import grid_bounds, write_format_summary
from .leaderboard import SCORED_FILE, candidate_rows, write_leaderboard
from .noise import as_mapping
from .refcache import ALGORITHM_VERSION
from .report_html import RowDigest, write_report
from .store import (CURVES_FILE, META_FILE, MODEL_FILE, NOISE_FILE, PARTS_DIR, RESULTS_FILE, atomic_path,
                    package_versions, read_meta, read_results, read_table, remove_stale_temporaries, write_json,
                    write_parquet)
from .sweep import BlockPlan, BlockResult

log = logging.getLogger(__name__)


def spec_fingerprint(spec: Any) -> str:
    """SHA-256 of everything that determines the stored tables of a sweep.

    Functions (with their declared noise; a Python function by its target and the hash of its code and of
    its reference callables' code), points, schemes, grid, number types, step conventions,
    reference and model settings, the reference algorithm's version, the
    experiment name and the package version; not the plot settings (figures
    are always redrawn from the tables), the reference cache folder nor the
    memory budget (chunking changes no row).
    """
    payload = {
        # reference_key[0]: an expression's text; a Python function's target, code hash and reference callables
        "functions": [(f.name, f.expression.reference_key[0], [[float(v).hex() for v in row] for row in f.points])
                      + ((as_mapping(f.noise),) if f.noise is not None else ()) for f in spec.functions],
        "schemes": [repr(s) for s in spec.schemes],
        "hs": [float(h).hex() for h in spec.hs],
        "dtypes": list(spec.dtypes),
        "step": spec.step,
        "step_scales": list(spec.step_scales),
        "reference": [spec.reference.dps, spec.reference.min_digits, ALGORITHM_VERSION],
        "model": dataclasses.asdict(spec.model),
        "name": spec.name,
        "version": package_versions().get("numdiff-harness"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_optional(path: Path) -> pd.DataFrame | None:
    return read_table(path) if path.is_file() else None


def _stored_fingerprint(path: Path) -> str | None:
    try:
        return read_meta(path).get("fingerprint")
    except (OSError, ValueError):
        return None


class RunDir:
    """One run directory of one sweep (identified by its fingerprint)."""

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint

    @property
    def parts(self) -> Path:
        return self.path / PARTS_DIR

    # -- resume -------------------------------------------------------------------
    def check(self) -> None:
        """Refuse a folder that cannot take this sweep: a file, or another sweep's finished results.

        A finished run is never silently replaced by a different sweep, nor
        mixed with one (old figures beside a new table).
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"run folder {self.path} is a file, not a folder; choose another out_dir "
                              "(hydra.run.dir=... on the command line)")
        if (self.path / RESULTS_FILE).exists():
            theirs = _stored_fingerprint(self.path)
            if theirs is None and self._parts_fingerprint() == self.fingerprint:
                return  # killed while writing its final files (meta.json goes last): resume from parts/
            if theirs != self.fingerprint:
                raise RunDirError(
                    f"run folder {self.path} holds the finished results of a different sweep (fingerprint "
                    f"{(theirs or 'unknown')[:12]}, this sweep {self.fingerprint[:12]}); start fresh in another "
                    "folder (hydra.run.dir=... or out_dir=...) or delete it first")
        theirs = self._parts_fingerprint()
        done = sum(p.with_name(p.name[:-len(".fp.json")] + ".parquet").is_file()
                   for p in self.parts.glob("*.fp.json")) if self.parts.is_dir() else 0
        if theirs is not None and theirs != self.fingerprint and done:
            # An interrupted sweep's finished blocks are work a user may want back: never discard them unasked.
            blocks = f"{done} finished block{'s' * (done != 1)}"
            raise RunDirError(
                f"run folder {self.path} holds {blocks} of a different, interrupted sweep (fingerprint "
                f"{theirs[:12]}, this sweep {self.fingerprint[:12]}); rerun that sweep to finish it, start this one "
                f"in another folder (hydra.run.dir=... or out_dir=...), or delete {self.parts} first")

    def _parts_fingerprint(self) -> str | None:
        stamp = self.parts / "fingerprint.txt"
        try:
            return stamp.read_text().strip() if stamp.is_file() else None
        except OSError:
            return None

    def completed(self) -> pd.DataFrame | None:
        """The stored table of a finished run of the same sweep, else None."""
        if _stored_fingerprint(self.path) != self.fingerprint:
            return None
        try:
            return read_results(self.path)
        except (OSError, ValueError):
            return None

    def prepare_parts(self) -> None:
        """Parts folder for this sweep; stale temporaries, and parts of another sweep without a finished block, go.

        (:meth:`check` has refused a folder with another sweep's finished blocks.)
        """
        stamp = self.parts / "fingerprint.txt"
        if self.parts.exists() and (not stamp.is_file() or stamp.read_text().strip() != self.fingerprint):
            shutil.rmtree(self.parts)
        self.parts.mkdir(parents=True, exist_ok=True)
        # Temporaries a killed writer left (never read: no final name) go, here and in the run folder.
        remove_stale_temporaries(self.parts)
        remove_stale_temporaries(self.path)
        if not stamp.is_file():
            with atomic_path(stamp) as tmp:
                tmp.write_text(self.fingerprint + "\n")

    def _part(self, block: BlockPlan, what: str = "") -> Path:
        return self.parts / f"{block.key}{what}.parquet"

    #: BlockResult fields stored beside a block's rows under parts/ (file suffix); None is stored as an empty table.
    SIDE_TABLES = {"models": ".model", "curves": ".curves", "noise": ".noise", "scored": ".scored"}

    def read_part(self, block: BlockPlan) -> BlockResult | None:
        """A finished block, or None if absent or unreadable (then it is recomputed)."""
        rows = self._part(block)
        others = {field: self._part(block, suffix) for field, suffix in self.SIDE_TABLES.items()}
        if not rows.is_file() or not all(p.is_file() for p in others.values()):
            return None
        fp_path = rows.with_suffix(".fp.json")
        try:
            counts = json.loads(fp_path.read_text()) if fp_path.is_file() else {}
            side = {field: pd.read_parquet(path) for field, path in others.items()}
            side = {field: (t if len(t.columns) or field in ("models", "curves") else None) for field, t in side.items()}
            return BlockResult(pd.read_parquet(rows), fp_counts=counts, **side)
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) on a damaged file
            log.warning("recomputing %s: unreadable part (%s)", rows.name, exc)
            return None

    def write_part(self, block: BlockPlan, result: BlockResult) -> None:
        """Store a finished block; it counts as done once its rows exist, so they go last."""
        for field, suffix in self.SIDE_TABLES.items():
            table = getattr(result, field)
            write_parquet(table if table is not None else pd.DataFrame(), self._part(block, suffix))
        write_json(result.fp_counts, self._part(block).with_suffix(".fp.json"))
        write_parquet(result.rows, self._part(block))

    # -- finish -------------------------------------------------------------------
    def finish(self, table: pd.DataFrame, models: pd.DataFrame, curves: pd.DataFrame, meta: Mapping[str, Any],
               noise: pd.DataFrame | None = None, scored: pd.DataFrame | None = None) -> None:
        """Write the final tables and metadata, then drop the parts."""
        write_parquet(table, self.path / RESULTS_FILE)
        write_parquet(models, self.path / MODEL_FILE)
        write_parquet(curves, self.path / CURVES_FILE)
        if noise is not None:
            write_parquet(noise, self.path / NOISE_FILE)
        if scored is not None:
            write_parquet(scored, self.path / SCORED_FILE)
        write_json(dict(meta), self.path / META_FILE)
        shutil.rmtree(self.parts, ignore_errors=True)


def read_outputs(run_dir: Path, table: pd.DataFrame | None = None
                 ) -> tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame]:
    """The stored models and per-curve analysis of a run, and its table if it had to be read.

    The table is read only for runs stored without ``curves.parquet`` (their
    curves are analysed afresh); otherwise figures read just their rows.
    """
    models = _read_optional(run_dir / MODEL_FILE)
    curves = _read_optional(run_dir / CURVES_FILE)
    if curves is None:
        table = read_results(run_dir) if table is None else table
        curves = analyse_table(table)[1]
    return table, models, curves


def write_derived(table: pd.DataFrame | None, out: Path, plot: Mapping[str, Any], models: pd.DataFrame | None,
                  curves: pd.DataFrame) -> list[Path]:
    """Summary tables, figures and report.html: everything rebuilt from the stored tables, nothing refitted.

    ``table`` None: the figures and the report read only the rows they
    show from ``out/results.parquet``. report.html is written last (with
    plotting disabled, without figures).
    """
    summary = summarize_curves(curves, models)
    write_parquet(summary, out / "summary.parquet")
    with atomic_path(out / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False, float_format="%.6g")
    title = str(read_meta(out).get("experiment", out.name))
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(summary_markdown(summary, title=title))
    by_type = write_format_summary(summary, out, grid=_grid(out, table, summary), title=title)  # two or more types
    board = _leaderboard(table, models, out, title)
    figures: list[Path] = []
    if plot.get("enabled", True):
        from .figure_jobs import write_figures  # matplotlib only when figures are drawn
        from .format_figure import format_job
        from .leaderboard_figure import leaderboard_job

        from .plot_style import scheme_styles, table_schemes

        styles = scheme_styles(table_schemes(summary)) if len(summary) else {}
        run_figures = [j for j in (leaderboard_job(board, title=title, styles=styles),
                                   format_job(by_type) if len(by_type) else None) if j is not None]
        figures = write_figures(table, out, formats=plot["formats"], max_figures=plot["max_figures"],
                                dpi=plot["dpi"], models=models, summary=summary, workers=plot.get("workers", 0),
                                run_figures=run_figures)
    rows = RowDigest.of_table(table) if table is not None else RowDigest.of_run(out)
    write_report(out, summary, rows, figures=bool(plot.get("enabled", True)))
    return figures


def _leaderboard(table: pd.DataFrame | None, models: pd.DataFrame | None, out: Path, title: str) -> pd.DataFrame:
    """Write the run's leaderboard from the rows it scores (``scored.parquet``, stored per block by the sweep).

    A run stored without them (written before they were) has them taken from its table now.
    """
    scored_path = out / SCORED_FILE
    if scored_path.is_file():
        scored = read_table(scored_path)
    else:
        scored = candidate_rows(read_results(out) if table is None else table, models)
    return write_leaderboard(scored, out, title=title)[0]


def _grid(out: Path, table: pd.DataFrame | None, summary: pd.DataFrame) -> tuple[float, float] | None:
    """The sweep's smallest and largest step, for the formats summary (read only when it is written)."""
    if "dtype" not in summary.columns or summary["dtype"].nunique() < 2:
        return None
    return grid_bounds(table if table is not None else pd.read_parquet(out / RESULTS_FILE, columns=["h"]))
