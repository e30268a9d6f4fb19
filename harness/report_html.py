"""``report.html``: one self-contained page to browse a run or a collected sweep.

Everything comes from what the run directory stores: the tidy table, the
summary, ``meta.json`` (and ``manifest.json`` of a collected sweep), optional
tables such as ``leaderboard.parquet``, and the figure files. The page is
rendered with jinja2 from ``harness/templates/report.html.j2``; its CSS and
a small plain JavaScript (sorting, filtering) are inlined from the same
folder and every figure is inlined as SVG, so the file opens anywhere and
fetches nothing.

Sections: provenance; the summary (one row per curve, sortable, filterable
by function, scheme, number type and status, each row linking to its
figure); optional tables; the figures per function and point with the
observed and predicted h* beside each; the rows that are not ok, grouped by
status and reason.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .analysis import SUMMARY_MD_COLUMNS, format_value
from .curves import cell_keys
from .table import CELL
from .figure_names import FIGURE_KEY, figure_files
from .store import (CURVES_FILE, FIGURES_DIR, MODEL_FILE, RESULTS_FILE, atomic_path, read_meta, read_results,
                    results_path)
from .svg_inline import figure_markup

__all__ = ["MAX_TABLE_ROWS", "OPTIONAL_TABLES", "REPORT_FILE", "RowDigest", "write_report"]

REPORT_FILE = "report.html"
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Tables shown after the summary when the run directory has them, in this order; any other extra
#: ``*.parquet`` of the run directory follows, titled by its file name.
OPTIONAL_TABLES = (("leaderboard.parquet", "Leaderboard"), ("coverage.parquet", "Coverage"),
                   ("noise.parquet", "Noise estimates (ECnoise)"))
_NOT_OPTIONAL = {RESULTS_FILE, MODEL_FILE, CURVES_FILE, "summary.parquet", "scored.parquet"}
#: At most this many rows per table in the page (the full tables are in the run directory).
MAX_TABLE_ROWS = 5000
#: ... and at most this many of an optional table (they are meant to be small: rankings, coverage).
MAX_EXTRA_ROWS = 1000
EXAMPLES_PER_GROUP = 3

#: Header and tooltip of the summary's columns.
LABELS = {
    "function": ("function", ""),
    "point": ("point", "the point evaluated, after rounding to the number type"),
    "derivative": ("derivative", "partial derivative (component, order)"),
    "scheme": ("scheme", ""),
    "dtype": ("number type", ""),
    "step_scale": ("step scale", "absolute h, or relative h * max(1, |x|)"),
    "job": ("job", "job of the multirun"),
    "accuracy_order": ("p", "accuracy order in theory"),
    "observed_order": ("observed order", "slope fitted over the detected truncation regime"),
    "h_star": ("h*", "argmin of the error on the grid (or the floor's edge, for curves without an optimum)"),
    "observed_h_star": ("h* (RMS)", "argmin of the error's RMS over +-0.25 decades"),
    "predicted_h_star": ("predicted h*", "the error model's optimal step"),
    "h_star_ratio": ("h* ratio", "observed / predicted: h* (RMS) / predicted h*"),
    "min_abs_error": ("min error", "smallest absolute error over h"),
    "predicted_min_error": ("predicted min error", "the error model at its optimal step"),
    "n_evals": ("evals", "function evaluations per derivative"),
    "reference_digits": ("reference digits", "digits on which the reference checks agree"),
    "reference_method": ("reference", "arb (certified), mpmath_checked, analytic (a user's derivative) or estimate "
                                      "(Ridders' extrapolation of a user's function, not certified)"),
    "status": ("status", "row statuses of the curve (with counts when not ok)"),
}
#: Columns beside each figure.
FIGURE_CURVE_COLUMNS = ["scheme", "dtype", "step_scale", "job", "h_star", "observed_h_star", "predicted_h_star",
                        "h_star_ratio", "min_abs_error", "accuracy_order", "observed_order"]
#: Shorter headers in the narrow tables beside the figures.
FIGURE_CURVE_LABELS = {"dtype": "type", "observed_order": "order", "step_scale": "scale"}
EXAMPLE_COLUMNS = ["function", "point", "component", "scheme", "dtype", "h", "h_used", "estimate",
                   "reference_status", "reference_digits"]
REFERENCE_REASONS = {
    "complex": "the mpmath reference is complex (the function is not real around the point)",
    "nonfinite": "the mpmath reference is infinite or NaN (a pole, or outside the domain)",
    "disagree": "the reference checks disagree (fewer than reference.min_digits digits agree: a kink?)",
    "undefined": "the reference is undefined at the point",
    "error": "mpmath raised an error while computing the reference",
}
_SUPERSCRIPT = {2: "\u00b2", 3: "\u00b3", 4: "\u2074"}


@dataclass(frozen=True)
class RowDigest:
    """What the page needs of the results table: its size, status counts, expressions and the rows not ok.

    Taken from a table in memory (:meth:`of_table`) or read from a run
    directory without loading the whole table (:meth:`of_run`): the page of
    a run with millions of rows reads three columns and the rows not ok.
    """

    n_rows: int
    statuses: dict[str, int]
    expressions: dict[str, str]
    bad: pd.DataFrame

    @classmethod
    def of_table(cls, table: pd.DataFrame) -> "RowDigest":
        return cls._of(table, table[_shown_columns(table)][~_equals(table["status"], "ok")])

    @classmethod
    def of_run(cls, run_dir: str | Path) -> "RowDigest":
        light = pd.read_parquet(results_path(run_dir), columns=["status", "function", "expression"])
        bad = read_results(run_dir, exclude_statuses=["ok"], columns=_shown_columns(light, everything=True))
        return cls._of(light, bad)

    @classmethod
    def _of(cls, table: pd.DataFrame, bad: pd.DataFrame) -> "RowDigest":
        if not len(table):
            return cls(0, {}, {}, bad)
        counts = table["status"].value_counts()  # on the categorical's codes: no string per row
        firsts = table.groupby("function", observed=True)["expression"].first()
        return cls(len(table), {str(k): int(v) for k, v in counts.items() if v},
                   {str(k): str(v) for k, v in firsts.items()}, bad.reset_index(drop=True))


def _equals(column: pd.Series, value: str) -> np.ndarray:
    """``column == value`` as a bool array; on a categorical's codes (no string per row of a large table)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = list(map(str, column.cat.categories))
        if value not in categories:
            return np.zeros(len(column), dtype=bool)
        return column.cat.codes.to_numpy() == categories.index(value)
    return column.astype(str).to_numpy() == value


