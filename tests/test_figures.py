"""Figures checked by their data: names, markers, shading, colours, labels, ticks, parallel drawing.

Only IEEE-exact arithmetic (products, sums) decides which errors are exactly 0 here, never libm.
"""

from __future__ import annotations

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

import harness
from harness.curves import analyse_table
from harness.figure_jobs import draw_figures, figure_stems, figure_workers, plan_figures, write_figures
from harness.figures import draw_comparison_figure, draw_error_figure
from harness.plot_style import RC, spaced_ticks

GRID = {"kind": "logspace", "start": -16, "stop": 0, "num": 33}


@pytest.fixture(scope="module")
def square():
    """x*x at 1 and at 0.7 with central (exact for a quadratic: many errors exactly 0) and forward."""
    return harness.run({"functions": {"sq": {"expression": "x*x", "points": [1.0, 0.7]}},
                        "schemes": {"forward": None, "central": None}, "grid": GRID, "plot": {"enabled": False}})


def _cell(table, scheme=None, point=0):
    cell = table[table["point_index"] == point]
    return cell if scheme is None else cell[cell["scheme"] == scheme]


def _draw(cell, **kw):
    with matplotlib.rc_context(RC):
        fig = draw_error_figure(cell, **kw)
        fig.canvas.draw()
    return fig


def test_figure_stems_are_unique_readable_and_case_safe():
    names = ["exp", "a/b", "a_b", "A_B", "f g", "f__g", "__"]
    stems = figure_stems(names)
    assert stems["exp"] == "exp" and stems["a_b"] == "a_b"
    assert len({s.casefold() for s in stems.values()}) == len(names)
    assert all("__" not in s and "/" not in s and " " not in s for s in stems.values())
    assert figure_stems(names) == stems  # stable


def test_functions_whose_names_clash_get_their_own_files(tmp_path):
    cfg = {"functions": {"a/b": {"expression": "x*x", "points": [1.0]}, "a_b": {"expression": "x*x*x", "points": [1.0]}},
           "schemes": {"central": None}, "grid": {"kind": "list", "values": [1e-3, 1e-2]},
           "plot": {"formats": ["svg"]}}
    harness.run(cfg, out_dir=tmp_path)
    files = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert len(files) == 4, files  # two error figures, two comparisons
    assert "a_b__p0__d0.svg" in files and "compare__a_b.svg" in files
    # Each file shows its own function, and the report writes the same names.
    texts = {name: (tmp_path / "figures" / name).read_text() for name in files}
    assert len(set(texts.values())) == 4
    for p in (tmp_path / "figures").iterdir():
        p.unlink()
    harness.report(tmp_path)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == files


def test_dotted_function_names_keep_their_own_figures(tmp_path):
    """Regression: 'model.a' and 'model.b' kept the dot in their stems, with_suffix cut at it, and all their
    figures overwrote one 'model.svg'; report.html showed that one file under every cell."""
    cfg = {"functions": {"model.a": {"expression": "x*x", "points": [1.0, 2.0]},
                         "model.b": {"expression": "x*x*x", "points": [1.0]}},
           "schemes": {"central": None}, "grid": {"kind": "list", "values": [1e-3, 1e-2]},
           "plot": {"formats": ["svg"]}}
    harness.run(cfg, out_dir=tmp_path)
    files = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert files == ["compare__model_a.svg", "compare__model_b.svg", "model_a__p0__d0.svg", "model_a__p1__d0.svg",
                     "model_b__p0__d0.svg"], files
    html = (tmp_path / "report.html").read_text()
    assert html.count('<figure class="plot"') == 3


def test_exact_zero_errors_are_marked_on_the_axis_floor(square):
    cell = _cell(square, "central")
    zeros = np.sort(cell.loc[(cell["status"] == "ok") & (cell["abs_error"] == 0), "h"].to_numpy())
    assert zeros.size >= 3  # IEEE products: a precondition, not libm
    fig = _draw(cell)
    ax = fig.axes[0]
    floor_y = 10 ** (np.log10(ax.get_ylim()[0]) + 0.02 * np.diff(np.log10(ax.get_ylim()))[0])
    carets = [ln for ln in ax.get_lines() if ln.get_marker() == 7 and len(ln.get_xdata())]
    assert len(carets) == 1
    np.testing.assert_array_equal(np.sort(carets[0].get_xdata()), zeros)
    np.testing.assert_allclose(carets[0].get_ydata(), floor_y, rtol=1e-12)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "error exactly 0 (axis floor)" in labels
    # The star is the summary's h* (an exact zero here), drawn on the floor too.
    h_star = float(analyse_table(cell)[1]["h_star"].iloc[0])
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    assert [float(stars[0].get_xdata()[0])] == [h_star] and h_star in zeros
    assert any(f"h*={h_star:.0e}".replace("e-0", "e-") in label for label in labels)


def test_regimes_are_shaded_for_a_single_curve_only(square):
    one = _draw(_cell(square, "forward", point=1))
    two = _draw(_cell(square, point=1))
    spans = [p for p in one.axes[0].patches if p.get_alpha() == pytest.approx(0.07)]
    assert len(spans) >= 2  # round-off and truncation at least
    assert not [p for p in two.axes[0].patches if p.get_alpha() == pytest.approx(0.07)]


