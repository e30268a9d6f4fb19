"""Truncation/round-off figures drawn from the tidy table alone.

One figure per (function, point, component): error against h on log-log
axes, one line per (scheme, number type), the observed optimal h* marked and
labelled, and slope guides for the truncation (h^p) and round-off (h^-m)
regimes. Figures are built with the object-oriented API on an Agg canvas
(no pyplot, no global backend switch) inside an ``rc_context``, so nothing
leaks between jobs, and saved with fixed metadata so reruns are
byte-identical.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .curves import analyse_table
from .fits import SlopeFit
from .model import ErrorModel, model_from_row
from .store import FIGURES_DIR, atomic_path

log = logging.getLogger(__name__)

#: rcParams every figure is drawn with; fixed so output does not depend on the user's matplotlibrc.
RC = {
    "svg.hashsalt": "numdiff-harness",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "lines.linewidth": 1.4,
    "path.simplify": False,
}
SAVE_METADATA = {
    "svg": {"Date": None},
    "pdf": {"CreationDate": None, "ModDate": None},
    "png": {"Software": None},
}
# Colour-blind-safe palette (Okabe-Ito) and dash patterns per number type so
# lines stay distinguishable in grey-scale print.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "v", "D", "P", "X", "<"]
DTYPE_STYLE = {"float64": "-", "float32": "--", "float16": ":", "longdouble": "-."}
DTYPE_FILL = {"float64": "full", "float32": "none", "float16": "left", "longdouble": "bottom"}
FIGURE_KEY = ["function", "point_index", "component", "component2", "derivative_order"]


def figure_name(function: str, point_index: int, component: int, component2: int = -1,
                derivative_order: int = 1) -> str:
    """File stem of a figure, safe on every file system: ``f__p0__d0``, ``f__p0__d0d1``, ``f__p0__d0_m2``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(function))
    partial = f"d{int(component)}" + (f"d{int(component2)}" if component2 >= 0 else "")
    order = f"_m{int(derivative_order)}" if derivative_order != 1 and component2 < 0 else ""
    return f"{safe}__p{int(point_index)}__{partial}{order}"


def _fmt(h: float) -> str:
    return f"{h:.0e}".replace("e-0", "e-").replace("e+0", "e+")


