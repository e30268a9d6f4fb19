"""Step selectors as schemes: a rule chooses h per point, a first-derivative stencil is scored there.

The rules themselves live in :mod:`harness.selectors` (eps rules,
Stepleman-Winarsky, GMSW) and :mod:`harness.noise_selectors` (Moré-Wild,
Dumontet-Vignes, Shi-Xie-Xuan-Nocedal: they take a ``noise`` option); this
module makes them a scheme kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from .. import validate as check
from ..errors import ConfigError
from ..evaluate import BlockContext, SchemeEstimates, stencil_estimate
from ..noise_selectors import NOISE_RULES, NOISE_SOURCES, choose_noisy_steps
from ..selectors import SELECTOR_RULES, choose_steps_and_estimate
from .base import Scheme
from .stencil import BUILTIN_SCHEMES, FIRST_DERIVATIVE_STENCILS, StencilScheme

_SELECTOR_KEYS = ("kind", "rule", "base", "noise")
#: Every rule: the classic ones and the noise-aware ones (which take ``noise``).
RULES: dict[str, dict[str, Any]] = {**SELECTOR_RULES, **NOISE_RULES}


@dataclass(frozen=True)
class SelectorScheme(Scheme):
    """A step-selection rule scored with a first-derivative stencil at the step it chooses.

    Attributes
    ----------
    name : str
        Scheme name used in tables and legends.
    rule : str
        A key of :data:`harness.selectors.SELECTOR_RULES`.
    base : StencilScheme
        The stencil evaluated at the chosen step.
    noise : str or float or None
        Noise-aware rules only: ``'declared'`` (the function's declared noise
        and rounding), ``'estimate'`` (ECnoise) or a relative noise level.

    Examples
    --------
    >>> s = SelectorScheme.from_config("sw", {"kind": "selector", "rule": "stepleman_winarsky"}, "schemes.sw")
    >>> s.base.name, s.accuracy, s.conventions("exact", "absolute")
    ('central', 2, ('exact', 'search'))
    """

    name: str
    rule: str
    base: StencilScheme
    noise: Any = None
    kind: ClassVar[str] = "selector"
    adaptive: ClassVar[bool] = True
    own_steps: ClassVar[bool] = True

    @property
    def derivative(self) -> int:
        return self.base.derivative

    @property
    def accuracy(self) -> int:
        return self.base.accuracy

    @property
    def n_evals(self) -> int:
        """Nominal evaluations of one base estimate; per-row totals are in ``SchemeEstimates.n_evals``."""
        return self.base.n_evals

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "SelectorScheme":
        """``{kind: selector, rule: <rule>, base: <built-in first-derivative stencil>[, noise: ...]}``.

        ``base`` defaults to the rule's ``RULES[rule]['base']``; ``noise``
        (noise-aware rules only) to ``'declared'``.
        """
        check.only_keys(key, spec, _SELECTOR_KEYS, "kind selector")
        check.one_of(f"{key}.kind", spec.get("kind", cls.kind), (cls.kind,))
        rule = check.one_of(f"{key}.rule", spec.get("rule"), RULES)
        base_name = spec.get("base", RULES[rule]["base"])
        bases = RULES[rule].get("bases", FIRST_DERIVATIVE_STENCILS)
        if not isinstance(base_name, str) or base_name not in bases:
            raise ConfigError(f"{key}.base", base_name, bases, f"a built-in first-derivative stencil {rule} supports")
        base = StencilScheme.from_config(base_name, BUILTIN_SCHEMES[base_name], f"{key}.base")
        noise = None
        if rule in NOISE_RULES:
            noise = spec.get("noise", "declared")
            if noise not in NOISE_SOURCES:
                if isinstance(noise, str) or check.number(f"{key}.noise", noise) < 0:
                    raise ConfigError(f"{key}.noise", noise, "declared, estimate or a relative noise level >= 0")
                noise = float(noise)
        elif "noise" in spec:
            raise ConfigError(f"{key}.noise", spec["noise"], f"no noise option for rule {rule} (only for "
                              f"{', '.join(NOISE_RULES)})")
        return cls(name=name, rule=rule, base=base, noise=noise)

    def conventions(self, step: str, scale: str) -> tuple[str, str]:
        # The chosen h is applied with the sweep's step convention; its scale is the rule's own.
        return step, RULES[self.rule]["step_scale"]

    def evaluate(self, ctx: BlockContext) -> SchemeEstimates:
        """Choose h per point and coordinate, then score the base stencil there.

        Returns one adaptive row per point: ``estimate``, ``h_used``,
        ``n_evals`` (evaluations spent choosing h plus ``base.n_evals``) and
        ``error_estimate`` have shape ``(1, n_points, dim)``; ``h_nominal`` is
        ``[nan]``.
        """
        points = ctx.points
        if self.rule in NOISE_RULES:
            h, evals, error = choose_noisy_steps(self.rule, ctx.fn, points, base=self.base.stencil, noise=self.noise,
                                                 declared=ctx.noise)
        else:
            h, evals, error = choose_steps_and_estimate(self.rule, ctx.fn, points, base=self.base.stencil)
        scored = BlockContext(ctx.fn, points, h[None], ctx.step, "absolute", self.base.offsets())
        shape = (1,) + points.shape
        return SchemeEstimates(
            scheme=self,
            estimate=stencil_estimate(scored, self.base.stencil),
            h_used=scored.h_used,
            n_evals=(evals + self.base.n_evals).astype(np.int64).reshape(shape),
            error_estimate=error.reshape(shape),
            h_nominal=np.array([np.nan]),
        )