def test_a_scheme_keeps_its_colour_in_every_figure(square):
    # The second function has the schemes in the other order and a scheme the first lacks.
    other = harness.run({"functions": {"cube": {"expression": "x*x*x", "points": [1.5]}},
                         "schemes": {"central4": None, "central": None, "forward": None}, "grid": GRID,
                         "plot": {"enabled": False}})
    table = pd.concat([square.astype({"function": str, "scheme": str}),
                       other.astype({"function": str, "scheme": str})], ignore_index=True)
    jobs = plan_figures(table, summary=analyse_table(table)[1])
    colours: dict[str, set] = {}
    for job in jobs:
        if job.kind != "error":
            continue
        fig = _draw(job.rows, styles=job.styles, analysis=job.curves)
        for line in fig.axes[0].get_lines():
            label = line.get_label()
            if not label.startswith("_") and "[" in label:
                colours.setdefault(label.split(" [")[0], set()).add(line.get_color())
    assert set(colours) == {"forward", "central", "central4"}
    assert all(len(c) == 1 for c in colours.values()), colours
    assert len({next(iter(c)) for c in colours.values()}) == 3


def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_slope_guide_labels_never_overlap(square):
    cfg = {"functions": {"e": {"expression": "exp(x)", "points": [0.5]}},
           "schemes": {"forward": None, "central": None, "central4": None, "central6": {"accuracy": 6,
                                                                                      "direction": "central"}},
           "grid": GRID, "plot": {"enabled": False}}
    fig = _draw(harness.run(cfg))
    renderer = fig.canvas.get_renderer()
    guides = [t for t in fig.axes[0].texts if t.get_text().startswith("\u221d")]
    assert len(guides) >= 4  # h, h^2, h^4, h^6 and a round-off slope
    for a, b in itertools.combinations(guides, 2):
        assert not _boxes_overlap(a.get_window_extent(renderer), b.get_window_extent(renderer)), \
            (a.get_text(), b.get_text())


def test_comparison_of_one_error_level_spans_a_decade_each_side_without_warning():
    import warnings

    summary = pd.DataFrame({"function": "f", "derivative_order": 1, "scheme": ["a", "b"], "dtype": "float64",
                            "n_evals": [2, 3], "min_abs_error": [1e-8, 1e-8]})
    with matplotlib.rc_context(RC), warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "identical low and high ylims" warning reached the terminal
        fig = draw_comparison_figure(summary, "f")
        fig.canvas.draw()
    np.testing.assert_allclose(fig.axes[0].get_ylim(), (1e-9, 1e-7), rtol=1e-12)


def test_comparison_markers_sit_at_their_exact_cost_and_orders_are_apart():
    summary = pd.DataFrame({
        "function": "f", "derivative_order": [1, 1, 1, 2], "scheme": ["a", "b", "c", "d"], "dtype": "float64",
        "n_evals": [2, 2, 6, 3], "min_abs_error": [1e-8, 1.2e-8, 1e-12, 1e-6]})
    with matplotlib.rc_context(RC):
        fig = draw_comparison_figure(summary, "f")
        fig.canvas.draw()
    ax = fig.axes[0]
    medians = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 1 and ln.get_marker() != "."]
    assert sorted(float(ln.get_xdata()[0]) for ln in medians) == [2.0, 2.0, 6.0]  # no jitter; no f'' scheme
    # The two that would cover each other are concentric: different sizes.
    at_two = sorted(ln.get_markersize() for ln in medians if ln.get_xdata()[0] == 2)
    assert at_two[0] < at_two[1]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a [float64]", "b [float64]", "c [float64]"]


def test_cost_ticks_are_spaced_so_labels_do_not_merge():
    values = np.arange(2, 26, 2)
    ticks = spaced_ticks(values, 1.25, 38.4, 3.64)
    assert ticks[0] == 2 and 4 < len(ticks) < len(values)
    inches = np.diff(np.log10(ticks)) * 3.64 / np.log10(38.4 / 1.25)
    assert np.all(inches > 0.6 * 9 / 72 * 2)  # centres further apart than a two-digit label is wide


def test_parallel_workers_are_used_only_when_they_pay():
    assert figure_workers(1, 50) == (1, "serial")
    assert figure_workers(2, 3) == (1, "serial")
    n, method = figure_workers(2, 10)
    assert n == 2 and method in ("fork", "spawn")


def test_parallel_and_serial_drawing_write_identical_files(square, tmp_path):
    jobs = plan_figures(square, summary=analyse_table(square)[1])
    assert len(jobs) == 3
    jobs = jobs * 2  # four distinct stems would do; the same figures twice under other names:
    jobs = [type(j)(**{**j.__dict__, "stem": f"{j.stem}_{i}"}) for i, j in enumerate(jobs)]
    serial = draw_figures(jobs, tmp_path / "serial", formats=["svg"], workers=1)
    parallel = draw_figures(jobs, tmp_path / "parallel", formats=["svg"], workers=2)
    assert [p.name for p in serial] == [p.name for p in parallel]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(serial, parallel))


def test_write_figures_without_summary_draws_error_figures_only(square, tmp_path):
    files = write_figures(square, tmp_path, formats=["svg"], workers=1)
    assert sorted(p.name for p in files) == ["sq__p0__d0.svg", "sq__p1__d0.svg"]
