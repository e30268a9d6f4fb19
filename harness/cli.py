"""Command line: a thin Hydra layer over :func:`harness.api.run`.

``harness [overrides]`` runs one sweep (``-m`` for a multirun);
``harness report RUN_DIR...`` (or ``harness-report``) rebuilds figures, the
summary and report.html of stored runs without recomputing; ``harness collect SWEEP_DIR``
merges the jobs of a multirun into one table.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .api import report, run
from .collect import COLLECTED_DIR, collect
from .errors import ConfigError, ResultsError, RunDirError
from .store import META_FILE, atomic_path, read_meta

if TYPE_CHECKING:  # pragma: no cover
    from omegaconf import DictConfig

log = logging.getLogger("harness")


def task(cfg: DictConfig) -> None:
    """Hydra task: run the configured sweep into Hydra's output directory.

    A bad config (or an unusable run folder) fails this job alone: the error
    (key, value, what is allowed) is logged and written to ``error.txt`` in
    the job's directory. A single run then exits with status 2 and that one
    line (``HYDRA_FULL_ERROR=1`` shows the traceback); in a multirun the
    error is raised so Hydra reports the job as failed and the other jobs go on.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    reset_job_state()
    hc = HydraConfig.get()
    out_dir = Path(hc.runtime.output_dir)
    try:
        run(cfg, out_dir=out_dir, overrides=list(hc.overrides.task))
    except (ConfigError, RunDirError) as exc:
        finished = (out_dir / META_FILE).is_file()
        if finished and hc.output_subdir is not None:
            restore_hydra_record(out_dir, out_dir / hc.output_subdir)
        if out_dir.is_dir() and not finished:  # a finished run's folder stays as it was
            with atomic_path(out_dir / "error.txt") as tmp:
                tmp.write_text(f"{exc}\n")
        if hc.mode == RunMode.MULTIRUN or os.environ.get("HYDRA_FULL_ERROR") == "1":
            log.error("%s", exc)
            raise
        print(f"harness: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def restore_hydra_record(run_dir: Path, record: Path) -> None:
    """Put a finished run's ``.hydra/overrides.yaml`` and ``config.yaml`` back after a refused rerun.

    Hydra rewrites them for the new job before the harness sees the folder;
    the finished run's own overrides and config are in its meta.json.
    (``hydra.yaml`` holds Hydra's settings and has no copy; it is left.)
    """
    import yaml

    try:
        meta = read_meta(run_dir)
    except ResultsError:
        return
    for name, value in (("overrides.yaml", meta.get("overrides")), ("config.yaml", meta.get("config"))):
        if value is not None and record.is_dir():
            with atomic_path(record / name) as tmp:
                tmp.write_text(yaml.safe_dump(value, sort_keys=False))


def reset_job_state() -> None:
    """Put process-wide numeric state back to defaults at the start of a job.

    Launchers such as joblib reuse worker processes between jobs, so state a
    previous job (or the user's code) left behind must not leak: mpmath's and
    python-flint's (Arb's) working precision, numpy's floating-point error
    handling and matplotlib's rcParams. The harness itself only changes them
    inside context managers.
    """
    import flint
    import matplotlib
    import mpmath
    import numpy as np

    mpmath.mp.dps = 15
    flint.ctx.prec = 53
    np.seterr(all="warn", under="ignore")
    matplotlib.rcdefaults()
    matplotlib.use("Agg")


def run_with_hydra() -> None:
    """Compose the config from the command line with Hydra and run :func:`task` (``-m``: once per job).

    Hydra is imported here, not with the module: ``harness report`` and
    ``harness collect`` start without it.
    """
    import hydra

    hydra.main(config_path="pkg://harness.conf", config_name="config", version_base="1.3")(task)()


def report_main(argv: Sequence[str] | None = None) -> int:
    """``harness report RUN_DIR [RUN_DIR ...] [--formats svg png]``."""
    parser = argparse.ArgumentParser(
        prog="harness report",
        description="Regenerate the summary, figures and report.html of stored runs from their results.parquet.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, help="run directories holding results.parquet")
    parser.add_argument("--formats", nargs="+", choices=("svg", "png", "pdf"), help="figure formats")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    status = 0
    for run_dir in args.run_dirs:
        try:
            paths = report(run_dir, formats=args.formats)
        except (FileNotFoundError, ResultsError) as exc:
            log.error("%s", exc)
            status = 1
            continue
        log.info("%s: %d figure files, report.html", run_dir, len(paths))
    return status


def collect_main(argv: Sequence[str] | None = None) -> int:
    """``harness collect SWEEP_DIR [--out DIR]``: merge a multirun's jobs into one table."""
    parser = argparse.ArgumentParser(
        prog="harness collect",
        description="Merge every job of a multirun into one tidy table (job and override columns added); "
                    "missing, failed and corrupt jobs are named and skipped.",
    )
    parser.add_argument("sweep_dir", type=Path, help="multirun folder (holds multirun.yaml and one folder per job)")
    parser.add_argument("--out", type=Path, help="output folder (default SWEEP_DIR/collected)")
    parser.add_argument("--report", action="store_true", help="also draw the figures of the collected table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        table, manifest = collect(args.sweep_dir, out_dir=args.out)
    except (FileNotFoundError, RunDirError) as exc:
        log.error("%s", exc)
        return 1
    if args.report and len(table):
        report(args.out or args.sweep_dir / COLLECTED_DIR)
    return 0 if manifest["counts"]["ok"] else 1


def main() -> None:
    """Entry point of the ``harness`` console script."""
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        sys.exit(report_main(sys.argv[2:]))
    if len(sys.argv) > 1 and sys.argv[1] == "collect":
        sys.exit(collect_main(sys.argv[2:]))
    try:
        run_with_hydra()
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; the finished blocks are on disk
        print("harness: interrupted; finished blocks are kept in the run folder's parts/: run the same command "
              "again to resume", file=sys.stderr)
        sys.exit(130)


def report_entry() -> None:
    """Entry point of the ``harness-report`` console script."""
    sys.exit(report_main())
