"""Worked example: the lecture's own Python functions, run as user functions (``harness experiment=user_function``).

The lecture differentiates a function of a vector, ``x0**3 + x1**2 + x2**4``,
with a higher-order function that builds a forward-difference gradient. The
functions below are written the same way, as a user would write them for
their own code, and follow the calling convention of user functions
(:mod:`harness.userfunc`): ``f(X)`` with ``X`` of shape ``(n, dim)`` returns
``n`` values; ``x[..., i]`` is coordinate i of one point (shape ``(dim,)``)
or of many (shape ``(n, dim)``) alike.

They use only plain arithmetic on their argument, so they also compute on
mpmath numbers and complex numbers: the harness takes their references from
the checked mpmath path and offers the complex step without being told.
:func:`damped_wave` calls numpy's ufuncs, which do neither on mpmath numbers:
without a ``reference`` it is scored against Ridders' estimate, with
``reference: {derivative: harness.examples.damped_wave_derivative}``
against its analytic derivative.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["cube", "damped_wave", "damped_wave_derivative", "forward_derivative", "forward_gradient",
           "lecture_function"]


def lecture_function(x: np.ndarray) -> np.ndarray:
    """``x0**3 + x1**2 + x2**4`` of a vector (the lecture's multivariate example), for one point or many.

    Examples
    --------
    >>> lecture_function(np.array([1.0, 1.0, 1.0]))
    np.float64(3.0)
    >>> lecture_function(np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 1.0]]))
    array([3., 9.])
    """
    return x[..., 0] ** 3 + x[..., 1] ** 2 + x[..., 2] ** 4


def cube(x: np.ndarray) -> np.ndarray:
    """``x**3``, the lecture's function of one variable (vectorized over ``x`` of shape ``(n,)``)."""
    return x**3


def forward_gradient(f: Callable[[np.ndarray], float], h: float = 1e-4) -> Callable[[np.ndarray], np.ndarray]:
    """A function computing the forward-difference gradient of ``f`` at one point, as the lecture builds it.

    ``grad(x)[i] = (f(x + h e_i) - f(x)) / h``, one coordinate after another
    (a Python loop over the coordinates: the harness's engine does the same
    for all coordinates, steps and points in one call of f).

    Examples
    --------
    >>> grad = forward_gradient(lecture_function, h=1e-4)
    >>> np.round(grad(np.array([1.0, 1.0, 1.0])), 8)
    array([3.00030001, 2.0001    , 4.00060004])
    """
    def grad(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        fx = f(x)
        out = np.empty_like(x)
        for i in range(x.size):
            moved = x.copy()
            moved[i] = moved[i] + h
            out[i] = (f(moved) - fx) / h
        return out

    return grad


def forward_derivative(f: Callable[[np.ndarray], np.ndarray], h: float = 1e-4) -> Callable[[np.ndarray], np.ndarray]:
    """The one-variable version: ``df(x) = (f(x + h) - f(x)) / h``, vectorized over ``x``.

    Examples
    --------
    >>> round(float(forward_derivative(cube, h=1e-4)(np.array([2.0]))[0]), 6)  # 3 x**2 + 3 x h + h**2 at x = 2
    12.0006
    """
    def df(x: np.ndarray) -> np.ndarray:
        return (f(x + h) - f(x)) / h

    return df


def damped_wave(t: np.ndarray) -> np.ndarray:
    """``exp(-t / 2) sin(3 t)``: numpy's ufuncs, so no mpmath evaluation (its references are estimates)."""
    return np.exp(-t / 2) * np.sin(3 * t)


def damped_wave_derivative(t: np.ndarray) -> np.ndarray:
    """The analytic derivative of :func:`damped_wave`: ``exp(-t / 2) (3 cos(3 t) - sin(3 t) / 2)``."""
    return np.exp(-t / 2) * (3 * np.cos(3 * t) - np.sin(3 * t) / 2)
