"""The parsed expression compiled to Arb power series, and to a strictly real mpmath function.

:mod:`harness.expr` parses an expression once against its whitelist and keeps
the validated tree. This module walks the same tree (the whitelist is read
from :mod:`harness.expr`: :data:`~harness.expr.FUNCTIONS`, its aliases, its
operators and its integer-exponent rule) for two more back ends:

* :func:`compile_series`: truncated Taylor series in Arb ball arithmetic
  (python-flint's ``arb_series``). Seeding coordinate ``i`` with
  ``x_i + d_i t`` gives the coefficients ``c_k`` of ``f(x + t d)`` in one
  pass, every one a ball ``[mid +- rad]`` that provably contains the exact
  value (Johansson, "Arb: efficient arbitrary-precision midpoint-radius
  interval arithmetic", IEEE Trans. Computers 66 (2017); the series
  functions are Arb's ``arb_poly_*_series``).
* :func:`real_mpmath`: mpmath evaluation that raises
  :class:`~harness.reference.NotReal` at the first intermediate value that is
  not real, as numpy's real functions give NaN there. ``sqrt(x)**2`` left of 0
  is then not real although ``Expression.mpmath`` returns the real ``x``.

Functions Arb has no series for are derived from ones it has or from their
derivatives at the expansion point (all exact identities, no cancellation of
the leading digits): sinh, cosh and tanh by composing their derivatives at
``a = c_0`` with ``u = s - a`` (``F(a + u) = sum_k F^(k)(a) u^k / k!``, the
derivatives of tanh as polynomials in ``tanh(a)`` and ``sech(a)**2``); arcsinh,
arccosh and arctanh as ``F(a) + integral(s' F'(s))`` with
``F' = 1/sqrt(1 + s^2)``, ``1/sqrt((s - 1)(s + 1))``, ``1/((1 - s)(1 + s))``;
expm1 and log1p as exp and ``log(1 + s)`` with the constant term taken from
Arb's ``expm1(a)`` / ``log1p(a)``; log10 and log2 as ``log(s) / log(b)``.

Where the series cannot be formed at the point, :class:`SeriesUnavailable`
is raised and the caller falls back to the checked mpmath reference: an
argument whose ball touches the end of a function's real domain (sqrt, log at
0, arcsin at +-1, ...), a kink (abs at 0), a division by a series whose
constant term may be 0 (a pole, or a removable singularity such as sin(x)/x
at 0), a non-integer power of a base that may be 0, or a ball that is not
finite. An argument certainly outside the real domain (log at -1) raises
:class:`~harness.reference.NotReal`.
"""

from __future__ import annotations

import ast
import math
from functools import lru_cache
from typing import Any, Callable

import flint
import mpmath
from flint import arb, arb_series

from .expr import _BINOPS, ALIASES, FUNCTIONS, Expression, _integer_exponent, literal_text
from .reference import NotReal

__all__ = ["SERIES_FUNCTIONS", "SeriesFunction", "SeriesUnavailable", "compile_series", "real_mpmath"]


class SeriesUnavailable(ArithmeticError):
    """The series cannot be formed at this point (domain end, kink, pole or 0/0, non-finite ball)."""


Closure = Callable[[Any], Any]


# --------------------------------------------------------------------------- #
# The walk (shared by both back ends)                                         #
# --------------------------------------------------------------------------- #

def _walk(expression: Expression, backend: Any) -> Closure:
    """Closures over the parsed tree; ``backend`` supplies values for every kind of node."""
    tree, source = expression._tree, expression._source
    if tree is None:
        raise ValueError(f"expression {expression.text!r} carries no parsed tree")

    def build(node: ast.AST) -> Closure:
        if isinstance(node, ast.Constant):
            return backend.constant(literal_text(node, source))
        if isinstance(node, ast.Name):
            if node.id in ("pi", "e"):
                return backend.named_constant(node.id)
            k = 0 if node.id == "x" else int(node.id[1:])
            return lambda c: c[k]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left = build(node.left)
            n = _integer_exponent(node.right) if isinstance(node.op, ast.Pow) else None
            if n is not None:
                return lambda c: backend.power_int(left(c), n)
            right = build(node.right)
            op = backend.binary[type(node.op)]
            return lambda c: op(left(c), right(c))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            inner = build(node.operand)
            return inner if isinstance(node.op, ast.UAdd) else (lambda c: -inner(c))
        if isinstance(node, ast.Call):
            fn = backend.functions[ALIASES.get(node.func.id, node.func.id)]
            arg = build(node.args[0])
            return lambda c: fn(arg(c))
        raise ValueError(f"node {ast.dump(node)[:60]} is outside the whitelist")  # pragma: no cover - parsed already

    return build(tree)


