"""Sweeps at scale: launchers, collect, resume after a kill, the on-disk reference cache, chunking."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import mpmath
import numpy as np
import pandas as pd
import pytest

import harness
from conftest import assert_tables_equal
from harness.cli import collect_main, reset_job_state
from harness.collect import collect
from harness.errors import RunDirError
from harness.format_summary import format_curves

ENV = {**os.environ, "HYDRA_FULL_ERROR": "0", "MPLBACKEND": "Agg"}
SMALL = ["experiment=lecture", "plot=none"]


def cli(*args, cwd, check=True):
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def job_rows(sweep: Path) -> int:
    return sum(len(pd.read_parquet(p)) for p in sweep.glob("[0-9]*/results.parquet"))


@pytest.mark.parametrize("launcher, jobs", [("joblib", 3), ("submitit_local", 2)])
def test_parallel_launchers_and_collect(tmp_path, launcher, jobs):
    sweep = tmp_path / "sweep"
    nums = ",".join(str(n) for n in (9, 5, 3)[:jobs])
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=10"]
    # The joblib jobs also carry a noisy function: its noise columns and noise.parquet survive collect.
    noise = ["+functions.cubic.noise.level=1e-6"] if launcher == "joblib" else []
    cli("-m", *SMALL, f"grid.num={nums}", "dtypes=[float64,bfloat16]", f"hydra/launcher={launcher}", *extra, *noise,
        f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert len(list(sweep.glob("[0-9]*/results.parquet"))) == jobs
    table, manifest = collect(sweep)
    assert len(table) == job_rows(sweep) > 0
    assert manifest["counts"]["ok"] == jobs and manifest["counts"]["failed"] == 0
    assert set(table["override.grid.num"].astype(str)) == set(nums.split(","))
    assert set(table["dtype"].astype(str)) == {"float64", "bfloat16"}  # an ml_dtypes type in worker processes
    assert (sweep / "collected" / "results.parquet").is_file()
    models = pd.read_parquet(sweep / "collected" / "model.parquet")
    summary = harness.summarize(table, models)
    keys = ["function", "point_index", "component", "dtype", "job"]
    assert len(summary) == table.groupby(keys, observed=True).ngroups
    by_type = format_curves(summary)  # the formats table of the collected sweep keeps type and job
    assert set(by_type["dtype"]) == {"float64", "bfloat16"} and by_type["job"].nunique() == jobs
    noise_table = pd.read_parquet(sweep / "collected" / "noise.parquet")
    # one ECnoise row per function x point x number type, in every job
    assert len(noise_table) == jobs * 12 * 2 and set(noise_table["job"]) == {str(j) for j in range(jobs)}
    if noise:
        assert set(zip(table["function"].astype(str), table["noise_kind"].astype(str), table["noise_level"])) == {
            ("cubic", "relative", 1e-6), ("cubic_sum", "none", 0.0)}
        cubic = noise_table[noise_table["function"] == "cubic"]
        assert (cubic["true_noise"] == 1e-6 * cubic["f_value"].abs()).all()
    # Each job equals the same sweep run alone in this process (no state leaked between jobs in a worker).
    lecture = _lecture_dict()
    if noise:
        lecture["functions"]["cubic"]["noise"] = {"level": 1e-6}
    alone = harness.run({**lecture, "grid": {"kind": "logspace", "start": -16, "stop": 0, "num": 3}})
    job3 = (table["override.grid.num"] == "3") & (table["dtype"] == "float64")
    got = table[job3] if "3" in nums.split(",") else None
    if got is not None:
        np.testing.assert_array_equal(np.sort(got["estimate"].to_numpy()), np.sort(alone["estimate"].to_numpy()))


def _lecture_dict():
    return {"functions": {"cubic": {"expression": "x**3", "points": {"linspace": [-5.0, 5.0, 11]}},
                          "cubic_sum": {"expression": "x0**3 + x1**2 + x2**4", "points": [[1.0, 1.0, 1.0]]}},
            "schemes": {"forward": None}, "step": "nominal", "name": "lecture", "plot": {"enabled": False}}


def test_a_bad_job_fails_alone_and_collect_names_it(tmp_path, caplog):
    sweep = tmp_path / "sweep"
    proc = cli("-m", *SMALL, "plot.max_figures=2", "grid.num=9,0,5", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
               check=False)
    # The bad job fails alone: Hydra reports it at the end, the others ran.
    assert proc.returncode != 0
    assert "config key 'grid.num' has invalid value 0" in proc.stderr + proc.stdout
    assert pd.read_parquet(sweep / "0" / "results.parquet")["h"].nunique() == 9
    assert pd.read_parquet(sweep / "2" / "results.parquet")["h"].nunique() == 5
    assert not (sweep / "1" / "results.parquet").exists()
    assert "grid.num" in (sweep / "1" / "error.txt").read_text()
    table, manifest = collect(sweep)
    by_job = {j["job"]: j for j in manifest["jobs"]}
    assert by_job["1"]["status"] == "failed" and "grid.num" in by_job["1"]["reason"]
    assert by_job["0"]["status"] == by_job["2"]["status"] == "ok"
    assert len(table) == job_rows(sweep)
    assert collect_main([str(sweep)]) == 0  # the CLI's collect, in this process
    assert "job 1 failed" in caplog.text
    files = harness.report(sweep / "collected", formats=["svg"])
    assert files and all(p.exists() for p in files)
    page = (sweep / "collected" / "report.html").read_text()  # the collected sweep's report names every job
    assert "grid.num=0" in page and "status-failed" in page and page.count("<tr data-function=") > 0
    # A corrupt job file is reported by name, the rest still collected.
    (sweep / "2" / "results.parquet").write_bytes(b"not parquet")
    table, manifest = collect(sweep)
    assert {j["job"]: j["status"] for j in manifest["jobs"]}["2"] == "corrupt"
    assert len(table) == len(pd.read_parquet(sweep / "0" / "results.parquet"))


def _run_into(cfg, out_dir):
    harness.run(cfg, out_dir=out_dir, progress=False)


def test_killed_run_resumes_to_the_same_table(tmp_path, compose_cfg):
    # The run is a forked copy of this process (no interpreter start-up), killed with SIGKILL as soon as
    # its first block is stored under parts/; the rerun into the same folder must equal a clean run.
    cfg = compose_cfg("functions=line", "functions.mixed_line.points.linspace=[0.5,1.0,60]", "schemes=basic",
                      "plot=none", "grid=dense", "numbers=both", "memory_mb=16", "reference.cache_dir=null")
    killed = tmp_path / "killed"
    proc = multiprocessing.get_context("fork").Process(target=_run_into, args=(cfg, killed))
    proc.start()
    deadline = time.time() + 120
    while time.time() < deadline and proc.is_alive() and not list((killed / "parts").glob("*.parquet")):
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert not (killed / "results.parquet").exists(), "the run finished before it could be killed"
    n_parts = len(list((killed / "parts").glob("*.parquet")))
    assert n_parts >= 1
    for part in (killed / "parts").glob("*.parquet"):
        pd.read_parquet(part)  # every file under a final name is complete
    harness.run(cfg, out_dir=killed, progress=False)
    clean = tmp_path / "clean"
    harness.run(cfg, out_dir=clean, progress=False)
    a = pd.read_parquet(killed / "results.parquet")
    b = pd.read_parquet(clean / "results.parquet")
    assert len(a) == 5 * 161 * 60 * 2
    assert_tables_equal(a, b)
    assert json.loads((killed / "meta.json").read_text())["fingerprint"] == \
        json.loads((clean / "meta.json").read_text())["fingerprint"]


def test_rerun_of_a_finished_run_does_nothing_and_changed_config_recomputes(tmp_path, compose_cfg):
    cfg = compose_cfg(*SMALL)
    first = harness.run(cfg, out_dir=tmp_path)
    stamp = (tmp_path / "results.parquet").stat().st_mtime_ns
    again = harness.run(cfg, out_dir=tmp_path)
    assert (tmp_path / "results.parquet").stat().st_mtime_ns == stamp
    assert_tables_equal(first, again)
    # A different sweep is refused, and the finished run is left as it was (no mixing, no silent loss).
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(RunDirError, match=r"different sweep.*hydra\.run\.dir"):
        harness.run(compose_cfg(*SMALL, "grid.num=5"), out_dir=tmp_path)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == files
    other = harness.run(compose_cfg(*SMALL, "grid.num=5"), out_dir=tmp_path / "fresh")
    assert other["h"].nunique() == 5


def test_second_run_with_new_grid_computes_no_reference(tmp_path, compose_cfg):
    cache = tmp_path / "cache"
    common = [*SMALL, f"reference.cache_dir={cache}"]
    harness.run(compose_cfg(*common), out_dir=tmp_path / "a")
    meta_a = json.loads((tmp_path / "a" / "meta.json").read_text())["reference_cache"]
    # 11 points of x**3 + 3 partials of cubic_sum, plus the model's higher derivatives
    assert meta_a["misses"] >= 14 and meta_a["disk_hits"] == 0
    harness.run(compose_cfg(*common, "grid=dense"), out_dir=tmp_path / "b")
    meta_b = json.loads((tmp_path / "b" / "meta.json").read_text())["reference_cache"]
    assert meta_b["misses"] == 0 and meta_b["disk_hits"] == meta_a["misses"]


def test_chunked_sweep_equals_unchunked():
    cfg = {"functions": {"f": {"expression": "exp(x) / sqrt(sin(x)**3 + cos(x)**3)",
                               "points": {"linspace": [0.5, 1.0, 200]}},
                         "g": {"expression": "x0 * sin(x1)", "points": [[0.5, 1.0], [1.5, 2.0], [0.1, 0.2]]}},
           "schemes": {"central": None, "forward": None, "complex_step": None, "hess": {"kind": "mixed"}},
           "grid": {"kind": "logspace", "start": -12, "stop": 0, "num": 300}, "plot": {"enabled": False}}
    whole = harness.run(cfg)
    chunked = harness.run({**cfg, "memory_mb": 16})
    spec = harness.build_spec({**cfg, "memory_mb": 16})
    from harness.sweep import chunk_bounds

    assert len(chunk_bounds(spec, spec.functions[0], "float64")) > 1
    # Chunks change the row order (chunk-major), never the rows.
    key = ["function", "scheme", "point_index", "component", "component2", "h"]

    def canonical(t):
        t = t.sort_values(key, kind="stable").reset_index(drop=True)
        return t.astype({c: str for c in t.columns if isinstance(t[c].dtype, pd.CategoricalDtype)})

    assert_tables_equal(canonical(whole), canonical(chunked))


def test_reset_job_state():
    mpmath.mp.dps = 99
    np.seterr(all="raise")
    matplotlib.rcParams["lines.linewidth"] = 9
    try:
        reset_job_state()
        assert mpmath.mp.dps == 15
        assert np.geterr()["divide"] == "warn"
        assert matplotlib.rcParams["lines.linewidth"] == matplotlib.rcParamsDefault["lines.linewidth"]
    finally:
        mpmath.mp.dps = 15
        np.seterr(all="warn", under="ignore")


def test_multirun_rerun_into_same_sweep_skips_finished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", *SMALL, "grid.num=5,9", f"hydra.sweep.dir={sweep}"]
    cli(*args, cwd=tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in sweep.glob("[0-9]*/results.parquet")}
    proc = cli(*args, cwd=tmp_path)
    assert proc.stderr.count("already complete") + proc.stdout.count("already complete") == 2
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_changed_model_settings_are_not_taken_from_a_finished_run(tmp_path):
    cfg = {"functions": {"exp": {"expression": "exp(x)", "points": [0.0]}}, "schemes": {"central": None},
           "grid": {"kind": "logspace", "start": -10, "stop": 0, "num": 11}, "plot": {"enabled": False}}
    harness.run(cfg, out_dir=tmp_path / "a")
    first = pd.read_parquet(tmp_path / "a" / "model.parquet")["predicted_h_star"].iloc[0]
    with pytest.raises(RunDirError):  # other model settings are another sweep
        harness.run({**cfg, "model": {"eps_factor": 30.0}}, out_dir=tmp_path / "a")
    harness.run({**cfg, "model": {"eps_factor": 30.0}}, out_dir=tmp_path / "b")
    second = pd.read_parquet(tmp_path / "b" / "model.parquet")["predicted_h_star"].iloc[0]
    assert second == pytest.approx(first * 100 ** (1 / 3), rel=1e-9)  # h* ~ eps_f^(1/3) for central


def test_expected_jobs_expand_the_sweep_and_missing_jobs_are_named(tmp_path):
    from harness.collect import expected_jobs

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  sweeper:\n    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n"
        "  overrides:\n    task: ['experiment=lecture,tutorial', 'grid.num=3,5', 'plot=none']\n")
    jobs = expected_jobs(sweep)
    assert jobs == [[f"experiment={e}", f"grid.num={n}", "plot=none"] for e in ("lecture", "tutorial")
                    for n in ("3", "5")]
    table, manifest = collect(sweep)
    assert len(table) == 0 and manifest["counts"]["missing"] == 4


def test_run_folder_that_is_a_file_and_stale_temporaries(tmp_path):
    cfg = {"functions": {"exp": {"expression": "exp(x)", "points": [0.5]}}, "schemes": {"central": None},
           "grid": {"kind": "list", "values": [1e-3]}, "plot": {"enabled": False}}
    target = tmp_path / "file"
    target.write_text("not a folder")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        harness.run(cfg, out_dir=target)
    run = tmp_path / "run"
    run.mkdir()
    (run / ".results.parquet.abc123.tmp").write_bytes(b"")  # left by a SIGKILL during the final write
    harness.run(cfg, out_dir=run)
    assert not list(run.glob(".*.tmp")) and not list(run.rglob(".*.tmp"))
    umask = os.umask(0o022)
    os.umask(umask)
    for p in (run / "results.parquet", run / "meta.json", run / "summary.csv"):
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask, p


def test_a_multirun_over_experiments_is_one_sweep_folder(tmp_path):
    cli("-m", "experiment=lecture,tutorial", "plot=none", "grid=lecture", cwd=tmp_path)
    (sweep,) = (tmp_path / "results" / "multirun").iterdir()
    assert (sweep / "multirun.yaml").is_file()
    table, manifest = collect(sweep)
    assert manifest["counts"] == {"ok": 2, "failed": 0, "corrupt": 0, "incomplete": 0, "missing": 0}
    assert set(table["experiment"].astype(str)) == {"lecture", "tutorial"}


def test_killed_while_writing_the_final_files_resumes(tmp_path, compose_cfg, monkeypatch):
    """Regression: a kill after results.parquet but before meta.json (the fingerprint, written last) left a folder
    that every rerun refused as 'a different sweep', though parts/ held this sweep's finished blocks."""
    from harness import rundir

    cfg = compose_cfg(*SMALL)
    real = rundir.write_json

    def killed_at_meta(obj, path):
        if Path(path).name == "meta.json":
            raise KeyboardInterrupt
        return real(obj, path)

    monkeypatch.setattr(rundir, "write_json", killed_at_meta)
    with pytest.raises(KeyboardInterrupt):
        harness.run(cfg, out_dir=tmp_path / "run")
    assert (tmp_path / "run" / "results.parquet").is_file() and not (tmp_path / "run" / "meta.json").exists()
    assert (tmp_path / "run" / "parts").is_dir()
    monkeypatch.setattr(rundir, "write_json", real)
    resumed = harness.run(cfg, out_dir=tmp_path / "run")
    assert_tables_equal(resumed, harness.run(cfg))
    assert (tmp_path / "run" / "meta.json").is_file() and not (tmp_path / "run" / "parts").exists()
    # Another sweep's parts beside results without meta.json: still refused, nothing mixed.
    (tmp_path / "run" / "meta.json").unlink()
    with pytest.raises(RunDirError, match="different sweep"):
        harness.run(compose_cfg(*SMALL, "grid.num=5"), out_dir=tmp_path / "run")