# Text is plain unicode, never mathtext: parsing "$10^{-16}$" with pyparsing was most of the
# drawing time. DejaVu Sans (matplotlib's bundled default) has every glyph used here.
_SUPERSCRIPT = str.maketrans("0123456789-", "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b")
_SUBSCRIPT = str.maketrans("0123456789-", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089\u208b")
_MATHDEFAULT = re.compile(r"^\$\\mathdefault\{(.*)\}\$$")
_POWER = re.compile(r"\^\{(-?\d+)\}")


def superscript(n: int | str) -> str:
    """``-16`` -> ``⁻¹⁶``."""
    return str(n).translate(_SUPERSCRIPT)


def subscript(n: int | str) -> str:
    """``12`` -> ``₁₂``."""
    return str(n).translate(_SUBSCRIPT)


class UnicodeLogFormatter(matplotlib.ticker.LogFormatterSciNotation):
    """matplotlib's log-axis tick labels (same ticks labelled) as plain text: 10⁻¹⁶, 2×10⁻³.

    The parent chooses which ticks get a label and returns mathtext such as
    ``$\\mathdefault{10^{-16}}$``; that is rewritten to unicode so no label
    goes through the mathtext parser.
    """

    def __call__(self, x: float, pos: int | None = None) -> str:
        return mathtext_to_unicode(super().__call__(x, pos))


def mathtext_to_unicode(label: str) -> str:
    """Rewrite the labels of :class:`matplotlib.ticker.LogFormatterSciNotation` as plain text."""
    m = _MATHDEFAULT.match(label)
    if m is None:
        return label
    text = _POWER.sub(lambda p: superscript(p.group(1)), m.group(1)).replace("\\times", "\u00d7")
    return "\u2212" + text[1:] if text.startswith("-") else text


def _log_axes(ax: Any) -> None:
    """Log scale on both axes with plain-text tick labels."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        # The same formatters LogScale installs (minor: labelOnlyBase=False), in unicode.
        axis.set_major_formatter(UnicodeLogFormatter(10))
        axis.set_minor_formatter(UnicodeLogFormatter(10, labelOnlyBase=False))


def _subscript(comp: int, dim: int) -> str:
    return "x" if dim == 1 else f"x{subscript(comp)}"


def draw_error_figure(cell: pd.DataFrame, *, dpi: int = 120, models: pd.DataFrame | None = None,
                      analysis: pd.DataFrame | None = None) -> Figure:
    """Draw one error-vs-h figure from the rows of one (function, point, component).

    With ``models`` (rows of ``model.parquet`` for this figure), each
    modelled curve gets its model E(h) as a thin dashed line and its
    predicted h* as a hollow diamond, and the regimes of the first curve are
    shaded (round-off blue, transition grey, truncation orange).

    Parameters
    ----------
    cell : DataFrame
        Rows of the tidy table for a single function, point and component.
    dpi : int
        Resolution for raster output.
    models : DataFrame, optional
        Rows of ``model.parquet`` for this figure.
    analysis : DataFrame, optional
        The per-curve analysis (``curves.parquet`` or summary rows) of this
        figure: h*, the truncation and round-off fits are read from it, never
        refitted. Analysed here once when not given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    first = cell.iloc[0]
    by_job = "job" in cell.columns and cell["job"].nunique() > 1  # a collected multirun
    curve_keys = ["scheme", "dtype", "step_scale"] + (["job"] if by_job else [])
    curves = list(cell.groupby(curve_keys, observed=True, sort=False))
    many_scales = cell["step_scale"].nunique() > 1
    rows = (len(curves) + 1) // 2
    # Legend below the axes (two columns) so long labels never run off the canvas.
    height = 4.3 + 0.17 * rows
    fig = Figure(figsize=(8.0, height), dpi=dpi)
    FigureCanvasAgg(fig)
    inch = 1.0 / height  # one inch in figure coordinates (vertically)
    bottom = (0.95 + 0.17 * rows) * inch
    ax = fig.add_axes((0.10, bottom, 0.86, 1 - bottom - 0.42 * inch))
    _log_axes(ax)
    m = int(first["derivative_order"])
    dim = int(first["dim"])
    var = _subscript(int(first["component"]), dim)
    order = "" if m == 1 else superscript(m)
    if int(first["component2"]) >= 0:
        partial = f"\u2202\u00b2f/\u2202{var}\u2202{_subscript(int(first['component2']), dim)}"
    else:
        partial = f"\u2202{order}f/\u2202{var}{order}"
    ax.set_xlabel("step h", labelpad=2)
    ax.set_ylabel(f"absolute error of {partial}")
    # The expression is shown as plain text: mathtext would misread '**' and '_'.
    # A fixed y (where the automatic placement puts it: no tick labels at the top) skips the
    # title-placement pass, which lays out every y tick label once more on each draw.
    ax.set_title(f"f = {first['expression']}   at x = {first['point']}", loc="left", y=1.0)
    ax.grid(True, which="major", color="0.9", linewidth=0.6)

    ok_all = cell[(cell["status"] == "ok") & np.isfinite(cell["abs_error"]) & (cell["abs_error"] > 0)]
    if not ok_all.empty:
        lo_e, hi_e = np.log10(ok_all["abs_error"].min()), np.log10(ok_all["abs_error"].max())
        ax.set_ylim(10 ** (lo_e - 1.0), 10 ** (hi_e + 1.6))  # room for the guides above the data
    hs_all = pd.concat([cell["h"], cell["h_used"]]).to_numpy(dtype=float)
    hs_all = hs_all[np.isfinite(hs_all) & (hs_all > 0)]
    if hs_all.size:
        ax.set_xlim(hs_all.min() / 2.5, hs_all.max() * 2.5)
    y_lo, y_hi = (np.log10(v) for v in ax.get_ylim())
    _decade_ticks(ax.xaxis, *ax.get_xlim())

    schemes = list(dict.fromkeys(cell["scheme"].astype(str)))
    truncation_guides: dict[int, tuple[float, float, float]] = {}
    roundoff_guides: dict[int, tuple[float, float, float]] = {}
    drawn = 0
    shaded = False
    model_index = _model_index(models)
    curve_index = _curve_index(analysis if analysis is not None else analyse_table(cell)[1])
    for key, g in curves:
        scheme, dtype, scale = key[:3]
        g = g.sort_values("h")
        ok = g[(g["status"] == "ok") & np.isfinite(g["abs_error"]) & (g["abs_error"] > 0)]
        i = schemes.index(str(scheme)) + (int(key[3]) if by_job and str(key[3]).isdigit() else 0)
        if ok.empty:
            # Nothing to draw on log axes, but the scheme is still listed with the reason:
            # exact at every usable step (a stencil exact for a polynomial), or no usable row.
            if ((g["status"] == "ok") & (g["abs_error"] == 0)).any():
                why = "error 0 at every h"
            else:
                why = "nothing to plot (" + ", ".join(sorted(set(g["status"].astype(str)))) + ")"
            ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", color=PALETTE[i % len(PALETTE)],
                    label=f"{scheme} [{dtype}]: {why}")
            continue
        # Colour and marker cycle at different rates, so schemes 8 apart still differ.
        color, marker = PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)]
        tag = f"{dtype}, {scale}" if many_scales else f"{dtype}"
        if by_job:
            tag += f", job {key[3]}"
        if bool(g["adaptive"].all()):
            # A step selector or adaptive library call: one marker per point at the h it chose.
            h_c, e_c = ok["h_used"].to_numpy(), ok["abs_error"].to_numpy()
            if not np.isfinite(h_c).all():
                h_c = np.full_like(e_c, ax.get_xlim()[1] / 3)  # the library does not report its step
            evals = int(ok["n_evals"].iloc[0])
            ax.plot(h_c, e_c, linestyle="none", marker=marker, markersize=8, color=color,
                    markeredgecolor="black", markeredgewidth=0.6, zorder=6,
                    label=f"{scheme} [{tag}]: chose h={_fmt(h_c[0])}, {evals} evals")
            drawn += 1
            continue
        h, err = ok["h"].to_numpy(), ok["abs_error"].to_numpy()
        p = int(g["accuracy_order"].iloc[0])
        curve = curve_index[(str(scheme), str(dtype), str(scale), str(key[3]) if by_job else "")]
        fit = SlopeFit(float(curve["observed_order"]), float(curve["order_h_min"]), float(curve["order_h_max"]),
                       int(curve["order_points"]), float(curve["order_intercept"]))
        rnd = SlopeFit(float(curve["roundoff_slope"]), float(curve["roundoff_h_min"]),
                       float(curve["roundoff_h_max"]), 0, float(curve["roundoff_intercept"]))
        h_star = float(curve["h_star"])
        at = np.flatnonzero(h == h_star)
        # The observed h* (the curve analysis'); an exact zero error there sits on the axis floor.
        e_star = float(err[at[0]]) if at.size else 10 ** (y_lo + 0.02 * (y_hi - y_lo))
        obs = f", slope {fit.slope:.2f}" if np.isfinite(fit.slope) else ""
        label = f"{scheme} [{tag}]: p={p}{obs}, h*={_fmt(h_star)}"
        ax.plot(h, err, DTYPE_STYLE.get(str(dtype), "-"), color=color, marker=marker, markersize=2.6,
                markevery=max(1, len(h) // 12), label=label)
        if np.isfinite(h_star):
            ax.plot([h_star], [e_star], marker="*", markersize=11, color=color, markeredgecolor="black",
                    markeredgewidth=0.6, linestyle="none", zorder=5, clip_on=False)
        model = model_index.get((str(scheme), str(dtype), str(scale), str(key[3]) if by_job else ""))
        if model is not None:
            _draw_model(ax, model, h, color)
        if not shaded and "regime" in ok.columns:
            shaded = _shade_regimes(ax, ok["h"].to_numpy(), ok["regime"].astype(str).to_numpy())
        # Label h* below its star, or above it when the star sits at the bottom of the axes.
        if np.isfinite(h_star):
            low = (np.log10(e_star) - y_lo) / (y_hi - y_lo) < 0.15
            dy = (11 + 8 * (drawn % 3)) * (1 if low else -1)
            ax.annotate(f"h*={_fmt(h_star)}", (h_star, e_star), xytext=(0, dy), textcoords="offset points",
                        ha="center", va="bottom" if low else "top", fontsize=6.5, color=color)
        drawn += 1
        if np.isfinite(fit.slope) and p not in truncation_guides:
            truncation_guides[p] = (fit.h_min, fit.h_max, fit.intercept + fit.slope * np.log10(fit.h_max)
                                    - p * np.log10(fit.h_max))
        if np.isfinite(rnd.slope) and m not in roundoff_guides:
            mid = np.log10(np.sqrt(rnd.h_min * rnd.h_max))
            roundoff_guides[m] = (rnd.h_min, rnd.h_max, rnd.intercept + rnd.slope * mid + m * mid)

    # Guides sit a factor 10 above the data they follow, labelled at their middle.
    for p, (lo, hi, c) in sorted(truncation_guides.items()):
        hh = np.array([lo, hi])
        ax.plot(hh, 10 * 10 ** (c + p * np.log10(hh)), color="0.35", linestyle=(0, (4, 2)), linewidth=0.9)
        hm = np.sqrt(lo * hi)
        ax.annotate(f"\u221d h{superscript(p)}", (hm, 10 * 10 ** (c + p * np.log10(hm))), xytext=(-4, 4),
                    textcoords="offset points", fontsize=7.5, color="0.25", ha="right", va="bottom")
    for mm, (lo, hi, c) in sorted(roundoff_guides.items()):
        hh = np.array([lo, hi])
        ax.plot(hh, 10 * 10 ** (c - mm * np.log10(hh)), color="0.35", linestyle=(0, (1, 1.5)), linewidth=1.0)
        hm = np.sqrt(lo * hi)
        ax.annotate(f"\u221d h{superscript(-mm)}", (hm, 10 * 10 ** (c - mm * np.log10(hm))), xytext=(4, 4),
                    textcoords="offset points", fontsize=7.5, color="0.25", ha="left", va="bottom")

    if drawn == 0:
        status = ", ".join(sorted(set(cell["reference_status"].astype(str)) - {"ok"})) or "no finite errors"
        ax.text(0.5, 0.5, f"no reliable errors to plot\n(reference: {status})", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="0.3")
        ax.set_ylim(1e-16, 1)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, bottom - 0.5 * inch),
                   ncol=2, frameon=False, borderaxespad=0, columnspacing=1.5, handlelength=2.6)
    # Regimes named under the axis ends, as in the lecture, away from the data.
    y_text = bottom - 0.27 * inch
    fig.text(0.10, y_text, "\u2190 round-off dominates", fontsize=7.5, color="0.4", va="top")
    fig.text(0.96, y_text, "truncation dominates \u2192", fontsize=7.5, color="0.4", va="top", ha="right")
    digits = float(first["reference_digits"])
    method = str(first["reference_method"]) if "reference_method" in first else "mpmath_checked"
    agree = ("all digits agree" if np.isinf(digits)
             else f"{digits:.0f} digits {'certified' if method == 'arb' else 'agree'}")
    fig.text(0.99, 0.01, f"reference: {method}, {agree} ({first['reference_status']})",
             fontsize=6.5, color="0.35", ha="right", va="bottom")
    return fig


