"""Differentiation schemes: what to evaluate and how to combine the samples.

A scheme is plain data. :class:`StencilScheme` wraps an exact
:class:`~harness.stencils.Stencil`; :class:`ComplexStepScheme` is the
complex-step derivative ``Im f(x + i h) / h``, which has no subtractive
cancellation. Both know their derivative order, accuracy order and how many
function evaluations one estimate costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Union

from .errors import ConfigError
from .stencils import DIRECTIONS, Stencil, StencilError, standard_stencil, stencil_from_offsets

SCHEME_KINDS = ("stencil", "complex_step")

#: Named schemes a config may refer to by name alone.
BUILTIN_SCHEMES: dict[str, dict[str, Any]] = {
    "forward": {"kind": "stencil", "direction": "forward", "derivative": 1, "accuracy": 1},
    "backward": {"kind": "stencil", "direction": "backward", "derivative": 1, "accuracy": 1},
    "central": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 2},
    "central4": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 4},
    "complex_step": {"kind": "complex_step"},
}


@dataclass(frozen=True)
class StencilScheme:
    """A finite-difference stencil applied along one coordinate at a time."""

    name: str
    stencil: Stencil
    kind: str = "stencil"

    @property
    def derivative(self) -> int:
        return self.stencil.derivative

    @property
    def accuracy(self) -> int:
        return self.stencil.accuracy

    @property
    def n_evals(self) -> int:
        return self.stencil.n_points


@dataclass(frozen=True)
class ComplexStepScheme:
    """Complex-step first derivative ``Im f(x + i h) / h`` (accuracy order 2)."""

    name: str
    kind: str = "complex_step"
    derivative: int = 1
    accuracy: int = 2
    n_evals: int = 1


Scheme = Union[StencilScheme, ComplexStepScheme]

_STENCIL_KEYS = ("kind", "direction", "derivative", "accuracy", "offsets")


def _int_option(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, value, f"an integer from {low} to {high}")
    return value


def make_scheme(name: str, spec: Any = None, *, key: str | None = None) -> Scheme:
    """Build a scheme from a config entry.

    Parameters
    ----------
    name : str
        Scheme name used in tables and legends.
    spec : None, str or mapping
        ``None`` or a built-in name (see :data:`BUILTIN_SCHEMES`) or a mapping
        such as ``{kind: stencil, direction: central, derivative: 1,
        accuracy: 4}`` or ``{kind: stencil, offsets: [-1, 0, 2, 3]}``.
    key : str, optional
        Config key used in error messages (default ``schemes.<name>``).

    Returns
    -------
    StencilScheme or ComplexStepScheme

    Raises
    ------
    ConfigError
        Naming the key, the value and what is allowed.

    Examples
    --------
    >>> make_scheme("central4").accuracy
    4
    >>> make_scheme("mine", {"kind": "stencil", "offsets": [-1, 0, 2, 3]}).accuracy
    3
    """
    key = key or f"schemes.{name}"
    if spec is None or isinstance(spec, str):
        builtin = name if spec is None else spec
        if builtin not in BUILTIN_SCHEMES:
            raise ConfigError(key, spec if spec is not None else name, BUILTIN_SCHEMES)
        spec = BUILTIN_SCHEMES[builtin]
    if not isinstance(spec, Mapping):
        raise ConfigError(key, spec, "a built-in scheme name or a mapping with key 'kind'")
    kind = spec.get("kind", "stencil")
    if kind not in SCHEME_KINDS:
        raise ConfigError(f"{key}.kind", kind, SCHEME_KINDS)
    if kind == "complex_step":
        extra = set(spec) - {"kind"}
        if extra:
            raise ConfigError(f"{key}.{sorted(extra)[0]}", spec[sorted(extra)[0]], "no options for kind complex_step")
        return ComplexStepScheme(name=name)

    unknown = set(spec) - set(_STENCIL_KEYS)
    if unknown:
        bad = sorted(unknown)[0]
        raise ConfigError(f"{key}.{bad}", spec[bad], f"stencil options {', '.join(_STENCIL_KEYS)}")
    derivative = _int_option(f"{key}.derivative", spec.get("derivative", 1), 1, 4)
    accuracy = spec.get("accuracy")
    if accuracy is not None:
        accuracy = _int_option(f"{key}.accuracy", accuracy, 1, 16)
    offsets = spec.get("offsets")
    if offsets is not None:
        if spec.get("direction") is not None:
            raise ConfigError(f"{key}.direction", spec["direction"], "nothing when 'offsets' is given")
        if not isinstance(offsets, (list, tuple)) or not all(
            isinstance(o, int) and not isinstance(o, bool) for o in offsets
        ):
            raise ConfigError(f"{key}.offsets", offsets, "a list of distinct integers")
        try:
            stencil = stencil_from_offsets(offsets, derivative)
        except StencilError as exc:
            raise ConfigError(f"{key}.offsets", list(offsets), "distinct integers, more than 'derivative' of them", str(exc)) from None
        if accuracy is not None and accuracy != stencil.accuracy:
            raise ConfigError(
                f"{key}.accuracy", accuracy, f"{stencil.accuracy} (derived from the offsets) or leave it out"
            )
        return StencilScheme(name=name, stencil=stencil)

    direction = spec.get("direction", "central")
    if direction not in DIRECTIONS:
        raise ConfigError(f"{key}.direction", direction, DIRECTIONS)
    try:
        stencil = standard_stencil(direction, derivative, accuracy)
    except StencilError as exc:
        allowed = "an even order (2, 4, 6, ...)" if direction == "central" else "an integer >= 1"
        raise ConfigError(f"{key}.accuracy", accuracy, allowed, str(exc)) from None
    return StencilScheme(name=name, stencil=stencil)
