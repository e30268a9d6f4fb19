"""How honest are Ridders' best estimates? ``python -m harness.bench_estimates``.

Compares :func:`harness.ridders.ridders` with the exact derivatives (mpmath at
40 digits) of 13 functions at 12 points, orders 1, 2, 3 and 5, and prints per
function the worst ratio of true to claimed error and the median digits, then
over all estimates with at least one digit how often the true error exceeded
the claimed one. The README quotes its output (section "Your own Python
functions").
"""

from __future__ import annotations

import time
from typing import Any, Callable

import mpmath
import numpy as np

from .reference import exact_point
from .ridders import ridders

POINTS = (1e-6, 1e-3, 0.1, 0.7, 1.0, 1.3, 3.0, 10.0, 100.0, -0.4, -2.5, 0.0)
ORDERS = (1, 2, 3, 5)
#: name -> (f on (n, 1) points, its mpmath twin, smallest and largest x where it is defined and finite)
CASES: dict[str, tuple[Callable[[np.ndarray], Any], Callable[[Any], Any], float, float]] = {
    "exp": (lambda X: np.exp(X[:, 0]), mpmath.exp, -np.inf, np.inf),
    "sin": (lambda X: np.sin(X[:, 0]), mpmath.sin, -np.inf, np.inf),
    "log": (lambda X: np.log(X[:, 0]), mpmath.log, 1e-300, np.inf),
    "1/(1+x^2)": (lambda X: 1 / (1 + X[:, 0] ** 2), lambda x: 1 / (1 + x**2), -np.inf, np.inf),
    "exp(100x)": (lambda X: np.exp(100 * X[:, 0]), lambda x: mpmath.exp(100 * x), -np.inf, 5.0),
    "sin(50x)": (lambda X: np.sin(50 * X[:, 0]), lambda x: mpmath.sin(50 * x), -np.inf, np.inf),
    "tanh(20x)": (lambda X: np.tanh(20 * X[:, 0]), lambda x: mpmath.tanh(20 * x), -np.inf, np.inf),
    "1/(x-1.01)": (lambda X: 1 / (X[:, 0] - 1.01), lambda x: 1 / (x - mpmath.mpf(1.01)), -np.inf, np.inf),
    "sqrt": (lambda X: np.sqrt(X[:, 0]), mpmath.sqrt, 1e-300, np.inf),
    "arctan": (lambda X: np.arctan(X[:, 0]), mpmath.atan, -np.inf, np.inf),
    "exp, float64 only": (lambda X: np.exp(X[:, 0].astype(np.float64)), mpmath.exp, -np.inf, np.inf),
    "sin, float64 only": (lambda X: np.sin(X[:, 0].astype(np.float64)), mpmath.sin, -np.inf, np.inf),
    "exp, float32 only": (lambda X: np.exp(X[:, 0].astype(np.float32)), mpmath.exp, -np.inf, np.inf),
}


def main() -> None:
    ratios, started, n = [], time.perf_counter(), 0
    print("| function | worst true / claimed error | median digits (orders 1, 2, 3, 5) |")
    print("|---|---|---|")
    for name, (f, f_mp, lo, hi) in CASES.items():
        worst, digits = 0.0, {m: [] for m in ORDERS}
        for x in (p for p in POINTS if lo <= p <= hi):
            for m in ORDERS:
                r = ridders(f, [x], [m])
                n += 1
                with mpmath.workdps(40):
                    exact = mpmath.diff(f_mp, mpmath.mpf(x), m)
                    if not (mpmath.isfinite(exact) and np.isfinite(float(r.value))):
                        continue
                    err = float(abs(exact_point([r.value])[0] - exact))
                digits[m].append(r.digits)
                if r.digits >= 1:
                    ratios.append(err / r.error)
                    worst = max(worst, err / r.error)
        med = ", ".join(f"{np.median(d):.1f}" for d in digits.values())
        print(f"| {name} | {worst:.2f} | {med} |")
    ratios_arr = np.array(ratios)
    print(f"\n{n} estimates in {time.perf_counter() - started:.2f} s; {ratios_arr.size} with at least one digit: "
          f"the true error exceeded the claimed one in {int((ratios_arr > 1).sum())}, by at most "
          f"{ratios_arr.max():.2f}x")


if __name__ == "__main__":
    main()
