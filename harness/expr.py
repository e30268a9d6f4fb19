"""Safe, whitelisted math expressions compiled to numpy and mpmath callables.

Test functions come from YAML as text such as ``"exp(x) * sin(x)"`` (1-D, the
variable ``x``) or ``"x0**2 * x1 + sin(x2)"`` (n-D, ``x0, x1, ...``). The text
is parsed once with :mod:`ast` and walked against a strict whitelist; every
allowed node becomes a closure, so no text or code object is ever executed.

Allowed: int/float literals, ``pi``, ``e``, the variables, ``+ - * / **``,
unary ``+ -``, parentheses and one-argument calls of the functions in
:data:`FUNCTIONS` (plus the aliases in :data:`ALIASES`).

Two callables are built from the same tree:

* ``numpy``: vectorized, keeps the floating (or complex) dtype of its input,
  with literals and ``pi``/``e`` rounded from their decimal text straight to
  that dtype (so ``longdouble`` gets full-precision constants). Complex input
  gets the analytic continuation (``abs(z)`` is ``-z if Re z < 0 else z``), as
  complex-step differentiation needs. The ``ml_dtypes`` types (bfloat16,
  float8_e4m3fn, float8_e5m2) are kept too: each operation is computed in
  float32 and rounded to the type, and integer powers take their exponent
  exactly (see :mod:`harness.number_types`).
* ``mpmath``: literals rounded from their decimal text at the precision in
  force at call time; ``math`` is never used.
"""

from __future__ import annotations

import ast
import operator
import re
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping, Sequence

import mpmath
import numpy as np

from .number_types import integer_power, is_ml_float, real_dtype, round_rational

__all__ = ["ALIASES", "FUNCTIONS", "Expression", "ExpressionError", "parse_expression"]

MAX_LENGTH = 10_000
MAX_DEPTH = 200  # nesting of the expression tree; keeps evaluation far from the recursion limit
MAX_INDEX = 999  # highest variable index, x999 (the config caps dim at 1000)
_PI = "3.141592653589793238462643383279502884197"
_E = "2.718281828459045235360287471352662497757"


def _np_abs(v: Any) -> Any:
    # Complexified abs: analytic on each side of Re z = 0, so Im f(x+ih)/h -> sign(x).
    return np.where(v.real < 0, -v, v) if v.dtype.kind == "c" else np.abs(v)


def _mp_abs(v: Any) -> Any:
    if isinstance(v, mpmath.mpc):
        return -v if v.real < 0 else v
    return mpmath.fabs(v)


#: name -> (numpy function, mpmath function)
FUNCTIONS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "sin": (np.sin, mpmath.sin), "cos": (np.cos, mpmath.cos), "tan": (np.tan, mpmath.tan),
    "exp": (np.exp, mpmath.exp), "log": (np.log, mpmath.log), "sqrt": (np.sqrt, mpmath.sqrt),
    "sinh": (np.sinh, mpmath.sinh), "cosh": (np.cosh, mpmath.cosh), "tanh": (np.tanh, mpmath.tanh),
    "arcsin": (np.arcsin, mpmath.asin), "arccos": (np.arccos, mpmath.acos), "arctan": (np.arctan, mpmath.atan),
    "arcsinh": (np.arcsinh, mpmath.asinh), "arccosh": (np.arccosh, mpmath.acosh),
    "arctanh": (np.arctanh, mpmath.atanh), "abs": (_np_abs, _mp_abs),
    "log10": (np.log10, mpmath.log10), "log2": (np.log2, lambda v: mpmath.log(v, 2)),
    "log1p": (np.log1p, mpmath.log1p), "expm1": (np.expm1, mpmath.expm1),
}
ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan",
           "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}
_ALLOWED_CALLS = ", ".join(sorted([*FUNCTIONS, *ALIASES]))
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_OP_TEXT = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
            ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Not: "not", ast.Invert: "~"}
_WHAT = {ast.Attribute: "attribute access", ast.Subscript: "subscript", ast.Lambda: "lambda",
         ast.Compare: "comparison", ast.BoolOp: "boolean operator", ast.IfExp: "conditional expression",
         ast.NamedExpr: "assignment expression", ast.JoinedStr: "f-string", ast.Starred: "starred argument"}
