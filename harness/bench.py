"""Benchmark of the evaluation engine: ``python -m harness.bench``.

Prints, on this machine and in one run:

* the engine: 161 h x 1000 points x {forward, central, central4} on
  f(x) = exp(x) / sqrt(sin(x)**3 + cos(x)**3), x in [0.5, 1] (float64,
  exact steps; references excluded);
* the floor: one numpy evaluation of f on all distinct stencil points;
* a plain Python loop over h and points doing the same estimates, the way
  the seed documents do it (numpy functions on scalars), and the same loop
  with the ``math`` module, the fastest a scalar loop gets;
* the tidy-table build, for context;
* the references of f' at the same points by both paths, side by side: the
  checked mpmath differences (:func:`harness.reference.reference_derivative`,
  the path before Arb) and the certified Arb series
  (:func:`harness.certified.certified_reference`, what a sweep uses), with
  how far the two agree;
* the default run (``harness`` with no overrides): its sweep, and its
  figures drawn by one process and by the parallel workers, per figure.

Figures are best-of-N wall times (``time.perf_counter``); the script asserts
nothing about speed.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable

import mpmath
import numpy as np

from .expr import parse_expression
from .schemes import make_scheme
from .evaluate import evaluate_schemes

EXPRESSION = "exp(x) / sqrt(sin(x)**3 + cos(x)**3)"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def python_loop(f: Callable[[float], float], xs: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """Forward, central and 4th-order central estimates, one scalar at a time."""
    out = np.empty((3, len(hs), len(xs)))
    for i, h in enumerate(hs):
        for j, x in enumerate(xs):
            x = float(x)
            out[0, i, j] = (f(x + h) - f(x)) / h
            out[1, i, j] = (f(x + h) - f(x - h)) / (2 * h)
            out[2, i, j] = (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=161)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--loop-repeat", type=int, default=1)
    parser.add_argument("--scale", action="store_true",
                        help="also run the scale benchmarks: a 10^7-row sweep, basic vs joblib multirun, "
                             "cold vs warm reference cache (several minutes)")
    parser.add_argument("--no-figures", action="store_true", help="skip the default run's figure timing")
    parser.add_argument("--big-sweep", action="store_true", help=argparse.SUPPRESS)  # child process of --scale
    args = parser.parse_args(argv)
    if args.big_sweep:
        big_sweep()
        return

    expr = parse_expression(EXPRESSION, name="bench")
    xs = np.linspace(0.5, 1.0, args.points)
    hs = np.logspace(-16, 0, args.steps)
    points = xs[:, None]
    schemes = [make_scheme(n) for n in ("forward", "central", "central4")]

    def engine() -> object:
        return evaluate_schemes(expr.numpy, points, hs, schemes)

    # Every distinct stencil point: x itself and x + o h for o in {-2, -1, 1, 2}.
    offsets = np.array([-2.0, -1.0, 1.0, 2.0])
    distinct = np.concatenate([xs, (xs[None, None, :] + offsets[:, None, None] * hs[None, :, None]).ravel()])

    def floor() -> object:
        return expr.numpy(distinct)

    def f_numpy(x: float) -> float:  # the seed documents' style
        return np.exp(x) / np.sqrt(np.sin(x) ** 3 + np.cos(x) ** 3)

    def f_math(x: float) -> float:
        try:
            return math.exp(x) / math.sqrt(math.sin(x) ** 3 + math.cos(x) ** 3)
        except (ValueError, ZeroDivisionError, OverflowError):  # outside the domain at large h
            return math.nan

    with np.errstate(all="ignore"):
        t_engine = best_of(engine, args.repeat)
        t_floor = best_of(floor, args.repeat)
        t_loop = best_of(lambda: python_loop(f_numpy, xs, hs), args.loop_repeat)
        t_loop_math = best_of(lambda: python_loop(f_math, xs, hs), args.loop_repeat)

    # Agreement between engine and loop (same formulas, exact vs nominal step aside).
    est = engine()
    loop = python_loop(f_math, xs, hs)
    mid = (hs > 1e-6) & (hs < 1e-2)
    agree = max(
        float(np.max(np.abs(e.estimate[mid, :, 0] - loop[k, mid]) / np.abs(loop[k, mid])))
        for k, e in enumerate(est)
    )

    n_est = 3 * args.steps * args.points
    print(f"sweep: {args.steps} h x {args.points} points x 3 schemes = {n_est:,} estimates, "
          f"{distinct.size:,} distinct points, f = {EXPRESSION}")
    print(f"engine (evaluate_schemes)      {t_engine * 1e3:9.2f} ms")
    print(f"floor  (one f call, all points){t_floor * 1e3:9.2f} ms   engine/floor = {t_engine / t_floor:5.2f}x")
    print(f"python loop, numpy scalars     {t_loop * 1e3:9.1f} ms   loop/engine  = {t_loop / t_engine:7.1f}x")
    print(f"python loop, math module       {t_loop_math * 1e3:9.1f} ms   loop/engine  = {t_loop_math / t_engine:7.1f}x")
    print(f"engine vs loop estimates, 1e-6 < h < 1e-2: max relative difference {agree:.1e}")

    from .refcache import ReferenceCache, reference_table
    from .settings import FunctionSpec, ReferenceSettings
    from .table import finalize, scheme_rows

    fn = FunctionSpec("bench", expr, points)
    settings = ReferenceSettings()
    checked: list = []
    ref: dict = {}

    def checked_path() -> None:  # the reference of a sweep before Arb: a fresh cache, every reference computed
        cache = ReferenceCache()
        checked[:] = [cache.get(EXPRESSION, expr.mpmath, (x,), (1,), dps=settings.dps,
                                min_digits=settings.min_digits) for x in xs]

    def arb_path() -> None:  # the reference table a sweep builds now
        ref.update(reference_table(fn, points, [(1,)], settings, ReferenceCache()))

    # Alternating, best of a few each: the two paths see the same machine load.
    t_checked, t_arb = math.inf, math.inf
    for _ in range(min(args.repeat, 3)):
        t_checked = min(t_checked, best_of(checked_path, 1))
        t_arb = min(t_arb, best_of(arb_path, 1))
    t0 = time.perf_counter()
    finalize([scheme_rows(experiment="bench", function="bench", expression=EXPRESSION, points=points,
                          dtype="float64", step="exact", hs=hs, estimates=e, reference=ref) for e in est])
    t_table = time.perf_counter() - t0
    print(f"tidy table build ({n_est:,} rows)     {t_table * 1e3:7.1f} ms")
    n = args.points
    methods = {str(m): int((ref["method"] == m).sum()) for m in np.unique(ref["method"].astype(str))}
    ok = (ref["status"][:, 0] == "ok") & np.array([r.reliable for r in checked])
    with mpmath.workdps(settings.dps + 10):
        gap = max((abs(mpmath.mpf(float(h)) + mpmath.mpf(float(lo)) - r.value) / abs(r.value)
                   for h, lo, r, good in zip(ref["hi"][:, 0], ref["lo"][:, 0], checked, ok) if good and r.value),
                  default=mpmath.mpf(0))
    print(f"references of f' at the same {n} points (dps {settings.dps}), computed once each "
          f"(best of {min(args.repeat, 3)}):")
    print(f"  checked mpmath differences   {t_checked:7.3f} s  {n / t_checked:9,.0f} refs/s  "
          f"({t_checked / n * 1e6:7.1f} us each)")
    print(f"  certified Arb series         {t_arb:7.3f} s  {n / t_arb:9,.0f} refs/s  "
          f"({t_arb / n * 1e6:7.1f} us each)   Arb/checked speed-up {t_checked / t_arb:5.1f}x")
    same_hi = int(sum(h == r.hi for h, r, good in zip(ref["hi"][:, 0], checked, ok) if good))
    print(f"  methods {methods}; both ok at {int(ok.sum())} points, the same float64 reference at {same_hi}, "
          f"double-double hi + lo within {mpmath.nstr(gap, 2)} relative of the checked value")
    if not args.no_figures:
        figure_benchmark()
    if args.scale:
        scale_benchmarks()


def figure_benchmark() -> None:
    """The default run's sweep, then its figures: one process, and the parallel workers."""
    import tempfile

    from hydra import compose, initialize_config_module

    from .api import report, run
    from .figure_jobs import figure_workers

    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["plot=none", "reference.cache_dir=null"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run(cfg, out_dir=tmp, progress=False)
        t_sweep = time.perf_counter() - t0
        times = {}
        for workers in (1, 0):
            t0 = time.perf_counter()
            files = report(tmp, workers=workers)
            times[workers] = time.perf_counter() - t0
    n_fig = len(files) // 2  # svg and png of each
    n_workers, method = figure_workers(0, n_fig)
    print(f"default run: sweep {t_sweep:.2f} s; {n_fig} figures (svg + png): one process {times[1]:.2f} s "
          f"({times[1] / n_fig * 1e3:.0f} ms per figure), {n_workers} {method} workers {times[0]:.2f} s "
          f"({times[0] / n_fig * 1e3:.0f} ms per figure)")


BIG_FUNCTIONS = {
    f"f{k:02d}": expr
    for k, expr in enumerate(
        [f"exp({a} * x)" for a in (0.5, 1, 1.5, 2)]
        + [f"sin({a} * x + 0.3)" for a in (1, 2, 3, 4)]
        + [f"log({a} + x)" for a in (0.5, 1, 2, 4)]
        + [f"1 / ({a} + x**2)" for a in (0.5, 1, 2, 4)]
        + ["sqrt(1 + x**2)", "tanh(x)", "arctan(x) * exp(-x)", "cosh(x) / (2 + sin(x))"]
    )
}
BIG_SCHEMES = {
    "forward": None, "backward": None, "central": None, "central4": None,
    "central6": {"kind": "stencil", "direction": "central", "accuracy": 6},
    "forward2": {"kind": "stencil", "direction": "forward", "accuracy": 2},
    "skewed": {"kind": "stencil", "offsets": [-1, 0, 2, 3]},
    "richardson": {"kind": "richardson", "base": "central"},
    "second": {"kind": "stencil", "direction": "central", "derivative": 2, "accuracy": 2},
    "complex_step": None,
}


def big_sweep() -> None:
    """20 functions x 100 points x 10 schemes x 250 h x 2 number types = 10^7 rows, written to disk."""
    import resource
    import tempfile

    from .api import run

    cfg = {
        "name": "big",
        "functions": {n: {"expression": e, "points": {"linspace": [0.5, 1.5, 100]}} for n, e in BIG_FUNCTIONS.items()},
        "schemes": BIG_SCHEMES,
        "grid": {"kind": "logspace", "start": -16, "stop": 0, "num": 250},
        "dtypes": ["float64", "float32"],
        "plot": {"enabled": False},
    }
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = run(cfg, out_dir=tmp, progress=False)
        wall = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB on Linux
    print(f"10^7-row sweep: {len(table):,} rows in {wall:.1f} s = {len(table) / wall:,.0f} rows/s, "
          f"peak RSS {rss:.2f} GiB, {size / 2**20:.0f} MiB on disk (results + summary)")


def scale_benchmarks() -> None:
    """The scale figures of the 'Sweeps at scale' issue, each in fresh processes."""
    import shutil
    import subprocess
    import sys
    import tempfile

    print("\n-- scale --")
    subprocess.run([sys.executable, "-m", "harness.bench", "--big-sweep"], check=True)

    heavy = ["functions=line", "functions.mixed_line.points.linspace=[0.5,1.0,3000]", "schemes=basic",
             "grid=dense", "plot=none", "reference.cache_dir=null", "numbers=float64,float32", "step=exact,nominal"]
    times = {}
    for launcher, extra in (("basic", []), ("joblib", ["hydra.launcher.n_jobs=2"])):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "harness", "-m", *heavy, f"hydra/launcher={launcher}", *extra,
                            f"hydra.sweep.dir={tmp}/sweep"], check=True, capture_output=True, cwd=tmp)
            times[launcher] = time.perf_counter() - t0
    print(f"multirun of 4 heavy jobs: basic {times['basic']:.1f} s, joblib (2 workers) {times['joblib']:.1f} s, "
          f"speed-up {times['basic'] / times['joblib']:.2f}x")

    from .refcache import ReferenceCache, reference_table
    from .settings import FunctionSpec, ReferenceSettings

    expr = parse_expression(EXPRESSION, name="bench")
    points = np.linspace(0.5, 1.0, 1000)[:, None]
    fn = FunctionSpec("bench", expr, points)
    cache_dir = Path(tempfile.mkdtemp())
    try:
        result = {}
        for label in ("cold", "warm"):
            cache = ReferenceCache(cache_dir)
            t0 = time.perf_counter()
            reference_table(fn, points, [(1,), (2,)], ReferenceSettings(), cache)
            result[label] = (time.perf_counter() - t0, cache.misses, cache.disk_hits)
        (tc, mc, _), (tw, mw, hw) = result["cold"], result["warm"]
        print(f"reference cache, 2000 references: cold {tc:.2f} s ({mc} computed), "
              f"warm {tw:.2f} s ({mw} computed, {hw} read from disk), {tc / tw:.0f}x")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
