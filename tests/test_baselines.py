"""Library baselines: real scipy / numdifftools calls checked against independent arithmetic."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from harness.baselines import BASELINE_METHODS, BaselineUnavailable, available, evaluate_baseline
from harness.schemes import BaselineScheme, make_baseline
from harness.errors import ConfigError
from harness.expr import parse_expression
from harness.reference import reference_derivative


def need(method: str) -> None:
    """Skip unless the method's (optional) library is installed."""
    pytest.importorskip(BASELINE_METHODS[method]["library"])

EPS = np.finfo(np.float64).eps
# scipy and numdifftools; the libraries of harness.libraries are tested in test_library_baselines.py.
CORE_METHODS = [m for m, i in BASELINE_METHODS.items() if i["library"] in ("scipy", "numdifftools")]
FIXED = [m for m in CORE_METHODS if not BASELINE_METHODS[m]["adaptive"]]
ADAPTIVE = [m for m in CORE_METHODS if BASELINE_METHODS[m]["adaptive"]]

# (expression, point) -> per-coordinate checked reference derivatives
CASES = [("exp(x)", (1.0,)), ("sin(x)", (0.5,)), ("x0**2 + sin(x1)", (1.0, 2.0))]


def truth(text: str, point: tuple[float, ...]) -> np.ndarray:
    expr = parse_expression(text)
    out = []
    for j in range(len(point)):
        ref = reference_derivative(expr.mpmath, point, [int(c == j) for c in range(len(point))])
        assert ref.reliable
        out.append(ref.hi)
    return np.array(out)


class Counting:
    """Independent wrapper: counts the points f is evaluated at and records them."""

    def __init__(self, fn):
        self.fn, self.n, self.args, self.dtypes = fn, 0, [], set()

    def __call__(self, *coords):
        self.n += int(np.broadcast(*coords).size)
        self.args.append([np.array(c, copy=True) for c in coords])
        self.dtypes.add(np.result_type(*coords).name)
        return self.fn(*coords)


def run(method, text, point, hs=(1e-3,), dtype=np.float64):
    need(method)
    fn = Counting(parse_expression(text).numpy)
    res = evaluate_baseline(make_baseline("b", {"kind": "baseline", "method": method}), fn,
                            np.array([point], dtype=dtype), np.array(hs))
    return res, fn


# --- accuracy on smooth functions -------------------------------------------------

# method -> (h, relative tolerance). Fixed-step tolerances come from the usual
# truncation + round-off bound at that h; scipy replaces h=1e-20 (see below).
TOLERANCES = {
    "scipy_approx_fprime": (1e-8, 1e-7), "scipy_2point": (1e-8, 1e-7),
    "scipy_3point": (1e-5, 1e-9), "scipy_cs": (1e-20, 1e-15),
    "scipy_2point_default": (None, 1e-7), "scipy_3point_default": (None, 1e-10),
    "scipy_cs_default": (None, 1e-15), "scipy_differentiate": (None, 1e-12),
    "nd_central": (None, 1e-12), "nd_forward": (None, 1e-10), "nd_complex": (None, 1e-15),
    "nd_central_fixed": (1e-5, 1e-9), "nd_forward_fixed": (1e-8, 1e-7), "nd_complex_fixed": (1e-20, 1e-15),
}


def test_every_method_has_a_tolerance():
    assert set(TOLERANCES) == set(CORE_METHODS)


@pytest.mark.parametrize("method", CORE_METHODS)
@pytest.mark.parametrize("text,point", CASES)
def test_estimates_agree_with_reference(method, text, point):
    h, tol = TOLERANCES[method]
    res, _ = run(method, text, point, hs=(h if h is not None else 1.0,))
    true = truth(text, point)
    err = np.abs(res.estimate[0, 0] - true)
    assert np.all(err <= tol * np.abs(true)), (err / np.abs(true))
    if method in ("scipy_differentiate", "nd_central", "nd_forward", "nd_complex"):
        ee = res.error_estimate[0, 0]
        assert np.all(np.isfinite(ee))
        assert np.all(ee >= err / 1e4)  # conservative, or at least not wildly optimistic
        assert np.all(ee < 1e-9 * np.abs(true) + 1e-13)
    else:
        assert np.all(np.isnan(res.error_estimate))


