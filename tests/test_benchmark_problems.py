"""The benchmark function groups against the package they come from (numericalderivative 0.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.config import parse_function

nd = pytest.importorskip("numericalderivative")

CONF = Path(__file__).resolve().parents[1] / "conf" / "functions"
INTERVALS = yaml.safe_load((CONF / "benchmark.yaml").read_text())
POINTS = yaml.safe_load((CONF / "benchmark_points.yaml").read_text())


def test_benchmark_groups_are_the_packages_16_problems():
    problems = nd.build_benchmark()
    assert len(INTERVALS) == len(POINTS) == len(problems) == 16
    assert list(INTERVALS) == list(POINTS)
    for (name, spec), problem in zip(INTERVALS.items(), problems):
        assert POINTS[name]["expression"] == spec["expression"]
        over = parse_function(name, spec)
        at = parse_function(name, POINTS[name])
        a, b = problem.get_interval()
        xs = over.points[:, 0]
        assert xs.size == 100 and xs[0] == a and xs[-1] == b, name
        assert at.points[0, 0] == problem.get_x(), name
        # The same function: values agree to rounding (same operations; scalar and array paths may round apart).
        for x in (xs, at.points[:, 0]):
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(over.expression.numpy(x), problem.get_function()(x), rtol=4e-16,
                                           atol=0, err_msg=name)
