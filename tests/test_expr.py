"""The expression compiler against hand-written numpy/mpmath code and exact constants."""

import pickle

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.expr import Expression, ExpressionError, parse_expression

PI40 = "3.141592653589793238462643383279502884197"
E40 = "2.718281828459045235360287471352662497757"
REALS = [np.float32, np.float64, np.longdouble]

# (text, hand-written numpy with constants made by T, dim)
NUMPY_CASES = [
    ("exp(x) * sin(x)", lambda T, x: np.exp(x) * np.sin(x), 1),
    ("x**3 - 2*x + 1", lambda T, x: x * x * x - T(2) * x + T(1), 1),
    ("1/(1 + 25*x**2)", lambda T, x: T(1) / (T(1) + T(25) * (x * x)), 1),
    ("sqrt(1 + x**2)", lambda T, x: np.sqrt(T(1) + x * x), 1),
    ("log(1 + x**2) / 2", lambda T, x: np.log(T(1) + x * x) / T(2), 1),
    ("arctan(x) + tanh(x)", lambda T, x: np.arctan(x) + np.tanh(x), 1),
    ("abs(x)**1.5", lambda T, x: np.abs(x) ** T(1.5), 1),
    ("cosh(x) - sinh(-x)", lambda T, x: np.cosh(x) - np.sinh(-x), 1),
    ("log10(x + 3) + log2(x + 3) + log1p(x**2) + expm1(x)",
     lambda T, x: np.log10(x + T(3)) + np.log2(x + T(3)) + np.log1p(x * x) + np.expm1(x), 1),
    ("asinh(x) + atan(x) + acos(x/3) + asin(x/3) + acosh(x**2 + 1) + atanh(x/3)",
     lambda T, x: np.arcsinh(x) + np.arctan(x) + np.arccos(x / T(3)) + np.arcsin(x / T(3))
     + np.arccosh(x * x + T(1)) + np.arctanh(x / T(3)), 1),
    ("cos(x)**-2 + tan(x)", lambda T, x: T(1) / (np.cos(x) * np.cos(x)) + np.tan(x), 1),
    ("x0 * exp(-x1**2) + sin(x2)", lambda T, a, b, c: a * np.exp(-(b * b)) + np.sin(c), 3),
    ("x0**2 * x1 + cos(x0 * x1)", lambda T, a, b: a * a * b + np.cos(a * b), 2),
    ("+x1 / (x0 + 4)", lambda T, a, b: b / (a + T(4)), 2),
]


def grid(dtype, dim):
    """dim coordinate arrays on [-2.5, 2.5], slightly shifted per coordinate."""
    base = np.linspace(-2.5, 2.5, 11)
    return [(base * (0.9 ** k) + 0.01 * k).astype(dtype) for k in range(dim)]


@pytest.mark.parametrize("dtype", REALS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("text,ref,dim", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_numpy_matches_hand_written_and_keeps_dtype(text, ref, dim, dtype):
    e = parse_expression(text, name="f")
    assert e.dim == dim
    xs = grid(dtype, dim)
    got = e.numpy(*xs)
    want = ref(dtype, *xs)
    assert got.dtype == np.dtype(dtype) and got.shape == xs[0].shape
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=16 * eps, atol=16 * eps)


ALL_FUNCTIONS = ("sin(x)+cos(x)+tan(x)+exp(x)+log(x)+sqrt(x)+sinh(x)+cosh(x)+tanh(x)+arcsin(x)+arccos(x)"
                 "+arctan(x)+abs(x)+log10(x)+log2(x)+log1p(x)+expm1(x)+arcsinh(x)+arccosh(x+1)+arctanh(x)"
                 "+x**2+2**x+x**0.5+pi*e/x-0.1")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble,
                                   np.complex64, np.complex128, np.clongdouble], ids=lambda d: np.dtype(d).name)
