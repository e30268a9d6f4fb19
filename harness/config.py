"""Turn a (Hydra) config into a validated :class:`SweepSpec`.

Everything a sweep needs is checked here, before any work starts: a bad value
raises :class:`~harness.errors.ConfigError` naming the key, the value and what
is allowed. The rest of the harness only ever sees a ``SweepSpec``. Missing
keys take their defaults from :mod:`harness.settings`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import validate as check
from .errors import ConfigError
from .expr import ExpressionError, parse_expression
from .noise import parse_noise
from .schemes import Scheme, make_scheme
from .settings import (DTYPES, FIGURE_FORMATS, GRID_KINDS, STEP_MODES, STEP_SCALES, FunctionSpec, ModelSettings,
                       PlotSettings, ReferenceSettings, SweepDefaults, SweepSpec)
from .userfunc import FUNCTION_KEYS, make_user_function

_TOP_KEYS = ("name", "description", "functions", "schemes", "grid", "dtypes", "step", "step_scale", "reference",
             "plot", "memory_mb", "model")


def _plain(cfg: Any) -> Any:
    """OmegaConf containers to plain Python, resolving interpolations."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra-core is a dependency
        return cfg
    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


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
        start = check.number(f"{key}.start", grid.get("start"))
        stop = check.number(f"{key}.stop", grid.get("stop"))
        num = check.integer(f"{key}.num", grid.get("num"), 1, 1_000_000)
        for k, v in (("start", start), ("stop", stop)):
            if not -320 <= v <= 300:
                raise ConfigError(f"{key}.{k}", v, "a decade exponent between -320 and 300")
        hs = np.logspace(start, stop, num)
    else:
        values = grid.get("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{key}.values", values, "a non-empty list of positive numbers")
        hs = np.array([check.number(f"{key}.values[{i}]", v) for i, v in enumerate(values)])
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
        a, b = check.number(f"{key}.linspace[0]", a), check.number(f"{key}.linspace[1]", b)
        n = check.integer(f"{key}.linspace[2]", n, 1, 10_000_000)
        if dim != 1:
            raise ConfigError(key, value, "explicit points for a function of more than one variable")
        return np.linspace(a, b, n)[:, None]
    if isinstance(value, np.ndarray):  # from the Python API: the same as the nested list
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, "a non-empty list of points")
    rows = []
    for i, p in enumerate(value):
        coords = list(p) if isinstance(p, (list, tuple)) else [p]
        if len(coords) != dim:
            raise ConfigError(
                f"{key}[{i}]", p, f"a point with {dim} coordinate{'s' if dim > 1 else ''} (the expression's dimension)"
            )
        rows.append([check.number(f"{key}[{i}]", c) for c in coords])
    return np.array(rows, dtype=np.float64)


def parse_function(name: str, spec: Any, key: str | None = None) -> FunctionSpec:
    """One test function from ``{expression: ..., points: ..., dim: ...}``."""
    key = key or f"functions.{name}"
    if not name.strip() or not name.isprintable():
        raise ConfigError(key, name, "a non-empty, printable function name (it labels rows and figures)")
    if not isinstance(spec, Mapping):
        raise ConfigError(key, spec, "a mapping with keys expression, points (and optional dim, description, noise), "
                                     "or _target_ (a Python function), points, ...")
    if "_target_" in spec:
        return _parse_user_function(name, spec, key)
    for k in spec:
        if k not in ("expression", "points", "dim", "description", "noise"):
            raise ConfigError(f"{key}.{k}", spec[k], "keys expression, points, dim, description, noise "
                                                     "(or _target_ for a Python function)")
    dim = spec.get("dim")
    if dim is not None:
        dim = check.integer(f"{key}.dim", dim, 1, 1000)
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
    return FunctionSpec(name=name, expression=expression, points=points,
                        noise=parse_noise(spec.get("noise"), f"{key}.noise"))


def _parse_user_function(name: str, spec: Mapping[str, Any], key: str) -> FunctionSpec:
    """A Python function from ``{_target_: pkg.module.fn, points, dim, reference, noise}`` (:mod:`harness.userfunc`).

    ``dim`` defaults to the length of the first point (1 for scalars and
    ``linspace``). The callable is imported and probed here, before any work.
    """
    check.only_keys(key, spec, FUNCTION_KEYS, "a Python function (_target_)")
    if "points" not in spec:
        raise ConfigError(f"{key}.points", None, "a non-empty list of points")
    listed = spec["points"].tolist() if isinstance(spec["points"], np.ndarray) else spec["points"]
    first = listed[0] if isinstance(listed, (list, tuple)) and listed else None
    inferred = len(first) if isinstance(first, (list, tuple)) else 1
    dim = check.integer(f"{key}.dim", spec.get("dim", inferred), 1, 1000)
    points = parse_points(spec["points"], dim, f"{key}.points")
    noise = parse_noise(spec.get("noise"), f"{key}.noise")
    fn = make_user_function(name, spec["_target_"], dim, spec.get("reference"), points[0], key=key)
    return FunctionSpec(name=name, expression=fn, points=points, noise=noise)


