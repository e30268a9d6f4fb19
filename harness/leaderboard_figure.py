"""The leaderboard figure: error quantiles against evaluations, one marker per method.

Drawn from :func:`harness.leaderboard.leaderboard` (rows over all problems)
with the object-oriented API on an Agg canvas and the rcParams and metadata of
:mod:`harness.figures`, so reruns are byte-identical.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .figure_jobs import FigureJob, draw_job
from .settings import PlotSettings
from .plot_style import MARKERS, PALETTE, Style, _decade_ticks, _log_axes, _style, spaced_ticks
from .leaderboard import ALL_PROBLEMS
from .store import FIGURES_DIR

__all__ = ["draw_leaderboard_figure", "leaderboard_job", "write_leaderboard_figure"]

LEADERBOARD_FIGURE = "leaderboard"


def draw_leaderboard_figure(board: pd.DataFrame, *, dpi: int = PlotSettings.dpi, title: str = "",
                            styles: Mapping[str, Style] | None = None) -> Figure:
    """Median relative error (marker) and 90th percentile (end of the bar) against mean evaluations.

    One marker per method and number type, over all problems; down and to
    the left is better. A 90th percentile that is infinite (more than 10%
    failures) is drawn as an arrow to the top edge. ``styles`` (the run's
    :func:`~harness.plot_style.scheme_styles`) keeps each method's colour and
    marker from the other figures of the run.
    """
    rows = board[(board["problem"] == ALL_PROBLEMS) & np.isfinite(board["mean_evals"])
                 & (board["mean_evals"] > 0)].reset_index(drop=True)
    fig = Figure(figsize=(8.0, 5.2), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.09, 0.11, 0.56, 0.8))
    _log_axes(ax)  # plain-text tick labels: no mathtext to parse
    ax.set_xlabel("mean function evaluations per derivative")
    ax.set_ylabel("relative error: median (marker) to 90th percentile")
    ax.set_title(f"Leaderboard{': ' + title if title else ''}", loc="left", y=1.0)
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    med = rows["median_rel_error"].to_numpy(dtype=float)
    p90 = rows["p90_rel_error"].to_numpy(dtype=float)
    shown = np.concatenate([med[np.isfinite(med) & (med > 0)], p90[np.isfinite(p90) & (p90 > 0)]])
    lo = max(shown.min() / 3, 1e-18) if shown.size else 1e-16
    top = min(shown.max() * 3, 1e3) if shown.size else 1.0
    for i, row in rows.iterrows():
        color, marker = _style(styles, str(row["method"])) if styles else (
            PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)])
        x = float(row["mean_evals"])
        y = min(max(float(row["median_rel_error"]), lo), top)
        y90 = float(row["p90_rel_error"])
        if np.isfinite(y90):
            ax.plot([x, x], [y, min(max(y90, lo), top)], color=color, linewidth=1.0, alpha=0.8)
        else:
            ax.annotate("", xy=(x, top), xytext=(x, y), arrowprops={"arrowstyle": "->", "color": color, "lw": 1.0})
        label = f"{row['method']}" + (f" [{row['dtype']}]" if rows["dtype"].nunique() > 1 else "")
        ax.plot([x], [y], linestyle="none", marker=marker, color=color, markersize=7, markeredgecolor="black",
                markeredgewidth=0.5, label=label)
    ax.set_ylim(10 ** np.floor(np.log10(lo)), 10 ** np.ceil(np.log10(top)))
    _decade_ticks(ax.yaxis, *ax.get_ylim())
    if len(rows):
        ev = rows["mean_evals"].to_numpy(dtype=float)
        ax.set_xlim(ev.min() / 1.5, ev.max() * 1.5)
        ticks = spaced_ticks(np.unique(np.round(ev).astype(int)), *ax.get_xlim(),
                             ax.get_position().width * fig.get_figwidth())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0, fontsize=6.5,
                  ncol=1 if len(rows) <= 30 else 2)
    return fig


def leaderboard_job(board: pd.DataFrame, *, title: str = "", styles: Mapping[str, Style] | None = None
                    ) -> FigureJob | None:
    """The leaderboard figure as a job of the run's figures; None for fewer than two methods (no comparison)."""
    if board.loc[board["problem"] == ALL_PROBLEMS, "method"].nunique() < 2:
        return None
    return FigureJob("run", LEADERBOARD_FIGURE, board, draw=draw_leaderboard_figure,
                     options={"title": title, "styles": dict(styles or {})})


def write_leaderboard_figure(board: pd.DataFrame, out_dir: str | Path, *, formats: Sequence[str] = ("svg", "png"),
                             dpi: int = PlotSettings.dpi, title: str = "") -> list[Path]:
    """Save the figure as ``out_dir/figures/leaderboard.<fmt>``; nothing for fewer than two methods (no comparison)."""
    job = leaderboard_job(board, title=title)
    return [] if job is None else draw_job(job, Path(out_dir) / FIGURES_DIR, formats, dpi)
