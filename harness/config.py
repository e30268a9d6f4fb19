"""Turn a (Hydra) config into a validated :class:`SweepSpec`.

Everything a sweep needs is checked here, before any work starts: a bad value
raises :class:`~harness.errors.ConfigError` naming the key, the value and what
is allowed. The rest of the harness only ever sees a ``SweepSpec``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError
from .evaluate import STEP_MODES, STEP_SCALES
from .expr import Expression, ExpressionError, parse_expression
from .schemes import Scheme, make_scheme

#: Number types a sweep may use, by config name.
DTYPES: dict[str, np.dtype] = {
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "longdouble": np.dtype(np.longdouble),
}
GRID_KINDS = ("logspace", "list")
FIGURE_FORMATS = ("svg", "png", "pdf")
_TOP_KEYS = ("name", "description", "functions", "schemes", "grid", "dtypes", "step", "step_scale", "reference",
             "plot", "memory_mb", "model")


@dataclass(frozen=True)
class FunctionSpec:
    """A test function and the points where it is differentiated.

    Attributes
    ----------
    name : str
    expression : Expression
    points : ndarray, shape (n_points, dim), float64
    """

    name: str
    expression: Expression
    points: np.ndarray

    @property
    def dim(self) -> int:
        return self.expression.dim


@dataclass(frozen=True)
class ReferenceSettings:
    """Precision of the mpmath reference and the agreement it must reach."""

    dps: int = 50
    min_digits: float = 20.0
    cache_dir: str | None = None


@dataclass(frozen=True)
class ModelSettings:
    """The truncation/round-off error model (see :mod:`harness.model`)."""

    enabled: bool = True
    eps_factor: float = 0.3
    noise: float | None = None
    dps: int = 30


@dataclass(frozen=True)
class PlotSettings:
    """What figures a run writes."""

    enabled: bool = True
    formats: tuple[str, ...] = ("svg", "png")
    max_figures: int = 60
    dpi: int = 120


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: functions x points x schemes x h x number types."""

    name: str
    functions: tuple[FunctionSpec, ...]
    schemes: tuple[Scheme, ...]
    hs: np.ndarray
    dtypes: tuple[str, ...] = ("float64",)
    step: str = "exact"
    step_scales: tuple[str, ...] = ("absolute",)
    memory_mb: int = 1024
    model: ModelSettings = field(default_factory=ModelSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)
    plot: PlotSettings = field(default_factory=PlotSettings)
    description: str = ""