def _check_something_runs(functions: tuple[FunctionSpec, ...], schemes: tuple[Scheme, ...],
                          dtypes: tuple[str, ...]) -> None:
    """Refuse a sweep in which no scheme applies to any function and number type (it would write 0 rows)."""
    reasons: dict[str, None] = {}
    for f in functions:
        for s in schemes:
            for d in dtypes:
                why = s.skip_for(f, d)
                if why is None:
                    return
                reasons[f"{s.name}: {why}"] = None
    raise ConfigError("schemes", [s.name for s in schemes],
                      "at least one scheme that applies to a function and number type of the sweep",
                      "; ".join(reasons))


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
    d = SweepDefaults
    name = cfg.get("name", d.name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        # The name becomes a folder in the output path (results/<name>/...).
        raise ConfigError("name", name, "a name of letters, digits, '_', '.' and '-' (a folder name)")

    functions = tuple(parse_function(str(n), s) for n, s in check.named_mapping(cfg, "functions").items())
    schemes = tuple(make_scheme(str(n), s) for n, s in check.named_mapping(cfg, "schemes").items() if s is not False)
    hs = parse_grid(cfg.get("grid"))
    if not schemes:
        raise ConfigError("schemes", list(check.named_mapping(cfg, "schemes")), "at least one scheme that is not false")
    dtypes = check.choices("dtypes", cfg.get("dtypes", list(d.dtypes)), tuple(DTYPES))
    step = check.one_of("step", cfg.get("step", d.step), STEP_MODES)
    scales = check.choices("step_scale", cfg.get("step_scale", list(d.step_scale)), STEP_SCALES)
    _check_something_runs(functions, schemes, dtypes)
    return SweepSpec(
        name=name,
        description=str(cfg.get("description", d.description) or ""),
        functions=functions,
        schemes=schemes,
        hs=hs,
        dtypes=dtypes,
        step=step,
        step_scales=scales,
        memory_mb=check.integer("memory_mb", cfg.get("memory_mb", d.memory_mb), 16),
        model=_model_settings(cfg),
        reference=_reference_settings(cfg),
        plot=_plot_settings(cfg),
    )


def _reference_settings(cfg: Mapping[str, Any]) -> ReferenceSettings:
    d = ReferenceSettings
    ref = check.section(cfg, "reference", ("dps", "min_digits", "cache_dir"))
    cache_dir = ref.get("cache_dir", d.cache_dir)
    if cache_dir is not None and (not isinstance(cache_dir, str) or not cache_dir):
        raise ConfigError("reference.cache_dir", cache_dir, "a directory path or null (no on-disk cache)")
    if cache_dir is not None and Path(cache_dir).exists() and not Path(cache_dir).is_dir():
        raise ConfigError("reference.cache_dir", cache_dir, "a directory path or null (no on-disk cache)",
                          "this path is a file")
    dps = check.integer("reference.dps", ref.get("dps", d.dps), 20, 10_000)
    min_digits = check.number("reference.min_digits", ref.get("min_digits", d.min_digits))
    if not 1 <= min_digits <= dps - 5:
        raise ConfigError("reference.min_digits", min_digits, f"a number from 1 to dps - 5 = {dps - 5}")
    return ReferenceSettings(dps=dps, min_digits=min_digits, cache_dir=cache_dir)


def _plot_settings(cfg: Mapping[str, Any]) -> PlotSettings:
    d = PlotSettings
    plot = check.section(cfg, "plot", ("enabled", "formats", "max_figures", "dpi", "workers"))
    return PlotSettings(
        enabled=check.boolean("plot.enabled", plot.get("enabled", d.enabled)),
        formats=check.choices("plot.formats", plot.get("formats", list(d.formats)), FIGURE_FORMATS),
        max_figures=check.integer("plot.max_figures", plot.get("max_figures", d.max_figures), 0),
        dpi=check.integer("plot.dpi", plot.get("dpi", d.dpi), 30, 1200),
        workers=check.integer("plot.workers", plot.get("workers", d.workers), 0, 256),
    )


def _model_settings(cfg: Mapping[str, Any]) -> ModelSettings:
    d = ModelSettings
    model = check.section(cfg, "model", ("enabled", "eps_factor", "noise", "dps"))
    eps_factor = check.number("model.eps_factor", model.get("eps_factor", d.eps_factor))
    if eps_factor <= 0:
        raise ConfigError("model.eps_factor", eps_factor, "a positive number")
    noise = model.get("noise", d.noise)
    if noise is not None and noise != "estimate" and (isinstance(noise, str) or check.number("model.noise", noise) < 0):
        raise ConfigError("model.noise", noise, "null (declared noise, else rounding), a relative noise level >= 0 "
                                                "or 'estimate' (ECnoise)")
    return ModelSettings(enabled=check.boolean("model.enabled", model.get("enabled", d.enabled)), eps_factor=eps_factor,
                         noise=noise if noise in (None, "estimate") else float(noise),
                         dps=check.integer("model.dps", model.get("dps", d.dps), 20, 1000))