def test_every_function_preserves_dtype(dtype):
    x = np.array([0.5, 0.25], dtype=dtype)
    out = parse_expression(ALL_FUNCTIONS).numpy(x)
    assert out.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(out))


def test_integer_input_is_float64_and_integer_powers_are_exact():
    assert parse_expression("x / 2").numpy(np.array([1, 3])).tolist() == [0.5, 1.5]
    x = np.array([1.1, -3.7, 1e3], dtype=np.float32)
    assert parse_expression("x**2").numpy(x).dtype == np.float32
    assert np.array_equal(parse_expression("x**2.0").numpy(x), x * x)
    assert np.array_equal(parse_expression("x**-1").numpy(x), np.float32(1) / x)
    assert np.array_equal(parse_expression("x**3").numpy(x.astype(np.longdouble)),
                          np.power(x.astype(np.longdouble), 3))


def test_broadcasting_and_constants_take_the_input_shape():
    out = parse_expression("x0 + x1").numpy(np.zeros((3, 1)), np.ones((1, 4)))
    assert out.shape == (3, 4) and np.all(out == 1)
    z = np.zeros(5, dtype=np.float32)
    out = parse_expression("2*pi", dim=2).numpy(z, z)
    assert out.shape == (5,) and out.dtype == np.float32 and np.all(out == np.float32(2) * np.float32(PI40))
    out = parse_expression("x0", dim=2).numpy(np.arange(3.0), np.zeros((2, 1)))
    assert out.shape == (2, 3) and out.flags.writeable


@pytest.mark.parametrize("text,x0,deriv", [
    ("x**3", 1.3, 3 * 1.3**2),
    ("exp(x)*sin(x)", 0.8, np.exp(0.8) * (np.sin(0.8) + np.cos(0.8))),
    ("abs(x)", -0.5, -1.0),
    ("abs(x)", 0.5, 1.0),
    ("abs(x)**3", -2.0, -12.0),
    ("sqrt(x)", 2.0, 0.5 / np.sqrt(2.0)),
    ("log(x)", 2.0, 0.5),
    ("arctan(x)", 0.7, 1 / 1.49),
    ("1/x + log2(x) + expm1(x)", 1.5, -1 / 2.25 + 1 / (1.5 * np.log(2)) + np.exp(1.5)),
])
def test_complex_step_gives_the_analytic_continuation(text, x0, deriv):
    h = 1e-20
    e = parse_expression(text)
    got = e.numpy(np.array([x0 + 1j * h])).imag[0] / h
    assert abs(got - deriv) <= 1e-14 * abs(deriv)
    z64 = e.numpy(np.array([x0 + 1j * 1e-10], dtype=np.complex64))
    assert z64.dtype == np.complex64


def test_complex_step_in_n_d():
    e = parse_expression("x0 * x1**2 + sin(x0)")
    h = 1e-30
    d1 = e.numpy(np.complex128(0.3), np.complex128(1.7 + 1j * h)).imag / h
    d0 = e.numpy(np.complex128(0.3 + 1j * h), np.complex128(1.7)).imag / h
    assert abs(d1 - 2 * 0.3 * 1.7) <= 1e-15 and abs(d0 - (1.7**2 + np.cos(0.3))) <= 4e-15


def test_longdouble_constants_come_from_decimal_text():
    one = np.longdouble(1)
    assert parse_expression("0.1*x").numpy(one) == np.longdouble("0.1")
    assert parse_expression("pi*x").numpy(one) == np.longdouble(PI40)
    assert parse_expression("e*x").numpy(one) == np.longdouble(E40)
    assert parse_expression("1_000.25e-3*x").numpy(one) == np.longdouble("1.00025")
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:  # the test is only telling where longdouble is wider
        assert np.longdouble("0.1") != np.longdouble(0.1)
        assert np.longdouble(PI40) != np.longdouble(np.pi)


