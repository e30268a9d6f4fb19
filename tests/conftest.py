"""Shared fixtures: Hydra composition into temporary run directories, small sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

import harness


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


@pytest.fixture
def run_sweep():
    return sweep


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