@pytest.mark.parametrize("method", FIXED)
def test_fixed_step_order_matches_nominal_accuracy(method):
    # Halving h divides the truncation error by 2**accuracy (exp at 1, far from round-off).
    res, _ = run(method, "exp(x)", (1.0,), hs=(1e-2, 5e-3))
    err = np.abs(res.estimate[:, 0, 0] - np.e)
    assert abs(np.log2(err[0] / err[1]) - BASELINE_METHODS[method]["accuracy"]) < 0.05


# --- the estimates are the library's formula at the step it reports ----------------

@pytest.mark.parametrize("x", [1.0, 0.3, -2.5])
def test_fixed_step_estimates_are_the_textbook_quotient(x):
    f = np.exp
    hs = np.array([1e-2, 3e-6, 1e-9])
    xs, hcol = x, hs
    expect = {
        "scipy_2point": (f(xs + hcol) - f(xs)) / ((xs + hcol) - xs),
        "scipy_approx_fprime": (f(xs + hcol) - f(xs)) / ((xs + hcol) - xs),
        "scipy_3point": (f(xs + hcol) - f(xs - hcol)) / ((xs + hcol) - (xs - hcol)),
        "scipy_cs": f(xs + 1j * hcol).imag / hcol,
        "nd_central_fixed": (f(xs + hcol) - f(xs - hcol)) / 2.0 / hcol,
        "nd_forward_fixed": (f(xs + hcol) - f(xs)) / hcol,
        "nd_complex_fixed": f(xs + 1j * hcol).imag / hcol,
    }
    assert set(expect) == set(FIXED)
    for method, want in expect.items():
        res, _ = run(method, "exp(x)", (x,), hs=hs)
        np.testing.assert_array_equal(res.estimate[:, 0, 0], want, err_msg=method)


def test_scipy_step_is_the_applied_step_and_replaces_tiny_steps():
    x = 2.0
    hs = np.array([1e-3, 1e-20])
    # scipy divides by (x + h) - x; when that is 0 it silently uses its relative step instead.
    r2 = eps2 = np.sqrt(EPS) * x
    r3 = EPS ** (1 / 3) * x
    want = {
        "scipy_2point": [(x + 1e-3) - x, (x + r2) - x],
        "scipy_approx_fprime": [(x + 1e-3) - x, (x + r2) - x],
        "scipy_3point": [((x + 1e-3) - (x - 1e-3)) / 2, ((x + r3) - (x - r3)) / 2],
        "scipy_cs": [1e-3, eps2],  # the complex step is replaced too, though it needs no such thing
    }
    for method, h_used in want.items():
        res, fn = run(method, "exp(x)", (x,), hs=hs)
        assert res.h_nominal is None and not res.adaptive
        assert res.h_used.shape == (2, 1, 1)
        np.testing.assert_array_equal(res.h_used[:, 0, 0], h_used, err_msg=method)
        # ... and it is what f saw: the last point is x + h_used (x + i h_used; 3-point: x +- h_used).
        last, before = fn.args[-1][0][0], fn.args[-2][0][0]
        seen = {"scipy_cs": last.imag, "scipy_3point": (last - before) / 2}.get(method, last - x)
        assert seen == h_used[-1]


