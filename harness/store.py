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
from typing import Any, Iterator

import pandas as pd

RESULTS_FILE = "results.parquet"
MODEL_FILE = "model.parquet"
CURVES_FILE = "curves.parquet"
META_FILE = "meta.json"
PARTS_DIR = "parts"
FIGURES_DIR = "figures"
_VERSIONED = ("numdiff-harness", "numpy", "pandas", "pyarrow", "matplotlib", "mpmath", "hydra-core", "omegaconf",
              "scipy", "numdifftools")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_parquet(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table to Parquet atomically."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, engine="pyarrow", index=False)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


def read_results(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """Load ``results.parquet`` of a run directory.

    Raises
    ------
    FileNotFoundError
        With the path tried, if the run has no results table.
    """
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {RESULTS_FILE} in {Path(run_dir)} (is it a run directory?)")
    return pd.read_parquet(path, engine="pyarrow")


def read_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Load ``meta.json`` of a run directory ({} if absent)."""
    path = Path(run_dir) / META_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


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
        "system": platform.system(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "byteorder": sys.byteorder,
    }