def _shown_columns(table: pd.DataFrame, *, everything: bool = False) -> list[str]:
    """The columns the page shows of the rows not ok (only these are copied out of a large table).

    ``everything``: all that may exist (``table`` may hold only some columns; ``job`` is kept when present).
    """
    wanted = [*CELL, "job", "status", "reference_status", "estimate", "reference_digits", *EXAMPLE_COLUMNS]
    return list(dict.fromkeys(wanted)) if everything else [c for c in dict.fromkeys(wanted) if c in table.columns]


def write_report(run_dir: str | Path, summary: pd.DataFrame, rows: RowDigest, *, figures: bool = True) -> Path:
    """Write ``report.html`` of a run directory from its stored outputs.

    Parameters
    ----------
    run_dir : path
        The run (or collected sweep) directory; ``meta.json`` and the figure
        files are read from it.
    summary : DataFrame
        Its summary (:func:`harness.analysis.summarize_curves`).
    rows : RowDigest
        What the page shows of its results table.
    figures : bool
        Inline the figures found in ``figures/`` (False when plotting is
        disabled: the page says how to draw them).

    Returns
    -------
    Path
        The report file.
    """
    run_dir = Path(run_dir)
    meta = read_meta(run_dir)
    manifest = _read_json(run_dir / "manifest.json")
    sections, anchors, undrawn = figure_sections(run_dir, rows, summary) if figures else ([], {}, 0)
    page = _template().render(
        title=str(meta.get("experiment") or run_dir.name),
        description=meta.get("description") or "",
        provenance=provenance(meta, manifest, rows),
        summary=summary_view(summary, rows.bad, anchors),
        extras=optional_tables(run_dir),
        figures_enabled=figures,
        run_figures=run_figures(run_dir) if figures else [],
        figure_sections=sections,
        undrawn=undrawn,
        not_ok=not_ok_groups(rows.bad),
        css=_asset("report.css"),
        script=_asset("report.js"),
    )
    path = run_dir / REPORT_FILE
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


