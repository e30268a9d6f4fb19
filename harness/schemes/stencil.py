"""Finite-difference stencils along one coordinate, and Richardson extrapolation folded into one stencil."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, ClassVar, Mapping

from .. import validate as check
from ..errors import ConfigError
from ..evaluate import BlockContext, SchemeEstimates, stencil_estimate
from ..model import ErrorModel, next_truncation_order, stencil_model
from ..stencils import DIRECTIONS, Stencil, StencilError, richardson, standard_stencil, stencil_from_offsets
from .base import Scheme

#: Named schemes a config may refer to by name alone.
BUILTIN_SCHEMES: dict[str, dict[str, Any]] = {
    "forward": {"kind": "stencil", "direction": "forward", "derivative": 1, "accuracy": 1},
    "backward": {"kind": "stencil", "direction": "backward", "derivative": 1, "accuracy": 1},
    "central": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 2},
    "central4": {"kind": "stencil", "direction": "central", "derivative": 1, "accuracy": 4},
    "complex_step": {"kind": "complex_step"},
}
#: Built-in first-derivative stencils (bases of step selectors).
FIRST_DERIVATIVE_STENCILS: tuple[str, ...] = tuple(
    n for n, s in BUILTIN_SCHEMES.items() if s.get("kind") == "stencil" and s.get("derivative") == 1)

_STENCIL_KEYS = ("kind", "direction", "derivative", "accuracy", "offsets")


@dataclass(frozen=True)
class StencilScheme(Scheme):
    """A finite-difference stencil applied along one coordinate at a time."""

    name: str
    stencil: Stencil
    kind: ClassVar[str] = "stencil"

    @property
    def derivative(self) -> int:
        return self.stencil.derivative

    @property
    def accuracy(self) -> int:
        return self.stencil.accuracy

    @property
    def n_evals(self) -> int:
        return self.stencil.n_points

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "StencilScheme":
        return cls(name=name, stencil=parse_stencil(spec, key))

    def offsets(self) -> frozenset[Fraction]:
        return frozenset(self.stencil.offsets)

    def evaluate(self, ctx: BlockContext) -> SchemeEstimates:
        return SchemeEstimates(self, stencil_estimate(ctx, self.stencil), ctx.h_used)

    def model_order(self) -> int:
        st = self.stencil
        return max(st.derivative + st.accuracy, next_truncation_order(st))

    def model(self, deriv: Callable[[int], float], dtype: Any, *, eps_factor: float, noise: float | None,
              window: bool = True) -> ErrorModel:
        st = self.stencil
        f_next = deriv(next_truncation_order(st)) if window else None
        return stencil_model(st, deriv(0), deriv(st.derivative + st.accuracy), dtype, f_next=f_next,
                             eps_factor=eps_factor, noise=noise)


@dataclass(frozen=True)
class RichardsonScheme(StencilScheme):
    """Richardson extrapolation of a stencil, folded into one exact stencil (its h is the base step)."""

    kind: ClassVar[str] = "richardson"

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "RichardsonScheme":
        check.only_keys(key, spec, ("kind", "base", "ratio", "terms"), "kind richardson")
        base = base_stencil(name, spec.get("base", "central"), f"{key}.base")
        ratio = spec.get("ratio", 2)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 < ratio <= 16:
            raise ConfigError(f"{key}.ratio", ratio, "a number > 1 and <= 16")
        terms = check.integer(f"{key}.terms", spec.get("terms", 1), 1, 6)
        exact_ratio = Fraction(ratio).limit_denominator(1000)
        if exact_ratio <= 1:
            raise ConfigError(f"{key}.ratio", ratio, "a number > 1 that stays > 1 as a fraction p/q with q <= 1000")
        return cls(name=name, stencil=richardson(base, ratio=exact_ratio, terms=terms))


def parse_stencil(spec: Mapping[str, Any], key: str) -> Stencil:
    """The stencil of a ``{kind: stencil, direction, derivative, accuracy}`` or ``{offsets: [...]}`` entry."""
    check.only_keys(key, spec, _STENCIL_KEYS, f"kind {spec.get('kind', 'stencil')}")
    derivative = check.integer(f"{key}.derivative", spec.get("derivative", 1), 1, 4)
    accuracy = spec.get("accuracy")
    if accuracy is not None:
        accuracy = check.integer(f"{key}.accuracy", accuracy, 1, 16)
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
            raise ConfigError(f"{key}.offsets", list(offsets), "distinct integers, more than 'derivative' of them",
                              str(exc)) from None
        if accuracy is not None and accuracy != stencil.accuracy:
            raise ConfigError(
                f"{key}.accuracy", accuracy, f"{stencil.accuracy} (derived from the offsets) or leave it out"
            )
        return stencil
    direction = check.one_of(f"{key}.direction", spec.get("direction", "central"), DIRECTIONS)
    try:
        return standard_stencil(direction, derivative, accuracy)
    except StencilError as exc:
        allowed = "an even order (2, 4, 6, ...)" if direction == "central" else "an integer >= 1"
        raise ConfigError(f"{key}.accuracy", accuracy, allowed, str(exc)) from None


def base_stencil(name: str, base: Any, key: str) -> Stencil:
    """The stencil a composite scheme (Richardson, mixed partials) is built on: a built-in name or a mapping."""
    if isinstance(base, str):
        if base not in BUILTIN_SCHEMES or BUILTIN_SCHEMES[base]["kind"] != "stencil":
            raise ConfigError(key, base, "a stencil scheme (forward, backward, central, central4 or a stencil mapping)")
        base = BUILTIN_SCHEMES[base]
    if not isinstance(base, Mapping):
        raise ConfigError(key, base, "a stencil scheme (forward, backward, central, central4 or a stencil mapping)")
    if base.get("kind", "stencil") != "stencil":
        raise ConfigError(f"{key}.kind", base.get("kind"), "stencil")
    return parse_stencil(base, key)
