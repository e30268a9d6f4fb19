"""The bad-input catalogue: every case fails before any work with a message naming the key or file and
what is expected, and leaves nothing half-written under a final name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import harness
from harness.collect import collect
from harness.config import build_spec
from harness.errors import ConfigError, ResultsError, RunDirError
from harness.expr import ExpressionError, parse_expression

BASE = {"functions": {"f": {"expression": "exp(x)", "points": [1.0]}}, "schemes": {"central": None},
        "grid": {"kind": "logspace", "start": -8, "stop": 0, "num": 9}}


def cfg(**changes):
    return {**BASE, **changes}


def fn(expression, points=(1.0,), **extra):
    return {"functions": {"f": {"expression": expression, "points": list(points), **extra}}}


# (config changes, key named, fragment of what is allowed)
CONFIG_CASES = [
    ({"functions": None}, "functions", "non-empty mapping"),
    ({"functions": []}, "functions", "non-empty mapping"),
    ({"functions": {"f": "exp(x)"}}, "functions.f", "a mapping"),
    ({"functions": {"f": {"points": [1.0]}}}, "functions.f.expression", "expression over x"),
    ({"functions": {"f": {"expression": "exp(x)"}}}, "functions.f.points", "non-empty list"),
    ({"functions": {"f": {"expression": "exp(x)", "points": [1.0], "colour": 1}}}, "functions.f.colour", "keys"),
    ({"functions": {"": {"expression": "x", "points": [1.0]}}}, "functions.", "function name"),
    ({"functions": {"f": {"expression": "x", "points": [1.0], "dim": 0}}}, "functions.f.dim", "integer"),
    ({"functions": {"f": {"expression": "x0", "points": [1.0], "dim": "two"}}}, "functions.f.dim", "integer"),
    (fn("__import__('os')"), "functions.f.expression", "unsupported call"),
    (fn("x.real"), "functions.f.expression", "attribute"),
    (fn("x[0]"), "functions.f.expression", "subscript"),
    (fn("lambda: 1"), "functions.f.expression", "lambda"),
    (fn("x if x else 1"), "functions.f.expression", "conditional"),
    (fn("x // 2"), "functions.f.expression", "'//'"),
    (fn("y + 1"), "functions.f.expression", "unknown name 'y'"),
    (fn("sin(x, 2)"), "functions.f.expression", "exactly one positional argument"),
    (fn("gamma(x)"), "functions.f.expression", "unsupported call 'gamma'"),
    (fn("x - x + 1e400"), "functions.f.expression", "overflows float64"),
    (fn("x + x0"), "functions.f.expression", "cannot mix"),
    (fn(""), "functions.f.expression", "empty"),
    (fn("exp(x"), "functions.f.expression", "invalid syntax"),
    (fn("1j * x"), "functions.f.expression", "complex literal"),
    (fn("x", points=["a"]), "functions.f.points[0]", "finite number"),
    (fn("x", points=[float("nan")]), "functions.f.points[0]", "finite number"),
    (fn("x", points=[True]), "functions.f.points[0]", "finite number"),
    (fn("x0 + x1", points=[[1.0]]), "functions.f.points[0]", "2 coordinates"),
    ({"functions": {"f": {"expression": "x", "points": {"linspace": [0, 1]}}}}, "functions.f.points", "linspace"),
    ({"functions": {"f": {"expression": "x", "points": {"linspace": [0, 1, 0]}}}}, "functions.f.points.linspace[2]",
     "integer"),
    ({"functions": {"f": {"expression": "x0*x1", "points": {"linspace": [0, 1, 3]}}}}, "functions.f.points",
     "explicit points"),
    ({"schemes": None}, "schemes", "non-empty mapping"),
    ({"schemes": {"c": 3}}, "schemes.c", "built-in scheme name or a mapping"),
    ({"schemes": {"c": "quintic"}}, "schemes.c", "central4"),
    ({"schemes": {"c": {"kind": "magic"}}}, "schemes.c.kind", "stencil"),
    ({"schemes": {"c": {"kind": "stencil", "derivative": 0}}}, "schemes.c.derivative", "from 1 to 4"),
    ({"schemes": {"c": {"kind": "stencil", "derivative": 2.5}}}, "schemes.c.derivative", "from 1 to 4"),
    ({"schemes": {"c": {"kind": "stencil", "accuracy": 5}}}, "schemes.c.accuracy", "even order"),
    ({"schemes": {"c": {"kind": "stencil", "direction": "sideways"}}}, "schemes.c.direction", "forward"),
    ({"schemes": {"c": {"kind": "stencil", "offsets": [1]}}}, "schemes.c.offsets", "more than 'derivative'"),
    ({"schemes": {"c": {"kind": "stencil", "offsets": [0.5, 1]}}}, "schemes.c.offsets", "distinct integers"),
    ({"schemes": {"c": {"kind": "stencil", "offsets": [-1, 1], "direction": "central"}}}, "schemes.c.direction",
     "nothing when 'offsets'"),
    ({"schemes": {"c": {"kind": "stencil", "offsets": [-1, 1], "accuracy": 4}}}, "schemes.c.accuracy",
     "derived from the offsets"),
    ({"schemes": {"c": {"kind": "stencil", "step": 1e-3}}}, "schemes.c.step", "options"),
    ({"schemes": {"r": {"kind": "richardson", "ratio": 1}}}, "schemes.r.ratio", "> 1"),
    ({"schemes": {"r": {"kind": "richardson", "terms": 9}}}, "schemes.r.terms", "from 1 to 6"),
    ({"schemes": {"r": {"kind": "richardson", "base": "complex_step"}}}, "schemes.r.base", "stencil scheme"),
    ({"schemes": {"h": {"kind": "mixed", "base": {"kind": "stencil", "derivative": 2}}}}, "schemes.h.base",
     "first-derivative"),
    ({"schemes": {"h": {"kind": "mixed"}}}, "schemes", "two or more variables"),
    ({"schemes": {"cs": {"kind": "complex_step", "h": 1}}}, "schemes.cs.h", "options kind"),
    ({"schemes": {"s": {"kind": "selector"}}}, "schemes.s.rule", "stepleman_winarsky"),
    ({"schemes": {"s": {"kind": "selector", "rule": "gmsw", "base": "central6"}}}, "schemes.s.base", "central4"),
    ({"schemes": {"b": {"kind": "baseline", "method": "scipy_5point"}}}, "schemes.b.method", "scipy_3point"),
    ({"schemes": {"b": {"kind": "baseline"}}}, "schemes.b.method", "nd_central"),
    ({"schemes": {"c": False}}, "schemes", "not false"),
    ({"grid": None}, "grid", "a mapping"),
    ({"grid": {"kind": "linspace"}}, "grid.kind", "logspace"),
    ({"grid": {"kind": "logspace", "start": -8, "stop": 0}}, "grid.num", "integer"),
    ({"grid": {"kind": "logspace", "start": "a", "stop": 0, "num": 3}}, "grid.start", "finite number"),
    ({"grid": {"kind": "logspace", "start": -400, "stop": 0, "num": 3}}, "grid.start", "decade exponent"),
    ({"grid": {"kind": "list", "values": []}}, "grid.values", "non-empty list"),
    ({"grid": {"kind": "list", "values": "???"}}, "grid.values", "non-empty list"),
    ({"grid": {"kind": "list", "values": [1e-3, 0.0]}}, "grid", "positive"),
    ({"grid": {"kind": "list", "values": [1e-3], "num": 3}}, "grid.num", "keys"),
    ({"dtypes": []}, "dtypes", "non-empty list"),
    ({"dtypes": ["float8"]}, "dtypes[0]", "float16"),
    ({"dtypes": ["float16"], "schemes": {"complex_step": None}}, "schemes", "float16 has no complex type"),
    ({"step": "exactish"}, "step", "nominal"),
    ({"step_scale": ["log"]}, "step_scale[0]", "relative"),
    ({"memory_mb": 0}, "memory_mb", "integer >= 16"),
    ({"memory_mb": "1G"}, "memory_mb", "integer >= 16"),
    ({"reference": {"dps": 19}}, "reference.dps", "from 20 to"),
    ({"reference": {"min_digits": 60}}, "reference.min_digits", "dps - 5"),
    ({"reference": {"cache_dir": ""}}, "reference.cache_dir", "directory path"),
    ({"reference": {"precision": 50}}, "reference.precision", "keys dps"),
    ({"model": {"eps_factor": 0}}, "model.eps_factor", "positive"),
    ({"model": {"noise": -1e-8}}, "model.noise", "noise level >= 0"),
    ({"model": {"enabled": "yes"}}, "model.enabled", "true or false"),
    ({"model": {"dps": 5}}, "model.dps", "from 20 to"),
    ({"plot": {"formats": []}}, "plot.formats", "non-empty list"),
    ({"plot": {"max_figures": -1}}, "plot.max_figures", "integer >= 0"),
    ({"plot": {"dpi": 12000}}, "plot.dpi", "from 30 to 1200"),
    ({"name": ""}, "name", "folder name"),
    ({"name": "a/b"}, "name", "folder name"),
    ({"experiment": "lecture"}, "experiment", "search path"),
    ({"shemes": {}}, "shemes", "top-level keys"),
]


@pytest.mark.parametrize("changes, key, fragment", CONFIG_CASES, ids=[c[1] + ":" + c[2] for c in CONFIG_CASES])
def test_bad_config_names_key_value_and_allowed(changes, key, fragment, tmp_path):
    with pytest.raises(ConfigError) as info:
        harness.run(cfg(**changes), out_dir=tmp_path / "run")
    assert info.value.key == key, str(info.value)
    assert f"'{key}'" in str(info.value) and fragment in str(info.value), str(info.value)
    assert not (tmp_path / "run").exists()  # refused before any work: nothing written


def test_catalogue_is_large():
    assert len(CONFIG_CASES) >= 60


def test_cache_dir_that_is_a_file(tmp_path):
    path = tmp_path / "cache"
    path.write_text("x")
    with pytest.raises(ConfigError, match="reference.cache_dir.*this path is a file"):
        build_spec(cfg(reference={"cache_dir": str(path)}))


def test_points_as_numpy_arrays_are_accepted():
    spec = build_spec({**BASE, "functions": {"f": {"expression": "x0 * x1",
                                                   "points": np.array([[1.0, 2.0], [np.float32(0.5), 3]])}}})
    np.testing.assert_array_equal(spec.functions[0].points, [[1.0, 2.0], [0.5, 3.0]])


def test_mixed_partial_on_a_1d_function_is_logged(caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="harness"):
        harness.run(cfg(schemes={"central": None, "hess": {"kind": "mixed"}}, plot={"enabled": False}))
    assert any("skipping hess: mixed partials need two or more variables" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("content, fragment", [
    (b"", "not a readable Parquet table"),
    (b"PAR1 random bytes that are not a table", "not a readable Parquet table"),
    (None, "lacks the columns"),
])
def test_report_on_a_damaged_or_foreign_table(tmp_path, content, fragment):
    path = tmp_path / "results.parquet"
    if content is None:
        pd.DataFrame({"a": [1.0]}).to_parquet(path)
    else:
        path.write_bytes(content)
    with pytest.raises(ResultsError) as info:
        harness.report(tmp_path)
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert not (tmp_path / "figures").exists() and not (tmp_path / "summary.csv").exists()


@pytest.mark.parametrize("content, fragment", [("{bad", "not readable run metadata"),
                                               ("[1, 2]", "a JSON list, not an object")])
def test_report_on_a_damaged_meta_json(tmp_path, content, fragment):
    harness.run({**BASE, "plot": {"enabled": False}}, out_dir=tmp_path)
    (tmp_path / "meta.json").write_text(content)
    with pytest.raises(ResultsError) as info:
        harness.report(tmp_path)
    assert str(tmp_path / "meta.json") in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("make, fragment", [
    (lambda d: None, "expected multirun.yaml"),
    (lambda d: (d / "junk.txt").write_text("x"), "expected multirun.yaml"),
    (lambda d: harness.run({**BASE, "plot": {"enabled": False}}, out_dir=d), "single run: use `harness report`"),
])
def test_collect_refuses_what_is_not_a_sweep(tmp_path, make, fragment):
    folder = tmp_path / "folder"
    folder.mkdir()
    make(folder)
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(RunDirError, match="is not a multirun sweep folder") as info:
        collect(folder)
    assert fragment in str(info.value)
    assert sorted(p.name for p in folder.rglob("*")) == before  # nothing written


def test_expression_errors_never_execute_anything():
    for text in ["__import__('os').system('echo hi')", "().__class__", "open('x')", "exec('1')"]:
        with pytest.raises(ExpressionError):
            parse_expression(text)


def test_summary_md_of_a_large_run_is_aggregated(tmp_path):
    from harness.analysis import SUMMARY_MD_MAX_ROWS

    n = SUMMARY_MD_MAX_ROWS + 50
    harness.run({"functions": {"f": {"expression": "exp(x)", "points": {"linspace": [0.1, 1.0, n]}}},
                 "schemes": {"central": None, "forward": None}, "grid": {"kind": "logspace", "start": -10, "stop": 0,
                                                                       "num": 21},
                 "plot": {"enabled": False}}, out_dir=tmp_path)
    md = (tmp_path / "summary.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| f |")]
    assert len(rows) == 2 and f"{2 * n} curves" in md  # one row per scheme, medians over the points
    assert len(pd.read_csv(tmp_path / "summary.csv")) == 2 * n


def test_config_error_survives_pickling():
    """Regression: a joblib worker sends its exception back pickled; ConfigError could not be rebuilt, and the
    pool broke (BrokenProcessPool) and took the other jobs of the multirun with it."""
    import pickle

    for err in (ConfigError("grid.num", 0, "an integer >= 2"), ConfigError("a.b", [1], ("x", "y"), "detail")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is ConfigError and str(back) == str(err)
        assert (back.key, back.value, back.allowed, back.detail) == (err.key, err.value, err.allowed, err.detail)


def test_a_pipe_in_a_name_keeps_the_markdown_tables_aligned(tmp_path):
    """Regression: a function named 'a|b' added a cell to its row of summary.md, shifting every column after it."""
    import re

    harness.run({"functions": {"a|b": {"expression": "exp(x)", "points": [1.0]}},
                 "schemes": {"forward": None, "sw": {"kind": "selector", "rule": "stepleman_winarsky"}},
                 "grid": {"kind": "logspace", "start": -10, "stop": -1, "num": 10}, "plot": {"enabled": False}},
                out_dir=tmp_path)
    for name in ("summary.md", "leaderboard.md"):
        text = (tmp_path / name).read_text()
        assert name != "summary.md" or "| a\\|b |" in text
        tables = [t.splitlines() for t in re.findall(r"(?:^\|.*\n?)+", text, re.M)]
        assert tables, name
        for table in tables:  # every line of a table has as many unescaped separators as its header
            assert len({len(re.findall(r"(?<!\\)\|", ln)) for ln in table}) == 1, (name, table[:3])