def test_domain_problems_give_nan_inf_and_are_not_silenced():
    e = parse_expression("log(x) + sqrt(x) + arccosh(x) + arcsin(x - 1)")
    with np.errstate(all="ignore"):
        assert np.all(np.isnan(e.numpy(np.array([-1.0, 0.5]))))
        assert parse_expression("1/x").numpy(0.0) == np.inf and parse_expression("log(x)").numpy(0.0) == -np.inf
        assert np.isnan(parse_expression("(x - x) / (x - x)").numpy(np.float32(1)))
    events = []
    with np.errstate(all="call", call=lambda kind, flag: events.append(kind)):
        e.numpy(np.array([-1.0, 0.0]))
    assert events  # the caller's errstate sees the floating-point events


def test_numpy_is_vectorized(monkeypatch):
    """One call of the compiled function makes one call per node on the whole array, never one per element."""
    import harness.expr as expr_module

    calls = []

    def counting(fn):
        def wrapped(v):
            calls.append(np.shape(v))
            return fn(v)
        return wrapped

    for name in ("exp", "sin", "abs"):
        np_fn, mp_fn = expr_module.FUNCTIONS[name]
        monkeypatch.setitem(expr_module.FUNCTIONS, name, (counting(np_fn), mp_fn))
    e = parse_expression("exp(x)*sin(x) + x**3 - 0.5*abs(x)")
    x = np.linspace(-1, 1, 100_000)
    out = e.numpy(x)
    assert calls == [x.shape] * 3  # exp, sin and abs once each, on all 100000 values
    np.testing.assert_allclose(out, np.exp(x) * np.sin(x) + x**3 - 0.5 * np.abs(x), rtol=1e-15, atol=1e-15)


MP_CASES = [
    ("exp(x) * sin(x)", lambda x: mpmath.exp(x) * mpmath.sin(x)),
    ("x**3 - 0.1*x + 1/3", lambda x: x**3 - mpmath.mpf("0.1") * x + mpmath.mpf(1) / 3),
    ("sqrt(1 + x**2) * log(x + 2)", lambda x: mpmath.sqrt(1 + x**2) * mpmath.log(x + 2)),
    ("tan(x) + cosh(x) + tanh(x) + sinh(x)", lambda x: mpmath.tan(x) + mpmath.cosh(x) + mpmath.tanh(x) + mpmath.sinh(x)),
    ("arcsin(x/2) + arccos(x/2) + atan(x)", lambda x: mpmath.asin(x / 2) + mpmath.acos(x / 2) + mpmath.atan(x)),
    ("log10(x+2) + log2(x+2) + log1p(x) + expm1(x)",
     lambda x: mpmath.log10(x + 2) + mpmath.log(x + 2) / mpmath.log(2) + mpmath.log(1 + x) + mpmath.exp(x) - 1),
    ("asinh(x) + acosh(x + 2) + atanh(x/2) + abs(x)",
     lambda x: mpmath.asinh(x) + mpmath.acosh(x + 2) + mpmath.atanh(x / 2) + abs(x)),
    ("pi * e ** (x / 7)", lambda x: mpmath.pi * mpmath.exp(x / 7)),
    ("x**0.5 * 2**x", lambda x: mpmath.sqrt(x) * mpmath.power(2, x)),
]


@pytest.mark.parametrize("text,ref", MP_CASES, ids=[c[0] for c in MP_CASES])
def test_mpmath_matches_at_50_digits(text, ref):
    e = parse_expression(text)
    with mpmath.workdps(50):
        for x in ("0.3", "0.75", "1.2"):
            x = mpmath.mpf(x)
            got, want = e.mpmath(x), ref(x)
            assert isinstance(got, mpmath.mpf)
            assert abs(got - want) <= mpmath.mpf(10) ** -45 * max(1, abs(want))


