"""Differentiation schemes: what to evaluate and how to combine the samples.

A scheme is plain data. :class:`StencilScheme` wraps an exact
:class:`~harness.stencils.Stencil`; :class:`ComplexStepScheme` is the
complex-step derivative ``Im f(x + i h) / h``, which has no subtractive
cancellation. Both know their derivative order, accuracy order and how many
function evaluations one estimate costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Union

from .errors import ConfigError
from .stencils import DIRECTIONS, Stencil, StencilError, richardson, standard_stencil, stencil_from_offsets

SCHEME_KINDS = ("stencil", "complex_step", "richardson", "mixed", "baseline", "selector")

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


@dataclass(frozen=True)
class MixedScheme:
    """Mixed second partials d2f/dxi dxj (i < j) from the product of a first-derivative stencil with itself.

    The estimate is ``sum_a sum_b w_a w_b f(x + o_a h e_i + o_b h e_j) / h^2``.
    """

    name: str
    stencil: Stencil
    kind: str = "mixed"
    derivative: int = 2

    @property
    def accuracy(self) -> int:
        return self.stencil.accuracy

    @property
    def n_evals(self) -> int:
        return self.stencil.n_points**2


Scheme = Union[StencilScheme, ComplexStepScheme, MixedScheme, Any]

_STENCIL_KEYS = ("kind", "direction", "derivative", "accuracy", "offsets")


def _int_option(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(key, value, f"an integer from {low} to {high}")
    return value


def _only_keys(key: str, spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for k in spec:
        if k not in allowed:
            raise ConfigError(f"{key}.{k}", spec[k], f"options {', '.join(allowed)} for kind {spec.get('kind')}")


def _base_stencil(name: str, base: Any, key: str) -> Stencil:
    """The stencil a composite scheme (Richardson, mixed partials) is built on."""
    if isinstance(base, Mapping) and base.get("kind", "stencil") != "stencil":
        raise ConfigError(f"{key}.kind", base.get("kind"), "stencil")
    scheme = make_scheme(name, base, key=key)
    if not isinstance(scheme, StencilScheme):
        raise ConfigError(key, base, "a stencil scheme (forward, backward, central, central4 or a stencil mapping)")
    return scheme.stencil


def make_scheme(name: str, spec: Any = None, *, key: str | None = None) -> Scheme:
    """Build a scheme from a config entry.

    Parameters
    ----------
    name : str
        Scheme name used in tables and legends.
    spec : None, str or mapping
        ``None`` or a built-in name (see :data:`BUILTIN_SCHEMES`) or a mapping
        such as ``{kind: stencil, direction: central, derivative: 1,
        accuracy: 4}``, ``{kind: stencil, offsets: [-1, 0, 2, 3]}``,
        ``{kind: richardson, base: central, ratio: 2, terms: 1}``,
        ``{kind: mixed, base: central}`` (Hessian entries),
        ``{kind: baseline, method: scipy_3point}`` or
        ``{kind: selector, rule: stepleman_winarsky}``.
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
        _only_keys(key, spec, ("kind",))
        return ComplexStepScheme(name=name)
    if kind == "richardson":
        _only_keys(key, spec, ("kind", "base", "ratio", "terms"))
        base = _base_stencil(name, spec.get("base", "central"), f"{key}.base")
        ratio = spec.get("ratio", 2)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 < ratio <= 16:
            raise ConfigError(f"{key}.ratio", ratio, "a number > 1 and <= 16")
        terms = _int_option(f"{key}.terms", spec.get("terms", 1), 1, 6)
        exact_ratio = Fraction(ratio).limit_denominator(1000)
        if exact_ratio <= 1:
            raise ConfigError(f"{key}.ratio", ratio, "a number > 1 that stays > 1 as a fraction p/q with q <= 1000")
        stencil = richardson(base, ratio=exact_ratio, terms=terms)
        return StencilScheme(name=name, stencil=stencil, kind="richardson")
    if kind == "mixed":
        _only_keys(key, spec, ("kind", "base"))
        base = _base_stencil(name, spec.get("base", "central"), f"{key}.base")
        if base.derivative != 1:
            raise ConfigError(f"{key}.base", spec.get("base"), "a first-derivative stencil (derivative: 1)")
        return MixedScheme(name=name, stencil=base)
    if kind == "baseline":
        from .baselines import make_baseline

        return make_baseline(name, spec)
    if kind == "selector":
        from .selectors import make_selector

        return make_selector(name, spec)

    _only_keys(key, spec, _STENCIL_KEYS)
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
