"""How every figure of the harness looks: fixed settings, colours per scheme, plain-text log ticks, saving.

Shared by the error and comparison figures (:mod:`harness.figures`) and the
run-wide figures (:mod:`harness.leaderboard_figure`,
:mod:`harness.format_figure`), so all of them look alike and regenerate
byte for byte.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .store import atomic_path

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
# A format string has only four dash patterns: types that share one lie decades apart in error
# (bfloat16 / longdouble, float8 / float32 and float64), and the legend names the type.
DTYPE_STYLE = {"float64": "-", "float32": "--", "float16": ":", "longdouble": "-.",
               "bfloat16": "-.", "float8_e4m3fn": "--", "float8_e5m2": "-"}
DTYPE_FILL = {"float64": "full", "float32": "none", "float16": "left", "longdouble": "bottom",
              "bfloat16": "right", "float8_e4m3fn": "top", "float8_e5m2": "none"}


Style = tuple[str, str]  # (colour, marker)


def scheme_styles(schemes: Iterable[str]) -> dict[str, Style]:
    """One colour and marker per scheme name, in the given order (a run's schemes, so fixed across its figures).

    >>> scheme_styles(["forward", "central"])["central"]
    ('#D55E00', 's')
    """
    # Colour and marker cycle at different rates, so schemes 8 apart still differ.
    return {str(name): (PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)])
            for i, name in enumerate(dict.fromkeys(map(str, schemes)))}


def table_schemes(table: pd.DataFrame) -> list[str]:
    """The schemes of a table in run order: the categorical's categories, else order of appearance."""
    col = table["scheme"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories]
    return list(dict.fromkeys(col.astype(str)))


def _style(styles: Mapping[str, Style], scheme: str, shift: int = 0) -> Style:
    """The scheme's style; ``shift`` (a collected multirun's job number) moves it along the cycle."""
    names = list(styles)
    i = names.index(scheme) + shift if scheme in styles else len(names) + shift
    return PALETTE[i % len(PALETTE)], MARKERS[(i + i // len(PALETTE)) % len(MARKERS)]


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


def _decade_ticks(axis: Any, lo: float, hi: float, most: int = 10) -> None:
    """Major ticks at whole decades with a round stride (1, 2, 5, 10, 20, 25, 50, 100 decades), no minor ticks.

    Minor ticks of a log axis cost a tick object each (most of the drawing
    time of a small figure); the major grid lines carry the scale.
    """
    a, b = int(np.ceil(np.log10(lo))), int(np.floor(np.log10(hi)))
    stride = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100) if (b - a) // s + 1 <= most), 100)
    first = -(-a // stride) * stride
    axis.set_major_locator(matplotlib.ticker.FixedLocator([10.0**k for k in range(first, b + 1, stride)]))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())


def spaced_ticks(values: np.ndarray, lo: float, hi: float, width_in: float, *, font_pt: float = 9.0) -> np.ndarray:
    """The integer tick values of a log axis whose labels do not run together.

    Greedy from the smallest: a value is kept when its label starts after the
    previous kept label ends (label widths estimated from the font size, the
    axis' width in inches and the log range ``lo``..``hi``).

    >>> spaced_ticks(np.array([2, 4, 20, 22, 24, 40]), 1.0, 64.0, 3.6).tolist()
    [2, 4, 20, 40]
    """
    per_decade = width_in / np.log10(hi / lo)  # inches per decade
    kept: list[int] = []
    end = -np.inf
    for v in (int(t) for t in values if t > 0):
        half = 0.5 * 0.6 * font_pt / 72 * len(str(v))  # half a label's width, inches
        centre = np.log10(v / lo) * per_decade
        if centre - half >= end + 0.06:  # a small gap between labels
            kept.append(v)
            end = centre + half
    return np.array(kept, dtype=int)


def save_figure(fig: Figure, stem: Path, formats: Iterable[str]) -> list[Path]:
    """Save a figure atomically in each format with deterministic metadata."""
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")  # a stem may hold a dot: no with_suffix
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=SAVE_METADATA.get(fmt))
        paths.append(path)
    return paths
