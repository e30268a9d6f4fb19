"""Differentiation schemes: one class per kind behind one registry.

Every kind follows the protocol of :class:`Scheme` (which number types and
dimensions it supports and why not, how it evaluates a block, what step
convention its rows really used, whether it has an error model). The rest of
the harness never asks which kind a scheme is.

Adding a kind: write a module with a :class:`Scheme` subclass (a frozen
dataclass with ``kind``, ``from_config`` and ``evaluate``) and add one line
to :data:`SCHEME_KINDS`.
"""

from __future__ import annotations

from typing import Any

from .. import validate as check
from ..errors import ConfigError
from .base import Scheme
from .baseline import BaselineScheme, make_baseline
from .complex_step import ComplexStepScheme
from .mixed import MixedScheme
from .selector import SelectorScheme
from .stencil import BUILTIN_SCHEMES, FIRST_DERIVATIVE_STENCILS, RichardsonScheme, StencilScheme

#: kind -> scheme class (its ``from_config`` builds it from a config entry).
SCHEME_KINDS: dict[str, type[Scheme]] = {
    "stencil": StencilScheme,
    "richardson": RichardsonScheme,
    "complex_step": ComplexStepScheme,
    "mixed": MixedScheme,
    "selector": SelectorScheme,
    "baseline": BaselineScheme,
}

__all__ = ["BUILTIN_SCHEMES", "FIRST_DERIVATIVE_STENCILS", "SCHEME_KINDS", "BaselineScheme", "ComplexStepScheme",
           "MixedScheme", "RichardsonScheme", "Scheme", "SelectorScheme", "StencilScheme", "make_baseline",
           "make_scheme"]


def make_scheme(name: str, spec: Any = None, *, key: str | None = None) -> Scheme:
    """Build a scheme from a config entry.

    Parameters
    ----------
    name : str
        Scheme name used in tables and legends.
    spec : None, str or mapping
        ``None`` or a built-in name (see :data:`BUILTIN_SCHEMES`) or a mapping
        with a ``kind`` from :data:`SCHEME_KINDS` (default ``stencil``), e.g.
        ``{kind: stencil, direction: central, derivative: 1, accuracy: 4}``,
        ``{kind: stencil, offsets: [-1, 0, 2, 3]}``,
        ``{kind: richardson, base: central, ratio: 2, terms: 1}``,
        ``{kind: mixed, base: central}`` (Hessian entries),
        ``{kind: baseline, method: scipy_3point}`` or
        ``{kind: selector, rule: stepleman_winarsky}``.
    key : str, optional
        Config key used in error messages (default ``schemes.<name>``).

    Returns
    -------
    Scheme

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
    >>> make_scheme("rich", {"kind": "richardson", "base": "central"}).accuracy
    4
    """
    key = key or f"schemes.{name}"
    if spec is None or isinstance(spec, str):
        builtin = name if spec is None else spec
        if builtin not in BUILTIN_SCHEMES:
            raise ConfigError(key, spec if spec is not None else name, BUILTIN_SCHEMES)
        spec = BUILTIN_SCHEMES[builtin]
    check.mapping(key, spec, "a built-in scheme name or a mapping with key 'kind'")
    kind = check.one_of(f"{key}.kind", spec.get("kind", "stencil"), SCHEME_KINDS)
    return SCHEME_KINDS[kind].from_config(name, spec, key)
