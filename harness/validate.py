"""The validation toolkit: small checks that raise :class:`ConfigError` naming key, value and what is allowed.

Every config section (top level, grid, points, schemes of every kind) is
checked with these, so messages have one shape everywhere.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import ConfigError


def number(key: str, value: Any) -> float:
    """A finite real number (bools are not numbers here; numpy scalars are)."""
    if isinstance(value, np.generic) and value.dtype.kind in "iuf":
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(key, value, "a finite number")
    return float(value)


def integer(key: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        raise ConfigError(key, value, allowed)
    return value


def boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def one_of(key: str, value: Any, allowed: Iterable[str], detail: str = "") -> Any:
    """``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(key, value, allowed, detail)
    return value


def choices(key: str, value: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A non-empty list (or a single string) of names from ``allowed``, duplicates dropped."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        raise ConfigError(key, value, f"a non-empty list of {', '.join(allowed)}")
    for i, v in enumerate(value):
        one_of(f"{key}[{i}]", v, allowed)
    return tuple(dict.fromkeys(value))


def only_keys(key: str, spec: Mapping[str, Any], allowed: Iterable[str], what: str = "") -> None:
    """Refuse any key of ``spec`` outside ``allowed`` (``what`` says whose options they are)."""
    allowed = tuple(allowed)
    for k in spec:
        if k not in allowed:
            suffix = f" for {what}" if what else ""
            raise ConfigError(f"{key}.{k}", spec[k], f"options {', '.join(allowed)}{suffix}")


def section(cfg: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """A settings sub-mapping (absent means defaults) whose keys are all in ``allowed``."""
    value = cfg.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, f"a mapping with keys {', '.join(allowed)}")
    for k in value:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", value[k], f"keys {', '.join(allowed)}")
    return value


def named_mapping(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A non-empty mapping ``name -> definition`` (functions, schemes)."""
    value = cfg.get(key)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(key, value, f"a non-empty mapping name -> {key[:-1]} definition")
    return value


def mapping(key: str, value: Any, allowed: str) -> Mapping[str, Any]:
    """``value`` if it is a mapping; ``allowed`` describes what was expected."""
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, allowed)
    return value
