"""Finite-difference stencils as exact data.

A stencil approximates the m-th derivative as

    f^(m)(x) ~ sum_i w_i f(x + o_i h) / h^m

with offsets ``o_i`` and weights ``w_i``. Weights come from Fornberg's
recursion run in exact rational arithmetic, so a stencil is reproducible to
the last bit and its accuracy order can be *derived* from its moments instead
of trusted from a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from math import factorial
from typing import Iterable, Sequence

DIRECTIONS = ("central", "forward", "backward")


class StencilError(ValueError):
    """A stencil request that cannot be satisfied (bad order, offsets, ...)."""


def fornberg_weights(offsets: Sequence[int | Fraction], derivative: int) -> list[Fraction]:
    """Exact weights of the ``derivative``-th derivative at 0 on ``offsets``.

    Parameters
    ----------
    offsets : sequence of int or Fraction
        Distinct sample positions in units of the step h.
    derivative : int
        Derivative order m, ``0 <= m < len(offsets)``.

    Returns
    -------
    list of Fraction
        Weights ``w_i`` such that ``sum w_i f(o_i h) / h^m`` approximates
        ``f^(m)(0)`` with the highest order the offsets allow.

    Notes
    -----
    Fornberg, "Generation of finite difference formulas on arbitrarily spaced
    grids", Math. Comp. 51 (1988), algorithm for a single evaluation point.

    Examples
    --------
    >>> fornberg_weights([-1, 0, 1], 1)
    [Fraction(-1, 2), Fraction(0, 1), Fraction(1, 2)]
    >>> fornberg_weights([-1, 0, 1], 2)
    [Fraction(1, 1), Fraction(-2, 1), Fraction(1, 1)]
    """
    xs = [Fraction(o) for o in offsets]
    n = len(xs)
    if len(set(xs)) != n:
        raise StencilError(f"offsets must be distinct, got {list(offsets)}")
    if not 0 <= derivative < n:
        raise StencilError(
            f"derivative order {derivative} needs at least {derivative + 1} offsets, got {n}"
        )
    # Fornberg's recursion with the expansion point z = 0; c[j][k] is the
    # weight of sample j for the k-th derivative using samples 0..i.
    c = [[Fraction(0)] * (derivative + 1) for _ in range(n)]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    c4 = xs[0]
    for i in range(1, n):
        mn = min(i, derivative)
        c2 = Fraction(1)
        c5, c4 = c4, xs[i]
        for j in range(i):
            c3 = xs[i] - xs[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2
            for k in range(mn, 0, -1):
                c[j][k] = (c4 * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = c4 * c[j][0] / c3
        c1 = c2
    return [row[derivative] for row in c]


@dataclass(frozen=True)
class Stencil:
    """Offsets and exact weights for one derivative order.

    Attributes
    ----------
    offsets : tuple of Fraction
        Sample positions in units of h, zero-weight samples removed.
    weights : tuple of Fraction
        Exact weights matching ``offsets``.
    derivative : int
        Derivative order m.
    accuracy : int
        Order p of the leading truncation term (error ~ h^p), derived from
        the first non-vanishing moment ``sum w_i o_i^(m+p)``.
    """

    offsets: tuple[Fraction, ...]
    weights: tuple[Fraction, ...]
    derivative: int
    accuracy: int

    @property
    def n_points(self) -> int:
        """Number of function evaluations one estimate needs."""
        return len(self.offsets)

    def moment(self, k: int) -> Fraction:
        """Exact moment ``sum_i w_i o_i^k`` (memoized: stencils are immutable)."""
        return _moment(self, k)

    def truncation_constant(self) -> Fraction:
        """Leading truncation coefficient ``moment(m+p) / (m+p)!``.

        The estimate's truncation error is ``C * f^(m+p)(x) * h^p + O(h^(p+1))``.
        """
        k = self.derivative + self.accuracy
        return self.moment(k) / factorial(k)


@lru_cache(maxsize=4096)
def _moment(stencil: Stencil, k: int) -> Fraction:
    return sum((w * o**k for o, w in zip(stencil.offsets, stencil.weights)), Fraction(0))


def accuracy_order(offsets: Sequence[Fraction], weights: Sequence[Fraction], derivative: int) -> int:
    """Accuracy order p derived from the moments of a stencil.

    The moments ``sum w_i o_i^k`` must vanish for k < m and equal m! at k = m;
    p is the distance from m to the first k > m whose moment is non-zero.

    Raises
    ------
    StencilError
        If the weights do not approximate the m-th derivative at all.
    """
    def moment(k: int) -> Fraction:
        return sum((w * Fraction(o) ** k for o, w in zip(offsets, weights)), Fraction(0))

    for k in range(derivative):
        if moment(k) != 0:
            raise StencilError(f"weights do not annihilate x^{k}: not a derivative-{derivative} stencil")
    if moment(derivative) != factorial(derivative):
        raise StencilError(f"weights are not consistent with derivative order {derivative}")
    # A stencil on n points cannot be exact beyond degree n - 1 + (symmetry bonus);
    # 2n bounds the search safely.
    for k in range(derivative + 1, derivative + 2 * len(offsets) + 2):
        if moment(k) != 0:
            return k - derivative
    raise StencilError("could not determine the accuracy order")  # pragma: no cover


def stencil_from_offsets(offsets: Iterable[int | Fraction], derivative: int) -> Stencil:
    """Build a stencil from explicit offsets, deriving its accuracy order.

    Examples
    --------
    >>> s = stencil_from_offsets([-1, 0, 2, 3], 1)
    >>> s.accuracy
    3
    """
    offs = [Fraction(o) for o in offsets]
    weights = fornberg_weights(offs, derivative)
    kept = [(o, w) for o, w in zip(offs, weights) if w != 0]
    kept.sort(key=lambda ow: ow[0])
    p = accuracy_order([o for o, _ in kept], [w for _, w in kept], derivative)
    return Stencil(
        offsets=tuple(o for o, _ in kept),
        weights=tuple(w for _, w in kept),
        derivative=derivative,
        accuracy=p,
    )


def standard_offsets(direction: str, derivative: int, accuracy: int) -> list[int]:
    """Offsets of the textbook forward, backward or central stencil.

    Parameters
    ----------
    direction : {'central', 'forward', 'backward'}
    derivative : int
        Derivative order m >= 1.
    accuracy : int
        Requested accuracy order p >= 1 (even for central stencils).

    Returns
    -------
    list of int
    """
    if direction not in DIRECTIONS:
        raise StencilError(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if derivative < 1:
        raise StencilError(f"derivative order must be >= 1, got {derivative}")
    if accuracy < 1:
        raise StencilError(f"accuracy order must be >= 1, got {accuracy}")
    if direction == "central":
        if accuracy % 2:
            raise StencilError(f"central stencils have even accuracy orders (2, 4, 6, ...), got {accuracy}")
        radius = (derivative + 1) // 2 - 1 + accuracy // 2
        return list(range(-radius, radius + 1))
    n = derivative + accuracy
    forward = list(range(n))
    return forward if direction == "forward" else [-o for o in reversed(forward)]


def standard_stencil(direction: str, derivative: int = 1, accuracy: int | None = None) -> Stencil:
    """Textbook stencil, e.g. ``standard_stencil('central', 1, 4)``.

    ``accuracy`` defaults to 1 for one-sided and 2 for central stencils.

    Examples
    --------
    >>> standard_stencil('central', 1, 4).weights
    (Fraction(1, 12), Fraction(-2, 3), Fraction(2, 3), Fraction(-1, 12))
    """
    if accuracy is None:
        accuracy = 2 if direction == "central" else 1
    stencil = stencil_from_offsets(standard_offsets(direction, derivative, accuracy), derivative)
    if stencil.accuracy < accuracy:  # pragma: no cover - guarded by the offset rules
        raise StencilError(f"{direction} stencil reached order {stencil.accuracy}, asked {accuracy}")
    return stencil


def scaled(stencil: Stencil, factor: Fraction) -> tuple[list[Fraction], list[Fraction]]:
    """Offsets and weights of ``stencil`` applied with step ``factor * h``, written on step h.

    ``D(factor h) = sum w_i f(x + o_i factor h) / (factor h)^m``, so the offsets
    scale by ``factor`` and the weights by ``factor^-m``.
    """
    return [o * factor for o in stencil.offsets], [w / factor**stencil.derivative for w in stencil.weights]


def combine(parts: Iterable[tuple[Fraction, Sequence[Fraction], Sequence[Fraction]]], derivative: int) -> Stencil:
    """Linear combination ``sum c_k D_k`` of stencils given as (c_k, offsets_k, weights_k)."""
    weights: dict[Fraction, Fraction] = {}
    for coef, offsets, ws in parts:
        for o, w in zip(offsets, ws):
            weights[o] = weights.get(o, Fraction(0)) + coef * w
    kept = sorted((o, w) for o, w in weights.items() if w != 0)
    offs, ws = [o for o, _ in kept], [w for _, w in kept]
    return Stencil(tuple(offs), tuple(ws), derivative, accuracy_order(offs, ws, derivative))


def richardson(base: Stencil, *, ratio: Fraction | int = 2, terms: int = 1) -> Stencil:
    """Richardson extrapolation of a stencil, written as one exact stencil.

    With ``R_0(h) = D(h)`` and ``q_k`` the accuracy order of ``R_{k-1}``,
    ``R_k(h) = (r^q_k R_{k-1}(h) - R_{k-1}(r h)) / (r^q_k - 1)``. The result
    samples f at ``x + o r^j h`` (j <= terms), so its step h is the base step
    and its accuracy order is derived from the combined moments: the exponent
    sequence (h^2, h^4, ... for central stencils) is never assumed.

    Parameters
    ----------
    base : Stencil
    ratio : int or Fraction
        Step ratio r > 1 between successive levels.
    terms : int
        Number of extrapolation levels.

    Examples
    --------
    >>> r = richardson(standard_stencil('central', 1, 2), ratio=2, terms=1)
    >>> r == standard_stencil('central', 1, 4)
    True
    """
    r = Fraction(ratio)
    if r <= 1:
        raise StencilError(f"Richardson ratio must be > 1, got {ratio}")
    if terms < 1:
        raise StencilError(f"Richardson needs at least one term, got {terms}")
    current = base
    for _ in range(terms):
        q = current.accuracy
        big = scaled(current, r)
        factor = r**q
        current = combine(
            [(factor / (factor - 1), current.offsets, current.weights), (-1 / (factor - 1), *big)],
            base.derivative,
        )
    return current
