"""Noisy functions, ECnoise, the noise-aware step selectors and the noise in the error model.

Truths used: the declared noise level (the generator's moments are tested
first), Moré & Wild's own example, the authors' ECNoise.m on their test tables,
exact factorials for gamma_k, and for the selectors the error curve of the same
stencil on a dense h grid (its best windowed error, from the run's own curve
analysis).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness
from harness.config import build_spec
from harness.ecnoise import ECNOISE_M, ecnoise, estimate_noise, gammas
from harness.errors import ConfigError
from harness.evaluate import evaluate_schemes
from harness.expr import parse_expression
from harness.noise import NoiseSpec, noisy, parse_noise
from harness.noise_selectors import NOISE_RULES, choose_noisy_steps
from harness.schemes import make_scheme

FUNCTIONS = {"exp": ("exp(x)", np.linspace(-2.0, 2.0, 20)), "sin": ("sin(x)", np.linspace(0.1, 3.0, 20)),
             "log": ("log(x)", np.linspace(0.5, 5.0, 20)), "rational": ("1/(1+x**2)", np.linspace(-2.0, 2.0, 20))}


def noisy_fn(text: str, **noise) -> tuple:
    spec = NoiseSpec(**noise)
    expr = parse_expression(text)
    return noisy(expr.numpy, spec), spec, expr


# --------------------------------------------------------------------------- #
# The noisy functions                                                         #
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("distribution", ["uniform", "normal"])
def test_noise_is_deterministic_with_the_declared_moments(distribution):
    x = np.linspace(0.0, 1.0, 40001)
    fn, spec, expr = noisy_fn("exp(x)", kind="relative", level=1e-6, distribution=distribution, seed=3)
    y = fn(x)
    assert np.array_equal(y, fn(x))
    # A function of the point alone (f = x + 1 here: exp's last bit may depend on the memory layout).
    shifted = noisy(lambda x: x + 1, spec)
    assert np.array_equal(shifted(x[::-1]), shifted(x)[::-1]) and np.array_equal(shifted(x[5:6]), shifted(x)[5:6])
    e = (y / np.exp(x) - 1) / 1e-6
    n = x.size
    assert abs(e.mean()) < 4 / math.sqrt(n) and abs(e.std() - 1) < 0.02
    assert abs(np.corrcoef(e[1:], e[:-1])[0, 1]) < 4 / math.sqrt(n)
    kurtosis = (e ** 4).mean()
    assert abs(kurtosis - (1.8 if distribution == "uniform" else 3.0)) < 0.1
    if distribution == "uniform":
        assert np.abs(e).max() <= math.sqrt(3) * (1 + 1e-6)
    other = noisy(expr.numpy, NoiseSpec("relative", 1e-6, distribution, 4))(x)
    assert np.mean(other == y) < 0.01  # another seed, another realisation


def test_noise_kinds_types_and_complex_input():
    fn, _, _ = noisy_fn("x**2", kind="absolute", level=1e-3, seed=1)
    x = np.array([0.0, 1.0, 3.0])
    # Absolute noise does not scale with f (it is there where f = 0).
    assert np.all(np.abs(fn(x) - x**2) > 0) and np.all(np.abs(fn(x) - x**2) <= math.sqrt(3) * 1e-3)
    rel, _, _ = noisy_fn("exp(x)", kind="relative", level=1e-3, seed=1)
    # The same value gives the same e(x) in every type (to the type's rounding of f and of the noise).
    for dtype in (np.float32, np.longdouble):
        y = rel(np.array([0.5], dtype=dtype))
        assert y.dtype == dtype and abs(float(y[0]) - float(rel(np.array([0.5]))[0])) < 4e-7 * math.e
    # Noise below the resolution of the type vanishes in it.
    tiny = noisy(np.exp, NoiseSpec("relative", 1e-12))
    assert tiny(np.float32(0.5)) == np.exp(np.float32(0.5))
    # Complex input: x + 0i has the noise of x; relative noise scales both parts, absolute only the real one.
    z = np.array([0.5 + 0j, 0.5 + 1e-20j])
    assert rel(z)[0] == rel(np.array([0.5]))[0]
    assert abs(rel(z)[1].imag / (np.exp(0.5) * 1e-20) - 1) < 6e-3
    assert fn(np.array([1.0 + 1e-20j]))[0].imag == 2e-20
    assert noisy(np.exp, None) is np.exp and noisy(np.exp, NoiseSpec(level=0.0))(x).tolist() == np.exp(x).tolist()


@pytest.mark.parametrize("spec, key", [
    ([1e-8], "functions.f.noise"),
    ({"kind": "relative"}, "functions.f.noise.level"),
    ({"level": -1e-8}, "functions.f.noise.level"),
    ({"level": "small"}, "functions.f.noise.level"),
    ({"level": 1.5}, "functions.f.noise.level"),
    ({"level": 1e-8, "kind": "multiplicative"}, "functions.f.noise.kind"),
    ({"level": 1e-8, "distribution": "cauchy"}, "functions.f.noise.distribution"),
    ({"level": 1e-8, "seed": -1}, "functions.f.noise.seed"),
    ({"level": 1e-8, "seed": 1.5}, "functions.f.noise.seed"),
    ({"level": 1e-8, "sigma": 2}, "functions.f.noise.sigma"),
])
def test_noise_config_errors_name_the_key(spec, key):
    cfg = {"functions": {"f": {"expression": "exp(x)", "points": [1.0], "noise": spec}},
           "schemes": {"central": None}, "grid": {"kind": "list", "values": [1e-3]}}
    with pytest.raises(ConfigError) as info:
        build_spec(cfg)
    assert info.value.key == key


@pytest.mark.parametrize("spec, key", [
    ({"kind": "selector", "rule": "gmsw", "noise": "estimate"}, "schemes.s.noise"),
    ({"kind": "selector", "rule": "more_wild", "noise": "guess"}, "schemes.s.noise"),
    ({"kind": "selector", "rule": "more_wild", "noise": -1.0}, "schemes.s.noise"),
    ({"kind": "selector", "rule": "dumontet_vignes", "base": "forward"}, "schemes.s.base"),
    ({"kind": "selector", "rule": "more_wild", "base": "central"}, "schemes.s.base"),
])
def test_selector_and_model_noise_config_errors(spec, key):
    with pytest.raises(ConfigError) as info:
        make_scheme("s", spec)
    assert info.value.key == key
    base = {"functions": {"f": {"expression": "exp(x)", "points": [1.0]}}, "schemes": {"central": None},
            "grid": {"kind": "list", "values": [1e-3]}}
    for bad in ("estimated", -1.0):
        with pytest.raises(ConfigError) as info:
            build_spec({**base, "model": {"noise": bad}})
        assert info.value.key == "model.noise"
    assert build_spec({**base, "model": {"noise": "estimate"}}).model.noise == "estimate"
    assert parse_noise(None, "k") is None


# --------------------------------------------------------------------------- #
# ECnoise                                                                     #
# --------------------------------------------------------------------------- #

def test_gammas_and_the_authors_test_tables():
    exact = [Fraction(math.factorial(k) ** 2, math.factorial(2 * k)) for k in range(1, 11)]
    assert np.allclose(gammas(10), [float(g) for g in exact], rtol=1e-15, atol=0)
    # The cases of the authors' own tests (POptUS/CNoise tests/test_ecnoise.py), in one batch.
    tables = np.stack([np.linspace(1.0, 2.0, 7), np.full(7, 3.0), np.array([1.0, 1.01] * 3 + [1.0])], axis=1)
    t = ecnoise(tables)
    assert t.status.tolist() == ["h_too_large", "h_too_small", "ok"]
    assert np.isnan(t.noise[:2]).all() and t.noise[2] == t.levels[0, 2] > 0 and t.order.tolist() == [0, 0, 1]
    assert (t.levels[:, :2] == 0).all()
    # For alternating +-d the k-th differences are +-(2^k) d: every level is d sqrt(gamma_k) 2^k.
    d = 0.005
    assert np.allclose(t.levels[:, 2], [d * 2**k * math.sqrt(float(g)) * math.sqrt(
        np.mean(np.diff(np.array([1.0, -1.0] * 3 + [1.0]), k) ** 2) / 4**k) for k, g in enumerate(exact[:6], 1)])
    assert ecnoise(np.array([[1.0], [np.nan], [1.0], [1.0]])).status.tolist() == ["nonfinite"]


@settings(max_examples=40)
@given(st.lists(st.floats(-1.0, 1.0), min_size=7, max_size=12), st.integers(-20, 20))
def test_ecnoise_scales_with_f_and_follows_its_acceptance_rule(noise, power):
    values = 1.0 + 1e-6 * np.array(noise)[:, None]
    t = ecnoise(values)
    scaled = ecnoise(values * 2.0**power)  # exact scaling: the same decisions, levels scaled
    assert scaled.status.tolist() == t.status.tolist() and scaled.order.tolist() == t.order.tolist()
    assert np.allclose(scaled.levels, t.levels * 2.0**power, rtol=1e-12, atol=0)
    k = int(t.order[0])
    if t.status[0] == "ok":
        window = t.levels[k - 1:k + 2, 0]
        diffs = np.diff(values[:, 0], k)
        assert window.max() <= 4 * window.min() and diffs.min() * diffs.max() < 0 and t.noise[0] == window[0]
    else:
        assert np.isnan(t.noise[0]) and k == 0


def test_ecnoise_recovers_the_declared_level():
    """Must show: within a factor 2 for >= 90% of points, levels 1e-3 .. 1e-12, both kinds and laws, float64."""
    ratios = []
    for level in 10.0 ** -np.arange(3, 13):
        for kind in ("relative", "absolute"):
            for distribution in ("uniform", "normal"):
                for text, points in FUNCTIONS.values():
                    fn, spec, expr = noisy_fn(text, kind=kind, level=level, distribution=distribution, seed=0)
                    est = estimate_noise(lambda idx, t: fn(points[idx][None, :] + t), points)
                    assert (est.samples == est.attempts * (ECNOISE_M + 1)).all()
                    ratios.append(est.noise / spec.sigma(expr.numpy(points)))
    ratios = np.concatenate(ratios)
    within = (ratios >= 0.5) & (ratios <= 2)
    assert ratios.size == 3200 and within.mean() >= 0.9, within.mean()
    assert 0.8 < np.nanmedian(ratios) < 1.25


def test_ecnoise_failure_signals_and_retries():
    fn, spec, _ = noisy_fn("exp(x)", kind="relative", level=1e-8, seed=5)
    x = np.array([0.5, 1.0, 1.5])
    sample = lambda idx, t: fn(x[idx][None, :] + t)  # noqa: E731
    # Far too small: x + i h rounds back to x, every difference is 0.
    small = estimate_noise(sample, x, h=1e-20, attempts=1)
    assert small.status.tolist() == ["h_too_small"] * 3 and np.isnan(small.noise).all()
    # Far too large: the values differ in the first digit.
    large = estimate_noise(sample, x, h=0.5, attempts=1)
    assert large.status.tolist() == ["h_too_large"] * 3 and (large.samples == ECNOISE_M + 1).all()
    # Following the signals (h * 100, h / 100) finds the noise again; every table is counted.
    for h in (1e-17, 0.05):
        est = estimate_noise(sample, x, h=h, attempts=3)
        assert est.status.tolist() == ["ok"] * 3 and (est.attempts >= 2).all()
        assert (est.samples == est.attempts * (ECNOISE_M + 1)).all()
        assert np.all(np.abs(np.log2(est.noise / spec.sigma(np.exp(x)))) <= 1)


def test_more_wild_example_over_50_seeds():
    """Moré & Wild's Table 3.1: cos t + sin t + 1e-3 U(0, 2 sqrt 3), h = 1e-2, m = 6 (t = 0 .. 6h)."""
    t = np.arange(7) * 1e-2
    base = lambda t: np.cos(t) + np.sin(t)  # noqa: E731
    # U(0, 2 sqrt 3) 1e-3 is our uniform noise of level 1e-3 plus sqrt(3) 1e-3, which no difference sees.
    table = np.stack([noisy(base, NoiseSpec("absolute", 1e-3, "uniform", s))(t) + math.sqrt(3) * 1e-3
                      for s in range(50)], axis=1)
    result = ecnoise(table)
    ratio = result.noise / 1e-3
    assert (result.status == "ok").all()
    assert 0.8 < np.median(ratio) < 1.25
    assert np.mean((ratio >= 0.5) & (ratio <= 2)) >= 0.85  # 45 of 50 here