def _decade_ticks(axis: Any, lo: float, hi: float, most: int = 10) -> None:
    """Major ticks at whole decades with a round stride (1, 2, 5, 10, 20, 25, 50, 100 decades)."""
    a, b = int(np.ceil(np.log10(lo))), int(np.floor(np.log10(hi)))
    stride = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100) if (b - a) // s + 1 <= most), 100)
    first = -(-a // stride) * stride
    axis.set_major_locator(matplotlib.ticker.FixedLocator([10.0**k for k in range(first, b + 1, stride)]))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())


REGIME_SHADES = {"round-off": "#56B4E9", "transition": "#999999", "truncation": "#E69F00"}


def _model_index(models: pd.DataFrame | None) -> dict[tuple[str, ...], tuple[ErrorModel, float]]:
    """(scheme, dtype, step_scale, job or '') -> (error model, h scale) for the rows of one figure."""
    if models is None or not len(models):
        return {}
    by_job = "job" in models.columns and models["job"].nunique() > 1
    return {(str(r["scheme"]), str(r["dtype"]), str(r["step_scale"]), str(r["job"]) if by_job else ""):
            (model_from_row(r), float(r["h_scale"])) for _, r in models.iterrows()}


def _curve_index(curves: pd.DataFrame) -> dict[tuple[str, ...], Any]:
    """(scheme, dtype, step_scale, job or '') -> the curve's analysis row, for the curves of one figure."""
    by_job = "job" in curves.columns and curves["job"].nunique() > 1
    return {(str(r["scheme"]), str(r["dtype"]), str(r["step_scale"]), str(r["job"]) if by_job else ""): r
            for _, r in curves.iterrows()}


