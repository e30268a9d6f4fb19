"""The benchmark script stays runnable (tiny sizes; it prints figures, nothing here times anything)."""

import subprocess
import sys


def test_bench_runs_and_prints_its_figures():
    proc = subprocess.run([sys.executable, "-m", "harness.bench", "--points", "20", "--steps", "9", "--repeat", "1",
                           "--no-figures"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for line in ("engine (evaluate_schemes)", "floor  (one f call", "python loop, numpy scalars",
                 "engine vs loop estimates", "tidy table build", "checked mpmath differences",
                 "certified Arb series", "Arb/checked speed-up"):
        assert line in proc.stdout
