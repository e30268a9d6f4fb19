"""Which figures a run gets, and drawing them (in parallel when it pays).

Every figure is one :class:`FigureJob`: an error-vs-h figure per (function,
point, component, derivative order) and a comparison figure per (function,
derivative order), named by :mod:`harness.figure_names`. Jobs are independent, so they are drawn in worker
processes when there are several and cores to spare; each figure is drawn
alone with the same settings, so the files are byte-identical however many
workers draw them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from .figure_names import FIGURE_KEY, comparison_figure_name, error_figure_name, figure_stems, table_functions
from .figures import draw_comparison_figure, draw_error_figure
from .settings import PlotSettings
from .plot_style import RC, Style, save_figure, scheme_styles, table_schemes
from .curves import analyse_table
from .progress import in_multirun
from .store import FIGURES_DIR, read_results

log = logging.getLogger(__name__)

#: Below this many figures one process draws them all (a worker's start costs more than it saves).
MIN_PARALLEL = 4
#: Without ``fork`` a worker imports the harness afresh (about 1 s): worth it only for many figures.
MIN_SPAWN = 24


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: what (``error``, ``comparison`` or ``run``), its file stem and its data.

    A ``run`` job is a figure of the whole run (the leaderboard, the number
    formats): ``draw(rows, dpi=..., **options)`` makes it.
    """

    kind: str
    stem: str
    rows: pd.DataFrame  # the cell's results rows, the function's summary rows, or a run-wide table
    styles: Mapping[str, Style] = field(default_factory=dict)
    models: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    function: str = ""
    derivative_order: int = 1
    draw: Callable[..., Figure] | None = None  # module level, so spawned workers can unpickle it
    options: Mapping[str, Any] = field(default_factory=dict)


def figure_cells(summary: pd.DataFrame, max_figures: int) -> pd.DataFrame:
    """The (function, point, component, ...) cells that get an error figure, in run order.

    Read from the per-curve analysis (in table order: functions as the run
    listed them, then point, component, ...), so a report of a stored run
    picks the same cells as the run did without reading the whole table.
    """
    cells = summary[FIGURE_KEY].drop_duplicates().reset_index(drop=True)
    if len(cells) > max_figures:
        log.info("plotting %d of %d (function, point, component) figures (plot.max_figures=%d)",
                 max_figures, len(cells), max_figures)
    return cells.iloc[:max_figures].astype({"function": str})


def plan_figures(table: pd.DataFrame, *, max_figures: int = PlotSettings.max_figures, models: pd.DataFrame | None = None,
                 summary: pd.DataFrame | None = None) -> list[FigureJob]:
    """Every figure of a results table: error figures (at most ``max_figures``), then comparisons.

    Parameters
    ----------
    table : DataFrame
        Tidy results; rows of cells beyond the first ``max_figures`` may be
        left out (see :func:`figure_cells`).
    max_figures : int
        At most this many error figures, in run order; the rest are
        skipped with one log line.
    models : DataFrame, optional
        ``model.parquet``: model curves and predicted h* on the figures.
    summary : DataFrame, optional
        The per-curve summary (or ``curves.parquet``): h* and fits of the
        error figures, and one comparison figure per function and derivative
        order. Analysed from ``table`` when not given (then without
        comparison figures).
    """
    comparisons = summary is not None and len(summary) > 0
    if summary is None:
        summary = analyse_table(table)[1]
    # Styles and stems from the curves of the whole run (the table may hold only the drawn cells).
    styles = scheme_styles(table_schemes(summary))
    stems = figure_stems(table_functions(summary))
    cells = figure_cells(summary, max_figures)
    keys = list(cells.itertuples(index=False, name=None))
    models_by, curves_by, rows = (_by_cell(frame, cells, set(keys)) for frame in (models, summary, table))
    jobs = [FigureJob("error", error_figure_name(stems, *key), rows[key], styles, models_by.get(key),
                      curves_by.get(key)) for key in keys if key in rows]
    if comparisons:
        for (function, order), part in summary.groupby(["function", "derivative_order"], observed=True, sort=False):
            jobs.append(FigureJob("comparison", comparison_figure_name(stems, str(function), int(order)), part,
                                  styles, function=str(function), derivative_order=int(order)))
    return jobs


def _by_cell(frame: pd.DataFrame | None, cells: pd.DataFrame, wanted: set[tuple]) -> dict[tuple, pd.DataFrame]:
    """The frame's rows of each wanted FIGURE_KEY cell (function as str).

    A cheap pre-filter on function and point first: the frame may be a huge
    table, and only the drawn cells are grouped.
    """
    if frame is None or not len(frame):
        return {}
    near = frame[frame["function"].isin(set(cells["function"])) & frame["point_index"].isin(set(cells["point_index"]))]
    out = {(str(k[0]), *k[1:]): g for k, g in near.groupby(FIGURE_KEY, observed=True, sort=False)}
    return {k: g for k, g in out.items() if k in wanted}