def test_collect_labels_rows_by_their_own_record_and_sums_the_jobs(tmp_path, compose_cfg):
    """Regression: collect took the overrides from .hydra/ (which Hydra rewrites before a refused rerun) and
    copied job 0's meta.json (status counts, seconds, fingerprint) as the whole sweep's."""
    sweep = tmp_path / "sweep"
    for job, num in (("0", 5), ("1", 9)):
        harness.run(compose_cfg(*SMALL, f"grid.num={num}"), out_dir=sweep / job, overrides=[f"grid.num={num}"])
        (sweep / job / ".hydra").mkdir()
        # what a refused rerun with the jobs the other way round leaves in .hydra/
        (sweep / job / ".hydra" / "overrides.yaml").write_text(f"- grid.num={14 - num}\n")
    table, manifest = collect(sweep)
    for job, num in (("0", 5), ("1", 9)):
        rows = table[table["job"] == job]
        assert set(rows["override.grid.num"]) == {str(num)} and rows["h"].nunique() == num
    meta = json.loads((sweep / "collected" / "meta.json").read_text())
    metas = [json.loads((sweep / j / "meta.json").read_text()) for j in ("0", "1")]
    assert meta["rows"] == len(table) and meta["status_counts"] == {
        s: int(n) for s, n in table["status"].astype(str).value_counts().items()}
    assert meta["seconds"] == pytest.approx(sum(m["seconds"] for m in metas), abs=2e-3)
    assert "fingerprint" not in meta and set(meta["per_job"]["fingerprint"].values()) == {
        m["fingerprint"] for m in metas}
    assert meta["experiment"] == "lecture" and meta["jobs"] == ["0", "1"]
    # a damaged meta.json makes its job corrupt, named, and the others are still collected
    (sweep / "1" / "meta.json").write_text("{bad")
    table, manifest = collect(sweep)
    assert manifest["counts"]["corrupt"] == 1 and set(table["job"]) == {"0"}
    assert "meta.json is not readable run metadata" in manifest["jobs"][1]["reason"]