def test_mpmath_n_d():
    e = parse_expression("x0 * exp(-x1**2) + sin(x2)")
    with mpmath.workdps(50):
        a, b, c = mpmath.mpf("0.3"), mpmath.mpf("1.1"), mpmath.mpf("-0.7")
        assert abs(e.mpmath(a, b, c) - (a * mpmath.exp(-b**2) + mpmath.sin(c))) < mpmath.mpf(10) ** -48


@pytest.mark.parametrize("dps", [30, 80])
def test_mpmath_honours_the_current_precision(dps):
    pi_x, tenth, long = (parse_expression(t) for t in ("pi*x", "0.1*x", "0." + "1" * 70 + "*x"))
    for warm in (15, dps):  # a value computed at another precision must not be reused
        with mpmath.workdps(warm):
            pi_x.mpmath(1), tenth.mpmath(1), long.mpmath(1)
    with mpmath.workdps(dps):
        assert pi_x.mpmath(1) == +mpmath.pi
        assert tenth.mpmath(1) == mpmath.mpf("0.1")
        assert long.mpmath(1) == mpmath.mpf("0." + "1" * 70)  # literals longer than a message fragment
    with mpmath.workdps(100):
        assert abs(pi_x.mpmath(1) - mpmath.pi) < mpmath.mpf(10) ** -99


def test_mpmath_domain_results():
    with mpmath.workdps(30):
        out = parse_expression("log(x)").mpmath(-1)
        assert isinstance(out, mpmath.mpc) and abs(out - 1j * mpmath.pi) < 1e-29
        assert isinstance(parse_expression("sqrt(x)").mpmath(-4), mpmath.mpc)
        z = parse_expression("abs(x)").mpmath(mpmath.mpc(-0.5, 1e-30))
        assert z == mpmath.mpc(0.5, -1e-30)  # complexified abs, not the modulus
        assert mpmath.diff(parse_expression("abs(x)").mpmath, -0.5) == -1
        with pytest.raises(ZeroDivisionError):
            parse_expression("1/x").mpmath(0)


BAD = [
    ("__import__('os')", "__import__"),
    ("x.__class__", "x.__class__"),
    ("(lambda: 1)()", "lambda: 1"),
    ("x + open('f')", "open"),
    ("[x for x in ()]", "[x for x in ()]"),
    ("x[0]", "x[0]"),
    ("1j*x", "1j"),
    ("x if x else 1", "x if x else 1"),
    ("x and 1", "x and 1"),
    ("x < 1", "x < 1"),
    ("sin(x, 2)", "sin(x, 2)"),
    ("sin(x=1)", "sin(x=1)"),
    ("sin(*x)", "sin(*x)"),
    ("sin", "sin"),
    ("foo(x)", "foo"),
    ("y + 1", "y"),
    ("x + x0", "x0"),
    ("x01", "x01"),
    ("x1000", "x1000"),
    ("'a'", "'a'"),
    ("x // 2", "//"),
    ("x % 2", "%"),
    ("x @ x", "@"),
    ("x ** 2 ^ 1", "^"),
    ("~x", "~"),
    ("not x", "not"),
    ("(x := 1)", "x := 1"),
    ("f'{x}'", "f'{x}'"),
    ("True * x", "True"),
    ("None", "None"),
    ("x +", "invalid syntax"),
    ("((((x", "never closed"),
    ("sin(x", "never closed"),
    ("3x", "invalid decimal literal"),
    ("x, x", "x, x"),
    ("x\x00", "null byte"),
    ("", "empty"),
    ("   ", "empty"),
    ("x+" * 10_000 + "x", "too long"),
    ("(" * 5000 + "x" + ")" * 5000, "too long"),
    ("(" * 3000 + "x" + ")" * 3000, "nested"),
    ("-" * 5000 + "x", "nested too deeply"),
    ("x+" * 300 + "x", "nested too deeply"),
    ("0x" + "f" * 4000, "too large"),
    ("\ud800", "not valid Unicode"),
    (None, "must be a string"),
    (1.0, "must be a string"),
]