_VARIABLE = re.compile(r"x(0|[1-9][0-9]*)?")
_NEWLINE = re.compile(r"\r\n|\r|\n")

NumpyFn = Callable[[tuple, np.dtype], Any]  # (coords, real dtype) -> value
MpFn = Callable[[tuple], Any]  # (coords,) -> value


class ExpressionError(ValueError):
    """Raised for any invalid expression.

    The message names the function, says what is wrong and what is allowed,
    and shows the text with the offending part underlined.
    """


@dataclass(frozen=True)
class Expression:
    """A parsed expression; build it with :func:`parse_expression`.

    Attributes
    ----------
    text : str
        The original text.
    name : str
        Function name used in messages.
    variables : tuple of str
        Variables actually used, sorted by index, e.g. ``('x',)`` or ``('x0', 'x2')``.
    dim : int
        Number of coordinates the callables take.
    """

    text: str
    name: str
    variables: tuple[str, ...]
    dim: int
    _np: NumpyFn = field(repr=False, compare=False)
    _mp: MpFn = field(repr=False, compare=False)
    # The validated tree and the text it was parsed from, for further compilers (harness.series).
    _tree: ast.AST | None = field(default=None, repr=False, compare=False)
    _source: str = field(default="", repr=False, compare=False)

    def numpy(self, *coords: Any) -> np.ndarray:
        """Evaluate on ``dim`` array-likes, broadcast together.

        Floating and complex input keeps its dtype (float16 ... longdouble,
        complex64 ... clongdouble, and the ``ml_dtypes`` types bfloat16,
        float8_e4m3fn, float8_e5m2); integer or bool input is computed in
        float64. Domain problems give nan/inf under the caller's
        ``np.errstate`` (nothing is silenced here, so callers can count them).

        Returns
        -------
        ndarray
            Result with the broadcast shape of ``coords`` and the working dtype.
        """
        if len(coords) != self.dim:
            raise TypeError(f"function '{self.name}' takes {self.dim} coordinate(s), got {len(coords)}")
        arrays = [np.asarray(c) for c in coords]
        dtype = np.result_type(*arrays) if arrays else np.dtype(np.float64)
        if dtype.kind in "biu":
            dtype = np.dtype(np.float64)
        elif dtype.kind not in "fc" and not is_ml_float(dtype):
            raise TypeError(f"function '{self.name}' needs numeric input, got dtype {dtype}")
        arrays = [a.astype(dtype, copy=False) for a in arrays]
        out = np.asarray(self._np(tuple(arrays), real_dtype(dtype)), dtype=dtype)
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        return out if out.shape == shape else np.broadcast_to(out, shape).copy()

    def mpmath(self, *coords: Any) -> Any:
        """Evaluate on ``dim`` mpmath numbers at the current ``mpmath.mp`` precision.

        Returns
        -------
        mpf or mpc
            Domain violations give mpmath's natural result (``log(-1)`` is an
            mpc). Poles may raise ``ZeroDivisionError``; callers handle it.
        """
        if len(coords) != self.dim:
            raise TypeError(f"function '{self.name}' takes {self.dim} coordinate(s), got {len(coords)}")
        return self._mp(tuple(mpmath.mpmathify(c) for c in coords))

    # -- the function interface of a sweep (harness.userfunc.UserFunction answers it for callables) --
    #: Capabilities a scheme may require (``Scheme.requires``) that f lacks, with the reason: none, the
    #: compiled numpy function takes complex input too.
    unsupported: ClassVar[Mapping[str, str]] = MappingProxyType({})

    @property
    def reference_key(self) -> tuple[str, str]:
        """``(identity, kind)`` in the reference cache and the run fingerprint: the text, certified references."""
        return self.text, "certified"

    def reference(self, point: Sequence[Any], orders: Sequence[int], *, dps: int, min_digits: float) -> Any:
        """Certified Arb reference, else the checked mpmath path (:func:`harness.certified.certified_reference`)."""
        from .certified import certified_reference  # noqa: PLC0415 - harness.certified imports this module

        return certified_reference(self, point, orders, dps=dps, min_digits=min_digits)

    def model_derivatives(self, point: Sequence[float], component: int, n: int, dps: int) -> list[float]:
        """f, f', ..., f^(n) along one coordinate for the model (:func:`harness.derivatives.model_derivatives`)."""
        from .derivatives import model_derivatives  # noqa: PLC0415 - harness.derivatives imports this module

        return model_derivatives(self, point, component, n, dps)

    def record(self) -> None:
        """What ``meta.json`` keeps of the function beyond its text: nothing."""
        return None

    def __reduce__(self) -> tuple:
        # Closures do not pickle; re-parse instead (e.g. for process-pool launchers).
        return (_rebuild, (self.text, self.name, self.dim))