# --------------------------------------------------------------------------- #
# Arb series back end                                                         #
# --------------------------------------------------------------------------- #

def _head(s: arb_series) -> arb:
    return s[0]


def _with_head(s: arb_series, head: arb) -> arb_series:
    """``s`` with its constant term replaced."""
    return arb_series([head, *s.coeffs()[1:]], prec=s.prec)


def _tail(s: arb_series) -> arb_series:
    """``s - s[0]`` with an exact zero constant term."""
    return _with_head(s, arb(0))


def _open_interval(name: str, lo: float | None, hi: float | None) -> Callable[[arb_series], None]:
    """Check that the constant term lies in the open real domain ``(lo, hi)`` of ``name``."""
    def check(s: arb_series) -> None:
        a = _head(s)
        if (lo is not None and a < lo) or (hi is not None and a > hi):
            raise NotReal(f"{name} of {a.str(10)} is not real (domain ({lo}, {hi}))")
        if (lo is not None and not a > lo) or (hi is not None and not a < hi):
            raise SeriesUnavailable(f"{name} at {a.str(10)}: the argument may be at the end of the domain")
    return check


def _compose(s: arb_series, derivs: list[arb]) -> arb_series:
    """``F(s) = sum_k F^(k)(a) (s - a)^k / k!`` from the derivatives of F at ``a = s[0]`` (Horner)."""
    u = _tail(s)
    n = s.prec
    out = arb_series([derivs[n - 1] / math.factorial(n - 1)], prec=n)
    for k in range(n - 2, -1, -1):
        out = out * u + arb_series([derivs[k] / math.factorial(k)], prec=n)
    return out


def _sinh_cosh_derivs(a: arb, n: int, first: str) -> list[arb]:
    sh, ch = a.sinh_cosh()
    pair = (sh, ch) if first == "sinh" else (ch, sh)
    return [pair[k % 2] for k in range(n)]


@lru_cache(maxsize=None)
def _tanh_polynomials(n: int) -> tuple[dict[tuple[int, int], int], ...]:
    """d^k/dx^k tanh as polynomials in T = tanh, S = sech^2: {(i, j): coefficient of T^i S^j}.

    ``T' = S`` and ``S' = -2 T S``, so ``(T^i S^j)' = i T^(i-1) S^(j+1) - 2 j T^(i+1) S^j``.
    Every derivative of order >= 1 carries a factor S, so tanh's tiny derivatives at large |x|
    come out relatively accurate (1 - tanh^2 would cancel them away).
    """
    polys = [{(1, 0): 1}]
    for _ in range(1, n):
        nxt: dict[tuple[int, int], int] = {}
        for (i, j), c in polys[-1].items():
            if i:
                nxt[(i - 1, j + 1)] = nxt.get((i - 1, j + 1), 0) + i * c
            if j:
                nxt[(i + 1, j)] = nxt.get((i + 1, j), 0) - 2 * j * c
        polys.append({k: v for k, v in nxt.items() if v})
    return tuple(polys)


def _tanh(s: arb_series) -> arb_series:
    a = _head(s)
    t, sech2 = a.tanh(), a.sech() ** 2
    derivs = [sum((c * t**i * sech2**j for (i, j), c in poly.items()), arb(0))
              for poly in _tanh_polynomials(s.prec)]
    return _compose(s, derivs)


def _integrate(s: arb_series, derivative: arb_series, value: arb) -> arb_series:
    """``value + integral(derivative * s')``, truncated to the length of ``s``."""
    integral = (s.derivative() * derivative).integral()
    return arb_series([value, *integral.coeffs()[1:s.prec]], prec=s.prec)


def _abs(s: arb_series) -> arb_series:
    a = _head(s)
    if a > 0:
        return s
    if a < 0:
        return -s
    raise SeriesUnavailable(f"abs at {a.str(10)}: the argument may be 0 (a kink)")


