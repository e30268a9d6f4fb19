"""Number types beyond numpy's own: bfloat16 and the 8-bit floats of ``ml_dtypes``.

A sweep's ``dtypes`` may name numpy's IEEE types (float16, float32, float64,
longdouble) and three machine-learning formats that the ``ml_dtypes`` package
registers with numpy (:data:`harness.settings.DTYPES`):

============== ==== ======== =========== ============== ==================
type           bits mantissa unit        largest        overflow gives
                    bits p   round-off u finite
============== ==== ======== =========== ============== ==================
bfloat16        16   8       2^-8        3.4e38         inf
float8_e4m3fn    8   4       2^-4        448            NaN (no inf)
float8_e5m2      8   3       2^-3        57344          inf
============== ==== ======== =========== ============== ==================

How arithmetic in these types happens (what a user of the type gets):
every numpy ufunc that ``ml_dtypes`` registers for them (``+ - * /``,
``**``, negation, abs and all the functions of :data:`harness.expr.FUNCTIONS`)
converts its operands to float32, computes in float32 and rounds the result
once to the type (``ml_dtypes/_src/ufuncs.h``: ``T(std::exp(float(a)))``;
the arithmetic operators of ``custom_float.h`` likewise). Results keep the
type; nothing upcasts silently. For ``+ - * /`` and sqrt this is the
correctly rounded result, because float32 has at least ``2p + 2`` bits
(double rounding is then innocuous: S. A. Figueroa, "When is double rounding
innocuous?", SIGNUM Newsletter 30(3), 1995). The transcendental functions
inherit float32 libm's accuracy before the final rounding, which at these
precisions is the correctly rounded result in all but rare ties.

Two places would silently go wrong and are handled here:

* ``x ** n`` with a literal integer exponent: the ufunc takes two operands
  of the type, so the exponent itself is first rounded to the type
  (``x ** 9`` in float8_e5m2 computes ``x ** 8``). :func:`integer_power`
  applies an exponent the type cannot hold exactly in float64 and rounds the
  power once.
* Rational constants (stencil weights, decimal literals) built as
  ``type(num) / type(den)`` would round the numerator and the denominator
  first; :func:`round_rational` rounds the exact value once.

None of the three has a complex type numpy can compute with (``ml_dtypes``
0.6 added ``bcomplex32`` for bfloat16, but numpy's ``.real``/``.imag`` return
wrong values for it before NumPy 2.5), so the complex step is skipped for
them (:func:`complex_unavailable`).
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .settings import DTYPES

__all__ = ["NO_COMPLEX", "complex_unavailable", "finfo", "integer_power", "is_ml_float", "real_dtype",
           "round_rational", "types_by_precision"]

#: Number types without a complex type the harness can compute with, and why.
NO_COMPLEX: dict[str, str] = {
    "float16": "float16 has no complex type",
    "bfloat16": "bfloat16 has no complex type numpy can compute with (ml_dtypes' bcomplex32 gets wrong "
                ".real/.imag before NumPy 2.5)",
    "float8_e4m3fn": "float8_e4m3fn has no complex type",
    "float8_e5m2": "float8_e5m2 has no complex type",
}


def is_ml_float(dtype: npt.DTypeLike) -> bool:
    """True for a real floating-point type registered by ``ml_dtypes`` (bfloat16, the float8 types, ...).

    Examples
    --------
    >>> is_ml_float("bfloat16"), is_ml_float(np.float16), is_ml_float(np.complex64)
    (True, False, False)
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return False
    return _is_ml_float(dtype)


@functools.lru_cache(maxsize=None)
def _is_ml_float(dtype: np.dtype) -> bool:
    if not getattr(dtype.type, "__module__", "").startswith("ml_dtypes") or dtype.kind == "c":
        return False
    import ml_dtypes  # loaded already: the dtype is one of its types

    try:
        ml_dtypes.finfo(dtype)
    except (ValueError, TypeError):  # ml_dtypes' integer and complex types
        return False
    return True


