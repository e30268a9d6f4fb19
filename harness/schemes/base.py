"""The scheme protocol: what every kind of differentiation scheme answers.

A scheme is one class per *kind* (stencil, richardson, complex_step, mixed,
selector, baseline, ...), registered in :data:`harness.schemes.SCHEME_KINDS`.
The rest of the harness talks to schemes only through this protocol; it
never asks which kind a scheme is. Adding a kind means adding one module with
a :class:`Scheme` subclass and one line in the registry.

Modelled on benchopt's solvers: every scheme says whether it can run here and
why not (:meth:`Scheme.skip`), rather than the caller knowing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from ..evaluate import BlockContext, SchemeEstimates
    from ..model import ErrorModel


class Scheme(ABC):
    """Base class of every scheme kind.

    Subclasses are frozen dataclasses with at least a ``name`` field and
    provide ``derivative``, ``accuracy`` and ``n_evals``.

    Attributes
    ----------
    kind : str
        Registry key of the class (``'stencil'``, ``'complex_step'``, ...).
    name : str
        Name in tables and legends (the config key).
    derivative : int
        Derivative order m of each estimate.
    accuracy : int
        Accuracy order p (truncation ~ h^p) of one estimate.
    n_evals : int
        Nominal function evaluations one estimate costs.
    adaptive : bool
        True when the scheme chooses its own step: one row per point, no grid.
    own_steps : bool
        True when the scheme applies its own step rule, so it runs once per
        block rather than once per configured step scale.
    has_optimum : bool
        False when the error has no minimum in h but a floor (the complex
        step): the summary then reports the step below which the error stays
        within 2x of its floor instead of an argmin.
    sees_absolute_noise : bool
        Whether an absolute noise on f (added to its real part) reaches the
        estimate. The complex step reads only ``Im f``: its error model then
        keeps the rounding alone.
    requires : frozenset of str
        Capabilities of the function the scheme needs, e.g. ``'complex_input'``
        (the complex step). A function that lacks one says why in its
        ``unsupported`` mapping (:class:`harness.userfunc.UserFunction`; an
        expression lacks none), and :meth:`skip_for` skips the scheme there.
    """

    kind: ClassVar[str]
    name: str
    adaptive: ClassVar[bool] = False
    own_steps: ClassVar[bool] = False
    has_optimum: ClassVar[bool] = True
    sees_absolute_noise: ClassVar[bool] = True
    requires: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    @abstractmethod
    def from_config(cls, name: str, spec: Mapping[str, Any], key: str) -> "Scheme":
        """Build and validate from a config mapping; raise ConfigError naming ``key``."""

    # -- where it runs ---------------------------------------------------------------
    def skip(self, *, dtype: str, dim: int) -> str | None:
        """Why the scheme cannot run on this number type and dimension (None: it can)."""
        return None

    def skip_for(self, function: Any, dtype: str) -> str | None:
        """Why the scheme cannot run on this function (a ``FunctionSpec``) and number type (None: it can).

        :meth:`skip` for the number type and dimension, then the first
        capability in :attr:`requires` the function lacks (its reason).
        """
        why = self.skip(dtype=dtype, dim=function.dim)
        if why is None:
            lacking = function.expression.unsupported
            why = next((lacking[need] for need in sorted(self.requires) if need in lacking), None)
        return why

    def partials(self, dim: int) -> list[tuple[int, ...]]:
        """Coordinates each estimate differentiates: ``(j,)`` per coordinate by default."""
        return [(j,) for j in range(dim)]

    # -- evaluation -------------------------------------------------------------------
    def offsets(self) -> frozenset[Fraction]:
        """Stencil offsets read from the block's shared samples (one call of f for all schemes)."""
        return frozenset()

    @abstractmethod
    def evaluate(self, ctx: "BlockContext") -> "SchemeEstimates":
        """Estimates for every point (and step, unless adaptive) of the block."""

    def memory_per_point(self, n_h: int, dim: int, itemsize: int) -> int:
        """Bytes of the scheme's own arrays per point (beyond the shared samples), for chunk sizing."""
        return 0

    def conventions(self, step: str, scale: str) -> tuple[str, str]:
        """The ``step`` and ``step_scale`` its rows really used, given the sweep's settings."""
        return step, scale

    # -- error model ------------------------------------------------------------------
    def model_order(self) -> int:
        """Highest derivative order its error model needs (0: no model)."""
        return 0

    def model(self, deriv: Callable[[int], float], dtype: Any, *, eps_factor: float, noise: float | None,
              window: bool = True) -> "ErrorModel | None":
        """Predicted error model at a point, from ``deriv(n)`` = f^(n) along the coordinate (None: no model)."""
        return None
