"""Step selectors: eps rules, Stepleman-Winarsky, Gill-Murray-Saunders-Wright.

Derivatives used to judge the selectors (f', f'', f''') come from the checked
mpmath references of :mod:`harness.reference`, not from the code under test.
Evaluations are counted by wrapping f and counting the points handed to it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ConfigError
from harness.evaluate import evaluate_schemes
from harness.expr import parse_expression
from harness.reference import reference_derivative
from harness.schemes import make_scheme
from harness.schemes import FIRST_DERIVATIVE_STENCILS as SELECTOR_BASES
from harness.schemes import SelectorScheme
from harness.selectors import SELECTOR_RULES, choose_steps


def make_selector(name, spec):
    return SelectorScheme.from_config(name, spec, f"schemes.{name}")


def evaluate_selector(scheme, fn, points, *, step="exact"):
    (res,) = evaluate_schemes(fn, points, np.array([np.nan]), [scheme], step=step)
    return res

ADAPTIVE = ("stepleman_winarsky", "gmsw")
CASES = {  # name -> (expression, point)
    "exp": ("exp(x)", 1.0),
    "sin": ("sin(x)", 0.5),
    "log": ("log(x)", 2.0),
    "runge": ("1/(1+x**2)", 0.7),
}
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


class Counting:
    """Wrap f and count the points it is evaluated at (size of the broadcast input)."""

    def __init__(self, fn):
        self.fn = fn
        self.n = 0

    def __call__(self, *coords):
        self.n += int(np.broadcast(*[np.asarray(c) for c in coords]).size)
        return self.fn(*coords)


def derivatives(text: str, x: float) -> tuple[float, float, float, float]:
    """f, f', f'', f''' at x from checked mpmath references."""
    e = parse_expression(text)
    out = [float(e.mpmath(x))]
    for order in (1, 2, 3):
        ref = reference_derivative(e.mpmath, [x], [order])
        assert ref.status == "ok"
        out.append(ref.hi)
    return tuple(out)


@pytest.fixture(scope="module")
def refs() -> dict[str, tuple[float, float, float, float]]:
    return {name: derivatives(text, x) for name, (text, x) in CASES.items()}


def optimum(base: str, f: float, f2: float, f3: float, eps: float) -> float:
    """Textbook optimal step: forward 2 sqrt(eps |f| / |f''|), central (3 eps |f| / |f'''|)^(1/3)."""
    if base in ("forward", "backward"):
        return 2 * math.sqrt(eps * abs(f) / abs(f2))
    return (3 * eps * abs(f) / abs(f3)) ** (1 / 3)


def run(rule: str, text: str, x, dtype=np.float64, base: str | None = None):
    spec = {"kind": "selector", "rule": rule} | ({"base": base} if base else {})
    points = np.asarray(x, dtype=dtype).reshape(-1, 1) if np.ndim(x) < 2 else np.asarray(x, dtype=dtype)
    return evaluate_selector(make_selector("s", spec), parse_expression(text).numpy, points)


# --------------------------------------------------------------------------- #
# eps rules                                                                   #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x", [0.5, 1e3, -1e3])
def test_eps_rules_give_exactly_the_formula(dtype, x):
    t = np.dtype(dtype).type
    eps = np.finfo(dtype).eps
    points = np.array([[x]], dtype=dtype)
    scale = max(t(1), abs(t(x)))
    expected = {"sqrt_eps": np.sqrt(eps) * scale, "cbrt_eps": np.cbrt(eps) * scale}
    for rule, want in expected.items():
        h, n = choose_steps(rule, np.exp, points, base=make_scheme("central"))
        assert h.dtype == dtype and h.shape == (1, 1) and n.dtype == np.int64
        assert h[0, 0] == want and n[0, 0] == 0
    # eps_power: eps ** (1 / (p + 1)) for the base's accuracy order p.
    for base, want in [("forward", expected["sqrt_eps"]), ("central", expected["cbrt_eps"]),
                       ("central4", np.power(eps, t(1) / t(5)) * scale)]:
        h, n = choose_steps("eps_power", np.exp, points, base=make_scheme(base))
        assert h[0, 0] == want and n[0, 0] == 0


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-1e6, 1e6, allow_nan=False), single=st.booleans())
def test_eps_rules_property(x, single):
    dtype = np.float32 if single else np.float64
    points = np.array([[x]], dtype=dtype)
    h, _ = choose_steps("cbrt_eps", np.sin, points, base=make_scheme("central"))
    assert h[0, 0] == np.cbrt(np.finfo(dtype).eps) * np.maximum(dtype(1), np.abs(points[0, 0]))


# --------------------------------------------------------------------------- #
# Accuracy and chosen steps on the four test functions                        #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("name", CASES)
def test_adaptive_rules_accuracy(name, refs):
    text, x = CASES[name]
    f, f1, f2, f3 = refs[name]
    # Stepleman-Winarsky (central): measured 0 .. 3.4e-11 relative error on these four.
    sw = run("stepleman_winarsky", text, x)
    assert abs(sw.estimate[0, 0, 0] - f1) / abs(f1) < 2e-10
    assert np.isfinite(sw.error_estimate[0, 0, 0])
    # GMSW forward difference at h_F: measured 1.1e-8 .. 1.5e-8; its own bound 2 sqrt(eps_A |Phi|) holds.
    g = run("gmsw", text, x)
    err = abs(g.estimate[0, 0, 0] - f1)
    assert err / abs(f1) < 5e-8
    assert err <= g.error_estimate[0, 0, 0]


@pytest.mark.parametrize("rule", list(SELECTOR_RULES))
@pytest.mark.parametrize("name", CASES)
def test_chosen_step_near_textbook_optimum(rule, name, refs):
    text, x = CASES[name]
    f, _, f2, f3 = refs[name]
    res = run(rule, text, x)
    h = float(res.h_used[0, 0, 0])
    # GMSW's interval is a forward-difference interval whatever the rule's default base.
    target = optimum("forward" if rule == "gmsw" else res.scheme.base.name, f, f2, f3, EPS64)
    assert 0.1 < h / target < 10, (rule, name, h, target)


def test_estimates_shape_and_flags():
    points = np.array([[0.5], [1.0], [2.0]])
    fn = parse_expression("exp(x)").numpy
    for rule in SELECTOR_RULES:
        s = make_selector("s", {"kind": "selector", "rule": rule})
        res = evaluate_selector(s, fn, points)
        assert res.scheme is s and res.adaptive
        assert np.isnan(res.h_nominal).all() and res.h_nominal.shape == (1,)
        for a in (res.estimate, res.h_used, res.n_evals, res.error_estimate):
            assert a.shape == (1, 3, 1)
        assert res.n_evals.dtype == np.int64 and res.estimate.dtype == np.float64
        # The estimate is the base stencil evaluated by the engine at the chosen h.
        h, spent = choose_steps(rule, fn, points, base=s.base)
        (direct,) = evaluate_schemes(fn, points, h[None], [s.base])
        assert np.array_equal(direct.estimate, res.estimate) and np.array_equal(direct.h_used, res.h_used)
        assert np.array_equal(res.n_evals[0], spent + s.base.n_evals)
        if rule in ("sqrt_eps", "cbrt_eps", "eps_power"):
            assert np.isnan(res.error_estimate).all() and (spent == 0).all()
    # GMSW's bound is for one-sided differences only.
    res = evaluate_selector(make_selector("g", {"rule": "gmsw", "base": "central"}), fn, points)
    assert np.isnan(res.error_estimate).all()


# --------------------------------------------------------------------------- #
# Evaluation counts                                                           #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("base", SELECTOR_BASES)
@pytest.mark.parametrize("rule", list(SELECTOR_RULES))
def test_evaluations_counted_independently(rule, base):
    text = "1/(1+x**2) + exp(x)"
    xs = [0.7, 1.0, -2.5, 10.0, 0.0]
    fn = parse_expression(text).numpy
    scheme = make_selector("s", {"rule": rule, "base": base})
    points = np.array(xs)[:, None]

    counted = Counting(fn)
    h, spent = choose_steps(rule, counted, points, base=scheme.base)
    assert counted.n == spent.sum()
    # Per point: alone, each lane costs what it cost in the batch and gets the same step.
    for p, x in enumerate(xs):
        one = Counting(fn)
        h1, n1 = choose_steps(rule, one, points[p:p + 1], base=scheme.base)
        assert one.n == n1[0, 0] == spent[p, 0]
        assert h1[0, 0] == h[p, 0]

    counted = Counting(fn)
    res = evaluate_selector(scheme, counted, points)
    assert counted.n == res.n_evals.sum()  # 1-D: the engine's nominal count is exact
    if rule == "gmsw":
        assert (spent <= 1 + 2 * 7).all()


def test_evaluation_counts_of_the_searches():
    # SW on exp at 1 in float64: h = 0.1 / 4**i for i = 0..9, 2 evaluations each.
    _, n = choose_steps("stepleman_winarsky", np.exp, np.array([[1.0]]), base=make_scheme("central"))
    assert n[0, 0] == 20
    # GMSW accepts its first trial interval there: f(x) and f(x +- hbar).
    _, n = choose_steps("gmsw", np.exp, np.array([[1.0]]), base=make_scheme("forward"))
    assert n[0, 0] == 3
    # A linear function: SDCERR never small, CHCORE increases h for ITMAX = 3 trials and gives up
    # (INFORM 2): 1 + 2 * 3 evaluations, HOPT = the first trial with a small FDCERR (the first trial).
    fn = parse_expression("3*x + 1").numpy
    h, n = choose_steps("gmsw", fn, np.array([[2.0]]), base=make_scheme("forward"))
    first_trial = (2.0 + 10 * 2 * (1 + 2.0) * math.sqrt(EPS64)) - 2.0
    assert n[0, 0] == 7 and h[0, 0] == first_trial


# --------------------------------------------------------------------------- #
# n-D, number types                                                           #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("rule", list(SELECTOR_RULES))
def test_nd_selects_per_component(rule):
    fn = parse_expression("x0**2 + sin(x1)").numpy
    points = np.array([[1.0, 2.0]])
    base = make_selector("s", {"rule": rule}).base
    counted = Counting(fn)
    h, n = choose_steps(rule, counted, points, base=base)
    assert h.shape == n.shape == (1, 2) and counted.n == n.sum()
    # Each component is chosen exactly as for f restricted to that coordinate.
    along = [parse_expression("x**2 + sin(2.0)").numpy, parse_expression("1.0**2 + sin(x)").numpy]
    for j, g in enumerate(along):
        hj, nj = choose_steps(rule, g, points[:, j:j + 1], base=base)
        assert hj[0, 0] == h[0, j] and nj[0, 0] == n[0, j]
    if rule == "gmsw":  # h_F = 2 sqrt(eps_A / |f''|): f'' = 2 and -sin 2 differ, so do the steps
        assert h[0, 0] < h[0, 1]

    res = evaluate_selector(make_selector("s", {"rule": rule}), fn, points)
    truth = np.array([2.0, math.cos(2.0)])
    rel = np.abs(res.estimate[0, 0] - truth) / np.abs(truth)
    bound = {"stepleman_winarsky": 2e-10, "cbrt_eps": 1e-9, "eps_power": 1e-9}.get(rule, 2e-7)
    assert (rel < bound).all(), rel


def test_nd_counts_with_shared_f_of_x():
    # The engine shares f(x) between coordinates for one-sided bases; the selection does not.
    fn = parse_expression("x0**2 + sin(x1)").numpy
    points = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.25]])
    for rule in ADAPTIVE:
        for base in ("central", "forward"):
            counted = Counting(fn)
            res = evaluate_selector(make_selector("s", {"rule": rule, "base": base}), counted, points)
            shared = points.shape[0] * (points.shape[1] - 1) if base == "forward" else 0
            assert counted.n == res.n_evals.sum() - shared


@pytest.mark.parametrize("rule,power", [("sqrt_eps", 1 / 2), ("gmsw", 1 / 2), ("cbrt_eps", 1 / 3),
                                        ("eps_power", 1 / 3), ("stepleman_winarsky", 1 / 3)])
def test_float32_chooses_larger_steps(rule, power):
    expected = (EPS32 / EPS64) ** power
    ratios = []
    for text, x in CASES.values():
        h64 = float(run(rule, text, x, np.float64).h_used[0, 0, 0])
        h32 = run(rule, text, x, np.float32).h_used
        assert h32.dtype == np.float32
        ratios.append(float(h32[0, 0, 0]) / h64)
    ratios = np.array(ratios)
    assert (ratios > 1).all()
    if rule == "stepleman_winarsky":
        # Steps are 0.1 / 4**i in both types, so ratios are powers of 4 (measured 1024, 64, 1024, 1024:
        # float32 sin stops early on chance-monotone quantised differences); the median is the rule.
        assert expected / 3 < np.median(ratios) < expected * 3, ratios
    else:
        assert (ratios > expected / 3).all() and (ratios < expected * 3).all(), ratios


def test_float32_accuracy():
    # float32 estimates are float32 and about as good as the type allows.
    for rule, bound in [("stepleman_winarsky", 1e-4), ("gmsw", 1e-3), ("cbrt_eps", 1e-4)]:
        res = run(rule, "exp(x)", 1.0, np.float32)
        assert res.estimate.dtype == np.float32
        assert abs(float(res.estimate[0, 0, 0]) - math.e) / math.e < bound


# --------------------------------------------------------------------------- #
# Non-finite values                                                           #
# --------------------------------------------------------------------------- #

def test_nonfinite_values_fall_back_to_eps_rules():
    def chosen(rule, text, xs):
        s = make_selector("s", {"rule": rule})
        return choose_steps(rule, parse_expression(text).numpy, np.array(xs, dtype=float)[:, None], base=s.base)

    with np.errstate(all="ignore"):
        # f(x) itself is NaN: fall back, report what was spent, never raise.
        for rule, root, spent in [("stepleman_winarsky", np.cbrt, 2 * 27), ("gmsw", np.sqrt, 1)]:
            h, n = chosen(rule, "log(x)", [-1.0, 1e3])
            assert h[0, 0] == root(EPS64) and n[0, 0] == spent
            res = run(rule, "log(x)", [-1.0, 1e3])
            assert np.isnan(res.estimate[0, 0, 0]) and np.isnan(res.error_estimate[0, 0, 0])
            assert abs(res.estimate[0, 1, 0] - 1e-3) < 1e-3 * 1e-7  # the other lane is unaffected
        # Never finite on x - h: SW falls back after its whole search; GMSW switches to one-sided trials
        # (f(x + 2h) at the first trial, then 2 per trial: 1 + 3 + 2 + 2), and falls back after its first
        # trial only when both sides leave the domain.
        h, n = chosen("stepleman_winarsky", "sqrt(x)", [0.0])
        assert h[0, 0] == np.cbrt(EPS64) and n[0, 0] == 2 * 27
        h, n = chosen("gmsw", "sqrt(x)", [0.0])
        assert 0 < h[0, 0] < np.sqrt(EPS64) and n[0, 0] == 8
        h, n = chosen("gmsw", "sqrt(x) + sqrt(-x)", [0.0])
        assert h[0, 0] == np.sqrt(EPS64) and n[0, 0] == 3
        # inf values
        h, n = chosen("stepleman_winarsky", "exp(x)", [800.0])
        assert h[0, 0] == np.cbrt(EPS64) * 800
        h, n = chosen("gmsw", "exp(x)", [800.0])
        assert h[0, 0] == np.sqrt(EPS64) * 800 and n[0, 0] == 1


def test_stepleman_winarsky_returns_the_last_step_when_monotonicity_never_breaks():
    # (x - 1)**3 at 1: D(h) = h**2 with no rounding error, so the differences keep falling by 16 until h
    # vanishes against x (h_25 < ulp(1) / 2 after 25 halvings by 4). The docstring's rule: the last step of
    # the run and its difference, not the cbrt_eps fallback (which the code returned after 52 evaluations).
    from harness.selectors import choose_steps_and_estimate

    fn = parse_expression("(x - 1)**3").numpy
    h, n, err = choose_steps_and_estimate("stepleman_winarsky", fn, np.array([[1.0]]), base=make_scheme("central"))
    assert h[0, 0] == 0.1 / 4.0**24 and n[0, 0] == 2 * 26
    assert err[0, 0] == pytest.approx(h[0, 0] ** 2 * 15, rel=1e-6)  # |D(h) - D(4h)| = 15 h**2


def test_stepleman_winarsky_moves_its_start_into_the_domain():
    # log at 0.05: x - h0 < 0 for h0 = 0.1 and 0.025; the search starts at 0.00625.
    with np.errstate(all="ignore"):
        res = run("stepleman_winarsky", "log(x)", 0.05)
    assert abs(res.estimate[0, 0, 0] - 20.0) / 20.0 < 1e-10
    assert res.n_evals[0, 0, 0] > 2 * 2 + 2


# --------------------------------------------------------------------------- #
# Config                                                                      #
# --------------------------------------------------------------------------- #

def test_make_selector_defaults_and_builtin_dispatch():
    for rule, info in SELECTOR_RULES.items():
        s = make_selector("s", {"kind": "selector", "rule": rule})
        assert isinstance(s, SelectorScheme) and s.kind == "selector" and s.base.name == info["base"]
        assert (s.derivative, s.accuracy, s.n_evals) == (1, s.base.accuracy, s.base.n_evals)
    s = make_scheme("sw4", {"kind": "selector", "rule": "stepleman_winarsky", "base": "central4"})
    assert isinstance(s, SelectorScheme) and s.accuracy == 4 and s.n_evals == 4
    assert set(SELECTOR_BASES) == {"forward", "backward", "central", "central4"}


@pytest.mark.parametrize("spec,key,allowed", [
    ({"kind": "selector"}, "schemes.s.rule", "stepleman_winarsky"),
    ({"kind": "selector", "rule": "newton"}, "schemes.s.rule", "gmsw"),
    ({"kind": "selector", "rule": "gmsw", "base": "complex_step"}, "schemes.s.base", "central4"),
    ({"kind": "selector", "rule": "gmsw", "base": "nope"}, "schemes.s.base", "forward"),
    ({"kind": "selector", "rule": "gmsw", "base": {"kind": "stencil"}}, "schemes.s.base", "backward"),
    ({"kind": "selector", "rule": "gmsw", "beta": 4}, "schemes.s.beta", "rule"),
    ({"kind": "stencil", "rule": "gmsw"}, "schemes.s.kind", "selector"),
])
def test_config_errors(spec, key, allowed):
    with pytest.raises(ConfigError) as info:
        make_selector("s", spec)
    assert info.value.key == key and allowed in info.value.allowed and key in str(info.value)


def test_config_errors_through_make_scheme():
    with pytest.raises(ConfigError) as info:
        make_scheme("s", {"kind": "selector", "rule": "sqrt_eps", "base": "central6"})
    assert info.value.key == "schemes.s.base"


def test_programming_errors():
    with pytest.raises(ValueError):
        choose_steps("nope", np.exp, np.array([[1.0]]), base=make_scheme("central"))
    with pytest.raises(ValueError):
        choose_steps("gmsw", np.exp, np.array([1.0]), base=make_scheme("central"))
    with pytest.raises(ValueError):
        choose_steps("gmsw", np.exp, np.array([[1]]), base=make_scheme("central"))


# --------------------------------------------------------------------------- #
# In a sweep                                                                  #
# --------------------------------------------------------------------------- #

def test_selectors_in_a_sweep(run_sweep):
    table = run_sweep({"e": {"expression": "exp(x)", "points": [1.0, 0.5]}},
                      {"sw": {"kind": "selector", "rule": "stepleman_winarsky"},
                       "g": {"kind": "selector", "rule": "gmsw"}, "central": None},
                      [1e-3, 1e-5])
    sel = table[table["scheme_kind"] == "selector"]
    assert len(sel) == 4 and sel["adaptive"].all() and sel["h"].isna().all()
    assert (sel["status"] == "ok").all()
    assert (sel[sel["scheme"] == "sw"]["rel_error"] < 2e-10).all()
    assert (sel[sel["scheme"] == "g"]["n_evals"] == 5).all()
    assert (sel[sel["scheme"] == "sw"]["n_evals"] == 22).all()
    assert not table[table["scheme"] == "central"]["adaptive"].any()