def _plain(cfg: Any) -> Any:
    """OmegaConf containers to plain Python, resolving interpolations."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra-core is a dependency
        return cfg
    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, value, "a finite number")
    return float(value)


def _int(key: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise ConfigError(key, value, f"an integer >= {low}" + (f" and <= {high}" if high is not None else ""))
    return value


def parse_grid(grid: Any, key: str = "grid") -> np.ndarray:
    """Step grid from config, sorted ascending.

    ``{kind: logspace, start: -16, stop: 0, num: 9}`` is ``10**linspace(start,
    stop, num)`` (decades, like ``numpy.logspace``); ``{kind: list, values:
    [1e-3, 1e-2]}`` is an explicit list.

    Examples
    --------
    >>> parse_grid({"kind": "logspace", "start": -16, "stop": 0, "num": 9})[[0, 4, -1]]
    array([1.e-16, 1.e-08, 1.e+00])
    """
    if not isinstance(grid, Mapping):
        raise ConfigError(key, grid, "a mapping {kind: logspace, start, stop, num} or {kind: list, values}")
    kind = grid.get("kind", "logspace")
    if kind not in GRID_KINDS:
        raise ConfigError(f"{key}.kind", kind, GRID_KINDS)
    allowed = {"logspace": {"kind", "start", "stop", "num"}, "list": {"kind", "values"}}[kind]
    for k in grid:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", grid[k], f"keys {', '.join(sorted(allowed))} for kind {kind}")
    if kind == "logspace":
        start = _number(f"{key}.start", grid.get("start"))
        stop = _number(f"{key}.stop", grid.get("stop"))
        num = _int(f"{key}.num", grid.get("num"), 1, 1_000_000)
        for k, v in (("start", start), ("stop", stop)):
            if not -320 <= v <= 300:
                raise ConfigError(f"{key}.{k}", v, "a decade exponent between -320 and 300")
        hs = np.logspace(start, stop, num)
    else:
        values = grid.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}.values", values, "a non-empty list of positive numbers")
        hs = np.array([_number(f"{key}.values[{i}]", v) for i, v in enumerate(values)])
    if np.any(hs <= 0):
        bad = float(hs[hs <= 0][0])
        raise ConfigError(key, bad, "positive steps only")
    return np.unique(hs)


def parse_points(value: Any, dim: int, key: str) -> np.ndarray:
    """Points of one function as a ``(n_points, dim)`` float64 array.

    Accepts a scalar, a list of scalars (1-D), a list of lists (n-D) or
    ``{linspace: [start, stop, num]}`` for many 1-D points.
    """
    if isinstance(value, Mapping):
        if set(value) != {"linspace"} or not isinstance(value["linspace"], list) or len(value["linspace"]) != 3:
            raise ConfigError(key, value, "a list of points or {linspace: [start, stop, num]}")
        a, b, n = value["linspace"]
        a, b = _number(f"{key}.linspace[0]", a), _number(f"{key}.linspace[1]", b)
        n = _int(f"{key}.linspace[2]", n, 1, 10_000_000)
        if dim != 1:
            raise ConfigError(key, value, "explicit points for a function of more than one variable")
        return np.linspace(a, b, n)[:, None]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, "a non-empty list of points")
    rows = []
    for i, p in enumerate(value):
        coords = p if isinstance(p, list) else [p]
        if len(coords) != dim:
            raise ConfigError(
                f"{key}[{i}]", p, f"a point with {dim} coordinate{'s' if dim > 1 else ''} (the expression's dimension)"
            )
        rows.append([_number(f"{key}[{i}]", c) for c in coords])
    return np.array(rows, dtype=np.float64)


def parse_function(name: str, spec: Any, key: str | None = None) -> FunctionSpec:
    """One test function from ``{expression: ..., points: ..., dim: ...}``."""
    key = key or f"functions.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(key, spec, "a mapping with keys expression, points (and optional dim, description)")
    for k in spec:
        if k not in ("expression", "points", "dim", "description"):
            raise ConfigError(f"{key}.{k}", spec[k], "keys expression, points, dim, description")
    dim = spec.get("dim")
    if dim is not None:
        dim = _int(f"{key}.dim", dim, 1, 1000)
    text = spec.get("expression")
    try:
        expression = parse_expression(text, name=name, dim=dim)
    except ExpressionError as exc:
        raise ConfigError(
            f"{key}.expression", text, "an expression over x (or x0, x1, ...) with numbers, + - * / **, pi, e "
            "and whitelisted functions", str(exc)
        ) from None
    if "points" not in spec:
        raise ConfigError(f"{key}.points", None, "a non-empty list of points")
    points = parse_points(spec["points"], expression.dim, f"{key}.points")
    return FunctionSpec(name=name, expression=expression, points=points)


def _check_something_runs(functions: tuple[FunctionSpec, ...], schemes: tuple[Scheme, ...],
                          dtypes: tuple[str, ...]) -> None:
    """Refuse a sweep in which no scheme applies to any function and number type (it would write 0 rows)."""
    for f in functions:
        for s in schemes:
            for d in dtypes:
                if s.kind == "mixed" and f.dim < 2:
                    continue
                if s.kind == "complex_step" and d == "float16":
                    continue
                return
    raise ConfigError("schemes", [s.name for s in schemes],
                      "at least one scheme that applies to a function and number type of the sweep "
                      "(mixed partials need two or more variables; complex_step has no float16 counterpart)")


def _section(cfg: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """A settings sub-mapping (absent means defaults) whose keys are all in ``allowed``."""
    section = cfg.get(key)
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(key, section, f"a mapping with keys {', '.join(allowed)}")
    for k in section:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", section[k], f"keys {', '.join(allowed)}")
    return section


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def _choices(key: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A non-empty list (or a single string) of names from ``allowed``, duplicates dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, f"a non-empty list of {', '.join(allowed)}")
    for i, v in enumerate(value):
        if v not in allowed:
            raise ConfigError(f"{key}[{i}]", v, allowed)
    return tuple(dict.fromkeys(value))


def _named_mapping(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = cfg.get(key)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(key, value, f"a non-empty mapping name -> {key[:-1]} definition")
    return value


def build_spec(cfg: Any) -> SweepSpec:
    """Validate a config and build the sweep it describes.

    Parameters
    ----------
    cfg : DictConfig or mapping
        A composed Hydra config (or a plain dict with the same keys).

    Returns
    -------
    SweepSpec

    Raises
    ------
    ConfigError
        For the first invalid key, naming key, value and what is allowed.
    """
    cfg = _plain(cfg)
    if not isinstance(cfg, Mapping):
        raise ConfigError("<root>", cfg, "a mapping")
    experiment = cfg.get("experiment")
    if experiment is not None:
        # Hydra turns `+experiment=x` into a plain string key when the config
        # group is not on the search path; refuse instead of running the default.
        raise ConfigError(
            "experiment", experiment, "an experiment config from the 'experiment' group (harness experiment=NAME)",
            "the experiment group was not found on Hydra's search path, so the value was kept as a plain key",
        )
    for k in cfg:
        if k not in _TOP_KEYS and k != "experiment":
            raise ConfigError(str(k), cfg[k], f"top-level keys {', '.join(_TOP_KEYS)}")
    name = cfg.get("name", "default")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        # The name becomes a folder in the output path (results/<name>/...).
        raise ConfigError("name", name, "a name of letters, digits, '_', '.' and '-' (a folder name)")

    functions = tuple(parse_function(str(n), s) for n, s in _named_mapping(cfg, "functions").items())
    schemes = tuple(make_scheme(str(n), s) for n, s in _named_mapping(cfg, "schemes").items() if s is not False)
    hs = parse_grid(cfg.get("grid"))
    if not schemes:
        raise ConfigError("schemes", list(_named_mapping(cfg, "schemes")), "at least one scheme that is not false")

    dtypes = _choices("dtypes", cfg.get("dtypes", ["float64"]), tuple(DTYPES))

    step = cfg.get("step", "exact")
    if step not in STEP_MODES:
        raise ConfigError("step", step, STEP_MODES)
    scales = _choices("step_scale", cfg.get("step_scale", ["absolute"]), STEP_SCALES)

    ref = _section(cfg, "reference", ("dps", "min_digits", "cache_dir"))
    cache_dir = ref.get("cache_dir")
    if cache_dir is not None and (not isinstance(cache_dir, str) or not cache_dir):
        raise ConfigError("reference.cache_dir", cache_dir, "a directory path or null (no on-disk cache)")
    dps = _int("reference.dps", ref.get("dps", 50), 20, 10_000)
    min_digits = _number("reference.min_digits", ref.get("min_digits", 20))
    if not 1 <= min_digits <= dps - 5:
        raise ConfigError("reference.min_digits", min_digits, f"a number from 1 to dps - 5 = {dps - 5}")

    plot = _section(cfg, "plot", ("enabled", "formats", "max_figures", "dpi"))
    formats = _choices("plot.formats", plot.get("formats", ["svg", "png"]), FIGURE_FORMATS)
    plot_settings = PlotSettings(
        enabled=_bool("plot.enabled", plot.get("enabled", True)),
        formats=formats,
        max_figures=_int("plot.max_figures", plot.get("max_figures", 60), 0),
        dpi=_int("plot.dpi", plot.get("dpi", 120), 30, 1200),
    )
    _check_something_runs(functions, schemes, dtypes)
    model = _section(cfg, "model", ("enabled", "eps_factor", "noise", "dps"))
    eps_factor = _number("model.eps_factor", model.get("eps_factor", 0.3))
    if eps_factor <= 0:
        raise ConfigError("model.eps_factor", eps_factor, "a positive number")
    noise = model.get("noise")
    if noise is not None and (_number("model.noise", noise) < 0):
        raise ConfigError("model.noise", noise, "null or a relative noise level >= 0")
    model_settings = ModelSettings(enabled=_bool("model.enabled", model.get("enabled", True)), eps_factor=eps_factor,
                                   noise=None if noise is None else float(noise),
                                   dps=_int("model.dps", model.get("dps", 30), 20, 1000))
    return SweepSpec(
        name=name,
        model=model_settings,
        description=str(cfg.get("description", "")),
        functions=functions,
        schemes=schemes,
        hs=hs,
        dtypes=dtypes,
        step=step,
        step_scales=scales,
        memory_mb=_int("memory_mb", cfg.get("memory_mb", 1024), 16),
        reference=ReferenceSettings(dps=dps, min_digits=min_digits, cache_dir=cache_dir),
        plot=plot_settings,
    )
