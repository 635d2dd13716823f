"""Wall time and peak resident memory of one stage (sampled, since ru_maxrss cannot be reset)."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["StageMeter", "StageRecord", "current_rss_mb"]

_PAGE = resource.getpagesize()


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except OSError:  # not Linux: fall back to the lifetime peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass(frozen=True)
class StageRecord:
    name: str
    seconds: float
    peak_rss_mb: float
    cached: bool = False


class StageMeter:
    """`with StageMeter("features", records=done) as m: ...`; on success `m.record` is appended to `done`.

    `progress(name, event)` hears "start", then "done" or "cached" (set `m.cached`).
    """

    def __init__(
        self,
        name: str,
        *,
        records: list[StageRecord] | None = None,
        progress: Callable[[str, str], None] | None = None,
        interval: float = 0.05,
    ) -> None:
        self.name = name
        self.cached = False
        self.record: StageRecord | None = None
        self._records = records
        self._progress = progress or (lambda stage, event: None)
        self._interval = interval
        self._peak = 0.0
        self._stop = threading.Event()

    def message(self, text: str) -> None:
        self._progress(self.name, text)

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, current_rss_mb())

    def __enter__(self) -> StageMeter:
        self._progress(self.name, "start")
        self._start = time.perf_counter()
        self._peak = current_rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, current_rss_mb())
        self.record = StageRecord(
            self.name,
            round(time.perf_counter() - self._start, 3),
            round(self._peak, 1),
            self.cached,
        )
        if exc_type is None:
            if self._records is not None:
                self._records.append(self.record)
            self._progress(self.name, "cached" if self.cached else "done")
