"""How many threads the detectors' libraries use: XGBoost's `nthread`, Isolation Forest's `n_jobs`.

Their scores do not depend on it (`tests/amlwatch/test_detectors.py` fits Isolation Forest,
XGBoost and the propagated XGBoost with 1 and 2 threads, in a process whose OpenMP pool
has 2, and compares the scores with ==), so a run gives them every core by default. XGBoost
also needs OMP_NUM_THREADS to allow them: the CLI sets it before XGBoost loads. The
features stage is not affected: Polars and Numba keep the CLI's one thread each, since that
stage already runs the graph snapshots in a second process. Nor is the GAN: `amlwatch.gan`
pins PyTorch to one thread, because its scores do depend on the count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["detector_threads", "thread_budget"]

_budget = 0  # 0: every core


def detector_threads() -> int:
    """The thread count a detector built now should use (at least 1)."""
    return _budget if _budget > 0 else (os.cpu_count() or 1)


@contextmanager
def thread_budget(threads: int) -> Iterator[None]:
    """Detectors built inside use `threads` threads (0: every core); restored on exit."""
    global _budget
    if threads < 0:
        raise ValueError(f"threads must be >= 0 (0 = every core), got {threads}")
    before, _budget = _budget, threads
    try:
        yield
    finally:
        _budget = before