def _rebuild(text: str, name: str, dim: int) -> Expression:
    return parse_expression(text, name=name, dim=dim)


def _np_constant(text: str) -> NumpyFn:
    cache: dict[np.dtype, np.generic] = {}

    def const(c: tuple, r: np.dtype) -> np.generic:
        v = cache.get(r)
        if v is None:
            with np.errstate(all="ignore"):  # e.g. 1e5 overflows float16: inf, once
                # ml_dtypes types round the exact decimal value once (their own parsing rounds twice)
                v = cache[r] = round_rational(text, r) if is_ml_float(r) else r.type(text)
        return v
    return const


def _mp_constant(make: Callable[[], Any]) -> MpFn:
    cache: dict[int, Any] = {}  # precision in bits -> value, so precision changes are honoured

    def const(c: tuple) -> Any:
        v = cache.get(mpmath.mp.prec)
        if v is None:
            v = cache[mpmath.mp.prec] = make()
        return v
    return const


class _Compiler:
    """Walks one tree, building the closures and collecting the variables."""

    def __init__(self, text: str, name: str, lead: str) -> None:
        self.text, self.name = text, name
        self.lines = _NEWLINE.split(text)
        lead_lines = _NEWLINE.split(lead)  # whitespace stripped before parsing
        self.line_shift, self.col_shift = len(lead_lines) - 1, len(lead_lines[-1])
        self.src = text[len(lead):]
        self.src_lines = _NEWLINE.split(self.src)
        self.indices: dict[int, ast.AST] = {}  # variable index -> first node using it
        self.plain: ast.AST | None = None  # first bare 'x'

    # -- messages -------------------------------------------------------------------
    def _char(self, lineno: int, byte_col: int) -> tuple[int, int]:
        """(0-based line in text, char column) of a parser position in the stripped source."""
        i = lineno - 1
        line = self.src_lines[i] if 0 <= i < len(self.src_lines) else ""
        col = len(line.encode()[: max(byte_col, 0)].decode("utf-8", "replace"))
        return i + self.line_shift, col + (self.col_shift if i == 0 else 0)

    def show(self, line_index: int, start: int, end: int) -> str:
        """The line with a caret underline from ``start`` to ``end``, clipped to ~120 chars."""
        if not 0 <= line_index < len(self.lines):
            return ""
        line = self.lines[line_index]
        end = max(end, start + 1)
        lo = max(0, start - 40) if len(line) > 120 else 0
        hi = min(len(line), lo + 120)
        pre, post = ("..." if lo else ""), ("..." if hi < len(line) else "")
        shown = "".join(ch if ch.isprintable() else " " for ch in line[lo:hi])
        caret = " " * (len(pre) + start - lo) + "^" * max(1, min(end, hi) - start)
        return f"\n    {pre}{shown}{post}\n    {caret}"

    def error(self, message: str, node: ast.AST | None = None) -> ExpressionError:
        where = ""
        if node is not None and hasattr(node, "lineno"):
            line, start = self._char(node.lineno, node.col_offset)
            end_line, end = self._char(node.end_lineno or node.lineno, node.end_col_offset or 0)
            if line == end_line:
                where = self.show(line, start, end)
            else:
                where = f"\n    in: {self.fragment(node)}"  # spans lines: just show the part
        return ExpressionError(f"function '{self.name}': {message}{where}")

    def fragment(self, node: ast.AST) -> str:
        seg = ast.get_source_segment(self.src, node) or type(node).__name__
        return seg if len(seg) <= 60 else seg[:57] + "..."

    # -- the walk -------------------------------------------------------------------
    def build(self, node: ast.AST, depth: int = 0) -> tuple[NumpyFn, MpFn]:
        if depth > MAX_DEPTH:
            raise self.error(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", node)
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) not in (int, float):
                kind = "complex literal" if isinstance(v, complex) else "literal"
                raise self.error(f"unsupported {kind} {self.fragment(node)} (allowed: int and float numbers)", node)
            if type(v) is int and v.bit_length() > 14_000:  # beyond every float type; str(v) would refuse
                raise self.error("integer literal too large", node)
            if abs(float(v)) == float("inf") if type(v) is float else v.bit_length() > 1024:
                # numpy would compute with inf while mpmath keeps the exact value: two different functions
                raise self.error(f"literal {self.fragment(node)} overflows float64 (largest is about 1.8e308)", node)
            text = literal_text(node, self.src)
            if type(v) is float and v == 0 and any(c in "123456789" for c in text.lower().split("e")[0]):
                # 1e-400: 0 for numpy, 1e-400 for mpmath: again two different functions
                raise self.error(f"literal {self.fragment(node)} underflows float64 to 0 (smallest is about "
                                 f"4.9e-324)", node)
            return _np_constant(text), _mp_constant(lambda: mpmath.mpf(text))
        if isinstance(node, ast.Name):
            return self.name_node(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op = _BINOPS[type(node.op)]
            na, ma = self.build(node.left, depth + 1)
            n = _integer_exponent(node.right) if isinstance(node.op, ast.Pow) else None
            if n is not None:  # the exponent is applied exactly, whatever the working type holds
                return (lambda c, r: integer_power(na(c, r), n, r)), (lambda c: ma(c) ** n)
            nb, mb = self.build(node.right, depth + 1)
            return (lambda c, r: op(na(c, r), nb(c, r))), (lambda c: op(ma(c), mb(c)))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            na, ma = self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return na, ma
            return (lambda c, r: -na(c, r)), (lambda c: -ma(c))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            raise self.error(f"unsupported operator '{_OP_TEXT.get(type(node.op), '?')}' in "
                             f"'{self.fragment(node)}' (allowed: + - * / ** and unary + -)", node)
        what = _WHAT.get(type(node), "comprehension" if "Comp" in type(node).__name__ else "syntax")
        raise self.error(f"unsupported {what} '{self.fragment(node)}' (allowed: numbers, pi, e, x or x0, x1, ..., "
                         f"+ - * / **, parentheses and calls of {_ALLOWED_CALLS})", node)

    def name_node(self, node: ast.Name) -> tuple[NumpyFn, MpFn]:
        if node.id in ("pi", "e"):  # numpy: rounded from 40 digits; mpmath: at the current precision
            return _np_constant(_PI if node.id == "pi" else _E), _mp_constant(getattr(mpmath, node.id).__pos__)
        if node.id in FUNCTIONS or node.id in ALIASES:
            raise self.error(f"'{node.id}' is a function: call it with one argument, e.g. {node.id}(x)", node)
        m = _VARIABLE.fullmatch(node.id)
        if m is None:
            hint = " (variable indices have no leading zeros)" if re.fullmatch(r"x[0-9]+", node.id) else ""
            raise self.error(f"unknown name '{node.id}'{hint} (allowed: x, or x0, x1, ...; pi, e)", node)
        if m.group(1) is None:
            k, self.plain = 0, self.plain or node
        else:
            k = int(m.group(1))
            if k > MAX_INDEX:
                raise self.error(f"variable index too large in '{node.id}' (at most x{MAX_INDEX})", node)
            self.indices.setdefault(k, node)
        return (lambda c, r: c[k]), (lambda c: c[k])

    def call(self, node: ast.Call, depth: int) -> tuple[NumpyFn, MpFn]:
        if not isinstance(node.func, ast.Name):
            raise self.error(f"unsupported call of '{self.fragment(node.func)}' (allowed: {_ALLOWED_CALLS})", node)
        fname = ALIASES.get(node.func.id, node.func.id)
        if fname not in FUNCTIONS:
            raise self.error(f"unsupported call '{node.func.id}' (allowed: {_ALLOWED_CALLS})", node)
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise self.error(f"'{node.func.id}' takes exactly one positional argument, got "
                             f"'{self.fragment(node)}'", node)
        nf, mf = FUNCTIONS[fname]
        na, ma = self.build(node.args[0], depth + 1)
        return (lambda c, r: nf(na(c, r))), (lambda c: mf(ma(c)))


def literal_text(node: ast.Constant, source: str) -> str:
    """Decimal text of a number literal, as written (underscores removed).

    Constants are rounded from this text, not from the Python float, so
    longdouble, mpmath and Arb get every digit.
    """
    v = node.value
    return str(v) if type(v) is int else (ast.get_source_segment(source, node) or repr(v)).replace("_", "")


def _integer_exponent(node: ast.AST) -> int | None:
    """An integer-valued literal exponent (``2``, ``-3``, ``2.0``) as a Python int, else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        v = node.value
        if (type(v) is int or float(v).is_integer()) and abs(v) <= 2**31:
            return sign * int(v)
    return None


def parse_expression(text: str, *, name: str = "<expression>", dim: int | None = None) -> Expression:
    """Parse and compile an expression over ``x`` (1-D) or ``x0, x1, ...`` (n-D).

    Parameters
    ----------
    text : str
        The expression, e.g. ``"exp(x) * sin(x)"`` or ``"x0**2 + sin(x1)"``.
    name : str
        Function name used in error messages.
    dim : int, optional
        Number of coordinates; at least the inferred one (largest index + 1,
        or 1 for ``x`` and for constants). Only indexed variables may be given
        a larger dim.

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        For anything outside the whitelist, and for any input that is not a
        usable str; no other exception escapes.
    """
    if not isinstance(name, str):
        name = repr(name)
    if not isinstance(text, str):
        raise ExpressionError(f"function '{name}': expression must be a string, got {type(text).__name__} {text!r:.80}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"function '{name}': expression too long ({len(text)} characters; at most {MAX_LENGTH})")
    if "\x00" in text:
        raise ExpressionError(f"function '{name}': expression contains a null byte at position {text.index(chr(0))}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ExpressionError(f"function '{name}': expression is not valid Unicode text ({exc.reason})") from None
    if not text.strip():
        raise ExpressionError(f"function '{name}': expression is empty (expected e.g. 'sin(x)' or 'x0 * x1')")
    lead = text[: len(text) - len(text.lstrip(" \t\f\r\n"))]
    compiler = _Compiler(text, name, lead)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text[len(lead):], mode="eval")
    except SyntaxError as exc:
        line, start = compiler._char(exc.lineno or 1, 0)
        offset = exc.offset or 0  # 1-based characters; 0 at the end of the input
        length = (exc.end_offset or 0) - offset if exc.end_lineno == exc.lineno else 1
        if offset > 0:
            start += offset - 1
        elif 0 <= line < len(compiler.lines):
            start = len(compiler.lines[line])
        raise ExpressionError(f"function '{name}': invalid syntax: {exc.msg} (line {line + 1}, column {start + 1})"
                              f"{compiler.show(line, start, start + max(1, length))}") from None
    except (RecursionError, MemoryError, ValueError, TypeError, OverflowError):
        raise ExpressionError(f"function '{name}': expression is nested too deeply or too complex to parse") from None
    try:
        fn_np, fn_mp = compiler.build(tree.body)
    except (RecursionError, MemoryError):  # pragma: no cover - MAX_DEPTH prevents it
        raise ExpressionError(f"function '{name}': expression is nested too deeply") from None

    if compiler.plain is not None and compiler.indices:
        first = min(compiler.indices)
        raise compiler.error(f"cannot mix 'x' with indexed variables such as 'x{first}' (use either x alone "
                             f"or only x0, x1, ...)", compiler.indices[first])
    inferred = max(compiler.indices) + 1 if compiler.indices else 1
    if dim is not None:
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise ExpressionError(f"function '{name}': dim must be an int, got {dim!r:.80}")
        if compiler.plain is not None and dim != 1:
            raise ExpressionError(f"function '{name}': dim={dim} but the expression uses 'x', which means dim 1 "
                                  f"(write x0, x1, ... for more coordinates)")
        if not inferred <= dim <= MAX_INDEX + 1:
            raise ExpressionError(f"function '{name}': dim={dim} is out of range; it must be between {inferred} "
                                  f"(the largest variable index + 1) and {MAX_INDEX + 1}")
        inferred = int(dim)
    variables = ("x",) if compiler.plain is not None else tuple(f"x{k}" for k in sorted(compiler.indices))
    return Expression(text=text, name=name, variables=variables, dim=inferred, _np=fn_np, _mp=fn_mp,
                      _tree=tree.body, _source=compiler.src)