# -- provenance -------------------------------------------------------------------------------------------------
def provenance(meta: Mapping[str, Any], manifest: Mapping[str, Any], rows: RowDigest) -> dict[str, Any]:
    """What produced the run: fields of ``meta.json``, the row status counts and, when collected, the jobs.

    A collected sweep's ``meta.json`` is its first job's; the fields that differ per job (overrides, times,
    fingerprint, reference cache, floating-point warnings) are left out and every job is listed instead.
    """
    collected = bool(manifest) or "collected_from" in meta
    if collected:
        meta = {k: v for k, v in meta.items() if k not in ("overrides", "started", "finished", "seconds",
                                                           "fingerprint", "reference_cache",
                                                           "floating_point_warnings")}
    plat = meta.get("platform") or {}
    overrides = meta.get("overrides")
    seconds = meta.get("seconds")
    fields = [
        ("experiment", meta.get("experiment")),
        ("description", meta.get("description")),
        ("overrides", " ".join(str(o) for o in overrides) if overrides else "(none)" if overrides == [] else None),
        ("started", meta.get("started")),
        ("finished", meta.get("finished")),
        ("run time", f"{seconds} s" if seconds is not None else None),
        ("rows", f"{rows.n_rows:,}"),
        ("git commit", meta.get("git_commit")),
        ("host", plat.get("host")),
        ("platform", " ".join(str(plat[k]) for k in ("system", "machine", "python_implementation") if plat.get(k))
         + (f", {plat['byteorder']}-endian" if plat.get("byteorder") else "")),
        ("fingerprint", (meta.get("fingerprint") or "")[:16] or None),
        ("collected from", meta.get("collected_from")),
        ("collected", manifest.get("collected")),
        ("Python functions", "; ".join(
            f"{name}: {rec.get('target')} (reference: {rec.get('reference')}; {rec.get('evaluations_total')} "
            f"evaluations in the sweep)" for name, rec in (meta.get("user_functions") or {}).items()) or None),
    ]
    statuses = list(rows.statuses.items())
    warnings = meta.get("floating_point_warnings") or {}
    totals: dict[str, int] = {}
    for events in warnings.values():
        for event, n in events.items():
            totals[event] = totals.get(event, 0) + int(n)
    cache = meta.get("reference_cache") or {}
    jobs = manifest.get("jobs") or []
    return {
        "fields": [(k, str(v)) for k, v in fields if v not in (None, "")],
        "statuses": statuses,
        "versions": [(k, v) for k, v in (meta.get("versions") or {}).items() if v],
        "fp_totals": sorted(totals.items()),
        "fp_blocks": [(block, ", ".join(f"{e} {n}" for e, n in sorted(ev.items()))) for block, ev in
                      sorted(warnings.items())],
        "cache": [(k, cache[k]) for k in ("hits", "misses", "disk_hits", "directory") if cache.get(k) is not None],
        "job_counts": [(k, v) for k, v in (manifest.get("counts") or {}).items() if v],
        "jobs": [(j.get("job", ""), j.get("status", ""), " ".join(j.get("overrides") or []), j.get("rows", ""),
                  j.get("reason", "")) for j in jobs],
        "collected": collected,
        "config": json.dumps(meta.get("config"), indent=1, sort_keys=True, default=str) if meta.get("config")
        else "",
    }


