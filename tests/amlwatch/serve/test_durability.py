"""kill -9 right after an answer loses nothing; answered transactions racing a kill are all kept.

Under both durability settings: `process` (``synchronous=NORMAL``, the default; what the
promise rests on is that a COMMIT has written the WAL before the answer) and `power` (FULL).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import httpx
import pytest

GOOD = {
    "timestamp": "2026/02/01 10:00", "from_bank": "77", "from_account": "DUR-A",
    "to_bank": "78", "to_account": "DUR-B", "amount_received": 4321.5,
    "receiving_currency": "US Dollar", "amount_paid": 4321.5, "payment_currency": "US Dollar",
    "payment_format": "ACH",
}  # fmt: skip


def test_kill_9_after_an_answer_then_restart_loses_nothing(server_factory: Any) -> None:
    server = server_factory(extra=("--no-history",)).start()  # the default durability
    first = httpx.post(f"{server.url}/v1/transactions", json=GOOD, timeout=30)
    assert first.status_code == 200
    server.kill()  # SIGKILL the moment the answer is in: no shutdown code runs

    again = server_factory(db=server.db, extra=("--no-history",)).start()
    health = httpx.get(f"{again.url}/v1/health", timeout=10).json()
    assert health["scored_transactions"] == 1 and health["accounts"] == 2
    assert health["durability"] == "process"
    second = {**GOOD, "timestamp": "2026/02/01 10:20", "amount_paid": 10.0}
    r = httpx.post(f"{again.url}/v1/transactions", params={"features": "true"}, json=second,
                   timeout=30)  # fmt: skip
    features = r.json()["features"]
    # The killed server's transaction is in the restarted one's state.
    assert features["pair_n_before"] == 1.0 and features["pair_new"] == 0.0
    assert features["src_out_n_1h"] == 1.0 and features["src_out_sum_1h"] == 4321.5
    assert features["dst_in_n_1d"] == 1.0 and features["dst_in_sum_1d"] == 4321.5
    assert r.json()["seq"] == first.json()["seq"] + 1
    # SIGTERM: a graceful stop (uvicorn re-raises the signal once it has shut down, so the
    # status may say "terminated"); the log's last event says the state file was closed.
    assert again.stop() in (0, -15)
    assert '"event": "stopped"' in again.tail()


@pytest.mark.parametrize("durability", ["process", "power"])
def test_answered_transactions_racing_a_kill_are_all_stored(
    server_factory: Any, durability: str
) -> None:
    server = server_factory(extra=("--no-history", "--durability", durability)).start()
    health = httpx.get(f"{server.url}/v1/health", timeout=10).json()
    assert health["durability"] == durability
    answered: dict[int, int] = {}  # request number -> seq
    lock = threading.Lock()

    def send(n: int) -> None:
        tx = {**GOOD, "from_account": f"RACE-{n}", "to_account": f"RACE-{n}-B"}
        try:
            r = httpx.post(f"{server.url}/v1/transactions", json=tx, timeout=30)
        except httpx.TransportError:
            return  # killed mid-request: no answer
        if r.status_code == 200:
            with lock:
                answered[n] = r.json()["seq"]
                if len(answered) == 15:
                    server.kill()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.kill()
    assert len(answered) >= 15
    with sqlite3.connect(server.db) as db:  # as the next start reads it (WAL included)
        stored = dict(db.execute("SELECT seq, json_extract(transaction_json, '$.from_account')"
                                 " FROM scored").fetchall())  # fmt: skip
        events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    for n, seq in answered.items():
        assert stored.get(seq) == f"RACE-{n}"
    assert events == 2 * len(stored)  # whole transactions only: both sides or neither