# --------------------------------------------------------------------------- #
# The selectors                                                               #
# --------------------------------------------------------------------------- #

SELECTORS = {f"{rule}-{base}-{src}": {"kind": "selector", "rule": rule, "base": base, "noise": src}
             for rule, info in NOISE_RULES.items() for base in info["bases"] if base != "backward"
             for src in ("declared", "estimate")}


@pytest.fixture(scope="module")
def noisy_sweep():
    """exp at 1 (relative 1e-8) and 1/(1+x^2) at 0.7 (absolute 1e-4): stencils on a dense grid, every selector."""
    functions = {"exp": {"expression": "exp(x)", "points": [1.0], "noise": {"level": 1e-8}},
                 "rational": {"expression": "1/(1+x**2)", "points": [0.7],
                              "noise": {"kind": "absolute", "level": 1e-4, "distribution": "normal", "seed": 2}}}
    schemes = {"forward": None, "central": None, "sqrt_eps": {"kind": "selector", "rule": "sqrt_eps"}, **SELECTORS}
    table = harness.run({"functions": functions, "schemes": schemes, "plot": {"enabled": False},
                         "grid": {"kind": "logspace", "start": -12, "stop": 0, "num": 161}})
    return table, harness.summarize(table, _models(functions, schemes))


def _models(functions, schemes):
    from harness.model import model_rows
    from harness.settings import ModelSettings
    spec = build_spec({"functions": functions, "schemes": {"forward": None, "central": None},
                       "grid": {"kind": "list", "values": [1e-3]}})
    return pd.concat([model_rows(f, f.points, spec.schemes, "float64", "exact", "absolute", ModelSettings())
                      for f in spec.functions], ignore_index=True)