# -- tables -----------------------------------------------------------------------------------------------------
def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def table_view(frame: pd.DataFrame, columns: Sequence[str], max_rows: int | None = None,
               nonfinite: Sequence[str] = (), labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Header and cells of a table for the template: numbers to 3 significant digits, each with its sort value.

    Returns ``{"head": [(name, label, tooltip, numeric)], "rows": [[(text, sort value or None)]],
    "total": rows in the frame}``; at most ``max_rows`` (default :data:`MAX_TABLE_ROWS`) rows are kept.
    Non-finite numbers are blank, except in the ``nonfinite`` columns, where they read nan, inf or -inf.
    Headers come from :data:`LABELS`, or ``labels`` where given.
    """
    shown = frame.iloc[:MAX_TABLE_ROWS if max_rows is None else max_rows]
    head, cells = [], []
    for name in columns:
        col = shown[name]
        numeric = _is_number(col)
        label, tip = LABELS.get(name, (name, ""))
        head.append((name, (labels or {}).get(name, label), tip, numeric))
        values = col.to_numpy()
        if numeric:
            spelled = name in nonfinite
            cells.append([_number_cell(v, f, spelled) for v, f in zip(values, values.astype(float).tolist())])
        else:
            cells.append([("" if v is None or v is pd.NA else str(v), None) for v in values])
    rows = [list(r) for r in zip(*cells)] if cells else []
    return {"head": head, "rows": rows, "total": len(frame)}


def _number_cell(value: Any, f: float, spell_nan: bool) -> tuple[str, str]:
    """(text, sort value) of a number; the sort value is what JavaScript's ``Number()`` reads ('' for NaN)."""
    if np.isfinite(f):
        return format_value(value), repr(f)
    if np.isnan(f):
        return ("nan" if spell_nan else ""), ""
    return ("inf", "Infinity") if f > 0 else ("-inf", "-Infinity")


def derivative_labels(frame: pd.DataFrame) -> list[str]:
    """``∂/∂x0``, ``∂²/∂x0∂x1``, ``∂²/∂x0²`` per row of a frame with component, component2, derivative_order."""
    out = []
    for c, c2, m in zip(frame["component"].to_numpy(), frame["component2"].to_numpy(),
                        frame["derivative_order"].to_numpy()):
        if c2 >= 0:
            out.append(f"\u2202\u00b2/\u2202x{c}\u2202x{c2}")
        else:
            sup = "" if m == 1 else _SUPERSCRIPT.get(int(m), f"^{m}")
            out.append(f"\u2202{sup}/\u2202x{c}{sup}")
    return out


def _text_keys_typed(frame: pd.DataFrame) -> list[tuple]:
    """FIGURE_KEY of every row as :func:`harness.figure_names.figure_files` keys them (function as str)."""
    cols = [frame["function"].astype(str).to_numpy(), *(frame[k].to_numpy(dtype=np.int64) for k in FIGURE_KEY[1:])]
    return [(f, *map(int, rest)) for f, *rest in zip(*cols)]


def _text_keys(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[str, ...]]:
    return list(zip(*(frame[k].astype(str).to_numpy() for k in keys))) if len(frame) else []


def curve_statuses(summary: pd.DataFrame, bad: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Per summary row: its row statuses as filter tokens (``'ok step_underflow'``) and as text.

    Only the rows that are not ok (``bad``) are grouped: few, usually, so this stays cheap on large runs.
    """
    keys = [k for k in cell_keys(bad) if k in summary.columns]
    per_curve: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    if len(bad):
        counts = bad.groupby([*keys, "status"], observed=True).size()
        for idx, n in counts[counts > 0].items():
            per_curve.setdefault(tuple(str(v) for v in idx[:-1]), []).append((str(idx[-1]), int(n)))
    tokens, texts = [], []
    n_ok, n_rows = summary["n_ok"].to_numpy(), summary["n_rows"].to_numpy()
    for key, ok, rows in zip(_text_keys(summary, keys), n_ok, n_rows):
        found = per_curve.get(key, [])
        tok = (["ok"] if ok > 0 else []) + [s for s, _ in found]
        tokens.append(" ".join(tok))
        texts.append(", ".join((["ok"] if ok > 0 else []) + [f"{s} {n}/{rows}" for s, n in found]))
    return tokens, texts


def summary_view(summary: pd.DataFrame, bad: pd.DataFrame, anchors: Mapping[tuple, str]) -> dict[str, Any]:
    """The summary table: cells, per-row filter attributes, the status column and the figure link."""
    frame = summary.assign(derivative=derivative_labels(summary)) if len(summary) else summary.assign(derivative=[])
    cols = ["derivative" if c == "component" else c for c in SUMMARY_MD_COLUMNS if c in summary.columns]
    at = cols.index("dtype") + 1 if "dtype" in cols else len(cols)
    varying = [c for c in ("step_scale", "job") if c in frame.columns and frame[c].nunique() > 1]
    cols[at:at] = varying
    view = table_view(frame, cols)
    shown = frame.iloc[:MAX_TABLE_ROWS]
    tokens, texts = curve_statuses(shown, bad) if len(shown) else ([], [])
    filter_keys = ["function", "scheme", "dtype", *varying, "status"]
    attrs = {k: shown[k].astype(str).to_list() for k in filter_keys if k != "status"}
    attrs["status"] = tokens
    figure_keys = _text_keys(shown, FIGURE_KEY)
    rows = []
    for i, cells in enumerate(view["rows"]):
        rows.append({"cells": cells, "status": texts[i], "link": anchors.get(figure_keys[i]),
                     "attrs": [(k, attrs[k][i]) for k in filter_keys]})
    options = {k: list(dict.fromkeys(attrs[k])) for k in filter_keys if k != "status"}
    options["status"] = list(dict.fromkeys(t for row in tokens for t in row.split()))
    return {"head": view["head"], "rows": rows, "total": view["total"],
            "filters": [(k, LABELS.get(k, (k, ""))[0], options[k]) for k in filter_keys]}


def optional_tables(run_dir: Path) -> list[dict[str, Any]]:
    """Extra tables of the run directory (:data:`OPTIONAL_TABLES` first, then any other extra ``*.parquet``)."""
    named = dict(OPTIONAL_TABLES)
    files = [run_dir / name for name in named if (run_dir / name).is_file()]
    files += sorted(p for p in run_dir.glob("*.parquet") if p.name not in named and p.name not in _NOT_OPTIONAL)
    out = []
    for path in files:
        entry = {"title": named.get(path.name, path.stem.replace("_", " ").capitalize()), "file": path.name,
                 "error": None, "table": None}
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # a damaged extra must not cost the whole report
            entry["error"] = str(exc)
        else:
            frame.columns = [str(c) for c in frame.columns]
            entry["table"] = table_view(frame, list(frame.columns), max_rows=min(MAX_TABLE_ROWS, MAX_EXTRA_ROWS))
        out.append(entry)
    return out


# -- figures ----------------------------------------------------------------------------------------------------
#: Figures of the whole run (file stem in figures/, caption), shown before the per-function figures when drawn.
RUN_FIGURES = (("leaderboard", "Leaderboard: median and 90th-percentile relative error against evaluations per "
                "derivative, one marker per method (see the leaderboard table)."),
               ("formats", "Number formats: observed (filled) and predicted (hollow) h* and minimal relative error "
                "against the unit round-off of each number type."))


def run_figures(run_dir: Path) -> list[dict[str, str]]:
    """The run-wide figures that were drawn (leaderboard, number formats), inlined."""
    out = []
    for stem, caption in RUN_FIGURES:
        markup = figure_markup(run_dir / FIGURES_DIR / stem, f"r{len(out)}-", html.escape(caption.split(":")[0]))
        if markup is not None:
            out.append({"anchor": f"run-figure-{stem}", "markup": markup, "caption": caption})
    return out


def figure_sections(run_dir: Path, rows: RowDigest, summary: pd.DataFrame
                    ) -> tuple[list[dict[str, Any]], dict[tuple, str], int]:
    """The drawn figures grouped per function and point, each with its curves' observed and predicted h*.

    Returns the sections, the page anchor of each drawn figure (keyed by the
    figure key as text) and how many figures were not drawn (``plot.max_figures``).
    """
    if not len(summary):
        return [], {}, 0
    files, comparisons = figure_files(run_dir, summary)
    # Only the cells whose figure was drawn are laid out (a large run draws plot.max_figures of thousands).
    drawn = {key for key, path in files.items() if path.with_name(path.name + ".svg").is_file()
             or path.with_name(path.name + ".png").is_file()}
    undrawn = len(files) - len(drawn)
    functions = list(dict.fromkeys(summary["function"].astype(str)))
    order = {f: i for i, f in enumerate(functions)}
    shown = summary[[key in drawn for key in _text_keys_typed(summary)]]
    cells = shown.assign(_f=shown["function"].astype(str).map(order)).sort_values(
        ["_f", *FIGURE_KEY[1:]], kind="stable")
    groups = list(cells.groupby(["_f", *FIGURE_KEY[1:]], sort=False))
    keys = [(functions[k[0]], *(int(v) for v in k[1:])) for k, _ in groups]
    curve_cols = [c for c in FIGURE_CURVE_COLUMNS if c in summary.columns
                  and (c not in ("step_scale", "job") or summary[c].nunique() > 1)]
    sections: dict[str, dict[str, Any]] = {}
    anchors: dict[tuple, str] = {}
    for i, (key, (_, curves)) in enumerate(zip(keys, groups)):
        function = key[0]
        anchor = f"fig-{i}"
        title = f"{function} at {curves['point'].iloc[0]}: {derivative_labels(curves.iloc[:1])[0]}"
        markup = figure_markup(files[key], f"f{i}-", html.escape(title))
        if markup is None:  # removed since
            undrawn += 1
            continue
        anchors[tuple(str(v) for v in key)] = anchor
        section = sections.get(function)
        if section is None:
            compare = [figure_markup(path, f"c{len(sections)}m{m}-", html.escape(
                f"{function}: accuracy against cost" + ("" if m == 1 else f" (derivative order {m})")))
                for (f, m), path in comparisons.items() if f == function]
            section = sections[function] = {"function": function, "expression": rows.expressions.get(function, ""),
                                            "compare": [c for c in compare if c is not None], "points": {}}
        point = section["points"].setdefault(key[1], {"label": str(curves["point"].iloc[0]), "figures": []})
        point["figures"].append({"anchor": anchor, "title": title, "markup": markup,
                                 "curves": table_view(curves, curve_cols, labels=FIGURE_CURVE_LABELS)})
    out = [{**s, "points": list(s["points"].values())} for s in sections.values()]
    return out, anchors, undrawn


# -- rows that are not ok ---------------------------------------------------------------------------------------
def not_ok_groups(bad: pd.DataFrame, examples: int = EXAMPLES_PER_GROUP) -> list[dict[str, Any]]:
    """The rows not ok, grouped by status and reason: count, functions, schemes, a few examples.

    The reason follows from the status, the reference status, the number type and whether the estimate is
    NaN or infinite; the rows are grouped on those (categorical) columns first, so large tables stay cheap.
    """
    if not len(bad):
        return []
    estimate = bad["estimate"].to_numpy(dtype=float)
    value = pd.Series(np.where(np.isnan(estimate), "NaN", np.where(np.isinf(estimate), "infinite", "finite")),
                      index=bad.index)
    by_reason: dict[tuple[str, str], list[pd.Index]] = {}
    for (status, reference, dtype, kind), index in bad.groupby(
            [bad["status"], bad["reference_status"], bad["dtype"], value], observed=True, sort=False).groups.items():
        by_reason.setdefault((str(status), _reason(str(status), str(reference), str(dtype), kind)), []).append(index)
    groups = []
    for (status, reason), indexes in by_reason.items():
        rows = bad.loc[indexes[0].append(indexes[1:]) if len(indexes) > 1 else indexes[0]]
        # Examples from different curves where there are several.
        varied = rows.iloc[:10_000].drop_duplicates(["function", "point_index", "component", "scheme", "dtype"])
        picked = pd.concat([varied.iloc[:examples], rows.iloc[:examples]]).iloc[:examples]
        view = table_view(picked, [c for c in EXAMPLE_COLUMNS if c in rows.columns], nonfinite=("estimate",))
        groups.append({"status": status, "reason": reason, "count": len(rows), "functions": _names(rows["function"]),
                       "schemes": _names(rows["scheme"]), "examples": {**view, "total": len(rows)}})
    return sorted(groups, key=lambda g: (g["status"], -g["count"]))


def _reason(status: str, reference: str, dtype: str, value: str) -> str:
    """Why a row is not ok, in words."""
    if status == "unreliable_reference":
        return REFERENCE_REASONS.get(reference, f"reference {reference}")
    if status == "step_underflow":
        return f"h_used = (x + h) - x is 0 in {dtype}"
    return f"the estimate is {value} in {dtype}"


def _names(column: pd.Series, most: int = 8) -> str:
    names = [str(v) for v in column.unique()]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


# -- template -----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2")


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
