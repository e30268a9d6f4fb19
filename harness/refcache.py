"""The reference cache and the reference table of a block.

Each reference (function, exact point, derivative multi-index, precision)
is computed once, by the function's own ``reference`` method
(:func:`harness.certified.certified_reference` for an expression: Arb, else
the checked mpmath path; :class:`harness.userfunc.UserFunction` for a user's
callable) or by :func:`harness.reference.reference_derivative` for a bare
mpmath callable (:meth:`ReferenceCache.get`), and kept
in memory and, optionally, content-addressed on disk, shared by runs and
multirun jobs. The error model's derivatives ``f, f', ..., f^(n)`` along a
coordinate are cached the same way (:meth:`ReferenceCache.derivatives`).
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mpmath
import numpy as np

from .progress import in_multirun, progress
from .reference import Reference, point_key, reference_derivative
from .settings import ReferenceSettings

__all__ = ["ALGORITHM_VERSION", "ReferenceCache", "multi_index", "reference_table"]


#: Bump when the reference algorithm changes, so on-disk caches are not reused across versions.
ALGORITHM_VERSION = "4"  # 2: digits capped at dps, never inf; 3: Arb references (method), model derivatives;
# 4: tiny derivatives resolved, not zeroed; one-sided checks at a precision that sees cancelling kinks


class ReferenceCache:
    """Memo of references, in memory and optionally on disk.

    The key is ``(key_text, exact point, orders, dps, min_digits, kind)``. The point
    enters exactly (``float.hex`` per coordinate, or an exact ratio for
    long-double values that float64 cannot hold), so ``0.1`` and
    ``np.float32(0.1)`` are different keys, while ``np.float32(0.5)`` and
    ``0.5`` share one. ``key_text`` must identify the function (e.g. its
    expression text): ``f_mp`` itself is not part of the key. ``kind`` keeps
    apart what different paths computed for the same text: ``'checked'``
    (:meth:`get`, a callable), ``'certified'`` (:meth:`get_reference`, an
    expression), ``'user'`` (:meth:`get_reference`, a user's callable, whose
    identity holds its target and a hash of its code) and ``'model'``
    (:meth:`derivatives`).

    With ``directory``, every reference is also stored content-addressed as
    ``directory/ab/abcdef....json`` (SHA-256 of the key and
    :data:`ALGORITHM_VERSION`). Files are written to a temporary name and
    renamed, so concurrent jobs sharing the directory never see a partial
    file; an unreadable file is recomputed.

    Attributes
    ----------
    hits, misses : int
        Lookups answered from memory or disk / computed.
    disk_hits : int
        The part of ``hits`` read from disk.

    Examples
    --------
    >>> import mpmath
    >>> cache = ReferenceCache()
    >>> a = cache.get("exp(x)", mpmath.exp, [0.5], [1])
    >>> b = cache.get("exp(x)", mpmath.exp, [0.5], [1])
    >>> a is b, cache.hits, cache.misses, len(cache)
    (True, 1, 1, 1)
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self._memo: dict[tuple, Reference] = {}
        self.directory = Path(directory) if directory is not None else None
        self.hits = 0
        self.misses = 0
        self.disk_hits = 0

    @staticmethod
    def key(key_text: str, point: Sequence[float], orders: Sequence[int], *,
            dps: int = ReferenceSettings.dps, min_digits: float = ReferenceSettings.min_digits,
            kind: str = "checked") -> tuple:
        """The memo key of one reference."""
        return (key_text, tuple(point_key(v) for v in point), tuple(operator.index(o) for o in orders),
                operator.index(dps), float(min_digits), kind)

    def path(self, key: tuple) -> Path | None:
        """File of a key in the on-disk cache (None without a directory)."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(json.dumps([ALGORITHM_VERSION, *key]).encode()).hexdigest()
        return self.directory / digest[:2] / f"{digest}.json"

    def get(self, key_text: str, f_mp: Callable[..., Any], point: Sequence[float], orders: Sequence[int], *,
            dps: int = ReferenceSettings.dps, min_digits: float = ReferenceSettings.min_digits) -> Reference:
        """The reference for this key, computed by :func:`reference_derivative` once."""
        k = self.key(key_text, point, orders, dps=dps, min_digits=min_digits)
        return self._cached(k, lambda: reference_derivative(f_mp, point, orders, dps=dps, min_digits=min_digits),
                            lambda ref: _reference_data(ref, dps), lambda data: _reference_from(data, dps))

    def get_reference(self, function: Any, point: Sequence[float], orders: Sequence[int], *,
                      dps: int = ReferenceSettings.dps, min_digits: float = ReferenceSettings.min_digits) -> Reference:
        """The reference of a sweep's function, computed once by its own ``reference`` method.

        An expression's is :func:`~harness.certified.certified_reference`; a
        user's callable (:class:`harness.userfunc.UserFunction`) has its own
        paths. The key is the function's ``reference_key`` (identity, kind).
        """
        text, kind = function.reference_key
        k = self.key(text, point, orders, dps=dps, min_digits=min_digits, kind=kind)
        return self._cached(k, lambda: function.reference(point, orders, dps=dps, min_digits=min_digits),
                            lambda ref: _reference_data(ref, dps), lambda data: _reference_from(data, dps))

    get_certified = get_reference  # the name from before user functions existed

    def derivatives(self, expression: Any, point: Sequence[float], component: int, n: int,
                    dps: int) -> tuple[float, ...]:
        """``f, f', ..., f^(n)`` along one coordinate for the error model, computed once.

        By the function's ``model_derivatives`` (an expression: one Arb
        series, else one ``mpmath.diffs`` call, :func:`~harness.derivatives.model_derivatives`).
        """
        orders = [n if i == component else 0 for i in range(len(point))]
        k = self.key(expression.reference_key[0], point, orders, dps=dps, min_digits=0.0, kind="model")
        return self._cached(k, lambda: tuple(expression.model_derivatives(point, component, n, dps)),
                            lambda values: {"derivatives": [repr(v) for v in values]},
                            lambda data: tuple(float(v) for v in data["derivatives"]))

    def _cached(self, key: tuple, compute: Callable[[], Any], encode: Callable[[Any], dict],
                decode: Callable[[dict], Any]) -> Any:
        value = self._memo.get(key)
        if value is None:
            value = self._load(key, decode)
            if value is not None:
                self.disk_hits += 1
        if value is not None:
            self.hits += 1
            self._memo[key] = value
            return value
        self.misses += 1
        value = compute()
        self._memo[key] = value
        if self.directory is not None:
            self._store(key, encode(value))
        return value

    def _load(self, key: tuple, decode: Callable[[dict], Any]) -> Any:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data["key"] != json.loads(json.dumps(list(key))):
                return None  # a hash collision, however unlikely, is not a hit
            return decode(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _store(self, key: tuple, payload: dict) -> None:
        path = self.path(key)
        if path is None:
            return
        data = {"key": list(key), "version": ALGORITHM_VERSION, **payload}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".ref.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, path)
        except OSError:  # a read-only or full cache directory must not stop a sweep
            pass

    def __len__(self) -> int:
        return len(self._memo)

    def clear(self) -> None:
        """Forget all in-memory references and reset the counters (disk files stay)."""
        self._memo.clear()
        self.hits = 0
        self.misses = 0
        self.disk_hits = 0


def _reference_data(ref: Reference, dps: int) -> dict:
    return {"value": mpmath.nstr(ref.value, dps + 5, strip_zeros=False) if ref.value is not None else None,
            "hi": repr(ref.hi), "lo": repr(ref.lo), "digits": repr(ref.digits), "status": ref.status,
            "message": ref.message, "method": ref.method}


def _reference_from(data: dict, dps: int) -> Reference:
    with mpmath.workdps(dps + 10):
        value = mpmath.mpf(data["value"]) if data["value"] is not None else None
    return Reference(value=value, hi=float(data["hi"]), lo=float(data["lo"]), digits=float(data["digits"]),
                     status=data["status"], message=data["message"], method=data["method"])


def multi_index(partial: tuple[int, ...], derivative: int, dim: int) -> tuple[int, ...]:
    """Derivative multi-index of one estimate: m along ``(j,)``, or 1 along each of ``(i, j)``.

    Examples
    --------
    >>> multi_index((1,), 2, 3), multi_index((0, 2), 2, 3)
    ((0, 2, 0), (1, 0, 1))
    """
    if len(partial) == 1:
        return tuple(derivative if c == partial[0] else 0 for c in range(dim))
    return tuple(partial.count(c) for c in range(dim))


def reference_table(function: Any, points: np.ndarray, orders: Sequence[tuple[int, ...]], settings: Any,
                    cache: ReferenceCache) -> dict[str, np.ndarray]:
    """Reference derivatives of a block, arrays of shape ``(n_points, len(orders))``.

    Keys ``hi``, ``lo`` (double-double value), ``digits``, ``status`` and
    ``method`` (the function's ``reference``, :meth:`ReferenceCache.get_reference`). Each
    (function, exact point, multi-index, precision) is computed once per
    cache, so number types whose points round to the same value share it.
    """
    n, k = points.shape[0], len(orders)
    out = {
        "hi": np.full((n, k), np.nan),
        "lo": np.zeros((n, k)),
        "digits": np.zeros((n, k)),
        "status": np.empty((n, k), dtype=object),
        "method": np.empty((n, k), dtype=object),
    }
    # A bar only for long reference runs (and, as every bar, on a terminal and never in multirun jobs).
    show = n * k >= 500 and not in_multirun()
    for p in progress(range(n), desc=f"references {function.name}", unit="point", show=show):
        for j, multi in enumerate(orders):
            ref = cache.get_reference(function.expression, tuple(points[p]), multi, dps=settings.dps,
                                      min_digits=settings.min_digits)
            out["hi"][p, j] = ref.hi
            out["lo"][p, j] = ref.lo if np.isfinite(ref.lo) else 0.0
            out["digits"][p, j] = ref.digits
            out["status"][p, j] = ref.status
            out["method"][p, j] = ref.method
    return out
