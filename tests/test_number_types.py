"""bfloat16 and the float8 types of ml_dtypes: config, arithmetic in the type, model round-off, sweeps.

Independent truth: exact rational arithmetic (``fractions``), hand-computed
float8 stencils, the type's own tables of representable values, and
``ml_dtypes.finfo``.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness
from harness.config import build_spec
from harness.errors import ConfigError
from harness.evaluate import as_dtype_scalar, complex_dtype
from harness.expr import FUNCTIONS, parse_expression
from harness.model import function_noise, stencil_model, unit_roundoff
from harness.number_types import finfo, integer_power, is_ml_float, round_rational
from harness.schemes import make_scheme
from harness.settings import DTYPES
from harness.stencils import standard_stencil

ML = ("bfloat16", "float8_e4m3fn", "float8_e5m2")
BITS = {"bfloat16": 8, "float8_e4m3fn": 4, "float8_e5m2": 3}  # significant bits p: u = 2^-p


def representable(name: str) -> np.ndarray:
    """Every finite value of a 8- or 16-bit type, from its bit patterns."""
    dtype = DTYPES[name]
    bits = np.arange(2 ** (8 * dtype.itemsize), dtype=np.uint16 if dtype.itemsize == 2 else np.uint8)
    with np.errstate(invalid="ignore"):  # NaN patterns
        values = bits.view(dtype).astype(np.float64)
    return np.unique(values[np.isfinite(values)])


def test_config_accepts_the_ml_types_and_names_them_when_refusing(compose_cfg):
    cfg = compose_cfg("numbers=all", "plot=none")
    assert list(cfg.dtypes) == ["float8_e5m2", "float8_e4m3fn", "bfloat16", "float16", "float32", "float64",
                                "longdouble"]
    assert build_spec(cfg).dtypes == tuple(cfg.dtypes)
    assert list(compose_cfg("numbers=bfloat16").dtypes) == ["bfloat16"]
    with pytest.raises(ConfigError) as err:
        build_spec({"functions": {"f": {"expression": "x", "points": [1.0]}}, "schemes": {"central": None},
                    "grid": {"kind": "list", "values": [0.1]}, "dtypes": ["float8"]})
    assert err.value.key == "dtypes[0]" and "float8_e4m3fn" in str(err.value) and "bfloat16" in str(err.value)


@pytest.mark.parametrize("name", ML)
def test_unit_roundoff_and_model_from_ml_dtypes_finfo(name):
    u = 2.0 ** -BITS[name]
    assert unit_roundoff(DTYPES[name]) == u == float(ml_dtypes.finfo(DTYPES[name]).eps) / 2
    assert finfo(name).nmant == BITS[name] - 1 and is_ml_float(name)
    eps_f = function_noise(DTYPES[name])
    assert eps_f == 0.3 * u
    forward = stencil_model(standard_stencil("forward", 1, 1), 2.0, 0.5, DTYPES[name])
    assert forward.h_star == pytest.approx(2 * np.sqrt(eps_f * 2.0 / 0.5), rel=1e-12)


@pytest.mark.parametrize("name", ML)
def test_expressions_keep_the_type_through_every_function(name):
    """Each whitelisted function: same type, and the float32 result rounded once to the type (ml_dtypes' rule)."""
    t = DTYPES[name]
    x = np.array([0.3, 0.55, 0.9], dtype=t)  # inside every function's domain but arccosh's
    for fname in FUNCTIONS:
        arg = x + t.type(1) if fname == "arccosh" else x
        with np.errstate(all="ignore"):
            got = parse_expression(f"{fname}(x)").numpy(arg)
            want = parse_expression(f"{fname}(x)").numpy(arg.astype(np.float32)).astype(t)
        assert got.dtype == t, fname
        np.testing.assert_array_equal(got.astype(np.float64), want.astype(np.float64), err_msg=fname)
    # + - * / are the exactly rounded results (float32 has more than 2p + 2 bits)
    vals = representable(name)
    rng = np.random.default_rng(7)
    a, b = rng.choice(vals[(np.abs(vals) > 0.1) & (np.abs(vals) < 8)], size=(2, 60))
    for text, op in (("x0 + x1", Fraction.__add__), ("x0 - x1", Fraction.__sub__), ("x0 * x1", Fraction.__mul__),
                     ("x0 / x1", Fraction.__truediv__)):
        got = parse_expression(text).numpy(a.astype(t), b.astype(t))
        assert got.dtype == t
        want = [float(round_rational(op(Fraction(p), Fraction(q)), t)) for p, q in zip(a, b)]
        np.testing.assert_array_equal(got.astype(np.float64), want, err_msg=text)


def test_integer_powers_take_the_exponent_exactly():
    # numpy first rounds the exponent to the type: 9 -> 8 in float8_e5m2, 2049 -> 2048 in float16
    e5m2 = DTYPES["float8_e5m2"]
    two = np.array([2.0], dtype=e5m2)
    assert float((two ** 9)[0]) == 256.0  # what numpy alone computes
    assert float(parse_expression("x**9").numpy(two)[0]) == 512.0
    assert float(parse_expression("x**-9").numpy(two)[0]) == 2.0**-9
    assert parse_expression("x**9").numpy(two).dtype == e5m2
    assert float(parse_expression("x**2049").numpy(np.array([-1.0], dtype=np.float16))[0]) == -1.0
    x = np.array([0.75, 1.5], dtype=np.float64)
    np.testing.assert_array_equal(integer_power(x, 3, x.dtype), x**3)  # exact exponents: numpy's own power


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2"])
@given(num=st.integers(-2000, 2000), den=st.integers(1, 1000))
def test_round_rational_is_the_nearest_value_ties_to_even(name, num, den):
    q = Fraction(num, den)
    vals = representable(name)
    got = float(round_rational(q, DTYPES[name]))
    if abs(q) > vals.max():  # beyond the largest finite value: the type's own overflow rounding
        assert abs(got) >= vals.max() or not np.isfinite(got)
        return
    dist = [abs(Fraction(v) - q) for v in vals]
    best = min(dist)
    nearest = [v for v, d in zip(vals, dist) if d == best]
    assert got in nearest
    if len(nearest) == 2:  # a tie: the even significand (last bit of the pattern 0)
        pattern = np.array([got], dtype=DTYPES[name]).view(np.uint8)[0]
        assert pattern % 2 == 0


def test_stencil_weights_and_literals_round_once():
    e5m2 = DTYPES["float8_e5m2"]
    # 11/10: the nearest float8_e5m2 value is 1.0; rounding 11 (to 12) and 10 first would give 1.25
    assert float(as_dtype_scalar(Fraction(11, 10), e5m2)) == 1.0
    assert float(e5m2.type(11.0) / e5m2.type(10.0)) == 1.25
    assert float(parse_expression("1.1 * x").numpy(np.array([1.0], dtype=e5m2))[0]) == 1.0
    assert float(parse_expression("pi + 0*x").numpy(np.array([1.0], dtype=DTYPES["bfloat16"]))[0]) == 3.140625


def test_no_complex_step_for_ml_types_and_the_reason_is_logged_once(caplog):
    cs = make_scheme("complex_step")
    for name in ML:
        assert complex_dtype(DTYPES[name]) is None and "has no complex type" in cs.skip(dtype=name, dim=1)
    assert cs.skip(dtype="float32", dim=1) is None
    with caplog.at_level(logging.WARNING, logger="harness.sweep"):
        table = harness.run({"functions": {"e": {"expression": "exp(x)", "points": [0.5, 1.5]},
                                           "s": {"expression": "sin(x)", "points": [0.5]}},
                             "schemes": {"central": None, "complex_step": None},
                             "grid": {"kind": "list", "values": [0.01, 0.1]}, "dtypes": ["bfloat16", "float64"],
                             "plot": {"enabled": False}})
    assert set(table.loc[table["scheme"] == "complex_step", "dtype"].astype(str)) == {"float64"}
    assert set(table.loc[table["scheme"] == "central", "dtype"].astype(str)) == {"bfloat16", "float64"}
    lines = [r.getMessage() for r in caplog.records if "bfloat16 has no complex type" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("skipping complex_step")


def test_float8_sweep_by_hand_with_underflow_and_overflow():
    """exp in float8_e4m3fn: rounded point, samples rounded to 4 bits, steps that vanish, overflow to NaN."""
    table = harness.run({"functions": {"exp": {"expression": "exp(x)", "points": [0.7, 6.5]},
                                       "log": {"expression": "log(x)", "points": [1.0e20]}},
                         "schemes": {"forward": None, "central": None},
                         "grid": {"kind": "list", "values": [1e-3, 0.25, 0.5]}, "dtypes": ["float8_e4m3fn"],
                         "plot": {"enabled": False}})
    assert set(table["dtype"].astype(str)) == {"float8_e4m3fn"}
    exp = table[table["function"] == "exp"]
    at = exp[exp["point_index"] == 0].set_index(["scheme", "h"])
    assert set(exp.loc[exp["point_index"] == 0, "point"].astype(str)) == {"0.6875"}  # 0.7 in 4 bits
    # h = 0.25: x +- h = 0.9375, 0.4375 are exact; exp there 2.554, 1.989 (at x), 1.549 -> 2.5, 2.0, 1.5
    assert at.loc[("forward", 0.25), "estimate"] == (2.5 - 2.0) / 0.25
    assert at.loc[("central", 0.25), "estimate"] == 0.5 * (2.5 - 1.5) / 0.25
    assert at.loc[("forward", 0.25), "reference"] == pytest.approx(np.exp(0.6875), rel=1e-15)
    # h = 0.5: x + h = 1.1875 needs 5 bits and rounds (to even) to 1.25, so h_used = (x + h) - x = 0.5625;
    # exp(1.25) = 3.49 -> 3.5, and 1.5 / 0.5625 = 2.67 rounds to 2.75
    assert at.loc[("forward", 0.5), "h_used"] == 0.5625 and at.loc[("forward", 0.5), "estimate"] == 2.75
    assert (at["status"].loc[[("forward", 0.25), ("central", 0.25), ("forward", 0.5)]] == "ok").all()
    # h = 1e-3 rounds to 2^-9 (the smallest subnormal), and 0.6875 + 2^-9 rounds back to 0.6875
    assert at.loc[("forward", 1e-3), "h_used"] == 0 and at.loc[("forward", 1e-3), "status"] == "step_underflow"
    # exp(6.5) = 665 > 448, the largest value: NaN (float8_e4m3fn has no inf)
    big = exp[(exp["point_index"] == 1) & (exp["h"] > 0.1)]
    assert len(big) == 4 and (big["status"] == "nonfinite").all() and big["estimate"].isna().all()
    # 1e20 overflows the point itself: NaN point, reference undefined, no crash
    log = table[table["function"] == "log"]
    assert set(log["point"].astype(str)) == {"nan"} and (log["reference_status"] == "undefined").all()


def test_e5m2_overflow_is_inf_and_nonfinite():
    table = harness.run({"functions": {"f": {"expression": "exp(x)", "points": [11.5, 12.2]}},
                         "schemes": {"forward": None}, "grid": {"kind": "list", "values": [4.0]},
                         "dtypes": ["float8_e5m2"], "plot": {"enabled": False}})
    assert (table["status"] == "nonfinite").all() and not np.isfinite(table["estimate"]).any()
    # 11.5 needs 4 significant bits: both points round to 12 (one label), and the reference is taken there
    assert table["point"].astype(str).tolist() == ["12.0", "12.0"] and table["point_index"].tolist() == [0, 1]
    assert table["reference"].iloc[0] == pytest.approx(np.exp(12.0), rel=1e-15)
