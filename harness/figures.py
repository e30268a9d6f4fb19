"""Truncation/round-off figures drawn from the tidy table alone (their look: :mod:`harness.plot_style`).

One figure per (function, point, component): error against h on log-log
axes, one line per (scheme, number type), the observed optimal h* marked and
labelled, and slope guides for the truncation (h^p) and round-off (h^-m)
regimes. Figures are built with the object-oriented API on an Agg canvas
(no pyplot, no global backend switch) inside an ``rc_context``, so nothing
leaks between jobs, and saved with fixed metadata so reruns are
byte-identical.
"""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .curves import analyse_table
from .fits import SlopeFit
from .model import ErrorModel, model_from_row
from .noise_figures import draw_noise_floor
from .settings import PlotSettings
from .plot_style import (DTYPE_FILL, DTYPE_STYLE, Style, _decade_ticks, _fmt, _log_axes, _style, scheme_styles,
                         spaced_ticks, superscript, subscript, table_schemes)


def _subscript(comp: int, dim: int) -> str:
    return "x" if dim == 1 else f"x{subscript(comp)}"


def draw_error_figure(cell: pd.DataFrame, *, dpi: int = PlotSettings.dpi, models: pd.DataFrame | None = None,
                      analysis: pd.DataFrame | None = None, styles: Mapping[str, Style] | None = None) -> Figure:
    """Draw one error-vs-h figure from the rows of one (function, point, component).

    Every curve gets its observed h* as a star (the per-curve analysis'
    h*, the summary's); errors that are exactly 0 are drawn as a downward
    caret on the axis floor. With ``models`` (rows of ``model.parquet`` for
    this figure), each modelled curve gets its model E(h) as a thin dashed
    line and its predicted h* as a hollow diamond. A figure with a single
    curve has that curve's regimes shaded (round-off blue, transition grey,
    truncation orange); with several curves the regimes differ per curve and
    nothing is shaded (each curve's regimes are in ``curves.parquet``).

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
    styles : mapping, optional
        Colour and marker per scheme (:func:`scheme_styles` of the run's
        schemes, so a scheme keeps its colour in every figure); by default
        from this cell's schemes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    first = cell.iloc[0]
    styles = scheme_styles(table_schemes(cell)) if styles is None else styles
    by_job = "job" in cell.columns and cell["job"].nunique() > 1  # a collected multirun
    curve_keys = ["scheme", "dtype", "step_scale"] + (["job"] if by_job else [])
    curves = list(cell.groupby(curve_keys, observed=True, sort=False))
    many_scales = cell["step_scale"].nunique() > 1
    rows = (len(curves) + 2) // 2  # legend rows, one spare for the exact-zero entry
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

    usable = (cell["status"] == "ok") & np.isfinite(cell["abs_error"])
    ok_all = cell[usable & (cell["abs_error"] > 0)]
    if not ok_all.empty:
        lo_e, hi_e = np.log10(ok_all["abs_error"].min()), np.log10(ok_all["abs_error"].max())
        ax.set_ylim(10 ** (lo_e - 1.0), 10 ** (hi_e + 1.6))  # room for the guides above the data
    hs_all = pd.concat([cell["h"], cell["h_used"]]).to_numpy(dtype=float)
    hs_all = hs_all[np.isfinite(hs_all) & (hs_all > 0)]
    if hs_all.size:
        ax.set_xlim(hs_all.min() / 2.5, hs_all.max() * 2.5)
    y_lo, y_hi = (np.log10(v) for v in ax.get_ylim())
    floor = 10 ** (y_lo + 0.02 * (y_hi - y_lo))  # where exact zeros are drawn
    _decade_ticks(ax.xaxis, *ax.get_xlim())

    truncation_guides: dict[int, tuple[float, float, float]] = {}
    roundoff_guides: dict[int, tuple[float, float, float]] = {}
    lines: list[pd.DataFrame] = []  # the line curves drawn, for the regime shading
    drawn = 0
    zeros = False
    model_index = _model_index(models)
    curve_index = _curve_index(analysis if analysis is not None else analyse_table(cell)[1])
    for key, g in curves:
        scheme, dtype, scale = key[:3]
        g = g.sort_values("h")
        ok = g[(g["status"] == "ok") & np.isfinite(g["abs_error"]) & (g["abs_error"] > 0)]
        zero = g[(g["status"] == "ok") & (g["abs_error"] == 0)]
        color, marker = _style(styles, str(scheme), int(key[3]) if by_job and str(key[3]).isdigit() else 0)
        if ok.empty and zero.empty:
            why = "nothing to plot (" + ", ".join(sorted(set(g["status"].astype(str)))) + ")"
            ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", color=color,
                    label=f"{scheme} [{dtype}]: {why}")
            continue
        tag = f"{dtype}, {scale}" if many_scales else f"{dtype}"
        if by_job:
            tag += f", job {key[3]}"
        if bool(g["adaptive"].all()):
            # A step selector or adaptive library call: one marker per point at the h it chose.
            shown = pd.concat([ok, zero])
            h_c = shown["h_used"].to_numpy(dtype=float)
            e_c = np.where(shown["abs_error"].to_numpy(dtype=float) > 0, shown["abs_error"].to_numpy(dtype=float),
                           floor)
            if not np.isfinite(h_c).all():
                h_c = np.full_like(e_c, ax.get_xlim()[1] / 3)  # the library does not report its step
            evals = int(shown["n_evals"].iloc[0])
            ax.plot(h_c, e_c, linestyle="none", marker=marker, markersize=8, color=color,
                    markeredgecolor="black", markeredgewidth=0.6, zorder=6, clip_on=False,
                    label=f"{scheme} [{tag}]: chose h={_fmt(h_c[0])}, {evals} evals")
            zeros |= not zero.empty
            drawn += 1
            continue
        p = int(g["accuracy_order"].iloc[0])
        curve = curve_index[(str(scheme), str(dtype), str(scale), str(key[3]) if by_job else "")]
        fit = SlopeFit(float(curve["observed_order"]), float(curve["order_h_min"]), float(curve["order_h_max"]),
                       int(curve["order_points"]), float(curve["order_intercept"]))
        rnd = SlopeFit(float(curve["roundoff_slope"]), float(curve["roundoff_h_min"]),
                       float(curve["roundoff_h_max"]), 0, float(curve["roundoff_intercept"]))
        h_star = float(curve["h_star"])
        obs = f", slope {fit.slope:.2f}" if np.isfinite(fit.slope) else ""
        if not np.isfinite(h_star):
            where = ""
        elif str(curve.get("optimum_kind", "minimum")) == "threshold":
            where = f", flat for h\u2264{_fmt(h_star)}"
        else:
            where = f", h*={_fmt(h_star)}"
        why = ", error 0 at every h" if ok.empty else ""
        ax.plot(ok["h"].to_numpy(), ok["abs_error"].to_numpy(), DTYPE_STYLE.get(str(dtype), "-"), color=color,
                marker=marker, markersize=2.6, markevery=max(1, len(ok) // 12),
                label=f"{scheme} [{tag}]: p={p}{obs}{where}{why}")
        if not zero.empty:
            ax.plot(zero["h"].to_numpy(), np.full(len(zero), floor), linestyle="none", marker=7, markersize=5,
                    color=color, clip_on=False, zorder=4)
            zeros = True
        if np.isfinite(h_star):
            at = np.flatnonzero(g["h"].to_numpy() == h_star)
            e_star = float(g["abs_error"].iloc[at[0]]) if at.size else np.nan
            ax.plot([h_star], [e_star if e_star > 0 else floor], marker="*", markersize=11, color=color,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none", zorder=5, clip_on=False)
        model = model_index.get((str(scheme), str(dtype), str(scale), str(key[3]) if by_job else ""))
        if model is not None and not ok.empty:
            _draw_model(ax, model, ok["h"].to_numpy(), color)
        if not ok.empty:
            lines.append(ok)
        drawn += 1
        if np.isfinite(fit.slope) and p not in truncation_guides:
            truncation_guides[p] = (fit.h_min, fit.h_max, fit.intercept + fit.slope * np.log10(fit.h_max)
                                    - p * np.log10(fit.h_max))
        if np.isfinite(rnd.slope) and m not in roundoff_guides:
            mid = np.log10(np.sqrt(rnd.h_min * rnd.h_max))
            roundoff_guides[m] = (rnd.h_min, rnd.h_max, rnd.intercept + rnd.slope * mid + m * mid)

    if len(lines) == 1 and "regime" in lines[0].columns:
        _shade_regimes(ax, lines[0]["h"].to_numpy(), lines[0]["regime"].astype(str).to_numpy())
    _draw_guides(ax, truncation_guides, roundoff_guides)
    if zeros:
        ax.plot([], [], linestyle="none", marker=7, markersize=5, color="0.3", label="error exactly 0 (axis floor)")
    draw_noise_floor(ax, cell, models)
    if drawn == 0:
        status = ", ".join(sorted(set(cell["reference_status"].astype(str)) - {"ok"})) or "no finite errors"
        ax.text(0.5, 0.5, f"no reliable errors to plot\n(reference: {status})", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="0.3")
        ax.set_ylim(1e-16, 1)
    _decade_ticks(ax.yaxis, *ax.get_ylim())
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


def _draw_guides(ax: Any, truncation: dict[int, tuple[float, float, float]],
                 roundoff: dict[int, tuple[float, float, float]]) -> None:
    """Slope guides a factor 10 above the data they follow, each labelled where no other label is.

    Labels are placed at the guide's middle; one that would overlap a label
    already placed moves up in steps of its own height (in axes fractions,
    from the font size), so "∝ h²" and "∝ h⁴" never run together.
    """
    (x0, x1), (y0, y1) = (np.log10(ax.get_xlim()), np.log10(ax.get_ylim()))
    pos = ax.get_position()
    width_in, height_in = pos.width * ax.figure.get_figwidth(), pos.height * ax.figure.get_figheight()
    char_w, line_h = 0.6 * 7.5 / 72 / width_in, 1.25 * 7.5 / 72 / height_in  # one glyph / line, axes fractions
    placed: list[tuple[float, float, float, float]] = []
    guides = [(p, g, (0, (4, 2)), 0.9, "right") for p, g in sorted(truncation.items())]
    guides += [(-m, g, (0, (1, 1.5)), 1.0, "left") for m, g in sorted(roundoff.items())]
    for power, (lo, hi, c), dash, width, side in guides:
        hh = np.array([lo, hi])
        ax.plot(hh, 10 * 10 ** (c + power * np.log10(hh)), color="0.35", linestyle=dash, linewidth=width)
        hm = np.sqrt(lo * hi)
        text = f"\u221d h{superscript(power)}"
        fx = (np.log10(hm) - x0) / (x1 - x0)
        fy = (np.log10(10 * 10 ** (c + power * np.log10(hm))) - y0) / (y1 - y0) + 0.01
        w = char_w * len(text)
        left = fx - w - 0.005 if side == "right" else fx + 0.005
        while any(left < b[2] and b[0] < left + w and fy < b[3] and b[1] < fy + line_h for b in placed):
            fy += line_h
        placed.append((left, fy, left + w, fy + line_h))
        ax.text(left, fy, text, transform=ax.transAxes, fontsize=7.5, color="0.25", ha="left", va="bottom")


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


def draw_comparison_figure(summary: pd.DataFrame, function: str, *, derivative_order: int = 1, dpi: int = PlotSettings.dpi,
                           styles: Mapping[str, Style] | None = None) -> Figure:
    """Minimal error against function evaluations per derivative, one marker per scheme and number type.

    Small dots are single curves (points, components); big markers their
    median. Down and to the left is better. Every marker sits at its
    scheme's exact evaluation count; schemes of the same cost are drawn as
    concentric markers of decreasing size, so none hides another. Only curves
    of one derivative order share the axes.

    Parameters
    ----------
    summary : DataFrame
        Per-curve summary (:func:`harness.analysis.summarize`).
    function : str
    derivative_order : int
        Which derivative's schemes to compare (f', f'', ...).
    dpi : int
    styles : mapping, optional
        Colour and marker per scheme (:func:`scheme_styles`); by default from
        the summary's schemes.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = summary[(summary["function"].astype(str) == function)
                   & (summary["derivative_order"].astype(int) == int(derivative_order))
                   & np.isfinite(summary["min_abs_error"]) & (summary["min_abs_error"] > 0)]
    styles = scheme_styles(table_schemes(summary)) if styles is None else styles
    fig = Figure(figsize=(7.0, 4.6), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.11, 0.12, 0.52, 0.78))
    _log_axes(ax)
    ax.set_xlabel("function evaluations per derivative")
    ax.set_ylabel("minimal absolute error over h")
    what = "" if int(derivative_order) == 1 else f" (derivative order {int(derivative_order)})"
    ax.set_title(f"{function}: accuracy against cost{what}", loc="left", y=1.0)  # fixed: see draw_error_figure
    ax.grid(True, which="major", color="0.9", linewidth=0.6)
    errors = rows["min_abs_error"].to_numpy(dtype=float)
    if errors.size and errors.min() == errors.max():  # one error level: a decade around it, not a singular axis
        ax.set_ylim(errors[0] / 10, errors[0] * 10)
    groups = list(rows.groupby(["scheme", "dtype"], sort=False, observed=True))
    centre = {key: (float(np.median(g["n_evals"].to_numpy(dtype=float))),
                    float(np.median(np.log10(g["min_abs_error"].to_numpy(dtype=float))))) for key, g in groups}
    for key, g in groups:
        scheme, dtype = (str(k) for k in key)
        color, marker = _style(styles, scheme)
        fill = DTYPE_FILL.get(dtype, "full")
        edge = {"fillstyle": fill, "markeredgecolor": color if fill == "none" else "black",
                "markeredgewidth": 1.4 if fill == "none" else 0.6}
        # Medians that would cover each other (same cost, within 0.4 decades) are drawn
        # concentric, the k-th of them smaller, so every one stays visible.
        x0, y0 = centre[key]
        near = [k for k, (x, y) in centre.items() if x == x0 and abs(y - y0) < 0.4]
        rank = near.index(key)
        size = 11.0 - 7.0 * rank / (len(near) - 1) if len(near) > 1 else 8.0
        x, y = g["n_evals"].to_numpy(dtype=float), g["min_abs_error"].to_numpy(dtype=float)
        ax.plot(x, y, linestyle="none", marker=".", color=color, alpha=0.35, markersize=4)
        ax.plot([x0], [10**y0], linestyle="none", marker=marker, markersize=size, color=color, zorder=3 + rank,
                **edge)
        ax.plot([], [], linestyle="none", marker=marker, markersize=8, color=color, label=f"{scheme} [{dtype}]",
                **edge)
    if len(rows):
        evals = rows["n_evals"].to_numpy(dtype=float)
        lo, hi = max(evals.min() / 1.6, 0.5), evals.max() * 1.6
        ax.set_xlim(lo, hi)
        width_in = ax.get_position().width * fig.get_figwidth()
        ticks = spaced_ticks(np.unique(np.round(evals).astype(int)), lo, hi, width_in)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, borderaxespad=0)
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(min(lo_y, 10 ** np.floor(np.log10(lo_y))), max(hi_y, 10 ** np.ceil(np.log10(hi_y))))
        _decade_ticks(ax.yaxis, *ax.get_ylim())
    return fig
