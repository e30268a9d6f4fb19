"""The noise floor on an error-vs-h figure (called once by :func:`harness.figures.draw_error_figure`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .model import model_from_row

#: Model rows whose round-off term is the declared or estimated noise of f.
NOISY_SOURCES = ("declared", "estimate")


def draw_noise_floor(ax: Any, cell: pd.DataFrame, models: pd.DataFrame | None) -> bool:
    """Draw the noise term ``C_r / h^m`` of the first noisy modelled curve as a grey dotted line.

    Below the optimal step the error of every difference sits on (or about)
    this line: it is where the declared (or estimated) noise of f, not the
    scheme, sets the error. Nothing is drawn for curves whose model uses the
    rounding of f alone.

    Parameters
    ----------
    ax : matplotlib Axes
        The figure's axes (its x limits are the range drawn).
    cell : DataFrame
        The figure's rows of the results table.
    models : DataFrame, optional
        The figure's rows of ``model.parquet``.

    Returns
    -------
    bool
        True if a floor was drawn.
    """
    if models is None or not len(models) or "noise_source" not in models.columns:
        return False
    noisy = models[models["noise_source"].isin(NOISY_SOURCES) & (models["model_status"] == "ok")
                   & (models["model_kind"] == "stencil")]
    if noisy.empty:
        return False
    row = noisy.iloc[0]
    model, scale = model_from_row(row), float(row["h_scale"])
    lo, hi = ax.get_xlim()
    h = np.logspace(np.log10(lo), np.log10(hi), 100)
    kind, level = "", ""
    if "noise_kind" in cell.columns and len(cell):
        kind, level = str(cell["noise_kind"].iloc[0]), f"{float(cell['noise_level'].iloc[0]):.0e}"
    what = f"{kind} noise {level}" if kind not in ("", "none") else f"noise ({row['noise_source']})"
    with np.errstate(all="ignore"):
        ax.plot(h, model.roundoff(h * scale), color="0.45", linestyle=(0, (1, 2)), linewidth=1.1, zorder=1,
                label=f"noise floor: {what}, eps_f={model.eps_f:.1e} ({row['scheme']})")
    ax.set_xlim(lo, hi)
    return True