def _draw_model(ax: Any, model: tuple[ErrorModel, float], h: np.ndarray, color: str) -> None:
    """The model E(h) (thin dashed) and its predicted h* (hollow diamond)."""
    em, scale = model
    if em.status not in ("ok", "exact"):
        return
    hh = np.logspace(np.log10(h.min()), np.log10(h.max()), 200)
    with np.errstate(all="ignore"):
        ax.plot(hh, em.error(hh * scale), color=color, linestyle=(0, (2, 2)), linewidth=0.8, alpha=0.9)
        if np.isfinite(em.h_star) and em.h_star > 0:
            ax.plot([em.h_star / scale], [em.min_error], marker="D", markersize=6.5, markerfacecolor="none",
                    markeredgecolor=color, markeredgewidth=1.2, linestyle="none", zorder=6)


def _shade_regimes(ax: Any, h: np.ndarray, regimes: np.ndarray) -> bool:
    """Shade contiguous regime ranges of one curve; True if anything was shaded."""
    order = np.argsort(h)
    h, regimes = h[order], regimes[order]
    edges = np.sqrt(h[1:] * h[:-1]) if h.size > 1 else np.array([])
    lo = np.concatenate([[h[0] / 1.5], edges]) if h.size else h
    hi = np.concatenate([edges, [h[-1] * 1.5]]) if h.size else h
    done = False
    # One span per run of equal regimes, not one per h: the same shading with a tenth of the patches.
    starts = np.flatnonzero(np.r_[True, regimes[1:] != regimes[:-1]]) if h.size else np.array([], int)
    ends = np.r_[starts[1:] - 1, h.size - 1] if h.size else starts
    for i, j in zip(starts, ends):
        r = regimes[i]
        if r in REGIME_SHADES:
            ax.axvspan(lo[i], hi[j], color=REGIME_SHADES[r], alpha=0.07, linewidth=0, zorder=0)
            done = True
    return done


