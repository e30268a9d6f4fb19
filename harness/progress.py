"""Progress bars: on a terminal only, never inside multirun jobs (their bars would interleave)."""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
# tqdm's monitor thread would make the process multi-threaded, and figures are only drawn in
# forked workers from a single-threaded process (harness.figure_jobs); the bars need no monitor.
tqdm.monitor_interval = 0


def in_multirun() -> bool:
    """True inside a Hydra multirun job."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    except Exception:  # noqa: BLE001 - no Hydra context at all
        return False


def progress(items: Iterable[T], *, desc: str, unit: str, show: bool | None = None) -> Iterable[T]:
    """``items`` with a tqdm bar when ``show`` (default: not in a multirun job), on a TTY only."""
    if show is None:
        show = not in_multirun()
    return tqdm(items, desc=desc, unit=unit, leave=False, disable=None if show else True)
