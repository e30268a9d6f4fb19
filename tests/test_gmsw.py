"""GMSW as published: algorithm FD of Gill, Murray, Saunders & Wright (1983) as NPSOL's CHCORE runs it.

The selector (:mod:`harness.gmsw`) works on all lanes at once with masks.
Here the same algorithm is transcribed a second time, one point at a time,
straight from the Fortran (CHCORE's IF/ELSE IF chain and CHFD's loop), and
both are run on the 16 problems of numericalderivative's benchmark (100
points each). True derivatives are numericalderivative's analytic ones.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.config import parse_function
from harness.evaluate import evaluate_schemes
from harness.expr import parse_expression
from harness.schemes import SelectorScheme

nd = pytest.importorskip("numericalderivative")

REPO = Path(__file__).resolve().parents[1]
BENCHMARK = yaml.safe_load((REPO / "conf" / "functions" / "benchmark.yaml").read_text())
EPS = float(np.finfo(np.float64).eps)


def chcore_reference(f, x: float) -> tuple[float, int]:
    """CHFD's loop around CHCORE for one point, one scalar at a time: (HOPT, evaluations).

    Central trials (the paper's eq. 8) while both f(x - h) and f(x + h) are
    finite; CHCORE's one-sided trials (x + h, x + 2h; h < 0 backward) once a
    central trial leaves the domain on one side.
    """
    n = 0

    def ev(v):
        nonlocal n
        n += 1
        return float(f(np.array([v]))[0])

    fx = ev(x)
    if not math.isfinite(fx):
        return math.sqrt(EPS) * max(1.0, abs(x)), n
    bndlo, bndup, itmax = 1e-3, 1e-1, 3
    epsa = EPS * (1 + abs(fx))
    hopt = 2 * (1 + abs(x)) * math.sqrt(EPS)
    h = 10 * hopt
    side, first, it = 0, True, 0
    cdest = sdest = 0.0
    te2big = ce2big = ce1big = False
    hsave = sdsave = oldh = rho = None
    while True:
        hu = (x + h) - x
        if side == 0:
            fp, fm = ev(x + hu), ev(x - hu)
            if math.isfinite(fp) and math.isfinite(fm):
                f1, f2 = fp, fm
            elif math.isfinite(fp):
                side, f1, f2 = 1, fp, ev(x + 2 * hu)
            elif math.isfinite(fm):
                side, hu = -1, -hu
                f1, f2 = fm, ev(x + 2 * hu)
            else:
                f1 = f2 = math.nan
        else:
            f1, f2 = ev(x + hu), ev(x + 2 * hu)
        if not (math.isfinite(f1) and math.isfinite(f2)) or hu == 0:
            if first:
                return math.sqrt(EPS) * max(1.0, abs(x)), n
            break  # end of iterations with what was seen
        it += 1
        fdest = (f1 - fx) / hu
        if side == 0:
            fdest2 = (fx - f2) / hu
            oldcd, cdest = cdest, (f1 - f2) / (2 * hu)
            oldsd, sdest = sdest, (f1 - 2 * fx + f2) / (hu * hu)
        else:
            fdest2 = (f2 - fx) / (2 * hu)
            oldcd, cdest = cdest, (4 * f1 - 3 * fx - f2) / (2 * hu)
            oldsd, sdest = sdest, (fx - 2 * f1 + f2) / (hu * hu)
        afdmin = min(abs(fdest), abs(fdest2))
        fdcerr = epsa / (0.5 * abs(hu) * afdmin) if afdmin > 0 else math.inf
        sdcerr = epsa / (0.25 * abs(sdest) * hu * hu) if sdest != 0 else math.inf
        h = hu
        if first:
            first = False
            done = bndlo <= sdcerr <= bndup
            te2big, ce2big, ce1big = sdcerr < bndlo, sdcerr > bndup, fdcerr > bndup
            if not ce1big:
                hsave, sdsave = h, sdest
            rho = float(np.power(np.float64(EPS), -1 / 6)) / 4
            if te2big:
                rho, oldh, h = 10 * rho, h, h / (10 * rho)
            elif ce2big:
                oldh, h = h, h * rho
        elif ce2big:
            if ce1big and fdcerr <= bndup:
                ce1big, hsave, sdsave = False, h, sdest
            done = sdcerr <= bndup
            if not done:
                oldh, h = h, h * rho
        else:  # te2big
            done = sdcerr > bndup
            if done:
                h, sdest, cdest = oldh, oldsd, oldcd
            else:
                if fdcerr <= bndup:
                    ce1big, hsave, sdsave = False, h, sdest
                done = sdcerr >= bndlo
                if not done:
                    oldh, h = h, h / rho
        if done:
            return 2 * math.sqrt(epsa) / math.sqrt(abs(sdest)), n
        if it >= itmax:
            break
    return (hopt if ce1big else abs(hsave)), n


def forward_difference(f, x: float, h: float) -> float:
    hu = (x + h) - x
    return float((f(np.array([x + hu]))[0] - f(np.array([x]))[0]) / hu)


def selector_run(text: str, xs: np.ndarray):
    scheme = SelectorScheme.from_config("gmsw", {"kind": "selector", "rule": "gmsw"}, "schemes.gmsw")
    with np.errstate(all="ignore"):
        (res,) = evaluate_schemes(parse_expression(text).numpy, xs[:, None], np.array([np.nan]), [scheme])
    return res.estimate[0, :, 0], res.h_used[0, :, 0], res.n_evals[0, :, 0]


def truths() -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """name -> (expression, points, f'(points)) from the YAML and numericalderivative's analytic f'."""
    out = {}
    for (name, spec), problem in zip(BENCHMARK.items(), nd.build_benchmark()):
        xs = parse_function(name, spec).points[:, 0]
        out[name] = (spec["expression"], xs, np.asarray(problem.get_first_derivative()(xs), dtype=float))
    return out


@pytest.fixture(scope="module")
def benchmark_errors() -> dict[str, tuple[float, float]]:
    """name -> (mean relative error of the selector, of the one-point-at-a-time transcription, same steps)."""
    out = {}
    for name, (text, xs, d1) in truths().items():
        f = parse_expression(text).numpy
        est, h_used, evals = selector_run(text, xs)
        with np.errstate(all="ignore"):
            ref, same = [], 0
            for x, h_sel, n_sel in zip(xs, h_used, evals):
                h, n = chcore_reference(f, float(x))
                ref.append(forward_difference(f, float(x), h))
                same += ((x + h) - x) == h_sel
                assert n + 2 == n_sel  # selection + the forward difference itself
            out[name] = (float(np.mean(np.abs(est - d1) / np.abs(d1))),
                         float(np.mean(np.abs(np.array(ref) - d1) / np.abs(d1))), same / xs.size)
    return out


def test_gmsw_within_2x_of_the_published_algorithm_on_all_16_problems(benchmark_errors):
    assert len(benchmark_errors) == 16
    for name, (ours, published, same) in benchmark_errors.items():
        assert published / 2 <= ours <= 2 * published, (name, ours, published)
        # Both see the same values of f, so they choose the same steps (measured: all 1600).
        assert same >= 0.98, (name, same)


@pytest.mark.parametrize("name,bound", [("sxxn2", 1e-2), ("oliver1", 1e-2)])
def test_gmsw_no_longer_walks_out_when_f_is_tiny(benchmark_errors, name, bound):
    # exp(100 x) on [-1, 1] and exp(4 x) on [-12, 12], 100 points: the published algorithm's mean relative
    # errors are 1.9e-3 and 1.2e-3 (issue); measured here 2.9e-3 and 2.0e-3. The selector before this
    # rewrite (absolute noise floor, 6 increases by 10) gave 8.7e2 and 0.18.
    ours = benchmark_errors[name][0]
    assert ours < bound


@pytest.mark.parametrize("text,x,truth,bound", [
    ("sqrt(x)", 1e-10, 0.5 / math.sqrt(1e-10), 1e-2),  # measured 7.2e-4; before: 0.85 (sqrt_eps fallback)
    ("log(x)", 1e-8, 1e8, 1e-3),                       # measured 1.4e-5; before: 0.39
])
def test_gmsw_near_a_domain_edge_searches_one_sided(text, x, truth, bound):
    est, h, evals = selector_run(text, np.array([x]))
    assert abs(est[0] - truth) / truth < bound
    assert h[0] < x  # the forward difference it is scored with stays in the domain
    # A central first trial leaves the domain: f(x), f(x +- h), f(x + 2h), then 2 per trial; + 2 to score it.
    assert evals[0] in (1 + 3 + 2 + 2, 1 + 3 + 2 * 2 + 2)
