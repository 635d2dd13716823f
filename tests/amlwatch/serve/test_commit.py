"""The committers: a group per loop iteration, answers only after COMMIT, failures reach every waiter.

Real SQLite files and a real event loop; the writes are the service's own
(`test_checkpoint.writes`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from amlwatch.serve.commit import GroupCommitter, LoopCommitter, make_committer
from amlwatch.serve.errors import ServeError
from amlwatch.serve.store import StateStore

from .test_checkpoint import new_store, writes


def stored_seqs(path: Path) -> list[int]:
    """What a new reader of the file sees committed."""
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM scored ORDER BY seq")]


def test_writes_of_one_loop_iteration_share_one_commit_and_resolve_after_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    store = new_store(path)
    groups: list[int] = []
    seen_when_resolved: list[list[int]] = []

    async def scenario() -> None:
        committer = LoopCommitter(store, on_commit=lambda n, *_: groups.append(n))
        batch = [w for w, _ in writes(12)]
        first = [committer.submit(w) for w in batch[:5]]  # one iteration: requests scored together
        assert not any(f.done() for f in first)
        assert stored_seqs(path) == []  # nothing committed before the loop runs the flush
        await first[0]
        seen_when_resolved.append(stored_seqs(path))
        await asyncio.gather(*first)
        for w in batch[5:]:  # one at a time: one commit each
            await committer.submit(w)
        committer.stop()

    asyncio.run(scenario())
    store.close()
    assert groups == [5, 1, 1, 1, 1, 1, 1, 1]
    # The first answer came only after its whole group, and everything before it, was stored.
    assert seen_when_resolved == [[0, 1, 2, 3, 4]]
    assert stored_seqs(path) == list(range(12))


def test_a_failed_commit_reaches_every_waiter_of_its_group_and_stores_none_of_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    store = new_store(path)
    batch = [w for w, _ in writes(4)]
    outcomes: list[BaseException | None] = []

    async def scenario() -> None:
        committer = LoopCommitter(store)
        await committer.submit(batch[0])
        # seq 0 again: the scored table's primary key refuses it, so the whole group rolls back.
        group = [committer.submit(batch[1]), committer.submit(batch[0])]
        outcomes.extend(await asyncio.gather(*group, return_exceptions=True))
        await committer.submit(batch[2])  # the committer itself carries on

    asyncio.run(scenario())
    store.close()
    assert len(outcomes) == 2
    assert all(isinstance(e, sqlite3.IntegrityError) for e in outcomes)
    assert stored_seqs(path) == [0, 2]


def test_a_waiter_that_goes_away_does_not_undo_its_write_or_stop_the_committer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    store = new_store(path)
    batch = [w for w, _ in writes(3)]

    async def scenario() -> None:
        committer = LoopCommitter(store)
        gone = committer.submit(batch[0])
        stays = committer.submit(batch[1])  # the same group, after the one that goes away
        gone.cancel()  # a client disconnect cancels the task awaiting it
        await asyncio.wait_for(stays, timeout=10)
        await committer.submit(batch[2])

    asyncio.run(scenario())
    store.close()
    assert stored_seqs(path) == [0, 1, 2]  # memory moved on with seq 0, so the file must too


def test_stop_commits_what_is_queued_then_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = new_store(path)
    batch = [w for w, _ in writes(3)]
    refused: list[int] = []

    async def scenario() -> None:
        committer = LoopCommitter(store)
        queued = [committer.submit(w) for w in batch[:2]]
        committer.stop()  # shutdown: the lifespan closes the service before the loop ends
        assert all(f.done() and f.exception() is None for f in queued)
        with pytest.raises(ServeError) as refusal:
            committer.submit(batch[2])
        refused.append(refusal.value.status)

    asyncio.run(scenario())
    store.close()
    assert stored_seqs(path) == [0, 1]
    assert refused == [503]


@pytest.mark.parametrize(
    ("durability", "kind", "thread"),
    [("process", LoopCommitter, "MainThread"), ("power", GroupCommitter, "amlwatch-commit")],
)
def test_each_durability_commits_where_its_commit_costs_least(
    tmp_path: Path, durability: str, kind: type, thread: str
) -> None:
    # process: no fsync, so on the loop (no hand-offs); power: the fsync waits on a thread.
    path = tmp_path / "state.sqlite3"
    store: StateStore = new_store(path, durability)
    threads: list[str] = []

    async def scenario() -> None:
        committer = make_committer(
            store, on_commit=lambda *_: threads.append(threading.current_thread().name)
        )
        assert isinstance(committer, kind)
        for w, _ in writes(3):
            await asyncio.wrap_future(committer.submit(w))
        committer.stop()

    asyncio.run(scenario())
    store.close()
    assert threads == [thread] * 3
    assert stored_seqs(path) == [0, 1, 2]
