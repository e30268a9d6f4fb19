"""The leaderboard: every method of a sweep on the same problems, points and reference, and how honest its error estimates are.

Built from the stored tables alone (``results.parquet`` and ``model.parquet``;
nothing is recomputed), for one run or for the collected table of a
multirun. Each method contributes one scored row per point, component and
number type:

* **adaptive methods** (step selectors, the libraries' adaptive and default
  modes): their one row per point, at the step they chose;
* **fixed-step curves with an error model** (our stencils, Richardson, the
  complex step, findiff's weights): per curve, the row at the grid step
  nearest, in log h, to the model's predicted h* (``predicted_h_star``;
  an infinite h* -- no truncation error -- takes the largest grid step, a
  zero one the smallest). This is "the stencil at the step the theory
  predicts", knowing the true derivatives, so it is an oracle for the step,
  not a method a user could run blind; how close the grid comes to h* depends
  on the grid's spacing (a tenth of a decade for ``grid=dense``). Curves whose
  model is undefined have no scored row.
* fixed-step library calls without a model (``scipy_3point``, ``nd_*_fixed``,
  ...) are left out: their own choice of step is their ``*_default`` or
  adaptive mode, which is scored.

Rows whose reference is unreliable are left out (they have no error), and so
are rows scored against a best estimate (``reference_method == 'estimate'``:
a user's Python function without an mpmath evaluation or derivative), whose
errors are only as good as the estimate's digits; the Markdown says how many.
Where the reference derivative is exactly 0 (a certified zero: a
stationary point, the 0 of an odd derivative) a relative error does not
exist; such a row is scored by its absolute error instead, so an exact 0
scores 0 and a wrong estimate still fails (``rel_err`` is this mixed error;
the Markdown says how many rows were so scored). A row
**fails** when its estimate is not finite or its relative error exceeds 1;
failures enter the quantiles as an infinite error. Per method and problem
(function), and over all problems (``problem = 'all'``, pooled rows):

``n`` rows, ``median_rel_error``, ``p90_rel_error``, ``failure_rate``,
``mean_evals`` (evaluations per derivative, as counted).

The **coverage table** asks the methods that report their own error estimate
(``error_estimate``: scipy.differentiate, numdifftools, jacobi, our
Stepleman-Winarsky and GMSW selectors, numericalderivative's exact-step
formulas) how often it covers the true error: over the rows with a finite
estimate, error estimate and true error, ``coverage`` = the fraction with
``abs_error <= error_estimate``, and the median and 90th percentile of
``error_estimate / abs_error`` (above 1: pessimistic; below: optimistic; an
exact estimate with a positive error estimate counts as infinitely
pessimistic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .markdown import markdown_table
from .curves import cell_keys
from .store import atomic_path, write_parquet

__all__ = ["ALL_PROBLEMS", "SCORED_FILE", "candidate_rows", "coverage_table", "leaderboard", "leaderboard_markdown",
           "scored_rows", "write_leaderboard"]

#: ``reference_method`` of rows scored against a best estimate, which the leaderboard leaves out.
ESTIMATE = "estimate"
#: ``problem`` of the rows pooled over all problems.
ALL_PROBLEMS = "all"
LEADERBOARD_FILE = "leaderboard"
COVERAGE_FILE = "coverage"
#: The rows a run's leaderboard scores (:func:`candidate_rows`), stored beside its results.
SCORED_FILE = "scored.parquet"
_GROUP = ["method", "kind", "dtype", "derivative_order"]


def _nearest_predicted(table: pd.DataFrame, models: pd.DataFrame | None) -> pd.DataFrame:
    """Per fixed-step curve with a model, its row nearest the predicted h* (in log h)."""
    fixed = table[~table["adaptive"].astype(bool)]
    if models is None or not len(models) or not len(fixed):
        return fixed.iloc[:0]
    keys = [k for k in cell_keys(fixed) if k in models.columns]
    text = {k: str for k in keys if fixed[k].dtype.name in ("category", "object") or models[k].dtype.name in
            ("category", "object")}
    pred = models[keys + ["predicted_h_star"]].astype(text)
    # Only the keys and h take part in the search (the table may be huge); whole rows are taken at the end.
    fixed = fixed.reset_index(drop=True)
    rows = fixed[keys + ["h"]].astype(text).assign(_row=np.arange(len(fixed))).merge(pred, on=keys, how="inner")
    rows = rows[np.isfinite(rows["h"]) & (rows["h"] > 0) & ~rows["predicted_h_star"].isna()]
    if not len(rows):
        return fixed.iloc[:0]
    log_h = np.log10(rows["h"].to_numpy(dtype=float))
    with np.errstate(divide="ignore"):
        target = np.log10(rows["predicted_h_star"].to_numpy(dtype=float))  # inf and 0 h* -> +-inf
    group = rows.groupby(keys, observed=True, sort=False).ngroup().to_numpy()
    lo = pd.Series(log_h).groupby(group).transform("min").to_numpy()
    hi = pd.Series(log_h).groupby(group).transform("max").to_numpy()
    distance = np.abs(log_h - np.clip(target, lo, hi))
    order = np.lexsort((log_h, distance, group))  # nearest first; ties: the smaller h
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    return fixed.iloc[rows["_row"].to_numpy()[np.sort(first)]]


def candidate_rows(table: pd.DataFrame, models: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows the leaderboard scores: every adaptive row, and per modelled curve its row nearest h*.

    Whole rows of ``table`` (any status). The sweep takes them block by
    block and stores them as ``scored.parquet``, so a leaderboard never scans
    a large table.
    """
    adaptive = table[table["adaptive"].astype(bool)]
    return pd.concat([adaptive.reset_index(drop=True), _nearest_predicted(table, models)], ignore_index=True)