def test_scipy_default_steps():
    x = -3.0
    for method, rel in [("scipy_2point_default", np.sqrt(EPS)), ("scipy_3point_default", EPS ** (1 / 3)),
                        ("scipy_cs_default", np.sqrt(EPS))]:
        res, _ = run(method, "sin(x)", (x,), hs=(1e-3, 1e-4))
        assert res.adaptive and res.estimate.shape == (1, 1, 1)
        s = -rel * 3.0  # scipy's step is sign(x) * rel * max(1, |x|); 3-point takes |s| both ways
        hu = {"scipy_2point_default": (x + s) - x, "scipy_3point_default": ((x - s) - (x + s)) / 2,
              "scipy_cs_default": s}[method]
        assert res.h_used[0, 0, 0] == pytest.approx(hu, rel=1e-15)


def test_numdifftools_fixed_step_is_exactly_h():
    # The library's default use_exact_steps would turn h into (1 + h) - 1 (0 below 1.1e-16).
    hs = np.array([1e-3, 1e-7, 1e-20])
    for method in ("nd_central_fixed", "nd_forward_fixed", "nd_complex_fixed"):
        res, fn = run(method, "exp(x)", (1.5,), hs=hs)
        np.testing.assert_array_equal(res.h_used[:, 0, 0], hs)
        steps = [a[0] - 1.5 for a in fn.args]
        if method == "nd_complex_fixed":
            assert [s.imag[0] for s in steps if np.iscomplexobj(s)] == list(hs)
        else:
            assert max(abs(s[0]) for s in steps[:2]) == pytest.approx(1e-3, rel=1e-12)
    # h below the spacing of x: x + h == x, the estimate is honestly 0 (central) -- not an error.
    res, _ = run("nd_central_fixed", "exp(x)", (1.5,), hs=(1e-20,))
    assert res.estimate[0, 0, 0] == 0


# --- evaluation counts ------------------------------------------------------------

MEASURED_1D = {  # points evaluated per estimate, smooth 1-D function (scipy_differentiate: exp at 1)
    "scipy_approx_fprime": 2, "scipy_2point": 2, "scipy_3point": 3, "scipy_cs": 2,
    "scipy_2point_default": 2, "scipy_3point_default": 3, "scipy_cs_default": 2,
    "scipy_differentiate": 11, "nd_central": 31, "nd_forward": 16, "nd_complex": 2,
    "nd_central_fixed": 2, "nd_forward_fixed": 2, "nd_complex_fixed": 2,
}


@pytest.mark.parametrize("method", CORE_METHODS)
def test_n_evals_is_what_f_saw(method):
    res, fn = run(method, "exp(x)", (1.0,), hs=(1e-3, 1e-5))
    assert np.all(res.n_evals == MEASURED_1D[method])
    assert fn.n == res.n_evals.sum()
    nominal = BASELINE_METHODS[method]["n_evals"]
    assert nominal == MEASURED_1D[method] or (method == "scipy_differentiate" and MEASURED_1D[method] <= nominal)


@pytest.mark.parametrize("method", CORE_METHODS)
def test_n_evals_per_partial_in_2d_with_several_points(method):
    need(method)
    pts = [(1.0, 2.0), (0.25, -1.0), (3.0, 0.5)]
    fn = Counting(parse_expression("x0**2 * exp(x1) + sin(x0 * x1)").numpy)
    res = evaluate_baseline(make_baseline("b", {"method": method}), fn, np.array(pts), np.array([1e-4, 1e-6]))
    assert res.n_evals.shape == res.estimate.shape
    assert fn.n == res.n_evals.sum()
    if method != "scipy_differentiate":
        assert np.all(res.n_evals == MEASURED_1D[method])
    # restricted to one coordinate: in every call at most one coordinate leaves the points' values
    values = [set(np.array(pts)[:, c]) for c in range(2)]
    for coords in fn.args:
        moved = [np.iscomplexobj(c) or not set(np.ravel(c)) <= values[k] for k, c in enumerate(coords)]
        assert sum(moved) <= 1