def test_more_wild_step_on_noisy_exp(noisy_sweep):
    """Must show: noise 1e-8 on exp at 1: Moré-Wild within 3x of the best error on a dense grid, sqrt(eps) far worse.

    The best error is the curve's best windowed rms error (``observed_min_error``: the error's rms over
    +-0.25 decades, 11 grid steps): a single grid step can land on a lucky cancellation of noise and
    truncation (here 3e-6 at h = 1.3e-4 beside 4e-5 and 7e-5), which no step rule can aim at.
    """
    table, summary = noisy_sweep
    exp = table[table["function"] == "exp"]
    best = float(summary.set_index(["function", "scheme"]).loc[("exp", "forward"), "observed_min_error"])
    mw = exp[exp["scheme"] == "more_wild-forward-declared"]["abs_error"].iloc[0]
    fixed = exp[exp["scheme"] == "sqrt_eps"]["abs_error"].iloc[0]
    assert mw <= 3 * best and fixed >= 1000 * best, (mw, best, fixed)
    # The rms optimum of a forward difference with noise sigma: 2^(1/4) sqrt(sigma |f''|) = 1.19e-4 e.
    assert best / math.e == pytest.approx(1.19e-4, rel=0.5)


def test_every_noise_selector_lands_near_the_best_step(noisy_sweep):
    table, summary = noisy_sweep
    best = summary.set_index(["function", "scheme"])["observed_min_error"]
    sel = table[table["scheme"].isin(list(SELECTORS))]
    assert len(sel) == 2 * len(SELECTORS) and (sel["status"] == "ok").all() and sel["adaptive"].all()
    for row in sel.itertuples():
        stencil = "central" if "central" in row.scheme or "dumontet" in row.scheme else "forward"
        assert row.abs_error <= 5 * best[(row.function, stencil)], row
        assert np.isfinite(row.error_estimate) and 0.1 < row.error_estimate / best[(row.function, stencil)] < 10
    assert set(sel["noise_kind"].astype(str)) == {"relative", "absolute"} and set(sel["noise_level"]) == {1e-8, 1e-4}
    # Predicted and observed h* agree for the noisy stencil curves too.
    stencils = summary[summary["scheme"].isin(["forward", "central"])]
    assert (stencils["noise_source"] == "declared").all()
    assert np.all(np.abs(np.log10(stencils["h_star_ratio"])) < np.log10(3)), stencils["h_star_ratio"]


