"""Micro-batching of scoring: requests that arrive while a batch is computed form the next one.

A lone request is scored at once; under load, batches grow by themselves, and
one feature plan plus one predict call serve them all. No timer: nothing
waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["Batcher"]

J = TypeVar("J")
R = TypeVar("R")


class Batcher(Generic[J, R]):
    """Feed jobs to `score` (run in a worker thread) in batches of at most `max_batch`.

    Parameters
    ----------
    score
        Jobs → results, in order; called from a worker thread.
    max_batch
        The most jobs per call.
    workers
        Batches computed at once (each in its own thread).
    on_batch
        Called with each batch's size (for metrics).
    """

    def __init__(
        self,
        score: Callable[[Sequence[J]], list[R]],
        *,
        max_batch: int = 64,
        workers: int = 2,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._score = score
        self._on_batch = on_batch
        self.max_batch = max_batch
        self.workers = workers
        self._queue: asyncio.Queue[tuple[J, asyncio.Future[R]]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.batches = 0
        self.jobs = 0

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        consumers = max(self.workers, 1)
        self._tasks = [asyncio.create_task(self._consume()) for _ in range(consumers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def submit(self, job: J) -> R:
        if self._queue is None:
            raise RuntimeError("Batcher.start() first")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((job, future))
        return await future

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            jobs = [job for job, _ in batch]
            try:
                if self.workers == 0:  # on the event loop itself: no GIL hand-offs per call
                    results: list[Any] = self._score(jobs)
                else:
                    results = await anyio.to_thread.run_sync(self._score, jobs)
            except Exception as exc:  # every waiting request gets the error, the loop goes on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.jobs += len(jobs)
            if self._on_batch is not None:
                self._on_batch(len(jobs))
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its client may have gone
                    future.set_result(result)