def test_scipy_differentiate_counts_and_step_against_a_direct_call():
    derivative = pytest.importorskip("scipy.differentiate").derivative

    x = np.array([1.0, 0.5, -2.0, 7.0])
    direct = derivative(np.sin, x)
    fn = Counting(parse_expression("sin(x)").numpy)
    res = evaluate_baseline(make_baseline("d", {"method": "scipy_differentiate"}), fn, x[:, None], np.array([1e-3]))
    np.testing.assert_array_equal(res.n_evals[0, :, 0], direct.nfev)
    np.testing.assert_array_equal(res.estimate[0, :, 0], direct.df)
    np.testing.assert_array_equal(res.error_estimate[0, :, 0], direct.error)
    assert fn.n == direct.nfev.sum() == res.n_evals.sum()
    np.testing.assert_array_equal(res.h_used[0, :, 0], 0.5 / 2.0 ** (direct.nit - 1))
    # one point alone: its smallest offset in the final stencil is h_used / 8 (order-8 stencil h, h/2, h/4, h/8)
    fn1 = Counting(np.sin)
    one = evaluate_baseline(make_baseline("d", {"method": "scipy_differentiate"}), fn1, x[:1, None], np.array([1e-3]))
    assert fn1.n == one.n_evals[0, 0, 0]
    smallest = min(np.min(np.abs(a[0] - x[0])[np.abs(a[0] - x[0]) > 0]) for a in fn1.args[1:])
    assert smallest == pytest.approx(one.h_used[0, 0, 0] / 8, rel=1e-15)


# --- shapes and flags -------------------------------------------------------------

@pytest.mark.parametrize("method", CORE_METHODS)
def test_rows_and_flags(method):
    need(method)
    hs = np.array([1e-2, 1e-4, 1e-6])
    pts = np.array([[1.0, 2.0], [0.5, 0.25]])
    res = evaluate_baseline(make_baseline("b", {"method": method}), parse_expression("x0 * exp(x1)").numpy,
                            pts, hs)
    info = BASELINE_METHODS[method]
    scheme = res.scheme
    assert isinstance(scheme, BaselineScheme) and scheme.kind == "baseline" and scheme.derivative == 1
    assert (scheme.adaptive, scheme.accuracy, scheme.library, scheme.n_evals) == (
        info["adaptive"], info["accuracy"], info["library"], info["n_evals"])
    rows = 1 if info["adaptive"] else len(hs)
    for arr in (res.estimate, res.h_used, res.n_evals, res.error_estimate):
        assert arr.shape == (rows, 2, 2)
    assert res.estimate.dtype == np.float64 and res.n_evals.dtype == np.int64
    assert res.adaptive == info["adaptive"]
    if info["adaptive"]:
        assert np.isnan(res.h_nominal).all() and res.h_nominal.shape == (1,)
        assert np.all(np.isfinite(res.h_used)) and np.all(res.h_used > 0)
    else:
        assert res.h_nominal is None
        np.testing.assert_allclose(res.h_used, np.broadcast_to(hs[:, None, None], res.h_used.shape), rtol=1e-9)


def test_numdifftools_adaptive_matches_direct_call():
    nd = pytest.importorskip("numdifftools")

    x = np.array([1.0, 0.5, 3.0])
    res = evaluate_baseline(make_baseline("n", {"method": "nd_central"}), np.exp, x[:, None], np.array([1.0]))
    for p, xp in enumerate(x):  # vectorized over points == one call per point
        r = nd.Derivative(np.exp, method="central", full_output=True)(xp)
        assert res.estimate[0, p, 0] == r.estimate
        assert res.error_estimate[0, p, 0] == r.error_estimate
        assert res.h_used[0, p, 0] == r.final_step


# --- number types, non-finite values, failures ------------------------------------

# Types f is called with for float32 points: f(x) first where the library evaluates it, then the steps.
FLOAT32_SEEN = {
    "scipy_approx_fprime": {"float64"}, "scipy_2point": {"float32"}, "scipy_3point": {"float32"},
    "scipy_cs": {"float32", "complex128"}, "scipy_2point_default": {"float32"},
    "scipy_3point_default": {"float32"}, "scipy_cs_default": {"float32", "complex128"},
    "scipy_differentiate": {"float32"}, "nd_central": {"float64"}, "nd_forward": {"float64"},
    "nd_complex": {"float64", "complex128"}, "nd_central_fixed": {"float64"}, "nd_forward_fixed": {"float64"},
    "nd_complex_fixed": {"float64", "complex128"},
}


