"""Noisy test functions: deterministic, reproducible noise on top of an expression.

A function may declare ``noise: {kind, level, distribution, seed}``::

    exp_noisy:
      expression: exp(x)
      points: [1.0]
      noise: {kind: relative, level: 1.0e-8, distribution: uniform, seed: 0}

The evaluated function is then ``f(x) (1 + level e(x))`` (``relative``) or
``f(x) + level e(x)`` (``absolute``), with ``e(x)`` of mean 0 and standard
deviation 1 (``uniform``: ``U(-sqrt 3, sqrt 3)``; ``normal``: N(0, 1)). So
``level`` is the standard deviation of the noise, Moré & Wild's *noise
level* (relative to ``|f(x)|`` for ``relative``). The reference derivative
stays that of the noise-free f.

``e(x)`` is a deterministic function of the seed and the exact value of the
evaluation point, as the output of a deterministic simulation is: evaluating
twice at the same x gives the same value, and a run is reproducible. It is a
counter-based generator in the spirit of Salmon et al.'s Philox ("Parallel
random numbers: as easy as 1, 2, 3", SC 2011), built from SplitMix64's
integer finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014): the bits of every coordinate are mixed with the
seed in vectorised uint64 arithmetic, so a broadcast evaluation stays one
numpy call. The key of a coordinate is its value as a float64 (exact for
every type up to float64; longdouble adds the float64 of its low part), so
the same point gives the same ``e`` in every number type. Uniform variates
are bit-exact on every machine; normal ones use Box-Muller (``log``, ``cos``),
whose last bit may differ between libm implementations.

The noise is applied in the working number type after f: the product
``level * e`` is rounded to the type first, so noise below the type's
resolution vanishes, as it would in a real computation. Complex input (the
complex step) gets the same real ``e``: relative noise then scales both
parts (the complex step sees a relative error ``level`` in f'), absolute
noise only moves the real part (the complex step does not see it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from . import validate as check
from .errors import ConfigError

NOISE_KINDS = ("relative", "absolute")
NOISE_DISTRIBUTIONS = ("uniform", "normal")
_NOISE_KEYS = ("kind", "level", "distribution", "seed")

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SECOND = np.uint64(0xD1B54A32D192ED03)  # separates the second uniform of Box-Muller from the first
_TO_UNIT = 2.0**-53


@dataclass(frozen=True)
class NoiseSpec:
    """Declared noise of a test function.

    Attributes
    ----------
    kind : {'relative', 'absolute'}
        ``f (1 + level e)`` or ``f + level e``.
    level : float
        Standard deviation of the noise (relative to ``|f(x)|`` for ``relative``), >= 0.
    distribution : {'uniform', 'normal'}
        Law of ``e`` (mean 0, standard deviation 1).
    seed : int
        Selects the noise realisation (0 <= seed < 2**64).
    """

    kind: str = "relative"
    level: float = 0.0
    distribution: str = "uniform"
    seed: int = 0

    def sigma(self, f_value: Any) -> np.ndarray:
        """Absolute standard deviation of the noise where f has the (noise-free) value ``f_value``."""
        f_abs = np.abs(np.asarray(f_value, dtype=np.float64))
        return self.level * f_abs if self.kind == "relative" else np.full_like(f_abs, self.level)


def parse_noise(spec: Any, key: str) -> NoiseSpec | None:
    """The ``noise`` entry of a function: a mapping, or null for none.

    Raises
    ------
    ConfigError
        Naming the key, the value and what is allowed.

    Examples
    --------
    >>> parse_noise({"level": 1e-8}, "functions.f.noise")
    NoiseSpec(kind='relative', level=1e-08, distribution='uniform', seed=0)
    """
    if spec is None:
        return None
    spec = check.mapping(key, spec, "a mapping {kind: relative|absolute, level, distribution: uniform|normal, "
                                    "seed} or null")
    check.only_keys(key, spec, _NOISE_KEYS, "a function's noise")
    if "level" not in spec:
        raise ConfigError(f"{key}.level", None, "a noise level (standard deviation) >= 0")
    level = check.number(f"{key}.level", spec["level"])
    if level < 0:
        raise ConfigError(f"{key}.level", spec["level"], "a noise level (standard deviation) >= 0")
    kind = check.one_of(f"{key}.kind", spec.get("kind", "relative"), NOISE_KINDS)
    if kind == "relative" and level >= 1:
        raise ConfigError(f"{key}.level", spec["level"], "a relative noise level below 1")
    distribution = check.one_of(f"{key}.distribution", spec.get("distribution", "uniform"), NOISE_DISTRIBUTIONS)
    seed = check.integer(f"{key}.seed", spec.get("seed", 0), 0, 2**64 - 1)
    return NoiseSpec(kind=kind, level=level, distribution=distribution, seed=seed)


def noise_columns(noise: NoiseSpec | None) -> tuple[str, float]:
    """``(noise_kind, noise_level)`` of the results table: ``('none', 0.0)`` without declared noise."""
    return ("none", 0.0) if noise is None else (noise.kind, float(noise.level))


# --------------------------------------------------------------------------- #
# The counter-based generator                                                 #
# --------------------------------------------------------------------------- #

def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _words(coord: np.ndarray) -> list[np.ndarray]:
    """uint64 words that identify the exact values of ``coord`` (real floating).

    The float64 bits of the value (exact up to float64); a longdouble adds the
    float64 bits of its low part ``x - float64(x)``.
    """
    hi = np.asarray(coord).astype(np.float64)
    words = [hi.view(np.uint64)]  # astype made a contiguous copy
    if coord.dtype.itemsize > 8:
        with np.errstate(all="ignore"):
            lo = np.nan_to_num((coord - hi.astype(coord.dtype)).astype(np.float64))
        words.append(lo.view(np.uint64))
    return words


def point_keys(coords: list[np.ndarray], seed: int) -> np.ndarray:
    """One uint64 per evaluation point: the seed and the exact value of every coordinate, mixed.

    Each word w (the bits of a coordinate) advances the key as SplitMix64
    advances its state, ``key = mix(key + w * golden)``: the key is the w-th
    output of the SplitMix64 stream started at the previous key. Extra words
    (a longdouble's low part, the imaginary part of complex input) enter only
    where they are not 0, so a float64 point, the same point in longdouble and
    ``x + 0i`` get the same key.
    """
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design (numpy scalars would warn)
        key = _mix(np.uint64(seed) + _GOLDEN)  # a scalar: broadcast by the first word
        for c in coords:
            c = np.asarray(c)
            parts = [c.real, c.imag] if np.iscomplexobj(c) else [c]
            for i, part in enumerate(parts):
                for j, w in enumerate(_words(np.asarray(part))):
                    step = _mix(key + w * _GOLDEN)
                    key = step if i == j == 0 else np.where(w != 0, step, key)
    return key
def _unit_uniform(key: np.ndarray) -> np.ndarray:
    """``(k + 1/2) 2**-53`` from the top 53 bits: uniform on (0, 1), exact in float64."""
    return ((key >> np.uint64(11)).astype(np.float64) + 0.5) * _TO_UNIT


def standard_noise(coords: list[np.ndarray], seed: int, distribution: str) -> np.ndarray:
    """``e(x)``: mean 0, standard deviation 1, a deterministic function of the seed and the point (float64)."""
    key = point_keys(coords, seed)
    u = _unit_uniform(key)
    if distribution == "uniform":
        return math.sqrt(3.0) * (2.0 * u - 1.0)
    if distribution == "normal":
        with np.errstate(over="ignore"):
            v = _unit_uniform(_mix(key ^ _SECOND))
        return np.sqrt(-2.0 * np.log(u)) * np.cos(2.0 * np.pi * v)
    raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")


def add_noise(values: np.ndarray, coords: list[np.ndarray], noise: NoiseSpec) -> np.ndarray:
    """``values`` (f at ``coords``) with the declared noise, in the type of ``values``."""
    values = np.asarray(values)
    if noise.level == 0:
        return values
    real = values.real.dtype  # the real type of complex values
    shaped = [np.broadcast_to(np.asarray(c).astype(values.dtype, copy=False), values.shape) for c in coords]
    delta = (noise.level * standard_noise(shaped, noise.seed, noise.distribution)).astype(real)
    with np.errstate(over="ignore", invalid="ignore"):
        out = values + values * delta if noise.kind == "relative" else values + delta
    return np.asarray(out, dtype=values.dtype)


def noisy(fn: Callable[..., np.ndarray], noise: NoiseSpec | None) -> Callable[..., np.ndarray]:
    """``fn`` with the declared noise added to every value (``fn`` itself without noise).

    Examples
    --------
    >>> f = noisy(np.exp, NoiseSpec(level=1e-3, seed=7))
    >>> bool(f(np.array([1.0]))[0] == f(np.array([1.0]))[0] != np.exp(1.0))
    True
    """
    if noise is None:
        return fn

    def evaluate(*coords: Any) -> np.ndarray:
        return add_noise(np.asarray(fn(*coords)), list(coords), noise)

    return evaluate


def as_mapping(noise: NoiseSpec | None) -> Mapping[str, Any] | None:
    """Plain values for fingerprints and metadata."""
    if noise is None:
        return None
    return {"kind": noise.kind, "level": float(noise.level).hex(), "distribution": noise.distribution,
            "seed": int(noise.seed)}