def scored_rows(table: pd.DataFrame, models: pd.DataFrame | None = None, *, candidates: bool = False
                ) -> pd.DataFrame:
    """One row per method, point, component and number type (see the module docstring).

    Adds ``method`` (the scheme name), ``kind`` (``adaptive`` or ``at predicted h*``),
    ``rel_err`` (relative error, the absolute error where the reference is 0;
    inf for a non-finite estimate) and ``failed``.
    ``candidates``: ``table`` already holds :func:`candidate_rows` only.

    Examples
    --------
    >>> t = pd.DataFrame({"scheme": ["a", "a", "b"], "function": "f", "dtype": "float64", "adaptive": True,
    ...                   "reference_status": "ok", "reference": [2.0, 0.0, 0.0], "estimate": [2.2, 0.0, 3.0],
    ...                   "abs_error": [0.2, 0.0, 3.0], "rel_error": [0.1, np.nan, np.nan]})
    >>> scored_rows(t)[["method", "rel_err", "failed"]].to_numpy().tolist()
    [['a', 0.1, False], ['a', 0.0, False], ['b', 3.0, True]]
    """
    rows = table if candidates else candidate_rows(table, models)
    if not len(rows.columns):
        return _empty_scored()
    rows = rows[(rows["reference_status"].astype(str) == "ok") & ~_estimated(rows)].copy()
    finite = np.isfinite(rows["estimate"].to_numpy(dtype=float))
    rel = rows["rel_error"].to_numpy(dtype=float)
    rel = np.where(_zero_reference(rows), rows["abs_error"].to_numpy(dtype=float), rel)
    rel = np.where(finite, rel, np.inf)
    rel = np.where(np.isnan(rel), np.inf, rel)
    rows["method"] = rows["scheme"].astype(str)
    rows["kind"] = np.where(rows["adaptive"].astype(bool), "adaptive", "at predicted h*")
    rows["problem"] = rows["function"].astype(str)
    rows["dtype"] = rows["dtype"].astype(str)
    rows["rel_err"] = rel
    rows["failed"] = ~(rel <= 1)
    return rows


def _empty_scored() -> pd.DataFrame:
    return pd.DataFrame(columns=["method", "kind", "problem", "dtype", "derivative_order", "rel_err", "failed",
                                 "n_evals", "error_estimate", "abs_error", "estimate"])


def _zero_reference(rows: pd.DataFrame) -> np.ndarray:
    """Rows whose reference derivative is exactly 0 (scored by their absolute error)."""
    if "reference" not in rows.columns:  # hand-made tables of errors only
        return np.zeros(len(rows), dtype=bool)
    return rows["reference"].to_numpy(dtype=float) == 0


