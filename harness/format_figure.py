"""One figure across number types: optimal step and minimal error against the unit round-off.

Drawn from the condensed table of :func:`harness.format_summary.format_table`
(medians per number type and scheme), nothing refitted. Left: observed h*
(filled markers, solid) and predicted h* (hollow markers, dashed) against
the unit round-off u of each type, whose name labels the top axis; the model
says ``h* ~ u^(1/(p+m))``, so each scheme's lines are straight with slope
1/2 (forward), 1/3 (central), 1/5 (central p=4). Right: the minimal relative
error, observed and predicted (``~ u^(p/(p+m))``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .figure_jobs import FigureJob, draw_job
from .settings import PlotSettings
from .plot_style import MARKERS, PALETTE, _log_axes
from .store import FIGURES_DIR

__all__ = ["FORMAT_FIGURE", "draw_format_figure", "format_job", "write_format_figure"]

FORMAT_FIGURE = "formats"
#: (column of the observed median, column of the predicted median, y label) per panel.
PANELS = (("observed_h_star", "predicted_h_star", "optimal step h* (median over curves)"),
          ("observed_min_rel_error", "predicted_min_rel_error", "minimal relative error (median)"))


def draw_format_figure(table: pd.DataFrame, *, dpi: int = PlotSettings.dpi) -> Figure:
    """h* and minimal error against the unit round-off, one colour per scheme.

    Parameters
    ----------
    table : DataFrame
        :func:`harness.format_summary.format_table` grouped by dtype and scheme.
    dpi : int

    Returns
    -------
    matplotlib.figure.Figure
        Lines are labelled ``"<scheme> observed"`` and ``"<scheme> predicted"``
        (the legend of the left panel); x is ``unit_roundoff``, y the table's
        medians, in order of increasing u. Types without a finite value leave a gap.
    """
    fig = Figure(figsize=(10.0, 5.0), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = [fig.add_axes((0.07 + 0.47 * i, 0.11, 0.38, 0.62)) for i in range(2)]
    schemes = list(dict.fromkeys(table["scheme"].astype(str)))
    types = table.drop_duplicates("dtype").sort_values("unit_roundoff")
    for ax, (observed, predicted, ylabel) in zip(axes, PANELS):
        _log_axes(ax)
        ax.set_xlabel("unit round-off u of the number type")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", color="0.9", linewidth=0.6)
        for i, scheme in enumerate(schemes):
            g = table[table["scheme"].astype(str) == scheme].sort_values("unit_roundoff")
            color, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
            u = g["unit_roundoff"].to_numpy(dtype=float)
            ax.plot(u, g[observed].to_numpy(dtype=float), "-", color=color, marker=marker, markersize=6,
                    markeredgecolor="black", markeredgewidth=0.5, label=f"{scheme} observed")
            ax.plot(u, g[predicted].to_numpy(dtype=float), "--", color=color, marker=marker, markersize=8,
                    fillstyle="none", markeredgewidth=1.2, label=f"{scheme} predicted")
        _type_labels(ax, types["unit_roundoff"].to_numpy(dtype=float), types["dtype"].astype(str).tolist())
    axes[0].legend(loc="upper left", frameon=False, fontsize=6.5, ncol=1 if len(schemes) < 4 else 2)
    return fig


def _type_labels(ax: object, u: np.ndarray, names: list[str]) -> None:
    """Name each number type above the axes at its unit round-off; close neighbours are staggered."""
    ax.set_xlim(u.min() / 4, u.max() * 4)
    top = ax.secondary_xaxis("top", functions=(lambda x: x, lambda x: x))
    top.set_xscale("log")
    top.set_xticks(u, [""] * len(u))
    top.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    raised = False
    for i, (x, name) in enumerate(zip(u, names)):
        raised = i > 0 and np.log10(x / u[i - 1]) < 1.0 and not raised  # e.g. float16, bfloat16: 8x apart
        ax.annotate(name, xy=(x, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 4 + 34 * raised),
                    textcoords="offset points", rotation=55, ha="left", va="bottom", fontsize=7)


def format_job(table: pd.DataFrame) -> FigureJob | None:
    """The number-formats figure as a job of the run's figures; None when no curve has a unit round-off."""
    if table.empty or not np.isfinite(table["unit_roundoff"].to_numpy(dtype=float)).any():
        return None
    return FigureJob("run", FORMAT_FIGURE, table, draw=draw_format_figure)


def write_format_figure(table: pd.DataFrame, out_dir: str | Path, *, formats: Sequence[str] = ("svg", "png"),
                        dpi: int = PlotSettings.dpi) -> list[Path]:
    """Save :func:`draw_format_figure` as ``figures/formats.<fmt>`` of a run; returns the files written."""
    job = format_job(table)
    return [] if job is None else draw_job(job, Path(out_dir) / FIGURES_DIR, formats, dpi)