@pytest.mark.parametrize("method", CORE_METHODS)
def test_float32_points(method):
    res, fn = run(method, "exp(x)", (1.0,), hs=(1e-2,), dtype=np.float32)
    assert res.estimate.dtype == np.float32
    assert fn.dtypes == FLOAT32_SEEN[method]
    # the documented type is the one the derivative information comes from
    assert BASELINE_METHODS[method]["float32"] in fn.dtypes
    assert abs(res.estimate[0, 0, 0] - np.e) < 2e-2  # forward truncation at h=1e-2 is 1.4e-2


@pytest.mark.parametrize("method", CORE_METHODS)
def test_nan_flows_and_exceptions_become_nan_per_point(method):
    need(method)
    def fn(x):
        if np.any(np.real(x) > 100):
            raise ValueError("boom")
        bad = np.real(x) < 0
        v = np.log(np.where(bad, 1, x))
        return np.where(bad, v * np.nan, v)  # NaN real and imaginary parts for complex input

    res = evaluate_baseline(make_baseline("b", {"method": method}), fn,
                            np.array([[-1.0], [2.0], [150.0]]), np.array([1e-4]))
    est = res.estimate[:, :, 0]
    assert np.all(~np.isfinite(est[:, 0]))  # log(-1): NaN flows through
    np.testing.assert_allclose(est[:, 1], 0.5, rtol=1e-3)  # the good point is unaffected
    assert np.all(np.isnan(est[:, 2])) and np.all(np.isnan(res.h_used[:, 2]))  # library call raised
    assert np.all(res.n_evals[:, 1] > 0)


# --- config and availability -------------------------------------------------------

def test_make_baseline():
    s = make_baseline("mine", {"kind": "baseline", "method": "scipy_2point"})
    assert s == BaselineScheme(name="mine", method="scipy_2point", accuracy=1, n_evals=2, adaptive=False,
                               library="scipy")
    assert make_baseline("nd_central").method == "nd_central"
    assert make_baseline("x", "scipy_cs").accuracy == 2


@pytest.mark.parametrize(
    "spec,key",
    [({"kind": "baseline", "method": "scipy_5point"}, "schemes.b.method"),
     ({"kind": "baseline"}, "schemes.b.method"),
     ({"kind": "baseline", "method": "scipy_2point", "step": 1e-3}, "schemes.b.step"),
     ({"kind": "stencil", "method": "scipy_2point"}, "schemes.b.kind"),
     (["scipy_2point"], "schemes.b")],
)
def test_config_errors_name_key_and_allowed(spec, key):
    with pytest.raises(ConfigError) as info:
        make_baseline("b", spec)
    assert info.value.key == key
    assert f"'{key}'" in str(info.value)
    if key.endswith("method"):
        assert all(m in str(info.value) for m in BASELINE_METHODS)


def test_available_and_unavailable(monkeypatch):
    for lib in ("scipy", "numdifftools"):
        assert available(lib) == (importlib.util.find_spec(lib) is not None)
    with pytest.raises(ValueError, match="numdifftools"):
        available("jax")
    for name in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
        monkeypatch.setitem(sys.modules, name, None)
    assert not available("scipy")
    with pytest.raises(BaselineUnavailable) as info:
        evaluate_baseline(make_baseline("b", {"method": "scipy_3point"}), np.exp, np.ones((1, 1)), np.array([1e-3]))
    message = str(info.value)
    assert isinstance(info.value, ImportError)
    assert "scipy" in message and "pip install" in message and "\n" not in message