def draw_comparison_figure(summary: pd.DataFrame, function: str, *, dpi: int = 120) -> Figure:
    """Minimal error against function evaluations per derivative, one marker per scheme and number type.

    Small dots are single curves (points, components); big markers their
    median. Down and to the left is better.
    """
    rows = summary[(summary["function"].astype(str) == function) & np.isfinite(summary["min_abs_error"])
                   & (summary["min_abs_error"] > 0)]
    fig = Figure(figsize=(7.0, 4.6), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.11, 0.12, 0.52, 0.78))
    _log_axes(ax)
    ax.set_xlabel("function evaluations per derivative")
    ax.set_ylabel("minimal absolute error over h")
    ax.set_title(f"{function}: accuracy against cost", loc="left", y=1.0)  # fixed: see draw_error_figure
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    schemes = list(dict.fromkeys(rows["scheme"].astype(str)))
    for (scheme, dtype), g in rows.groupby(["scheme", "dtype"], sort=False):
        i = schemes.index(str(scheme))
        color, marker = PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)]
        # Schemes with the same cost are spread a little sideways; number types differ by fill.
        spread = 1.06 ** (i - (len(schemes) - 1) / 2)
        fill = DTYPE_FILL.get(str(dtype), "full")
        x, y = g["n_evals"].to_numpy(dtype=float) * spread, g["min_abs_error"].to_numpy(dtype=float)
        ax.plot(x, y, linestyle="none", marker=".", color=color, alpha=0.35, markersize=4)
        ax.plot([np.median(x)], [np.median(y)], linestyle="none", marker=marker, markersize=8, color=color,
                fillstyle=fill, markeredgecolor=color if fill == "none" else "black",
                markeredgewidth=1.4 if fill == "none" else 0.6, label=f"{scheme} [{dtype}]")
    if len(rows):
        ticks = np.unique(np.round(rows["n_evals"].to_numpy(dtype=float)).astype(int))
        ticks = ticks[ticks > 0]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlim(max(ticks.min() / 1.6, 0.5), ticks.max() * 1.6)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0)
    return fig


