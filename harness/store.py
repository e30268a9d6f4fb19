"""Atomic reading and writing of run outputs.

A run directory holds ``results.parquet`` (the tidy table), ``meta.json``
(provenance) and ``figures/``. Every file is written to a temporary name in
the same directory and renamed into place, so a killed run never leaves a
half-written file under a final name. While a sweep runs, each finished
(function, number type) block is stored under ``parts/``; an interrupted run
keeps those.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ResultsError

RESULTS_FILE = "results.parquet"
MODEL_FILE = "model.parquet"
CURVES_FILE = "curves.parquet"
NOISE_FILE = "noise.parquet"
META_FILE = "meta.json"
PARTS_DIR = "parts"
FIGURES_DIR = "figures"
_VERSIONED = ("numdiff-harness", "numpy", "pandas", "pyarrow", "matplotlib", "mpmath", "hydra-core", "omegaconf",
              "scipy", "numdifftools", "jacobi", "numericalderivative", "findiff", "sympy")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Mode of every file the harness writes: what ``open`` would give (0666 less the umask), not mkstemp's 0600.
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success.

    The temporary file is named ``.<name>.<random>.tmp`` (:func:`remove_stale_temporaries`
    clears those a killed writer left) and gets the usual file mode before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete the ``.*.tmp`` files a killed writer left in ``folder``; returns how many."""
    stale = list(Path(folder).glob(".*.tmp")) if Path(folder).is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


#: Rows per Parquet row group: small enough that reading the rows of a few points (a report's
#: figures) decodes a few groups, not the whole table; large enough to cost nothing in speed.
ROW_GROUP_ROWS = 65536


def write_parquet(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table to Parquet atomically."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, engine="pyarrow", index=False, row_group_size=ROW_GROUP_ROWS)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


#: Columns a results table must have to be read as one (the rest of the schema may grow).
REQUIRED_COLUMNS = ("function", "point_index", "component", "component2", "derivative_order", "scheme",
                    "scheme_kind", "dtype", "step_scale", "h", "h_used", "estimate", "abs_error", "status")


def read_table(path: str | os.PathLike[str], required: tuple[str, ...] = (),
               where: Mapping[str, Iterable[Any]] | None = None,
               exclude: Mapping[str, Iterable[Any]] | None = None,
               columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A Parquet table, or :class:`ResultsError` naming the file and what is wrong with it.

    ``where`` ({column: values}) keeps the rows whose column holds one of the
    values, ``exclude`` drops those that do; row groups whose statistics
    rule out every wanted row are never read, so selecting a few points of a
    huge table reads a few row groups. ``columns``: read only these (and
    the filtered ones).
    """
    path = Path(path)
    try:
        if where or exclude:
            table = _read_selected(path, {c: set(v) for c, v in (where or {}).items()},
                                   {c: set(v) for c, v in (exclude or {}).items()}, columns)
        else:
            table = pd.read_parquet(path, engine="pyarrow", columns=list(columns) if columns else None)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ResultsError(f"{path} is not a readable Parquet table ({type(exc).__name__}: {exc})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ResultsError(f"{path} is not a harness results table: it lacks the columns {', '.join(missing)}")
    return table


def _read_selected(path: Path, where: dict[str, set[Any]], exclude: dict[str, set[Any]],
                   columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows matching ``where`` and not ``exclude``, reading only row groups whose min/max allow such a row."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    names = pf.metadata.schema.names

    def may_match(group: int) -> bool:
        meta = pf.metadata.row_group(group)
        for column in (c for c in {*where, *exclude} if c in names):
            stats = meta.column(names.index(column)).statistics
            if stats is None or not stats.has_min_max:
                continue
            if column in where and not any(stats.min <= v <= stats.max for v in where[column]):
                return False
            if column in exclude and stats.min == stats.max and stats.min in exclude[column]:
                return False  # every row of the group is excluded
        return True

    groups = [g for g in range(pf.metadata.num_row_groups) if may_match(g)]
    wanted = None if columns is None else [c for c in dict.fromkeys([*columns, *where, *exclude]) if c in names]
    table = (pf.read_row_groups(groups, columns=wanted) if groups else pf.schema_arrow.empty_table()).to_pandas()
    if wanted is not None:
        table = table[[c for c in wanted if c in table.columns]]
    keep = np.ones(len(table), dtype=bool)
    for column in where:
        if column in table.columns:
            keep &= table[column].isin(where[column]).to_numpy()
    for column in exclude:
        if column in table.columns:
            keep &= ~table[column].isin(exclude[column]).to_numpy()
    return table[keep].reset_index(drop=True)


def read_results(run_dir: str | os.PathLike[str], *, functions: Iterable[str] | None = None,
                 point_indices: Iterable[int] | None = None,
                 exclude_statuses: Iterable[str] | None = None,
                 columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Load ``results.parquet`` of a run directory, or only some of its rows.

    Parameters
    ----------
    run_dir : path
    functions, point_indices : iterable, optional
        Read only rows of these functions / point indices.
    exclude_statuses : iterable of str, optional
        Leave out rows with these statuses (``['ok']``: the rows that failed).
    columns : sequence of str, optional
        Only these columns (the schema's required columns are then not checked).

    Row groups that cannot hold a wanted row are never read (a report of a
    huge run reads only what it shows).

    Raises
    ------
    FileNotFoundError
        With the path tried, if the run has no results table.
    ResultsError
        If the file is damaged or is not a harness results table.
    """
    path = results_path(run_dir)
    where: dict[str, Iterable[Any]] = {}
    if functions is not None:
        where["function"] = [str(f) for f in functions]
    if point_indices is not None:
        where["point_index"] = [int(i) for i in point_indices]
    exclude = {"status": [str(s) for s in exclude_statuses]} if exclude_statuses is not None else None
    required = REQUIRED_COLUMNS if columns is None else tuple(c for c in REQUIRED_COLUMNS if c in columns)
    return read_table(path, required, where, exclude, columns)


def results_path(run_dir: str | os.PathLike[str]) -> Path:
    """``results.parquet`` of a run directory; FileNotFoundError naming the folder if there is none."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {RESULTS_FILE} in {Path(run_dir)} (is it a run directory?)")
    return path


def read_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Load ``meta.json`` of a run directory ({} if absent).

    Raises
    ------
    ResultsError
        Naming the file when it is not a JSON object (damaged, truncated, foreign).
    """
    path = Path(run_dir) / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path} is not readable run metadata ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path} is not harness run metadata: a JSON {type(meta).__name__}, not an object")
    return meta


def utc_now() -> str:
    """Current time as an ISO-8601 UTC string."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a result depends on."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """Commit of the git checkout holding the harness source, if any."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True,
            timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def platform_info() -> dict[str, str]:
    """Machine facts that can change floating-point results."""
    return {
        "host": platform.node(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "byteorder": sys.byteorder,
    }