@pytest.mark.parametrize("text,fragment", BAD, ids=[repr(t)[:30] for t, _ in BAD])
def test_rejections_name_the_function_and_the_offence(text, fragment):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, name="bad")
    message = str(info.value)
    assert message.startswith("function 'bad': ") and fragment in message
    assert isinstance(info.value, ValueError)


def test_message_layout_underlines_the_offending_node():
    with pytest.raises(ExpressionError) as info:
        parse_expression("x + open('f')", name="bad")
    assert str(info.value).startswith("function 'bad': unsupported call 'open' (allowed: abs, acos, ")
    assert str(info.value).endswith("\n    x + open('f')\n        ^^^^^^^^^")
    with pytest.raises(ExpressionError) as info:  # column counts characters, not UTF-8 bytes
        parse_expression("  é + y", name="g")
    assert str(info.value).endswith("\n      é + y\n      ^")
    with pytest.raises(ExpressionError) as info:  # the position of a syntax error
        parse_expression("1 +* 2", name="h")
    assert str(info.value).endswith("(line 1, column 4)\n    1 +* 2\n       ^")
    with pytest.raises(ExpressionError) as info:  # multi-line text: the offending line
        parse_expression("(x +\n   y)", name="m")
    assert str(info.value).endswith("\n       y)\n       ^")


def test_variables_and_dim():
    e = parse_expression("x0 * x2", name="f")
    assert (e.variables, e.dim, e.name, e.text) == (("x0", "x2"), 3, "f", "x0 * x2")
    assert parse_expression("x0 * x2", dim=5).dim == 5
    assert parse_expression("sin(x) + x").variables == ("x",)
    assert parse_expression("2.5").dim == 1 and parse_expression("2.5").variables == ()
    assert parse_expression("2.5", dim=3).numpy(1.0, 2.0, 3.0) == 2.5
    assert parse_expression("  x\n").numpy(2.0) == 2.0  # surrounding whitespace is fine
    for text, dim, what in [("x0 * x2", 2, "between 3"), ("x", 2, "uses 'x'"), ("1", 0, "between 1"),
                            ("x0", True, "must be an int"), ("x0", 1.0, "must be an int")]:
        with pytest.raises(ExpressionError, match=what):
            parse_expression(text, name="f", dim=dim)
    with pytest.raises(TypeError):
        e.numpy(1.0, 2.0)


def test_expressions_pickle_and_compare():
    e = parse_expression("exp(x0) * x1", name="f", dim=3)
    back = pickle.loads(pickle.dumps(e))
    assert back == e and back.dim == 3 and back.numpy(0.0, 2.0, 0.0) == 2.0
    assert "_np" not in repr(e)


TOKENS = ["x", "x0", "x1", "x01", "(", ")", "+", "-", "*", "/", "**", "//", "sin", "exp", "log", "abs", ".", "__",
          "[", "]", "lambda", ":", ",", " ", "0", "1", "2", "9", ".5", "e", "pi", "1e", "j", "=", "'", '"', "not",
          "if", "else", "\n", "\t", "\\", "#", "@", "%", "~", ":=", "é", "\r", "0x", "_"]


