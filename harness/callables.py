"""A Python callable named in a config: found by its dotted path, fingerprinted, and tried once.

Nothing here evaluates config text: :func:`locate` imports the module part of
``package.module.function`` with :mod:`importlib` and follows attributes.
:func:`code_fingerprint` hashes the callable's code so a changed function is
never taken for the old one. The probes call the function once on a copy of
a point, in the conventions of :mod:`harness.userfunc`:

* numpy: ``f(x)`` with ``x`` of shape ``(n,)`` for a function of one variable,
  ``f(X)`` with ``X`` of shape ``(n, dim)`` otherwise, returning ``n`` values;
* mpmath numbers in the same shapes, as a numpy object array (plain arithmetic
  on the argument works on them; numpy's ufuncs do not).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Iterator

import mpmath
import numpy as np

from .errors import ConfigError

__all__ = ["argument", "call_points", "code_fingerprint", "complex_reason", "locate", "mpmath_argument",
           "mpmath_reason", "one_per_point", "single_value"]

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
_TARGET = "a dotted path package.module.function to an importable Python callable"


# --------------------------------------------------------------------------- #
# Finding it                                                                  #
# --------------------------------------------------------------------------- #

def locate(path: Any, key: str) -> Callable[..., Any]:
    """The callable at ``package.module.attribute[.attribute ...]``.

    The longest importable prefix is the module; the rest are attributes.

    Raises
    ------
    ConfigError
        Naming ``key``: not a dotted path, no such module (or importing it
        failed), no such attribute, or not callable.

    Examples
    --------
    >>> locate("math.exp", "functions.f._target_")(0.0)
    1.0
    """
    if not isinstance(path, str) or not _DOTTED.fullmatch(path):
        raise ConfigError(key, path, _TARGET)
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:i])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
                continue  # this prefix is no module: the module part is shorter
            raise ConfigError(key, path, _TARGET, f"importing module '{name}' failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the user's module failing to import is a config error
            raise ConfigError(key, path, _TARGET,
                              f"importing module '{name}' raised {type(exc).__name__}: {exc}") from None
        break
    else:
        raise ConfigError(key, path, _TARGET, f"no module named '{parts[0]}' (is its folder on PYTHONPATH?)")
    obj: Any = module
    for j in range(i, len(parts)):
        try:
            obj = getattr(obj, parts[j])
        except AttributeError:
            owner = ".".join(parts[:j])
            raise ConfigError(key, path, _TARGET, f"'{owner}' has no attribute '{parts[j]}'") from None
    if not callable(obj):
        raise ConfigError(key, path, _TARGET, f"'{path}' is a {type(obj).__name__}, not callable")
    return obj


def code_fingerprint(obj: Any) -> str:
    """SHA-256 of a callable's code: its source and its module's source, else its bytecode and constants.

    The module's source is included so an edit of a helper the callable
    calls in the same module counts too. Callables without Python source
    (numpy ufuncs, C functions) are identified by their repr and their
    package's version.

    Examples
    --------
    >>> len(code_fingerprint(code_fingerprint))
    64
    """
    digest = hashlib.sha256()
    for part in _code_parts(obj):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def _code_parts(obj: Any) -> Iterator[str]:
    if hasattr(obj, "func") and hasattr(obj, "args") and hasattr(obj, "keywords"):  # functools.partial
        yield repr((obj.args, sorted(obj.keywords.items())))
        obj = obj.func
    seen: Any = obj if (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)) else type(obj)
    try:
        yield inspect.getsource(seen)
    except (OSError, TypeError):
        code = getattr(seen, "__code__", None)
        if code is None:
            module = (getattr(obj, "__module__", None) or type(obj).__module__ or "").split(".")[0]
            yield f"{module}:{obj!r}:{_version(module)}"
        else:
            yield from _bytecode(code)
    module = inspect.getmodule(seen)
    if module is not None:
        try:
            yield inspect.getsource(module)
        except (OSError, TypeError):
            pass


def _bytecode(code: Any) -> Iterator[str]:
    yield code.co_code.hex()
    yield repr(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            yield from _bytecode(const)
        else:
            yield repr(const)


def _version(package: str) -> str:
    try:
        return version(package)
    except (PackageNotFoundError, ValueError):
        return ""


# --------------------------------------------------------------------------- #
# Calling it                                                                  #
# --------------------------------------------------------------------------- #

def argument(points: np.ndarray, dim: int) -> np.ndarray:
    """Points of shape ``(n, dim)`` as the callable takes them: ``(n,)`` for dim 1, else ``(n, dim)``."""
    return points[:, 0] if dim == 1 else points


def call_points(fn: Callable[..., Any], points: np.ndarray, dim: int) -> np.ndarray:
    """``fn`` on ``n`` points (shape ``(n, dim)``): its ``n`` values, or ValueError saying what came back."""
    return one_per_point(fn(argument(points, dim)), points.shape[0], dim)


def one_per_point(out: Any, n: int, dim: int) -> np.ndarray:
    """A callable's result for ``n`` points as ``n`` values (one value for one point is taken as it is).

    One value for several points is refused, not broadcast: it is what
    ``np.sum(X**2)`` returns (the batch's sum, not a value per point), and as
    a constant it would make every derivative 0 with status ok.

    Raises
    ------
    ValueError
        Saying which shape came back for which input.

    Examples
    --------
    >>> one_per_point(np.float64(2.0), 1, 1)
    array([2.])
    >>> one_per_point(np.float64(5.0), 2, 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: it returned one value (shape ()) for input of shape (2, 2); it must return one value per ...
    """
    out = np.asarray(out)
    if out.shape == (n,):
        return out
    if out.shape == () and n == 1:
        return out.reshape(1)
    shape = f"({n},)" if dim == 1 else f"({n}, {dim})"
    if out.shape == ():
        raise ValueError(f"it returned one value (shape ()) for input of shape {shape}; it must return one value "
                         f"per point, shape ({n},): reduce over the last axis only (np.sum(X**2, axis=-1)), and a "
                         f"constant c as np.full(len(X), c)")
    raise ValueError(f"it returned shape {out.shape} for input of shape {shape}; it must return one value per "
                     f"point, shape ({n},)")


def mpmath_argument(coords: Any, dim: int) -> np.ndarray:
    """One point of mpmath numbers as an object array of shape ``(1,)`` or ``(1, dim)``."""
    out = np.empty((1, dim), dtype=object)
    out[0, :] = [mpmath.mpmathify(c) for c in coords]
    return argument(out, dim)


def single_value(out: Any) -> Any:
    """The one value of a result for one point (an array of size 1 or a scalar)."""
    arr = np.asarray(out, dtype=object)
    if arr.size != 1:
        raise ValueError(f"returned {arr.size} values for one point")
    return arr.reshape(-1)[0]


def complex_reason(fn: Callable[..., Any], point: np.ndarray, dim: int) -> str | None:
    """Why ``fn`` cannot take the complex step (None: it can), from one call on a copy of ``point``.

    Every coordinate moves by ``t + i t`` (``t = 2**-30``); ``fn`` must return
    complex values whose real part is ``f(x + t)`` to about 1e-8 and whose
    imaginary part was not dropped (not 0 where ``f(x + t) != f(x)``).
    """
    x = np.array(point, dtype=np.float64).reshape(1, dim)
    t = 2.0**-30
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            with np.errstate(all="ignore"):
                z = call_points(fn, x + (1 + 1j) * t, dim)
                real = call_points(fn, np.concatenate([x, x + t]), dim).astype(np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure means no complex step
        return f"calling it on a complex point raised {type(exc).__name__}: {exc}"
    if z.dtype.kind != "c":
        return f"on a complex point it returned {z.dtype} values (the imaginary part was dropped)"
    if np.isfinite(real[1]) and not np.allclose(z.real, real[1], rtol=1e-8, atol=1e-300):
        return f"on a complex point its real part {z.real[0]!r} is not f(x) = {real[1]!r}"
    if real[1] != real[0] and np.all(z.imag == 0):
        return "on a complex point its imaginary part is 0 although f varies there (the imaginary part was dropped)"
    return None


def mpmath_reason(fn: Callable[..., Any], point: np.ndarray, dim: int, value: float) -> str | None:
    """Why ``fn`` does not compute in mpmath arithmetic (None: it does), from calls on mpmath numbers.

    ``fn`` gets the point as mpmath numbers (:func:`mpmath_argument`) at 40
    digits; it must return an mpmath number close to its float64 ``value``
    (1e-8 relative), and it must keep their precision: where float64 f changes
    at first order along x0 (``f(x0 + e) != f(x0 - e)``, ``e = 1e-4``), a move of
    x0 by ``2**-70`` (invisible in float64) must change it.
    """
    coords = [float(v) for v in np.asarray(point, dtype=np.float64).reshape(-1)]
    e = 1e-4 * max(abs(coords[0]), 1.0)
    try:
        with mpmath.workdps(40), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = single_value(fn(mpmath_argument(coords, dim)))
            delta = mpmath.ldexp(max(abs(mpmath.mpf(coords[0])), mpmath.mpf(1)), -70)
            moved = single_value(fn(mpmath_argument([coords[0] + delta, *coords[1:]], dim)))
            with np.errstate(all="ignore"):
                sides = call_points(fn, np.array([[coords[0] + e, *coords[1:]], [coords[0] - e, *coords[1:]]]), dim)
    except Exception as exc:  # noqa: BLE001 - any failure means no mpmath path
        return f"calling it on mpmath numbers raised {type(exc).__name__}: {exc}"
    if isinstance(y, mpmath.mpc) and y.imag == 0:
        y = y.real
    if not isinstance(y, mpmath.mpf):
        return f"on mpmath numbers it returned {type(y).__name__}, not an mpmath number"
    if np.isfinite(value) and not mpmath.almosteq(y, mpmath.mpf(value), rel_eps=1e-8, abs_eps=1e-300):
        return f"on mpmath numbers it returned {mpmath.nstr(y, 12)}, but {value!r} in float64"
    if moved == y and sides[0] != sides[1]:
        return "on mpmath numbers it loses their precision (a change of 2**-70 in x0 does not change f)"
    return None