@pytest.mark.parametrize("rule, base", [(r, b) for r, info in NOISE_RULES.items() for b in info["bases"]])
@pytest.mark.parametrize("source", ["declared", "estimate", 1e-8])
def test_noise_selectors_count_every_evaluation(rule, base, source):
    fn, spec, _ = noisy_fn("exp(x) + 1/(1+x**2)", level=1e-8, seed=9)
    calls = []

    def counted(*coords):
        calls.append(np.size(coords[0]))
        return fn(*coords)

    points = np.array([[0.7], [1.0], [-2.5], [0.0]])
    scheme = make_scheme("s", {"kind": "selector", "rule": rule, "base": base, "noise": source})
    h, spent, err = choose_noisy_steps(rule, counted, points, base=scheme.base, noise=source, declared=spec)
    assert sum(calls) == spent.sum() and h.shape == spent.shape == err.shape == (4, 1)
    assert np.all(np.isfinite(h) & (h > 0))
    if source == "estimate":
        assert (spent >= 1 + ECNOISE_M + 1).all()
    # Lanes are independent: one point alone costs and chooses the same.
    h1, n1, _ = choose_noisy_steps(rule, fn, points[1:2], base=scheme.base, noise=source, declared=spec)
    assert h1[0, 0] == h[1, 0] and n1[0, 0] == spent[1, 0]
    calls.clear()
    (res,) = evaluate_schemes(counted, points, np.array([np.nan]), [scheme])
    assert sum(calls) == res.n_evals.sum()