def test_a_refused_rerun_leaves_the_finished_run_as_it_was(tmp_path):
    run_dir = tmp_path / "r"
    cli(*SMALL, "schemes=forward", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    before = (run_dir / ".hydra" / "overrides.yaml").read_text()
    proc = cli(*SMALL, "schemes=central", f"hydra.run.dir={run_dir}", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "different sweep" in proc.stderr
    assert not (run_dir / "error.txt").exists()
    assert "schemes=forward" in before and (run_dir / ".hydra" / "overrides.yaml").read_text().count(
        "schemes=forward") == 1 and "schemes=central" not in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "forward" in (run_dir / ".hydra" / "config.yaml").read_text()


def test_another_sweeps_unfinished_blocks_are_not_discarded(tmp_path, compose_cfg, monkeypatch):
    """Regression: a different sweep run into a folder holding an interrupted sweep's parts/ deleted them."""
    from harness import sweep as sweep_module

    cfg = compose_cfg(*SMALL)
    real, calls = sweep_module.sweep_block, []

    def interrupted_after_one(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "sweep_block", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        harness.run(cfg, out_dir=tmp_path)
    monkeypatch.setattr(sweep_module, "sweep_block", real)
    parts = sorted(p.name for p in (tmp_path / "parts").iterdir())
    with pytest.raises(RunDirError, match=r"1 finished block of a different, interrupted sweep.*delete .*parts"):
        harness.run(compose_cfg(*SMALL, "grid.num=5"), out_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == parts
    assert_tables_equal(harness.run(cfg, out_dir=tmp_path), harness.run(cfg))  # the first sweep resumes