def is_real_float(dtype: npt.DTypeLike) -> bool:
    """True for every real floating-point type the harness computes in: numpy's and ``ml_dtypes``'.

    ``ml_dtypes``' types have ``dtype.kind == 'V'``, so ``kind == 'f'`` alone turns them away.

    Examples
    --------
    >>> is_real_float(np.float32), is_real_float("bfloat16"), is_real_float(np.complex128), is_real_float(int)
    (True, True, False, False)
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        return False
    return dtype.kind == "f" or _is_ml_float(dtype)


def finfo(dtype: npt.DTypeLike) -> Any:
    """Machine limits of a real floating-point type: ``ml_dtypes.finfo`` for its types, ``numpy.finfo`` otherwise.

    Examples
    --------
    >>> float(finfo("float8_e4m3fn").eps), float(finfo("bfloat16").eps) == 2.0**-7
    (0.125, True)
    """
    dtype = np.dtype(dtype)
    if is_ml_float(dtype):
        import ml_dtypes  # loaded already: the dtype is one of its types

        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)


def real_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """The real type of a floating or complex type (complex64 -> float32; bfloat16 -> bfloat16)."""
    dtype = np.dtype(dtype)
    return dtype if is_ml_float(dtype) else np.finfo(dtype).dtype


def complex_unavailable(name: str) -> str | None:
    """Why a number type (config name) has no complex type for the complex step, or None if it has one."""
    return NO_COMPLEX.get(name)


def types_by_precision(names: Any) -> list[str]:
    """Number type names ordered from the coarsest unit round-off to the finest (float8 ... longdouble).

    Examples
    --------
    >>> types_by_precision(["float64", "bfloat16", "float8_e5m2", "float16"])
    ['float8_e5m2', 'bfloat16', 'float16', 'float64']
    """
    return sorted(dict.fromkeys(names), key=lambda n: (-float(finfo(DTYPES[n]).eps), n))


def round_rational(value: Fraction | str | int | float, dtype: npt.DTypeLike) -> np.generic:
    """The exact rational ``value`` rounded once, to nearest-even, to a type of at most 24 mantissa bits.

    ``value`` may be a Fraction, decimal text (``"0.1"``, ``"1e-3"``) or a
    number. The rounding is done in exact rational arithmetic on the type's
    grid (subnormals included); beyond the largest finite number the type's
    own overflow applies (inf, or NaN for float8_e4m3fn).

    Examples
    --------
    >>> float(round_rational(Fraction(9, 8), "float8_e5m2"))   # tie between 1 and 1.25: to even
    1.0
    >>> float(round_rational("0.1", "float8_e4m3fn"))
    0.1015625
    """
    dtype = np.dtype(dtype)
    info = finfo(dtype)
    if info.nmant > 24:
        raise ValueError(f"round_rational is for types of at most 24 mantissa bits, not {dtype}")
    q = Fraction(value)
    if q == 0:
        return dtype.type(0.0)
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()  # 2^e <= a < 2^(e+2)
    if Fraction(2) ** e > a:
        e -= 1
    quantum = Fraction(2) ** (max(e, int(info.minexp)) - int(info.nmant))
    k = round(q / quantum)  # Fraction rounds half to even
    with np.errstate(over="ignore", invalid="ignore"):
        return dtype.type(float(k * quantum))  # exact in float64; only an overflow rounds here


def integer_power(base: np.ndarray, n: int, real: np.dtype) -> np.ndarray:
    """``base ** n`` for a literal integer exponent, with the exponent taken exactly.

    numpy first converts a Python int exponent to the working type; where
    that type cannot hold ``n`` exactly (``9`` in float8_e5m2, ``2049`` in
    float16) the power is computed in float64 (complex128 for complex
    ``base``) and rounded once to the working type. Otherwise numpy's own
    power is used, unchanged.
    """
    t = real.type
    with np.errstate(over="ignore", invalid="ignore"):
        exact = float(t(float(n))) == n
    if exact:
        return base**n
    wide = np.complex128 if base.dtype.kind == "c" else np.float64
    return (np.asarray(base).astype(wide) ** n).astype(base.dtype)
