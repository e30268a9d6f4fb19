"""The scheme protocol: a new kind is one class plus one registry line; rows say what each scheme really did."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

import numpy as np
import pytest

import harness
from harness import validate as check
from harness.evaluate import SchemeEstimates
from harness.schemes import SCHEME_KINDS, Scheme


@dataclass(frozen=True)
class SecantScheme(Scheme):
    """An example kind: ``(f(x + h) - f(x - h)) / 2h`` read from the block's shared samples."""

    name: str
    kind: ClassVar[str] = "secant"
    derivative: int = 1
    accuracy: int = 2
    n_evals: int = 2

    @classmethod
    def from_config(cls, name, spec, key):
        check.only_keys(key, spec, ("kind",), "kind secant")
        return cls(name=name)

    def offsets(self):
        return frozenset({Fraction(1), Fraction(-1)})

    def evaluate(self, ctx):
        return SchemeEstimates(self, (ctx.sample(1) - ctx.sample(-1)) / (2 * ctx.h_used), ctx.h_used)


CFG = {"functions": {"e": {"expression": "exp(x)", "points": [0.7, 1.3]}},
       "grid": {"kind": "logspace", "start": -10, "stop": 0, "num": 41}, "plot": {"enabled": False}}


def test_a_new_kind_is_one_class_and_one_registry_line(monkeypatch):
    monkeypatch.setitem(SCHEME_KINDS, "secant", SecantScheme)  # the one registry line
    table = harness.run({**CFG, "schemes": {"sec": {"kind": "secant"}, "central": None}})
    sec = table[table["scheme"] == "sec"].reset_index(drop=True)
    central = table[table["scheme"] == "central"].reset_index(drop=True)
    assert len(sec) == 2 * 41 and (sec["scheme_kind"] == "secant").all()
    # The same arithmetic as the central stencil (both scalings by 2 are exact): bit-for-bit equal.
    np.testing.assert_array_equal(sec["estimate"], central["estimate"])
    assert (sec["n_evals"] == 2).all() and set(sec["step"].astype(str)) == {"exact"}
    assert set(sec["regime"].astype(str)) <= {"truncation", "round-off", "transition", "floor"}


def test_unknown_kind_lists_the_registry():
    with pytest.raises(harness.ConfigError) as info:
        harness.build_spec({**CFG, "schemes": {"s": {"kind": "secant"}}})
    assert info.value.key == "schemes.s.kind" and all(k in str(info.value) for k in SCHEME_KINDS)


def test_rows_record_the_step_convention_each_scheme_really_used():
    pytest.importorskip("scipy")
    pytest.importorskip("numdifftools")
    schemes = {"central": None, "complex_step": None,
               "sq": {"kind": "selector", "rule": "sqrt_eps"}, "sw": {"kind": "selector", "rule": "stepleman_winarsky"},
               "sp": {"kind": "baseline", "method": "scipy_2point"}, "nd": {"kind": "baseline", "method": "nd_central"}}
    for step in ("exact", "nominal"):
        table = harness.run({**CFG, "schemes": schemes, "step": step, "step_scale": ["absolute", "relative"],
                             "grid": {"kind": "list", "values": [1e-6, 1e-3]}})
        got = {s: set(zip(g["step"].astype(str), g["step_scale"].astype(str)))
               for s, g in table.groupby("scheme", observed=True)}
        assert got == {
            "central": {(step, "absolute"), (step, "relative")},
            "complex_step": {("nominal", "absolute"), ("nominal", "relative")},  # i h is exact: h as given
            "sq": {(step, "relative")},           # sqrt(eps) * max(1, |x|), applied with the sweep's step
            "sw": {(step, "search")},             # searched from 0.1 * max(1, |x|)
            "sp": {("library", "absolute")},      # scipy's own rule, handed h as abs_step
            "nd": {("library", "library")},       # numdifftools chooses its step
        }, step
        # Schemes with their own steps run once, not once per configured step scale.
        assert (table[table["scheme"] == "sw"].groupby("point_index").size() == 1).all()