def test_fallbacks_and_nd():
    # f = 0 with relative noise: no noise level, the rule falls back (finite step, no error estimate).
    fn, spec, _ = noisy_fn("sin(x)", level=1e-8)
    h, n, err = choose_noisy_steps("dumontet_vignes", fn, np.array([[0.0]]), base=make_scheme("central"),
                                   declared=spec)
    assert np.isfinite(h).all() and np.isnan(err).all()
    # n-D: one step per coordinate, shapes kept.
    spec2 = NoiseSpec(level=1e-6)
    fn2 = noisy(parse_expression("x0**3 + sin(x1)").numpy, spec2)
    h, n, err = choose_noisy_steps("shi_xie_xuan_nocedal", fn2, np.array([[1.0, 2.0]]), base=make_scheme("central"),
                                   declared=spec2)
    # sigma = 1e-6 |f| = 1.9e-6: h near (3 sigma / |f^(3)|)^(1/3) = 0.010 (x0, f^(3) = 6) and 0.018 (x1)
    assert h.shape == n.shape == (1, 2) and np.all((h > 0.004) & (h < 0.05)), h
    with pytest.raises(ValueError):
        choose_noisy_steps("more_wild", fn, np.array([[1.0]]), base=make_scheme("central"))


# --------------------------------------------------------------------------- #
# The model, noise.parquet, figures                                           #
# --------------------------------------------------------------------------- #

