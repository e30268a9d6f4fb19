"""Library baselines beyond scipy and numdifftools: one module per library.

Each module answers what :mod:`harness.baselines` needs for its methods:
``LIBRARY`` (the import name), ``METHODS`` (method name -> the fields of
:data:`harness.baselines.BASELINE_METHODS`), ``load()`` (import what the
calls need; ImportError when the library is missing) and ``run(method, lib,
fn, points, steps, out, *, expression)`` (fill ``out``'s estimate, h_used,
error_estimate and n_evals arrays, shape ``(n_steps, n_points, dim)``).
Adding a library is one module and one entry below.
"""

from __future__ import annotations

from types import ModuleType

from . import findiff_baselines, jacobi_baselines, numericalderivative_baselines

#: library name -> its module.
LIBRARY_MODULES: dict[str, ModuleType] = {
    m.LIBRARY: m for m in (jacobi_baselines, numericalderivative_baselines, findiff_baselines)
}