def _checked(check: Callable[[arb_series], None], fn: Callable[[arb_series], arb_series]) -> Callable:
    def call(s: arb_series) -> arb_series:
        check(s)
        return fn(s)
    return call


def _no_check(s: arb_series) -> None:
    return None


def _series_functions() -> dict[str, Callable[[arb_series], arb_series]]:
    positive = {name: _open_interval(name, 0, None) for name in ("sqrt", "log", "log10", "log2")}
    table: dict[str, tuple[Callable[[arb_series], None], Callable[[arb_series], arb_series]]] = {
        "sin": (_no_check, arb_series.sin),
        "cos": (_no_check, arb_series.cos),
        "tan": (_no_check, arb_series.tan),
        "exp": (_no_check, arb_series.exp),
        "log": (positive["log"], arb_series.log),
        "sqrt": (positive["sqrt"], arb_series.sqrt),
        "sinh": (_no_check, lambda s: _compose(s, _sinh_cosh_derivs(_head(s), s.prec, "sinh"))),
        "cosh": (_no_check, lambda s: _compose(s, _sinh_cosh_derivs(_head(s), s.prec, "cosh"))),
        "tanh": (_no_check, _tanh),
        "arcsin": (_open_interval("arcsin", -1, 1), arb_series.asin),
        "arccos": (_open_interval("arccos", -1, 1), arb_series.acos),
        "arctan": (_no_check, arb_series.atan),
        "arcsinh": (_no_check, lambda s: _integrate(s, (1 + s * s).rsqrt(), _head(s).asinh())),
        "arccosh": (_open_interval("arccosh", 1, None),
                    lambda s: _integrate(s, ((s - 1) * (s + 1)).rsqrt(), _head(s).acosh())),
        "arctanh": (_open_interval("arctanh", -1, 1),
                    lambda s: _integrate(s, 1 / ((1 - s) * (1 + s)), _head(s).atanh())),
        "abs": (_no_check, _abs),
        "log10": (positive["log10"], lambda s: s.log() / arb(10).log()),
        "log2": (positive["log2"], lambda s: s.log() / arb(2).log()),
        "log1p": (_open_interval("log1p", -1, None), lambda s: _with_head((1 + s).log(), _head(s).log1p())),
        "expm1": (_no_check, lambda s: _with_head(s.exp(), _head(s).expm1())),
    }
    return {name: _checked(check, fn) for name, (check, fn) in table.items()}


SERIES_FUNCTIONS = _series_functions()
"""name -> series implementation with its domain check, one per entry of :data:`harness.expr.FUNCTIONS`."""

if set(SERIES_FUNCTIONS) != set(FUNCTIONS):  # pragma: no cover - caught by the tests at once
    raise ImportError(f"series functions {sorted(set(SERIES_FUNCTIONS) ^ set(FUNCTIONS))} do not match the whitelist")


def _divide(s: arb_series, d: arb_series) -> arb_series:
    if _head(d).contains(0):
        raise SeriesUnavailable(f"division by a series whose constant term {_head(d).str(10)} may be 0 "
                                f"(a pole or a removable singularity)")
    return s / d


def _power_int(s: arb_series, n: int) -> arb_series:
    if n < 0:
        if _head(s).contains(0):
            raise SeriesUnavailable(f"negative power {n} of a series whose constant term {_head(s).str(10)} "
                                    f"may be 0")
        return (1 / s) ** -n
    return s**n


def _power(s: arb_series, b: arb_series) -> arb_series:
    b0 = _head(b)
    if all(c.is_zero() for c in b.coeffs()[1:]) and b0.is_exact() and b0.is_integer():
        return _power_int(s, int(b0.unique_fmpz()))  # x**(1+1): numpy computes it for negative x too
    a = _head(s)
    if a > 0:
        return (b * s.log()).exp()
    if a < 0:
        raise NotReal(f"power with base {a.str(10)} < 0 and exponent {b0.str(10)} is not real")
    raise SeriesUnavailable(f"power with a base {a.str(10)} that may be 0")


