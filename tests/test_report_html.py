"""report.html: its content checked against the run's stored tables, and the page in a real browser."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harness
from harness import report_html
from harness.report_html import REPORT_FILE, RowDigest, write_report
from harness.store import read_meta
from harness.svg_inline import figure_markup, inline_svg

# Two functions (one 1-D, one 2-D): three error figures and two comparison figures, SVG only.
FIGURE_RUN = {
    "name": "report_test",
    "description": "exp and a 2-D bowl, forward and central",
    "functions": {"exp": {"expression": "exp(x)", "points": [1.0]},
                  "bowl": {"expression": "x0**2 + sin(x1)", "points": [[1.0, 2.0]]}},
    "schemes": {"forward": None, "central": None},
    "grid": {"kind": "logspace", "start": -12, "stop": 0, "num": 13},
    "plot": {"formats": ["svg"]},
}
# Rows that are not ok without unreliable references: log near 0 gives NaN / -inf estimates for steps past
# x (backward, central), and float32 steps below the spacing at x = 1e-3 vanish (step_underflow).
BAD_RUN = {
    "name": "not_ok",
    "functions": {"log": {"expression": "log(x)", "points": [1e-3]}},
    "schemes": {"backward": None, "central": None, "forward": None},
    "grid": {"kind": "logspace", "start": -12, "stop": 0, "num": 13},
    "dtypes": ["float64", "float32"],
    "plot": {"enabled": False},
}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- a small HTML tree (the standard library's parser; no extra dependency) ---------------------------------------
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def iter(self, tag: str | None = None):
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def find(self, tag: str, **attrs):
        return [n for n in self.iter(tag) if all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def by_id(self, ident: str) -> "Node":
        found = [n for n in self.iter() if n.attrs.get("id") == ident]
        assert len(found) == 1, ident
        return found[0]


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    return builder.root


def table_rows(table: Node) -> tuple[list[str], list[list[Node]]]:
    head = [th.text().strip() for th in table.find("thead")[0].iter("th")]
    rows = [list(tr.iter("td")) for tr in table.find("tbody")[0].iter("tr")]
    return head, rows


# -- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def figure_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("figure_run")
    harness.run(FIGURE_RUN, out_dir=out, overrides=["name=report_test"])
    return out


@pytest.fixture(scope="module")
def figure_page(figure_run) -> Node:
    return parse(figure_run / REPORT_FILE)


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bad_run")
    harness.run(BAD_RUN, out_dir=out)
    return out


def not_ok_counts(page: Node) -> dict[tuple[str, str], int]:
    _, rows = table_rows(page.by_id("not-ok-table"))
    return {(r[0].text().strip(), r[1].text().strip()): int(r[2].text()) for r in rows}


# -- SVG inlining ---------------------------------------------------------------------------------------------------
def test_inlined_svg_ids_are_prefixed_and_every_reference_resolves(figure_run):
    svgs = sorted((figure_run / "figures").glob("*.svg"))
    assert len(svgs) == 6  # 3 error figures, 2 comparisons, the leaderboard
    texts = [svg.read_text() for svg in svgs]
    # The problem being solved: matplotlib repeats marker / clip-path ids across figures (fixed hash salt).
    raw_ids = [set(re.findall(r'\bid="([^"]+)"', t)) for t in texts]
    assert any(re.fullmatch(r"[mp][0-9a-f]{10}", i) for i in raw_ids[0] & raw_ids[1])
    inlined = [inline_svg(t, f"f{i}-") for i, t in enumerate(texts)]
    seen: set[str] = set()
    for i, svg in enumerate(inlined):
        assert svg.startswith("<svg") and "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg
        ids = re.findall(r'\bid="([^"]+)"', svg)
        assert ids and all(x.startswith(f"f{i}-") for x in ids) and len(ids) == len(set(ids))
        refs = set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg))
        assert {r for pair in refs for r in pair if r} <= set(ids)
        assert not seen & set(ids)
        seen |= set(ids)


def test_figure_markup_prefers_svg_then_png(tmp_path):
    stem = tmp_path / "f__p0__d0"
    assert figure_markup(stem, "f0-", "alt") is None
    stem.with_suffix(".png").write_bytes(b"\x89PNG fake")
    assert figure_markup(stem, "f0-", "a &amp; b") == '<img alt="a &amp; b" src="data:image/png;base64,iVBORyBmYWtl">'
    stem.with_suffix(".svg").write_text('<?xml version="1.0"?>\n<svg id="x"></svg>')
    assert figure_markup(stem, "f0-", "alt") == '<svg id="f0-x"></svg>'


# -- content, by data -----------------------------------------------------------------------------------------------
def test_report_is_self_contained_with_unique_ids(figure_page):
    for node in figure_page.iter():
        for attr in ("src", "href", "xlink:href"):
            value = node.attrs.get(attr) or ""
            assert not re.match(r"(https?:)?//", value), (node.tag, value)
    assert not figure_page.find("link") and not figure_page.find("iframe")
    assert all("src" not in s.attrs for s in figure_page.find("script"))
    ids = [n.attrs["id"] for n in figure_page.iter() if "id" in n.attrs]
    assert len(ids) == len(set(ids))


def test_provenance_shows_what_produced_the_run(figure_run, figure_page):
    meta = read_meta(figure_run)
    fields = {dt.text().strip(): dd.text().strip() for dt, dd in
              zip(figure_page.by_id("provenance").iter("dt"), figure_page.by_id("provenance").iter("dd"))}
    assert fields["experiment"] == "report_test"
    assert fields["overrides"] == "name=report_test"
    assert fields["started"] == meta["started"] and fields["finished"] == meta["finished"]
    assert fields["git commit"] == str(meta["git_commit"])
    assert fields["host"] == meta["platform"]["host"]
    assert fields["rows"] == f"{meta['rows']:,}"
    assert f"numpy {np.__version__}" in fields["versions"]
    assert f"misses {meta['reference_cache']['misses']}" in fields["reference cache"]
    for status, n in meta["status_counts"].items():
        assert (f"{status} {n}" in fields["row status"]) == (n > 0)
    assert "floating-point warnings" in fields


def test_summary_has_every_curve_linking_to_its_inlined_figure(figure_run, figure_page):
    summary = pd.read_parquet(figure_run / "summary.parquet")
    head, rows = table_rows(figure_page.by_id("summary-table"))
    assert len(rows) == len(summary) == 6
    assert head[:3] == ["figure", "function", "point"] and head[-1] == "status"
    col = {name: head.index(name) for name in ("function", "scheme", "predicted h*", "h*")}
    # Rows in summary order; numbers carry their exact value for sorting.
    assert [r[col["function"]].text() for r in rows] == summary["function"].astype(str).tolist()
    np.testing.assert_array_equal([float(r[col["predicted h*"]].attrs["data-v"] or "nan") for r in rows],
                                  summary["predicted_h_star"].to_numpy())
    figures = {f.attrs["id"]: f for f in figure_page.iter("figure") if "plot" in f.attrs.get("class", "")}
    svg_files = sorted((figure_run / "figures").glob("*__p*.svg"))
    assert len(figures) == len(svg_files) == 3
    assert all(len(f.find("svg")) == 1 for f in figures.values())
    compare = [f for f in figure_page.iter("figure") if f.attrs.get("class") == "compare"]
    assert len(compare) == 2 and all(f.find("svg") for f in compare)
    run_wide = [f for f in figure_page.iter("figure") if f.attrs.get("class") == "compare run-figure"]
    assert [f.attrs["id"] for f in run_wide] == ["run-figure-leaderboard"] and run_wide[0].find("svg")
    for row in rows:
        target = row[0].find("a")[0].attrs["href"].lstrip("#")
        figure = figures[target]
        # Beside the figure: this curve's observed and predicted h*, the same numbers as the summary.
        fig_head, fig_rows = table_rows(figure.find("table")[0])
        scheme = row[col["scheme"]].text()
        mine = [r for r in fig_rows if r[0].text() == scheme]
        assert len(mine) == 1
        for name in ("h*", "predicted h*"):
            assert mine[0][fig_head.index(name)].attrs["data-v"] == row[col[name]].attrs["data-v"]


def test_summary_filters_offer_functions_schemes_types_and_statuses(figure_page, bad_run):
    keys = [s.attrs["data-key"] for s in figure_page.by_id("summary").iter("select")]
    assert keys == ["function", "scheme", "dtype", "status"]
    page = parse(bad_run / REPORT_FILE)
    status = [s for s in page.by_id("summary").iter("select") if s.attrs["data-key"] == "status"][0]
    table = pd.read_parquet(bad_run / "results.parquet")
    assert {o.text() for o in status.iter("option")} - {"all"} == set(table["status"].astype(str))


def test_rows_not_ok_are_grouped_by_status_and_reason(bad_run):
    table = pd.read_parquet(bad_run / "results.parquet")
    page = parse(bad_run / REPORT_FILE)
    counts = not_ok_counts(page)
    expected = table["status"].astype(str).value_counts()
    for status in ("nonfinite", "step_underflow"):
        assert sum(n for (s, _), n in counts.items() if s == status) == expected[status] > 0
    reasons = {r for s, r in counts if s == "step_underflow"}
    assert reasons == {"h_used = (x + h) - x is 0 in float32"}
    assert {r for s, r in counts if s == "nonfinite"} >= {"the estimate is NaN in float64"}
    # Plotting was disabled: no figure, and the page says how to get them.
    assert not page.find("svg") and "harness report RUN_DIR" in page.by_id("figures").text()


def test_references_experiment_lists_its_unreliable_references(compose_cfg, tmp_path):
    table = harness.run(compose_cfg("experiment=references", "plot=none"), out_dir=tmp_path)
    counts = not_ok_counts(parse(tmp_path / REPORT_FILE))
    assert {s for s, _ in counts} == {"unreliable_reference"}
    assert sum(counts.values()) == len(table)
    by_reason = {r.split(" (")[0]: n for (_, r), n in counts.items()}
    for status, n in table["reference_status"].astype(str).value_counts().items():
        reason = report_html.REFERENCE_REASONS[status].split(" (")[0]
        assert by_reason[reason] == n


def test_optional_tables_and_row_cap(bad_run, tmp_path, monkeypatch):
    run = Path(shutil.copytree(bad_run, tmp_path / "run"))
    pd.DataFrame({"scheme": ["central", "forward"], "score": [0.5, 1.25]}).to_parquet(run / "leaderboard.parquet")
    pd.DataFrame({"what": ["x"]}).to_parquet(run / "other_table.parquet")
    monkeypatch.setattr(report_html, "MAX_TABLE_ROWS", 2)
    summary = pd.read_parquet(run / "summary.parquet")
    page = parse(write_report(run, summary, RowDigest.of_run(run), figures=False))
    titles = [s.find("h2")[0].text() for s in page.iter("section") if s.attrs.get("id", "").startswith("extra-")]
    assert titles == ["Leaderboard", "Coverage", "Noise estimates (ECnoise)", "Other table"]  # every run has coverage
    head, rows = table_rows(page.by_id("extra-1").find("table")[0])
    assert head == ["scheme", "score"] and [r[1].attrs["data-v"] for r in rows] == ["0.5", "1.25"]
    assert len(table_rows(page.by_id("summary-table"))[1]) == 2
    assert f"2 of {len(summary)} curves shown" in page.by_id("summary").text()


# -- in a real browser ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (it comes with the test extra)")
    exe = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    if exe is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); the browser test needs one")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, timeout=60_000)
    except Exception as exc:  # noqa: BLE001 - any failure to start is a reason to skip, named
        playwright.stop()
        pytest.skip(f"Chromium at {exe} does not start: {str(exc).strip().splitlines()[0]}")
    yield chromium
    chromium.close()
    playwright.stop()


def test_report_in_a_browser_sorts_filters_and_shows_a_figure(browser, figure_run, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    errors, requests = [], []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requests.append(request.url))
    report = figure_run / REPORT_FILE
    page.goto(report.as_uri(), wait_until="load")
    assert errors == []
    assert requests == [report.as_uri()]  # nothing fetched besides the page itself

    heads = page.eval_on_selector_all("#summary-table thead th", "ths => ths.map(t => t.textContent.trim())")
    column = heads.index("min error")
    read = f"rows => rows.map(r => r.cells[{column}].getAttribute('data-v'))"

    def values() -> list[float]:
        return [float(v) if v else np.nan for v in page.eval_on_selector_all("#summary-table tbody tr", read)]

    before = values()
    header = page.locator("#summary-table thead th").nth(column)
    header.click()
    ascending = values()
    assert ascending != before and sorted(ascending) == ascending and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert values() == sorted(ascending, reverse=True)

    visible = "rows => rows.filter(r => !r.hidden).length"
    page.select_option('#summary select[data-key="scheme"]', "central")
    assert page.eval_on_selector_all("#summary-table tbody tr", visible) == 3
    page.select_option('#summary select[data-key="function"]', "bowl")
    assert page.eval_on_selector_all("#summary-table tbody tr", visible) == 2
    page.select_option('#summary select[data-key="scheme"]', "")
    page.select_option('#summary select[data-key="function"]', "")
    assert errors == []

    # The summary and the first figure in one screenshot.
    page.evaluate("document.getElementById('summary').scrollIntoView()")
    table_box = page.locator("#summary-table").bounding_box()
    figure_box = page.locator("#fig-0 svg").bounding_box()
    assert table_box["y"] >= 0 and figure_box["height"] > 200
    assert figure_box["y"] + figure_box["height"] / 2 < 1400
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    page.close()
