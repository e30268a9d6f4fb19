"""Settings of a sweep: the one place every default lives.

The dataclasses below are the schema of a run. :func:`harness.config.build_spec`
fills them from a config (taking every missing value from here), and
:func:`register_configs` stores them in Hydra's ConfigStore as the
``reference``, ``model`` and ``plot`` config groups and the root schema, so
``harness --cfg job`` prints exactly these defaults and Hydra type-checks an
override such as ``reference.dps=abc`` before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from collections.abc import Iterator, Mapping

import numpy as np


class _NumberTypes(Mapping):
    """Config name -> numpy dtype; the ``ml_dtypes`` types are imported on first use.

    ``ml_dtypes`` registers hundreds of ufunc loops when imported (about
    0.8 s), so a sweep that never names bfloat16 or a float8 type never pays it.
    """

    _NUMPY = {"float16": np.float16, "float32": np.float32, "float64": np.float64, "longdouble": np.longdouble}
    _ML = ("bfloat16", "float8_e4m3fn", "float8_e5m2")

    def __getitem__(self, name: str) -> np.dtype:
        if name in self._NUMPY:
            return np.dtype(self._NUMPY[name])
        if name in self._ML:
            import ml_dtypes

            return np.dtype(getattr(ml_dtypes, name))
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter((*self._NUMPY, *self._ML))

    def __len__(self) -> int:
        return len(self._NUMPY) + len(self._ML)


#: Number types a sweep may use, by config name: numpy's IEEE types and the
#: machine-learning formats of ``ml_dtypes`` (see :mod:`harness.number_types`).
DTYPES: Mapping[str, np.dtype] = _NumberTypes()
STEP_MODES = ("exact", "nominal")
"""How h is applied: ``exact`` uses ``(x + h) - x`` in the working type, ``nominal`` h as given."""
STEP_SCALES = ("absolute", "relative")
"""Configurable step scales: h as given, or ``h * max(1, |x|)`` per coordinate (scipy's convention)."""
GRID_KINDS = ("logspace", "list")
FIGURE_FORMATS = ("svg", "png", "pdf")

DEFAULT_EPS_FACTOR = 0.3
"""Default ``eps_f / u`` of the error model (why 0.3: :data:`harness.model.DEFAULT_EPS_FACTOR`)."""

#: Where the CLI keeps references between runs: ``$HARNESS_CACHE_DIR``, else
#: ``results/.cache/references`` below the working directory.
CLI_CACHE_DIR = "${oc.env:HARNESS_CACHE_DIR,results/.cache/references}"


@dataclass(frozen=True)
class ReferenceSettings:
    """Precision of the mpmath reference and the agreement it must reach.

    Attributes
    ----------
    dps : int
        Working precision in decimal digits (>= 20).
    min_digits : float
        Digits the independent reference estimates must share to be trusted.
    cache_dir : str or None
        On-disk reference cache; None keeps references in memory for one run
        (the Python API's default: ``harness.run`` without ``out_dir`` writes
        nothing). The CLI's ``reference=default`` sets :data:`CLI_CACHE_DIR`.
    """

    dps: int = 50
    min_digits: float = 20.0
    cache_dir: Optional[str] = None


@dataclass(frozen=True)
class ModelSettings:
    """The truncation/round-off error model (see :mod:`harness.model`)."""

    enabled: bool = True
    eps_factor: float = DEFAULT_EPS_FACTOR
    noise: Any = None  # None (declared noise, else rounding), a relative level, or 'estimate' (ECnoise)
    dps: int = 30


@dataclass(frozen=True)
class PlotSettings:
    """What figures a run writes.

    Attributes
    ----------
    enabled : bool
    formats : tuple of {'svg', 'png', 'pdf'}
    max_figures : int
        At most this many error-vs-h figures (in table order).
    dpi : int
    workers : int
        Processes drawing figures at once; 0 chooses: up to the available
        cores when there are several figures, 1 inside multirun jobs (their
        launcher already uses the cores). The files do not depend on it.
    """

    enabled: bool = True
    formats: tuple[str, ...] = ("svg", "png")
    max_figures: int = 60
    dpi: int = 120
    workers: int = 0


@dataclass(frozen=True)
class SweepDefaults:
    """Top-level keys of a run besides the config groups."""

    name: str = "default"
    description: str = ""
    dtypes: tuple[str, ...] = ("float64",)
    step: str = "exact"
    step_scale: tuple[str, ...] = ("absolute",)
    memory_mb: int = 1024


@dataclass(frozen=True)
class FunctionSpec:
    """A test function and the points where it is differentiated.

    Attributes
    ----------
    name : str
    expression : Expression
    points : ndarray, shape (n_points, dim), float64
    noise : NoiseSpec or None
        Declared noise of the evaluated function (:mod:`harness.noise`).
    """

    name: str
    expression: Any
    points: np.ndarray
    noise: Any = None

    @property
    def dim(self) -> int:
        return self.expression.dim


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: functions x points x schemes x h x number types."""

    name: str
    functions: tuple[FunctionSpec, ...]
    schemes: tuple[Any, ...]
    hs: np.ndarray
    dtypes: tuple[str, ...] = SweepDefaults.dtypes
    step: str = SweepDefaults.step
    step_scales: tuple[str, ...] = SweepDefaults.step_scale
    memory_mb: int = SweepDefaults.memory_mb
    model: ModelSettings = field(default_factory=ModelSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)
    plot: PlotSettings = field(default_factory=PlotSettings)
    description: str = ""


# --------------------------------------------------------------------------- #
# Hydra schema                                                                #
# --------------------------------------------------------------------------- #
# OmegaConf's structured configs want mutable list fields and no tuples, so the
# schema nodes are thin mirrors whose defaults are read from the dataclasses above.

@dataclass
class _ReferenceNode:
    dps: int = ReferenceSettings.dps
    min_digits: float = ReferenceSettings.min_digits
    cache_dir: Optional[str] = CLI_CACHE_DIR


@dataclass
class _ModelNode:
    enabled: bool = ModelSettings.enabled
    eps_factor: float = ModelSettings.eps_factor
    noise: Any = ModelSettings.noise
    dps: int = ModelSettings.dps


@dataclass
class _PlotNode:
    enabled: bool = PlotSettings.enabled
    formats: List[str] = field(default_factory=lambda: list(PlotSettings.formats))
    max_figures: int = PlotSettings.max_figures
    dpi: int = PlotSettings.dpi
    workers: int = PlotSettings.workers


@dataclass
class _RootNode:
    name: str = SweepDefaults.name
    description: str = SweepDefaults.description
    dtypes: List[str] = field(default_factory=lambda: list(SweepDefaults.dtypes))
    step: str = SweepDefaults.step
    step_scale: List[str] = field(default_factory=lambda: list(SweepDefaults.step_scale))
    memory_mb: int = SweepDefaults.memory_mb
    # Free-form sections, validated by harness.config.build_spec.
    functions: Any = None
    schemes: Any = None
    grid: Any = None
    reference: Any = None
    model: Any = None
    plot: Any = None
    experiment: Any = None


def register_configs() -> None:
    """Store the schema and the settings groups in Hydra's ConfigStore (idempotent).

    Called when :mod:`harness.conf` is imported, i.e. before Hydra composes
    ``pkg://harness.conf``.
    """
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="harness_schema", node=_RootNode)
    cs.store(group="reference", name="default", node=_ReferenceNode)
    cs.store(group="model", name="default", node=_ModelNode)
    cs.store(group="plot", name="default", node=_PlotNode)
    cs.store(group="plot", name="none", node=_PlotNode(enabled=False))
