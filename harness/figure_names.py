"""File names of a run's figures: readable, safe on every file system, unique within the run.

Kept apart from the drawing (no matplotlib here) so that ``report.html`` and
other readers find the figures of a run from its stored tables alone.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from .store import FIGURES_DIR

#: One error figure per value of these columns.
FIGURE_KEY = ["function", "point_index", "component", "component2", "derivative_order"]


def figure_stems(functions: Iterable[str]) -> dict[str, str]:
    """A file-name stem per function name: readable, safe on every file system, unique in the run.

    Characters outside ``[A-Za-z0-9-]`` become ``_`` (runs of them one
    ``_``, so a stem never holds the ``__`` that separates the parts of a
    figure name; no ``.``, which file-name code reads as a suffix:
    ``model.a`` and ``model.b`` both ended as ``model.svg``). Names whose stems would coincide (also ignoring case, for
    case-insensitive file systems) get a short stable suffix from their
    name's hash, except the first of them that is its own stem.

    >>> figure_stems(["exp", "a/b", "a_b", "A_B"])
    {'exp': 'exp', 'a/b': 'a_b-c14cdd', 'a_b': 'a_b', 'A_B': 'A_B-6c1908'}
    >>> figure_stems(["model.a", "model.b", ".."])
    {'model.a': 'model_a', 'model.b': 'model_b', '..': 'f'}
    """
    names = list(dict.fromkeys(map(str, functions)))
    safe = {n: re.sub(r"[^A-Za-z0-9-]+", "_", n).strip("_") or "f" for n in names}
    clashes: dict[str, list[str]] = {}
    for n in names:
        clashes.setdefault(safe[n].casefold(), []).append(n)
    stems = {}
    for group in clashes.values():
        plain = [n for n in group if n == safe[n]][:1]  # the first that is its own stem keeps it
        for n in group:
            suffix = "" if len(group) == 1 or n in plain else "-" + hashlib.sha256(n.encode()).hexdigest()[:6]
            stems[n] = safe[n] + suffix
    return stems


def error_figure_name(stems: Mapping[str, str], function: str, point_index: int, component: int,
                      component2: int = -1, derivative_order: int = 1) -> str:
    """File stem of an error figure: ``f__p0__d0``, ``f__p0__d0d1`` (mixed), ``f__p0__d0_m2`` (f'')."""
    partial = f"d{int(component)}" + (f"d{int(component2)}" if component2 >= 0 else "")
    order = f"_m{int(derivative_order)}" if derivative_order != 1 and component2 < 0 else ""
    return f"{stems[str(function)]}__p{int(point_index)}__{partial}{order}"


def comparison_figure_name(stems: Mapping[str, str], function: str, derivative_order: int = 1) -> str:
    """File stem of a comparison figure: ``compare__f`` (first derivatives), ``compare__f__m2``."""
    return f"compare__{stems[str(function)]}" + (f"__m{int(derivative_order)}" if derivative_order != 1 else "")


def table_functions(table: pd.DataFrame) -> list[str]:
    """The function names of a table or its curves, in run order (stems are made from all of them)."""
    col = table["function"]
    if isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in col.cat.categories]
    return list(dict.fromkeys(col.astype(str)))


def figure_files(run_dir: str | Path, curves: pd.DataFrame) -> tuple[dict[tuple, Path], dict[tuple, Path]]:
    """Where a run's figures are, from its per-curve analysis (suffix-less paths: add ``.svg``, ``.png``).

    Returns the error figures (FIGURE_KEY tuple, function as str -> path)
    and the comparison figures ((function, derivative order) -> path).
    Cells beyond ``plot.max_figures`` have a name but no file.
    """
    stems = figure_stems(table_functions(curves))
    folder = Path(run_dir) / FIGURES_DIR
    keys = curves[FIGURE_KEY].drop_duplicates().astype({"function": str}).itertuples(index=False, name=None)
    errors = {key: folder / error_figure_name(stems, *key) for key in keys}
    orders = curves[["function", "derivative_order"]].drop_duplicates().astype({"function": str})
    comparisons = {(f, int(m)): folder / comparison_figure_name(stems, f, int(m))
                   for f, m in orders.itertuples(index=False, name=None)}
    return errors, comparisons