def save_figure(fig: Figure, stem: Path, formats: Iterable[str]) -> list[Path]:
    """Save a figure atomically in each format with deterministic metadata."""
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=SAVE_METADATA.get(fmt))
        paths.append(path)
    return paths


def write_figures(
    table: pd.DataFrame,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("svg", "png"),
    max_figures: int = 60,
    dpi: int = 120,
    models: pd.DataFrame | None = None,
    summary: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every error-vs-h figure of a results table, and a scheme comparison per function.

    Parameters
    ----------
    table : DataFrame
        Tidy results (e.g. from :func:`harness.store.read_results`).
    out_dir : path
        Run directory; figures go to ``out_dir/figures``.
    formats : sequence of {'svg', 'png', 'pdf'}
    max_figures : int
        At most this many (function, point, component) figures, in table
        order; the rest are skipped with one log line.
    dpi : int
    models : DataFrame, optional
        ``model.parquet``: model curves and predicted h* on the figures.
    summary : DataFrame, optional
        From :func:`harness.analysis.summarize`: one comparison figure
        (minimal error against evaluations) per function.

    Returns
    -------
    list of Path
        Files written.
    """
    fig_dir = Path(out_dir) / FIGURES_DIR
    groups = list(table.groupby(FIGURE_KEY, observed=True, sort=True))
    if len(groups) > max_figures:
        log.info("plotting %d of %d (function, point, component) figures (plot.max_figures=%d)",
                 max_figures, len(groups), max_figures)
        groups = groups[:max_figures]
    written: list[Path] = []
    by_cell, curves_by_cell = {}, {}
    if models is not None and len(models):
        by_cell = {k: g for k, g in models.groupby(FIGURE_KEY, observed=True, sort=False)}
    if summary is not None and len(summary):
        curves_by_cell = {k: g for k, g in summary.groupby(FIGURE_KEY, observed=True, sort=False)}
    with matplotlib.rc_context(RC):
        for key, cell in groups:
            fig = draw_error_figure(cell, dpi=dpi, models=by_cell.get(key), analysis=curves_by_cell.get(key))
            written += save_figure(fig, fig_dir / figure_name(*key), formats)
        if summary is not None and len(summary):
            for function in dict.fromkeys(summary["function"].astype(str)):
                fig = draw_comparison_figure(summary, function, dpi=dpi)
                safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", function)
                written += save_figure(fig, fig_dir / f"compare__{safe}", formats)
    return written