def _parse_or_reject(text):
    try:
        e = parse_expression(text, name="fuzz")
    except ExpressionError as exc:
        assert str(exc).startswith("function 'fuzz': ")
        return
    assert isinstance(e, Expression)
    with np.errstate(all="ignore"):  # evaluation must not raise either
        out = e.numpy(*[np.array([0.5, -2.0])] * e.dim)
    assert out.shape == (2,) and out.dtype == np.float64


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
@example("\ud800x")
@example(" x")
@example("x +")
@example("x\r+1")
@example("(x\r+\ry)")
@example("\x0cx")
@example("1" * 5000)
@example("x**" + "9" * 40)
@example("x**1e999")
def test_fuzz_text_parses_or_raises_expression_error(text):
    _parse_or_reject(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
@example("(x\n+\n(sin(1,\n2)))")
@example("x**-" + "2" * 30)
def test_fuzz_tokens_parse_or_raise_expression_error(text):
    _parse_or_reject(text)


FUNCS = ["sin", "cos", "tan", "exp", "log", "sqrt", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "abs",
         "log10", "log2", "log1p", "expm1", "arcsinh", "arccosh", "arctanh", "asin", "acos", "atan", "asinh",
         "acosh", "atanh"]
CONSTANTS = ["0.5", "2", "3", "1.25", "0.1", "1e-3", "pi", "e", "7", "2.5e0"]


def trees(variables, depth):
    """Text of random valid expressions, at most ``depth`` operators deep (keeps mpmath fast)."""
    leaf = st.sampled_from(variables + CONSTANTS)
    if depth == 0:
        return leaf
    sub = trees(variables, depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "/", "**"]), sub).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(sub, st.sampled_from(["-2", "-1", "0", "1", "2", "3", "4", "2.0"])).map(lambda t: f"({t[0]})**{t[1]}"),
        sub.map(lambda s: f"-{s}"),
        st.tuples(st.sampled_from(FUNCS), sub).map(lambda t: f"{t[0]}({t[1]})"),
    )


POINT = st.floats(-3, 3, width=32, allow_subnormal=False)


@st.composite
def valid_cases(draw):
    if draw(st.booleans()):
        return draw(trees(["x"], 3)), 1, [draw(POINT)]
    return draw(trees(["x0", "x1", "x2"], 3)), 3, [draw(POINT) for _ in range(3)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_cases())
@example(("(exp(x) - 1)", 1, [1e-3]))
@example(("abs(x)**3 / 7", 1, [-2.0]))
def test_valid_trees_agree_between_numpy_and_mpmath(case):
    text, dim, point = case
    e = parse_expression(text, name="tree", dim=dim)
    with np.errstate(all="ignore"):
        v64 = float(e.numpy(*[np.float64(p) for p in point]))
        v32 = float(e.numpy(*[np.float32(p) for p in point]))
    if not (np.isfinite(v64) and np.isfinite(v32) and abs(v64) < 1e100):
        return
    # float32 vs float64 measures the conditioning: compare with mpmath only where
    # float64 can be expected to carry 9 digits (cancellation would otherwise fail it).
    if abs(v32 - v64) > 1e-3 * abs(v64):
        return
    with mpmath.workdps(30):
        try:
            exact = e.mpmath(*[mpmath.mpf(p) for p in point])
        except ZeroDivisionError:
            return
    if not isinstance(exact, mpmath.mpf) or not mpmath.isfinite(exact):
        return
    assert abs(v64 - float(exact)) <= 1e-9 * abs(float(exact)) + 1e-300, (text, point, v64, exact)


@pytest.mark.parametrize("text", ["x - x + 1e400", "x * 2e308", "x + 1" + "0" * 400])
def test_literals_that_overflow_float64_are_refused(text):
    with pytest.raises(ExpressionError, match="overflows float64"):
        parse_expression(text, name="big")


@pytest.mark.parametrize("text", ["1e-400*x", "x + 0.5e-330", "x * 2.5E-999"])
def test_literals_that_underflow_float64_to_zero_are_refused(text):
    """numpy computes with 0 where mpmath keeps the exact value: 1e-400*x*1e300*1e300 had reference 1e200 (ok)
    against an f that numpy evaluates to 0 everywhere."""
    with pytest.raises(ExpressionError, match="underflows float64"):
        parse_expression(text, name="tiny")


@pytest.mark.parametrize("text, value", [("0.0*x + x", 2.0), ("x + 0e5", 2.0), ("x * 1e-310", 2e-310),
                                         ("x + 00.000", 2.0)])
def test_zero_and_subnormal_literals_are_kept(text, value):
    assert parse_expression(text).numpy(np.array([2.0]))[0] == value