def test_declared_and_estimated_noise_in_the_model_and_noise_table():
    functions = {"rel": {"expression": "exp(x)", "points": [1.0], "noise": {"level": 1e-6}},
                 "abs0": {"expression": "sin(x)", "points": [0.0], "noise": {"kind": "absolute", "level": 1e-6}},
                 "plain": {"expression": "exp(x)", "points": [1.0]}}
    cfg = {"functions": functions, "schemes": {"forward": None, "central": None}, "plot": {"enabled": False},
           "grid": {"kind": "logspace", "start": -8, "stop": 0, "num": 17}}
    table, models, noise = _blocks(cfg)  # noise.parquet in a run folder and through collect: test_scale.py
    models = models.set_index(["function", "scheme"])
    rel, abs0 = models.loc[("rel", "forward")], models.loc[("abs0", "forward")]
    assert rel["noise_source"] == "declared" and rel["eps_f"] == pytest.approx(1e-6, rel=1e-9)
    assert rel["predicted_h_star"] == pytest.approx(2 * math.sqrt(1e-6), rel=1e-6)  # 2 sqrt(eps_f |f| / |f''|)
    # Absolute noise where f = 0: C_r = level * sum|w| all the same (rounding alone would have no model).
    # (The truncation constant is 0: the certified sin''(0) is exactly 0, so the first-order term vanishes.)
    assert abs0["c_round"] == pytest.approx(2e-6, rel=1e-9) and abs0["c_trunc"] == 0
    assert models.loc[("plain", "forward"), "noise_source"] == "rounding"
    assert set(table[table["function"] == "plain"]["noise_kind"].astype(str)) == {"none"}
    noise = noise.set_index("function")
    assert noise.loc["rel", "true_noise"] == pytest.approx(1e-6 * math.e) and noise.loc["abs0", "true_noise"] == 1e-6
    assert noise.loc["rel", "status"] == "ok" and 0.5 <= noise.loc["rel", "ratio"] <= 2
    # ECnoise's limit (the authors' range test): values that change sign around f(x) = 0 never pass it.
    assert noise.loc["abs0", "status"] == "h_too_large" and noise.loc["abs0", "attempts"] == 3
    assert np.isnan(noise.loc["plain", "ratio"]) and noise.loc["plain", "estimated_relative"] < 1e-15
    # model.noise: estimate takes ECnoise's level; a number overrides everything.
    est = _blocks({**cfg, "model": {"noise": "estimate"}})[1].set_index(["function", "scheme"])
    assert est.xs("forward", level="scheme")["noise_source"].to_dict() == {
        "rel": "estimate", "plain": "estimate", "abs0": "declared"}  # no estimate at abs0: its declared noise
    assert est.loc[("rel", "forward"), "eps_f"] == pytest.approx(noise.loc["rel", "estimated_relative"])
    assert (_blocks({**cfg, "model": {"noise": 1e-3}})[1]["noise_source"] == "setting").all()


def _blocks(cfg):
    """Rows, models and noise rows of every block of a sweep (what a run folder stores, without writing it)."""
    from harness.refcache import ReferenceCache
    from harness.sweep import plan, sweep_block

    spec = build_spec(cfg)
    done = [sweep_block(spec, block, ReferenceCache(None)) for block in plan(spec)]
    return tuple(pd.concat([getattr(r, what) for r in done], ignore_index=True) for what in ("rows", "models", "noise"))


def test_noise_floor_is_drawn_for_noisy_curves_only(noisy_sweep):
    from harness.figures import draw_error_figure

    table, _ = noisy_sweep
    functions = {"exp": {"expression": "exp(x)", "points": [1.0], "noise": {"level": 1e-8}}}
    cell = table[(table["function"] == "exp") & table["scheme"].isin(["forward", "more_wild-forward-declared"])]
    models = _models(functions, None)
    labels = [line.get_label() for line in draw_error_figure(cell, models=models).axes[0].lines]
    assert any(lbl.startswith("noise floor: relative noise 1e-08") for lbl in labels)
    quiet = models.assign(noise_source="rounding")
    labels = [line.get_label() for line in draw_error_figure(cell, models=quiet).axes[0].lines]
    assert not any(lbl.startswith("noise floor") for lbl in labels)


def test_noise_experiment_composes_and_noise_is_in_the_fingerprint(compose_cfg):
    from harness.rundir import spec_fingerprint

    spec = build_spec(compose_cfg("experiment=noise", "model.noise=estimate"))
    noises = {f.name: f.noise for f in spec.functions}
    assert noises["exp"] is None and noises["exp_1e-8"] == NoiseSpec("relative", 1e-8, "uniform", 0)
    assert noises["rational_1e-4"] == NoiseSpec("absolute", 1e-4, "normal", 2)
    selectors = {s.name: s for s in spec.schemes if s.kind == "selector"}
    assert {s.rule for s in selectors.values()} >= set(NOISE_RULES)
    assert selectors["more_wild"].noise == "declared" and selectors["more_wild_estimate"].noise == "estimate"
    assert spec.model.noise == "estimate"
    cfg = {"functions": {"f": {"expression": "exp(x)", "points": [1.0], "noise": {"level": 1e-8}}},
           "schemes": {"central": None}, "grid": {"kind": "list", "values": [1e-3]}}
    prints = {spec_fingerprint(build_spec(cfg))}
    for change in ({"level": 1e-7}, {"level": 1e-8, "seed": 1}, {"level": 1e-8, "distribution": "normal"}, None):
        prints.add(spec_fingerprint(build_spec({**cfg, "functions": {"f": {**cfg["functions"]["f"], "noise": change}}})))
    assert len(prints) == 5


