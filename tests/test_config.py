"""Configs through Hydra's compose API, and validation that names key, value and what is allowed."""

from pathlib import Path

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from harness.config import build_spec, parse_grid
from harness.errors import ConfigError

EXPERIMENTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "experiments").glob("*.yaml"))


def test_default_config_composes_and_validates(compose_cfg):
    cfg = compose_cfg()
    spec = build_spec(cfg)
    assert spec.name == "default"
    assert [s.name for s in spec.schemes] == ["forward", "backward", "central", "central4", "complex_step"]
    assert spec.hs.size == 65 and spec.hs[0] == pytest.approx(1e-16) and spec.hs[-1] == 1.0
    assert spec.dtypes == ("float64",) and spec.step == "exact"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes(compose_cfg, name):
    cfg = compose_cfg(f"experiment={name}")
    spec = build_spec(cfg)
    assert spec.name == name
    assert spec.description, "each experiment says what question it answers"


def test_lecture_experiment_is_the_lecture(compose_cfg):
    spec = build_spec(compose_cfg("experiment=lecture"))
    np.testing.assert_array_equal(spec.hs, np.logspace(-16, 0, 9))
    assert [s.name for s in spec.schemes] == ["forward"]
    assert spec.step == "nominal"


def test_unknown_experiment_fails_loudly(compose_cfg):
    with pytest.raises(ConfigCompositionException, match="experiment"):
        compose_cfg("experiment=no_such_study")


def test_plain_experiment_key_is_refused():
    # What Hydra produces from `+experiment=x` when the group is not on the search path.
    cfg = {"experiment": "lecture", "functions": {"f": {"expression": "x", "points": [1.0]}},
           "schemes": {"central": None}, "grid": {"kind": "list", "values": [1e-3]}}
    with pytest.raises(ConfigError, match=r"'experiment'.*'lecture'.*search path"):
        build_spec(cfg)


def test_overrides_reach_the_spec(compose_cfg):
    cfg = compose_cfg("grid=lecture", "numbers=both", "reference.dps=60", "schemes=textbook", "step=nominal")
    spec = build_spec(cfg)
    assert spec.hs.size == 9 and spec.dtypes == ("float64", "float32") and spec.reference.dps == 60
    assert spec.step == "nominal" and len(spec.schemes) == 3


def base(**changes):
    cfg = {"functions": {"f": {"expression": "exp(x)", "points": [1.0]}},
           "schemes": {"central": None}, "grid": {"kind": "logspace", "start": -8, "stop": 0, "num": 9}}
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize(
    "changes, key, fragment",
    [
        ({"schemes": {"c": {"kind": "stencil", "direction": "central", "accuracy": 3}}}, "schemes.c.accuracy", "even"),
        ({"schemes": {"c": {"kind": "magic"}}}, "schemes.c.kind", "stencil"),
        ({"schemes": {"c": {"kind": "stencil", "offsets": [0, 0]}}}, "schemes.c.offsets", "distinct"),
        ({"schemes": {"c": {"kind": "stencil", "direction": "up"}}}, "schemes.c.direction", "central"),
        ({"schemes": {"c": {"kind": "stencil", "derivative": 9}}}, "schemes.c.derivative", "from 1 to 4"),
        ({"schemes": {"nope": None}}, "schemes.nope", "central4"),
        ({"dtypes": ["float128x"]}, "dtypes[0]", "float32"),
        ({"grid": {"kind": "logspace", "start": -8, "stop": 0, "num": 0}}, "grid.num", "integer from 1 to"),
        ({"grid": {"kind": "list", "values": [1e-3, -1]}}, "grid", "positive"),
        ({"grid": {"kind": "geomspace"}}, "grid.kind", "logspace"),
        ({"step": "sloppy"}, "step", "exact"),
        ({"reference": {"dps": 5}}, "reference.dps", "integer from 20 to"),
        ({"plot": {"formats": ["gif"]}}, "plot.formats[0]", "svg"),
        ({"funtions": {}}, "funtions", "top-level keys"),
        ({"functions": {"f": {"expression": "x0 + x1", "points": [[1.0, 2.0, 3.0]]}}}, "functions.f.points[0]",
         "2 coordinates"),
        ({"functions": {"f": {"expression": "open('x')", "points": [1.0]}}}, "functions.f.expression", "open"),
        ({"functions": {"f": {"expression": "x", "points": []}}}, "functions.f.points", "non-empty"),
        ({"functions": {}}, "functions", "non-empty mapping"),
        ({"name": "../../x"}, "name", "folder name"),
    ],
)
def test_bad_values_name_key_value_and_allowed(changes, key, fragment):
    with pytest.raises(ConfigError) as info:
        build_spec(base(**changes))
    assert info.value.key == key
    assert f"'{key}'" in str(info.value)
    assert fragment in str(info.value)


def test_composed_bad_override_fails_before_work(compose_cfg):
    cfg = compose_cfg("grid.num=-3")
    with pytest.raises(ConfigError, match=r"grid\.num.*-3"):
        build_spec(cfg)


def test_grids():
    np.testing.assert_allclose(parse_grid({"kind": "logspace", "start": -16, "stop": 0, "num": 9}),
                               10.0 ** np.arange(-16, 1, 2))
    np.testing.assert_array_equal(parse_grid({"kind": "list", "values": [1e-2, 1e-4, 1e-2]}), [1e-4, 1e-2])


def test_linspace_points_and_plain_dict_config():
    cfg = base(functions={"f": {"expression": "x**3", "points": {"linspace": [-5, 5, 11]}}})
    spec = build_spec(cfg)
    assert spec.functions[0].points.shape == (11, 1)
    np.testing.assert_array_equal(spec.functions[0].points[:, 0], np.linspace(-5, 5, 11))
    # The same config as an OmegaConf DictConfig builds the same sweep, interpolations resolved.
    omega = OmegaConf.create({**cfg, "name": "${oc.env:NO_SUCH_VAR_FOR_TEST,from_env}"})
    other = build_spec(omega)
    assert other.name == "from_env" and spec.name == "default"
    np.testing.assert_array_equal(other.functions[0].points, spec.functions[0].points)
    np.testing.assert_array_equal(other.hs, spec.hs)
    assert [s.name for s in other.schemes] == [s.name for s in spec.schemes] == ["central"]


@pytest.mark.parametrize(
    "changes, key, fragment",
    [
        ({"schemes": {"r": {"kind": "richardson", "ratio": 1.0001}}}, "schemes.r.ratio", "> 1"),
        ({"model": False}, "model", "a mapping"),
        ({"plot": 0}, "plot", "a mapping"),
        ({"schemes": {"central": False}}, "schemes", "not false"),
        ({"schemes": {"h": {"kind": "mixed"}}}, "schemes", "two or more variables"),
        ({"schemes": {"complex_step": None}, "dtypes": ["float16"]}, "schemes", "float16 has no complex type"),
        ({"schemes": {"cs": {"kind": "complex_step", "step": 1}}}, "schemes.cs.step", "options kind"),
        ({"memory_mb": 8}, "memory_mb", "integer >= 16"),
        ({"model": {"eps_factor": -1.0}}, "model.eps_factor", "positive"),
        ({"plot": {"dpi": 5}}, "plot.dpi", "integer from 30 to 1200"),
        ({"step_scale": ["relative", "log"]}, "step_scale[1]", "absolute"),
    ],
)
def test_more_bad_values(changes, key, fragment):
    with pytest.raises(ConfigError) as info:
        build_spec(base(**changes))
    assert info.value.key == key and fragment in str(info.value)