class _ArbBackend:
    functions = SERIES_FUNCTIONS
    binary = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: _divide, ast.Pow: _power}
    power_int = staticmethod(_power_int)

    @staticmethod
    def constant(text: str) -> Closure:
        return lambda c: arb_series([arb(text)], prec=c[-1])

    @staticmethod
    def named_constant(name: str) -> Closure:
        make = arb.pi if name == "pi" else arb.const_e
        return lambda c: arb_series([make()], prec=c[-1])


if set(_ArbBackend.binary) != set(_BINOPS):  # pragma: no cover - caught by the tests at once
    raise ImportError("series operators do not match the whitelist")


def _seeds(point: list[arb], direction: list[int], n: int) -> tuple:
    """The coordinate series of one evaluation, followed by their length (read by the constants)."""
    return (*[arb_series([x, d] if d else [x], prec=n + 1) for x, d in zip(point, direction)], n + 1)


class SeriesFunction:
    """An expression compiled to Arb series; build it with :func:`compile_series`."""

    def __init__(self, expression: Expression) -> None:
        self.expression = expression
        self._fn = _walk(expression, _ArbBackend)

    def taylor(self, point: list[arb], direction: list[int], n: int, prec: int) -> list[arb]:
        """Balls of the coefficients ``c_0..c_n`` of ``f(point + t direction)``.

        Parameters
        ----------
        point : list of arb
            Exact coordinates (one per variable).
        direction : list of int
            Seed of each coordinate (0: held fixed).
        n : int
            Highest coefficient.
        prec : int
            Arb working precision in bits; the global ``flint.ctx.prec`` is
            set for the call and restored afterwards.

        Raises
        ------
        SeriesUnavailable
            The series cannot be formed here, or a coefficient is not finite.
        NotReal
            An intermediate value is certainly outside the real domain.
        """
        with flint.ctx.workprec(prec):
            out = self._fn(_seeds(point, direction, n))
            coeffs = [out[k] for k in range(n + 1)]
        if not all(c.is_finite() for c in coeffs):
            raise SeriesUnavailable("a Taylor coefficient is not finite")
        return coeffs


@lru_cache(maxsize=256)
def _compiled(expression: Expression) -> SeriesFunction:
    return SeriesFunction(expression)


def compile_series(expression: Expression) -> SeriesFunction:
    """The expression as Arb series (compiled once per expression text and dimension)."""
    return _compiled(expression)


# --------------------------------------------------------------------------- #
# Strictly real mpmath back end                                               #
# --------------------------------------------------------------------------- #

def _real(name: str, value: Any, *args: Any) -> Any:
    if isinstance(value, mpmath.mpc):
        raise NotReal(f"{name}({', '.join(mpmath.nstr(a, 8) for a in args)}) = {mpmath.nstr(value, 8)}")
    return value


def _real_function(name: str, fn: Callable[[Any], Any]) -> Closure:
    return lambda v: _real(name, fn(v), v)


class _RealMpmathBackend:
    functions = {name: _real_function(name, mp_fn) for name, (_, mp_fn) in FUNCTIONS.items()}
    binary = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: _real("pow", a**b, a, b)}

    @staticmethod
    def power_int(a: Any, n: int) -> Any:
        return a**n

    @staticmethod
    def constant(text: str) -> Closure:
        return lambda c: mpmath.mpf(text)

    @staticmethod
    def named_constant(name: str) -> Closure:
        return lambda c: +getattr(mpmath, name)


@lru_cache(maxsize=256)
def real_mpmath(expression: Expression) -> Callable[..., Any]:
    """``f(*coords)`` on mpmath numbers, raising :class:`~harness.reference.NotReal` where numpy's real f is NaN.

    Examples
    --------
    >>> from harness.expr import parse_expression
    >>> f = real_mpmath(parse_expression("sqrt(x)**2"))
    >>> f(mpmath.mpf(4))
    mpf('4.0')
    >>> f(mpmath.mpf(-1))
    Traceback (most recent call last):
    ...
    harness.reference.NotReal: sqrt(-1.0) = (0.0 + 1.0j)
    """
    fn = _walk(expression, _RealMpmathBackend)
    dim = expression.dim

    def f(*coords: Any) -> Any:
        if len(coords) != dim:
            raise TypeError(f"function '{expression.name}' takes {dim} coordinate(s), got {len(coords)}")
        return fn(tuple(coords))
    return f