@pytest.mark.parametrize("level", [1e-8, 1e-4])
def test_noisy_round_off_keeps_its_slope_and_is_not_a_floor(level):
    """Regression: with noise the whole round-off regime has relative errors above 1/2, and it was labelled
    'floor' (an estimate that collapsed): roundoff_slope came out NaN or fitted on 3 points (-2.4 for m = 1)."""
    table = harness.run({"functions": {"e": {"expression": "exp(x)", "points": [1.0], "noise": {"level": level}}},
                         "schemes": {"forward": None, "central": None,
                                     "second": {"kind": "stencil", "direction": "central", "derivative": 2}},
                         "grid": {"kind": "logspace", "start": -14, "stop": 0, "num": 57},
                         "plot": {"enabled": False}, "reference": {"cache_dir": None}})
    assert (table["regime"] == "floor").sum() <= 2  # only estimates that are exactly 0
    summary = harness.summarize(table).set_index("scheme")
    for scheme, m in (("forward", 1), ("central", 1), ("second", 2)):
        row = summary.loc[scheme]
        assert abs(row["roundoff_slope"] + m) < 0.2, (scheme, row["roundoff_slope"])
        assert row["roundoff_h_min"] < 1e-12  # fitted over the whole round-off regime, not its last points


def test_complex_step_model_ignores_absolute_noise_it_cannot_see(tmp_path):
    """Absolute noise moves Re f only, so the complex step's floor stays at the rounding of f; its model used the
    declared level (predicted floor 2e-7 against a measured 1e-16, h* ratio 3e-5). Relative noise it does see."""
    functions = {"abs": {"expression": "exp(x)", "points": [0.5], "noise": {"kind": "absolute", "level": 1e-7}},
                 "rel": {"expression": "exp(x)", "points": [0.5], "noise": {"kind": "relative", "level": 1e-7}}}
    harness.run({"functions": functions, "schemes": {"forward": None, "complex_step": None},
                 "grid": {"kind": "logspace", "start": -16, "stop": 0, "num": 65}, "plot": {"enabled": False},
                 "reference": {"cache_dir": None}}, out_dir=tmp_path)
    models = pd.read_parquet(tmp_path / "model.parquet").set_index(["function", "scheme"])
    summary = pd.read_parquet(tmp_path / "summary.parquet").set_index(["function", "scheme"])
    assert models.loc[("abs", "complex_step"), "noise_source"] == "rounding"
    assert models.loc[("abs", "forward"), "noise_source"] == "declared"
    assert models.loc[("rel", "complex_step"), "noise_source"] == "declared"
    for key in (("abs", "complex_step"), ("abs", "forward"), ("rel", "complex_step"), ("rel", "forward")):
        assert 1 / 3 <= summary.loc[key, "h_star_ratio"] <= 3, (key, summary.loc[key, "h_star_ratio"])


def test_ecnoise_spacing_is_not_rounded_to_the_working_type():
    """Regression: in float8_e4m3fn the spacing 1e-4 itself rounded to 0 (every table h_too_small at h = 0) and the
    retry factor 100 to 96; the spacing now lives in float64 and only the sample offsets are rounded."""
    from harness.number_types import DTYPES

    dtype = np.dtype(DTYPES["float8_e4m3fn"])
    x = np.array([1.0]).astype(dtype)
    seen = []

    def sample(lanes, t):
        seen.append(np.asarray(t, dtype=np.float64).copy())
        return np.exp((x[lanes][None, :] + t).astype(np.float64)).astype(dtype)

    est = estimate_noise(sample, x)
    assert est.attempts[0] == 3 and list(est.h) == [1.0]  # 1e-4 -> 1e-2 -> 1 (float64 spacings)
    k = max(ECNOISE_M // 2, ECNOISE_M - ECNOISE_M // 2)  # the largest offset of the table, in spacings
    assert [float(np.abs(t).max()) for t in seen] == [float(np.array(k * s).astype(dtype).astype(np.float64))
                                                      for s in (1e-4, 1e-2, 1.0)]