def test_module_imports_without_the_libraries():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None
        sys.modules["numdifftools"] = None
        import harness.baselines as b
        from harness.schemes import make_baseline
        s = make_baseline("n", {"method": "nd_central"})
        assert not b.available("scipy") and not b.available("numdifftools")
        try:
            b.evaluate_baseline(s, abs, [[1.0]], [1e-3])
        except b.BaselineUnavailable as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "numdifftools" in out.stdout and "pip install" in out.stdout


VECTORIZED = ["scipy_differentiate", "nd_central", "nd_forward", "nd_complex", "nd_central_fixed",
              "nd_forward_fixed", "nd_complex_fixed"]


@pytest.mark.parametrize("method", VECTORIZED)
def test_a_nan_point_does_not_spoil_a_vectorized_call(method):
    need(method)
    def fn(x):
        bad = np.real(x) < 0
        v = np.log(np.where(bad, 1, x))
        return np.where(bad, v * np.nan, v)

    scheme = make_baseline("b", {"method": method})
    hs = np.array([1e-3, 1e-6])
    both = evaluate_baseline(scheme, fn, np.array([[-1.0], [2.0], [0.5]]), hs)
    for p, x in [(1, 2.0), (2, 0.5)]:
        alone = evaluate_baseline(scheme, fn, np.array([[x]]), hs)
        np.testing.assert_array_equal(both.estimate[:, p], alone.estimate[:, 0])
        np.testing.assert_array_equal(both.h_used[:, p], alone.h_used[:, 0])
        np.testing.assert_array_equal(both.n_evals[:, p], alone.n_evals[:, 0])
    assert np.all(np.isnan(both.estimate[:, 0]))


LONGDOUBLE_IS_WIDER = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps


@pytest.mark.skipif(not LONGDOUBLE_IS_WIDER, reason="longdouble is float64 on this platform")
@pytest.mark.parametrize("method", list(BASELINE_METHODS))
@pytest.mark.parametrize("text,point", [("exp(x)", (1.0,)), ("x0**2 + sin(x1)", (1.0, 2.0))])
def test_longdouble_rows_are_longdouble_computations_or_skipped(method, text, point):
    """Regression: numdifftools and jacobi_diagonal gave NaN on every longdouble row (counted as failures), and
    approx_fprime, the complex steps, jacobi and numericalderivative computed in float64 under a longdouble label."""
    need(method)
    declared = BASELINE_METHODS[method]["longdouble"]
    scheme = make_baseline("b", {"kind": "baseline", "method": method})
    reason = scheme.skip(dtype="longdouble", dim=len(point))
    expr = parse_expression(text)
    fn = Counting(expr.numpy)
    with np.errstate(all="ignore"):
        try:
            res = evaluate_baseline(scheme, fn, np.array([point], dtype=np.longdouble), np.array([1e-4]),
                                    expression=expr)
            estimate = res.estimate
        except Exception:  # noqa: BLE001 - a library that fails is what the skip is for
            estimate = np.array([np.nan])
    if declared == "longdouble":
        assert reason is None
        assert fn.dtypes <= {"float128", "complex256"}, fn.dtypes
        assert estimate.dtype == np.longdouble and np.isfinite(estimate).all()
        order = BASELINE_METHODS[method].get("derivative", 1)
        exact = [float(reference_derivative(expr.mpmath, point, [order * (c == j) for c in range(len(point))]).hi)
                 for j in range(len(point))]
        # forward differences at h = 1e-4: truncation about |f''| h / 2 = 1.4e-4 (exp at 1)
        np.testing.assert_allclose(estimate[0, 0].astype(np.float64), exact, rtol=1e-3, atol=1e-3)
    else:
        assert reason is not None and "longdouble" in reason
        if declared is None:  # the library fails: no finite estimate for some coordinate
            assert not np.isfinite(estimate).all()
        elif len(point) == 1:  # the type the method really computes f in (in n-D only the moving coordinate is)
            assert declared in fn.dtypes, fn.dtypes
