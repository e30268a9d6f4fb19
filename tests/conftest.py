"""Shared fixtures: Hydra composition, small sweeps, and a suite that writes nothing into the checkout.

* Every test gets its own reference cache folder under ``tmp_path`` (the
  CLI's default cache is ``$HARNESS_CACHE_DIR``); CLI subprocesses inherit a
  session-wide temporary one.
* Hypothesis keeps no example database and its home folder in the session's
  temporary folder; pytest keeps no cache (``-p no:cacheprovider``).
* At the end of the session the checkout's ``git status`` (ignored files
  included) must be what it was at the start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

import harness

REPO = Path(__file__).resolve().parents[1]
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="harness-tests-"))
# Before any test module builds its subprocess environment from os.environ.
os.environ["HARNESS_CACHE_DIR"] = str(_SESSION_TMP / "cache")
os.environ.setdefault("MPLBACKEND", "Agg")
# Hypothesis also caches constants and unicode tables in its home folder (default: ./.hypothesis).
set_hypothesis_home_dir(_SESSION_TMP / "hypothesis")
settings.register_profile("harness", database=None, deadline=None)
settings.load_profile("harness")


def _checkout_state() -> list[str] | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=REPO,
                             capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    # Python's bytecode caches are the interpreter's, not the suite's.
    return sorted(line for line in out.stdout.splitlines() if "__pycache__" not in line)


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    before = _checkout_state()
    yield
    after = _checkout_state()
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
    if before is not None and after is not None:
        new = sorted(set(after) - set(before))
        assert not new, f"the test suite wrote into the checkout: {new[:20]}"


@pytest.fixture(autouse=True)
def reference_cache_in_tmp(tmp_path, monkeypatch):
    """The CLI default cache folder of in-process runs goes to this test's tmp_path."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "reference-cache"))


@pytest.fixture
def compose_cfg():
    """Compose the packaged config with overrides, as the CLI would (no run)."""

    def _compose(*overrides: str, return_hydra_config: bool = False):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="harness.conf", version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=return_hydra_config)

    yield _compose
    GlobalHydra.instance().clear()


def sweep(functions: dict, schemes: dict | list, grid: dict | list, **extra) -> "harness.api.pd.DataFrame":
    """Run a small sweep from plain dicts (no files written)."""
    if isinstance(schemes, list):
        schemes = {name: None for name in schemes}
    if isinstance(grid, list):
        grid = {"kind": "list", "values": grid}
    cfg = {"functions": functions, "schemes": schemes, "grid": grid, "plot": {"enabled": False}, **extra}
    return harness.run(cfg)


def assert_tables_equal(a, b) -> None:
    """Two tables hold the same columns, dtypes and values (NaN equal to NaN), row for row.

    ``pandas.testing.assert_frame_equal`` boxes every element of a categorical column (minutes for a
    large table under pandas 3); this compares categories and codes, and every other column, as arrays.
    """
    import numpy as np
    import pandas as pd

    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    for c in a.columns:
        x, y = a[c], b[c]
        assert x.dtype == y.dtype, (c, x.dtype, y.dtype)
        if isinstance(x.dtype, pd.CategoricalDtype):
            np.testing.assert_array_equal(np.asarray(x.cat.categories, dtype=object)[x.cat.codes],
                                          np.asarray(y.cat.categories, dtype=object)[y.cat.codes], err_msg=c)
        else:
            np.testing.assert_array_equal(x.to_numpy(), y.to_numpy(), err_msg=c)


@pytest.fixture
def run_sweep():
    return sweep


@pytest.fixture
def repo_root() -> Path:
    return REPO
