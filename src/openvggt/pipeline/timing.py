"""Wall-clock time per pipeline stage."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


class StageTimer:
    """Collects ``{stage: seconds}`` in the order stages ran; a stage run twice accumulates."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        log.info("%s ...", stage)
        start = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - start
            self.seconds[stage] = self.seconds.get(stage, 0.0) + took
            log.debug("%s took %.2f s", stage, took)


def format_timings(seconds: dict[str, float]) -> str:
    """Aligned text table of ``{stage: seconds}`` and their total."""
    width = max([len(s) for s in seconds] + [5])
    rows = [f"  {name:<{width}}  {sec:8.2f} s" for name, sec in seconds.items()]
    rows.append(f"  {'total':<{width}}  {sum(seconds.values()):8.2f} s")
    return "\n".join(rows)