def _estimated(rows: pd.DataFrame) -> np.ndarray:
    """Rows scored against a best estimate (tables written before user functions have none)."""
    if "reference_method" not in rows.columns:
        return np.zeros(len(rows), dtype=bool)
    return rows["reference_method"].astype(str).to_numpy() == ESTIMATE


def _quantile(values: np.ndarray, q: float) -> float:
    """Linear quantile in which any weight on an infinite value makes the result infinite.

    numpy interpolates ``inf - inf`` to NaN, and clipping to the largest
    float gives made-up numbers such as 7e307 between a finite value and a
    failure.

    Examples
    --------
    >>> _quantile(np.array([1e-8] * 6 + [np.inf]), 0.9), _quantile(np.array([1.0, 2.0, np.inf]), 0.5)
    (inf, 2.0)
    """
    if values.size == 0:
        return float("nan")
    v = np.sort(values)
    pos = q * (v.size - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    frac = pos - lo
    if frac == 0 or v[hi] == v[lo]:
        return float(v[lo])
    if not np.isfinite(v[hi]):
        return float("inf")
    return float(v[lo] + frac * (v[hi] - v[lo]))


def _summaries(rows: pd.DataFrame, stats: dict[str, tuple[str, Callable[[np.ndarray], float]]]) -> pd.DataFrame:
    """``stats`` per (method group, problem) and per method group over all problems."""
    if not len(rows):
        return pd.DataFrame(columns=[*_GROUP, "problem", "n", *stats])
    frames = []
    for by_problem in (True, False):
        keys = _GROUP + (["problem"] if by_problem else [])
        for key, g in rows.groupby(keys, observed=True, sort=False):
            key = dict(zip(keys, key))
            out = {**key, "problem": key.get("problem", ALL_PROBLEMS), "n": len(g)}
            out.update({name: fn(g[col].to_numpy(dtype=float)) for name, (col, fn) in stats.items()})
            frames.append(out)
    return pd.DataFrame(frames)


def leaderboard(table: pd.DataFrame, models: pd.DataFrame | None = None, *, candidates: bool = False
                ) -> pd.DataFrame:
    """Median and 90th-percentile relative error, failure rate and mean evaluations per method and problem.

    Rows over all problems (``problem == 'all'``) come first, best median first.
    """
    rows = scored_rows(table, models, candidates=candidates)
    board = _summaries(rows, {
        "median_rel_error": ("rel_err", lambda v: _quantile(v, 0.5)),
        "p90_rel_error": ("rel_err", lambda v: _quantile(v, 0.9)),
        "failure_rate": ("failed", lambda v: float(np.mean(v))),
        "mean_evals": ("n_evals", lambda v: float(np.mean(v))),
    })
    return _order(board, ["median_rel_error", "p90_rel_error", "failure_rate"])


def coverage_table(table: pd.DataFrame, models: pd.DataFrame | None = None, *, candidates: bool = False
                   ) -> pd.DataFrame:
    """How often each method's own error estimate covers its true error (see the module docstring)."""
    rows = scored_rows(table, models, candidates=candidates)
    est = rows["error_estimate"].to_numpy(dtype=float)
    err = rows["abs_error"].to_numpy(dtype=float)
    keep = np.isfinite(est) & np.isfinite(err) & np.isfinite(rows["estimate"].to_numpy(dtype=float))
    rows = rows[keep].copy()
    est, err = est[keep], err[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err > 0, est / err, np.where(est > 0, np.inf, 1.0))
    rows["covered"] = err <= est
    rows["ratio"] = ratio
    cov = _summaries(rows, {
        "coverage": ("covered", lambda v: float(np.mean(v))),
        "median_ratio": ("ratio", lambda v: _quantile(v, 0.5)),
        "p90_ratio": ("ratio", lambda v: _quantile(v, 0.9)),
    })
    return _order(cov, ["coverage"], ascending=False)


def _order(frame: pd.DataFrame, by: list[str], ascending: bool = True) -> pd.DataFrame:
    if not len(frame):
        return frame
    overall = frame["problem"] == ALL_PROBLEMS
    first = frame[overall].sort_values(by, ascending=ascending, kind="stable")
    rank = {m: i for i, m in enumerate(first["method"])}
    rest = frame[~overall].assign(_r=frame.loc[~overall, "method"].map(rank))
    rest = rest.sort_values(["problem", "_r"], kind="stable").drop(columns="_r")
    return pd.concat([first, rest], ignore_index=True)


def _fmt(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        if np.isnan(v):
            return ""
        return "inf" if np.isinf(v) else f"{v:.3g}"
    return str(v)


def _md_table(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    cols = [c for c in columns if c in frame.columns]
    return markdown_table(cols, frame[cols].itertuples(index=False), _fmt)


BOARD_COLUMNS = ["method", "kind", "dtype", "n", "median_rel_error", "p90_rel_error", "failure_rate", "mean_evals"]
COVERAGE_COLUMNS = ["method", "dtype", "n", "coverage", "median_ratio", "p90_ratio"]


def leaderboard_markdown(board: pd.DataFrame, coverage: pd.DataFrame, *, title: str = "",
                         per_problem: bool = True, estimated: int = 0, zero: int = 0) -> str:
    """The leaderboard and coverage tables as Markdown: over all problems, then per problem.

    ``estimated``: rows left out because their reference is a best estimate;
    ``zero``: rows scored by their absolute error (the reference is 0). Both said in the text.
    """
    left_out = (f" {estimated} rows scored against a best estimate (reference_method=estimate: Python functions "
                "without an mpmath evaluation or derivative) are left out." if estimated else "")
    left_out += (f" {zero} rows where the derivative is exactly 0 are scored by their absolute error." if zero
                 else "")
    lines = [f"# Leaderboard: {title}" if title else "# Leaderboard", "",
             "Relative error of every method on the same points and reference (adaptive methods at the step "
             "they chose; fixed-step curves with an error model at the grid step nearest the predicted h*). "
             "A failure is a non-finite estimate or a relative error above 1 (counted as an infinite error)."
             + left_out, "", "## All problems", ""]
    lines += _md_table(board[board["problem"] == ALL_PROBLEMS], BOARD_COLUMNS)
    lines += ["", "## Coverage of the methods' own error estimates", "",
              "coverage: fraction of rows with true error <= the method's error estimate; ratio: error "
              "estimate / true error (above 1 pessimistic, below 1 optimistic).", ""]
    lines += _md_table(coverage[coverage["problem"] == ALL_PROBLEMS], COVERAGE_COLUMNS)
    if per_problem:
        for problem in dict.fromkeys(board.loc[board["problem"] != ALL_PROBLEMS, "problem"]):
            lines += ["", f"## {problem}", ""]
            lines += _md_table(board[board["problem"] == problem], BOARD_COLUMNS)
            cov = coverage[coverage["problem"] == problem]
            if len(cov):
                lines += ["", "Coverage:", ""] + _md_table(cov, COVERAGE_COLUMNS)
    return "\n".join(lines) + "\n"


def write_leaderboard(candidates: pd.DataFrame, out: str | Path, *, title: str = ""
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``leaderboard.{parquet,csv,md}`` and ``coverage.{parquet,csv}`` into ``out``; return both tables.

    ``candidates``: the rows to score (:func:`candidate_rows` of the run's
    table, as the sweep stores them in ``scored.parquet``).
    """
    out = Path(out)
    board = leaderboard(candidates, candidates=True)
    coverage = coverage_table(candidates, candidates=True)
    for frame, stem in ((board, LEADERBOARD_FILE), (coverage, COVERAGE_FILE)):
        write_parquet(frame, out / f"{stem}.parquet")
        with atomic_path(out / f"{stem}.csv") as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")
    estimated = zero = 0
    if len(candidates.columns):
        estimated = int(_estimated(candidates).sum())
        reliable = (candidates["reference_status"].astype(str) == "ok").to_numpy() & ~_estimated(candidates)
        zero = int((_zero_reference(candidates) & reliable).sum())
    with atomic_path(out / f"{LEADERBOARD_FILE}.md") as tmp:
        tmp.write_text(leaderboard_markdown(board, coverage, title=title, estimated=estimated, zero=zero))
    return board, coverage
