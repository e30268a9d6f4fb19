"""User functions for the tests: one per reference path, and callables that are wrong in each way a config can be.

Importable as ``userfuncs`` (pytest puts ``tests/`` on ``sys.path``; CLI
subprocesses get it through ``PYTHONPATH``). Calling conventions as in
:mod:`harness.userfunc`: ``f(x)``, ``x`` of shape ``(n,)`` for one variable,
``f(X)``, ``X`` of shape ``(n, dim)`` otherwise.
"""

import mpmath
import numpy as np

SEEN = {"numeric": 0, "object": 0}
"""Points :func:`counted` saw: numeric arrays (numpy types) and object arrays (mpmath numbers)."""


# -- reference: {mpmath: energy_mp} ------------------------------------------------------------
def energy(X):
    """exp(x0) * sin(x1) + x0 * x2**2 with numpy's ufuncs (no mpmath evaluation of its own)."""
    return np.exp(X[:, 0]) * np.sin(X[:, 1]) + X[:, 0] * X[:, 2] ** 2


def energy_mp(x):
    """The mpmath twin of :func:`energy` on one point (a list of three mpf)."""
    return mpmath.exp(x[0]) * mpmath.sin(x[1]) + x[0] * x[2] ** 2


def energy_gradient(X):
    """The gradient of :func:`energy`, shape (n, 3)."""
    e, s, c = np.exp(X[:, 0]), np.sin(X[:, 1]), np.cos(X[:, 1])
    return np.stack([e * s + X[:, 2] ** 2, e * c, 2 * X[:, 0] * X[:, 2]], axis=-1)


# -- reference: {derivative: wave_derivative} ---------------------------------------------------
def wave(x):
    """sin(3 x) exp(-x**2), one variable, numpy's ufuncs."""
    return np.sin(3 * x) * np.exp(-x**2)


def wave_derivative(x):
    """The derivative of :func:`wave`."""
    return (3 * np.cos(3 * x) - 2 * x * np.sin(3 * x)) * np.exp(-x**2)


def wave_derivative_mp(x):
    """The derivative of :func:`wave` computing on mpmath numbers as well (object arrays of mpf)."""
    return np.array([(3 * mpmath.cos(3 * v) - 2 * v * mpmath.sin(3 * v)) * mpmath.exp(-v**2) for v in x],
                    dtype=object) if x.dtype == object else wave_derivative(x)


def wave_derivative_bfloat16(x):
    """The derivative of :func:`wave`, returned in bfloat16 (8 significant bits)."""
    import ml_dtypes

    return wave_derivative(x).astype(ml_dtypes.bfloat16)


def wrong_wave_derivative(x):
    """Not the derivative of :func:`wave` (a sign error)."""
    return (3 * np.cos(3 * x) + 2 * x * np.sin(3 * x)) * np.exp(-x**2)


# -- reference omitted: f computes on mpmath numbers (plain arithmetic) ------------------------
def rational(X):
    """(x0**2 + 3 x1) / (1 + x0**2 x1**2): plain arithmetic, so mpmath numbers go through it."""
    return (X[:, 0] ** 2 + 3 * X[:, 1]) / (1 + X[:, 0] ** 2 * X[:, 1] ** 2)


# -- reference omitted, and no mpmath evaluation: Ridders' estimate -----------------------------
def bump(x):
    """log1p(x**2) cos(x) with numpy's ufuncs: scored against an estimate."""
    return np.log1p(x**2) * np.cos(x)


def counted(x):
    """x**3 - 2 x that counts the points it is called on (:data:`SEEN`)."""
    SEEN["object" if np.asarray(x).dtype == object else "numeric"] += np.asarray(x).shape[0]
    return x**3 - 2 * x


def float64_only(x):
    """x**2 computed in float64 whatever the input (float32 in, float64 out; complex input loses its imaginary part)."""
    return np.asarray(x).astype(np.float64) ** 2


def no_longdouble(x):
    """exp(x), refusing longdouble input (as scipy.special's functions do): estimates fall back to float64."""
    if np.asarray(x).dtype == np.longdouble:
        raise TypeError("no longdouble loop")
    return np.exp(x)


def fails_above_two(x):
    """sqrt(x) that raises for the whole call when any x exceeds 2 (the sweep goes on with NaN there)."""
    if np.any(np.real(x) > 2):
        raise ValueError("x > 2")
    return np.sqrt(x)


# -- wrong in a config ----------------------------------------------------------------------------
NOT_CALLABLE = 42


def lossy_cube_mp(x):
    """A twin of x**3 that rounds its argument to float64 first: it returns mpmath numbers without their precision."""
    return mpmath.mpf(float(x)) ** 3


def first_two(X):
    """Uses two coordinates: a config with dim 3 passes (it ignores x2), dim 1 does not."""
    return X[:, 0] * X[:, 1]


def batch_sum(X):
    """A common slip: the sum over the whole batch (one number), not one value per point."""
    return np.sum(X**2)