def draw_job(job: FigureJob, fig_dir: Path, formats: Sequence[str], dpi: int) -> list[Path]:
    """Draw one figure and save it in every format."""
    with matplotlib.rc_context(RC):
        if job.draw is not None:
            fig = job.draw(job.rows, dpi=dpi, **job.options)
        elif job.kind == "error":
            fig = draw_error_figure(job.rows, dpi=dpi, models=job.models, analysis=job.curves, styles=job.styles)
        else:
            fig = draw_comparison_figure(job.rows, job.function, derivative_order=job.derivative_order, dpi=dpi,
                                         styles=job.styles)
        return save_figure(fig, fig_dir / job.stem, formats)


def figure_workers(setting: int, n_jobs: int) -> tuple[int, str]:
    """How many processes draw ``n_jobs`` figures, and how they start (``fork``, ``spawn`` or ``serial``).

    ``setting`` is ``plot.workers`` (0: choose). Forking is used only from
    a single-threaded process (forking a threaded one can deadlock);
    otherwise workers are spawned, which costs an import, so only for many
    figures.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    wanted = setting or (1 if in_multirun() else cores)
    workers = min(wanted, n_jobs // 2)
    if workers < 2 or n_jobs < MIN_PARALLEL:
        return 1, "serial"
    if "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        return workers, "fork"
    return (workers, "spawn") if n_jobs >= MIN_SPAWN or setting else (1, "serial")


# Jobs handed to forked workers by inheritance (nothing pickled); set only while a pool runs.
_PENDING: tuple[list[FigureJob], Path, Sequence[str], int] | None = None


def _draw_inherited(indices: list[int]) -> list[Path]:
    assert _PENDING is not None
    jobs, fig_dir, formats, dpi = _PENDING
    return [p for i in indices for p in draw_job(jobs[i], fig_dir, formats, dpi)]


def _draw_given(jobs: list[FigureJob], fig_dir: Path, formats: Sequence[str], dpi: int) -> list[Path]:
    matplotlib.use("Agg")
    return [p for job in jobs for p in draw_job(job, fig_dir, formats, dpi)]


def draw_figures(jobs: list[FigureJob], fig_dir: str | Path, *, formats: Sequence[str] = ("svg", "png"),
                 dpi: int = PlotSettings.dpi, workers: int = 0) -> list[Path]:
    """Draw every job into ``fig_dir``; in worker processes when :func:`figure_workers` says so.

    Returns the files written, in job order.
    """
    global _PENDING
    fig_dir = Path(fig_dir)
    n, method = figure_workers(workers, len(jobs))
    t0 = time.perf_counter()
    if method == "serial":
        paths = [p for job in jobs for p in draw_job(job, fig_dir, formats, dpi)]
    else:
        # Interleaved shares balance the work: neighbouring figures cost about the same.
        shares = [list(range(i, len(jobs), n)) for i in range(n)]
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(n, mp_context=context) as pool:
            if method == "fork":
                _PENDING = (jobs, fig_dir, formats, dpi)
                try:
                    done = list(pool.map(_draw_inherited, shares))
                finally:
                    _PENDING = None
            else:
                done = list(pool.map(_draw_given, [[jobs[i] for i in s] for s in shares],
                                     [fig_dir] * n, [formats] * n, [dpi] * n))
        by_job: dict[int, list[Path]] = {}
        per_job = len(formats)
        for share, files in zip(shares, done):
            for k, i in enumerate(share):
                by_job[i] = files[k * per_job:(k + 1) * per_job]
        paths = [p for i in range(len(jobs)) for p in by_job[i]]
    seconds = time.perf_counter() - t0
    log.debug("drew %d figures in %.2f s (%s, %d worker%s)", len(jobs), seconds, method, n, "s" * (n > 1))
    return paths


def write_figures(
    table: pd.DataFrame | None,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("svg", "png"),
    max_figures: int = PlotSettings.max_figures,
    dpi: int = PlotSettings.dpi,
    models: pd.DataFrame | None = None,
    summary: pd.DataFrame | None = None,
    workers: int = 0,
    run_figures: Sequence[FigureJob] = (),
) -> list[Path]:
    """Write every error-vs-h figure of a results table, and the comparisons per function.

    Parameters
    ----------
    table : DataFrame or None
        Tidy results; None reads from ``out_dir/results.parquet`` only the
        rows of the figures drawn (needs ``summary``).
    out_dir : path
        Run directory; figures go to ``out_dir/figures``.
    formats : sequence of {'svg', 'png', 'pdf'}
    max_figures : int
        At most this many (function, point, component) figures.
    dpi : int
    models : DataFrame, optional
        ``model.parquet``.
    summary : DataFrame, optional
        From :func:`harness.analysis.summarize`.
    workers : int
        Drawing processes (0: choose, see :func:`figure_workers`).
    run_figures : sequence of FigureJob
        Figures of the whole run drawn with the others (``leaderboard``,
        ``formats``).

    Returns
    -------
    list of Path
        Files written.
    """
    if table is None:
        if summary is None:
            raise ValueError("write_figures needs the table or the summary")
        cells = summary[FIGURE_KEY].drop_duplicates().iloc[:max_figures]
        table = read_results(out_dir, functions=set(cells["function"].astype(str)),
                             point_indices=set(cells["point_index"]))
    jobs = [*run_figures, *plan_figures(table, max_figures=max_figures, models=models, summary=summary)]
    return draw_figures(jobs, Path(out_dir) / FIGURES_DIR, formats=formats, dpi=dpi, workers=workers)
