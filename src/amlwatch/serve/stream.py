"""Streaming account-window and pair features: one transaction at a time, equal to the batch ones.

`amlwatch.features.windows` computes the account family in one compiled pass
with *running* sums: per account, window and direction it adds each earlier
event once and subtracts it once it is `w` or more minutes older than the
query. Floating-point sums depend on that order of additions and
subtractions, so this module keeps the same running accumulators per account
and applies the same operations in the same order (add the previous
transaction's events, evict by time, read the features). The results are
then bit-identical to the batch kernel's, not merely close; the tests compare
with ``==``.

Order. The batch features follow the ledger's total order (timestamp, then
file order). A stream reproduces them when every transaction arrives no
earlier (by timestamp) than any earlier transaction *of its two accounts*:
a late transaction of other accounts does not change these accounts'
features. `AccountBook.check_order` enforces exactly that.

Graph features are not streamable (daily whole-graph snapshots) and are not
computed here.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from amlwatch.features.registry import WINDOWS, feature_names
from amlwatch.features.windows import ROLES, STATS, Z_STD_FLOOR

__all__ = [
    "STREAM_FEATURES",
    "AccountBook",
    "AccountState",
    "Event",
    "OutOfOrder",
    "StreamTransaction",
    "account_key",
]

WIDTHS: tuple[int, ...] = tuple(WINDOWS.values())
_NW = len(WIDTHS)
STREAM_FEATURES: tuple[str, ...] = tuple(feature_names(families=["account", "pair"]))
"""The features this module computes, in registry order."""
_NAMES: dict[str, tuple[str, ...]] = {
    role: (*(f"{role}_{stat}_{w}" for w in WINDOWS for stat in STATS), f"{role}_amount_z_30d")
    for role in ROLES
}


def _when(us: int) -> str:
    """A timestamp in microseconds since the epoch as the text a person reads (UTC)."""
    moment = datetime.fromtimestamp(0, UTC) + timedelta(microseconds=us)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f" if moment.microsecond else "%Y-%m-%d %H:%M:%S")


class OutOfOrder(ValueError):
    """A transaction is earlier than an account's last one (the batch order would differ)."""


@dataclass(frozen=True)
class Event:
    """One side of a transaction in an account's trailing state."""

    seq: int  # global, increasing: 2 * transaction seq + direction
    t: int  # minutes since the epoch
    d: int  # 0 = sent, 1 = received
    cp: str  # the counterparty's account key
    amount: float  # Amount Paid when sent, Amount Received when received
    new: int  # 1 when the (sender, receiver) pair was new at the time
    log: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class StreamTransaction:
    """What the streaming features need of a transaction."""

    src: str
    dst: str
    ts_us: int  # microseconds since the epoch (the order check uses full precision)
    amount_paid: float
    amount_received: float

    @property
    def minute(self) -> int:
        return self.ts_us // 60_000_000


def account_key(bank: str, account: str) -> str:
    """One string per (bank, account) pair, unambiguous whatever characters either holds."""
    return f"{len(bank)}:{bank}{account}"


def log1p(x: float) -> float:
    # NumPy's log1p, as the batch kernel's inputs use (libm's may differ in the last bit).
    return float(np.log1p(np.array([x], dtype=np.float64))[0])


class AccountState:
    """One account: its events of the widest window and running sums per (window, direction)."""

    __slots__ = (
        "cnt", "events", "last_us", "left", "lsq", "lsum", "ncp", "nnew", "slots", "start", "total",
    )  # fmt: skip

    def __init__(self) -> None:
        self.events: deque[Event] = deque()
        self.start = 0  # absolute index of events[0]
        self.left = [0] * _NW  # absolute index of each window's first event
        self.cnt = [[0, 0] for _ in range(_NW)]
        self.nnew = [[0, 0] for _ in range(_NW)]
        self.ncp = [[0, 0] for _ in range(_NW)]
        self.total = [[0.0, 0.0] for _ in range(_NW)]
        self.lsum = [[0.0, 0.0] for _ in range(_NW)]
        self.lsq = [[0.0, 0.0] for _ in range(_NW)]
        self.slots: dict[tuple[int, str], list[int]] = {}
        self.last_us: int | None = None

    # -- the batch kernel's `_update`, one window at a time --------------------------------
    def _apply(self, w: int, e: Event, sign: int) -> None:
        d = e.d
        counts = self.slots.setdefault((d, e.cp), [0] * _NW)
        if sign > 0:
            if counts[w] == 0:
                self.ncp[w][d] += 1
            counts[w] += 1
        else:
            counts[w] -= 1
            if counts[w] == 0:
                self.ncp[w][d] -= 1
        self.cnt[w][d] += sign
        self.nnew[w][d] += sign * e.new
        if sign > 0:
            self.total[w][d] += e.amount
            self.lsum[w][d] += e.log
            self.lsq[w][d] += e.log * e.log
        else:
            self.total[w][d] -= e.amount
            self.lsum[w][d] -= e.log
            self.lsq[w][d] -= e.log * e.log

    def add(self, event: Event) -> None:
        """Enter an event into every window (it is earlier than any later query)."""
        self.events.append(event)
        for w in range(_NW):
            self._apply(w, event, 1)

    def evict(self, minute: int) -> list[Event]:
        """Leave each window the events w or more minutes older than `minute`; returns the
        events no window holds any more (they can be deleted from storage)."""
        end = self.start + len(self.events)
        for w, width in enumerate(WIDTHS):
            while self.left[w] < end and self.events[self.left[w] - self.start].t <= minute - width:
                self._apply(w, self.events[self.left[w] - self.start], -1)
                self.left[w] += 1
        gone: list[Event] = []
        oldest = min(self.left)
        while self.start < oldest:
            e = self.events.popleft()
            self.start += 1
            gone.append(e)
            counts = self.slots.get((e.d, e.cp))
            if counts is not None and not any(counts):
                del self.slots[(e.d, e.cp)]
        return gone

    def read(self, role: str, d: int, logamt: float, out: dict[str, float]) -> None:
        """The role's 33 account features into `out` (float32 values, as the batch frame)."""
        values: list[float] = []
        for w in range(_NW):
            cnt, total, ncp, nnew = self.cnt[w], self.total[w], self.ncp[w], self.nnew[w]
            values += (cnt[0], total[0], cnt[1], total[1], ncp[0], ncp[1], nnew[0], nnew[1])
        m = self.cnt[_NW - 1][d]
        z = 0.0
        if m >= 2:
            mean = self.lsum[_NW - 1][d] / m
            var = max(self.lsq[_NW - 1][d] / m - mean * mean, 0.0)
            z = (logamt - mean) / max(math.sqrt(var), Z_STD_FLOOR)
        values.append(z)
        # One rounding to float32 (the batch frame's dtype); counts are exact in float64 first.
        rounded = np.array(values, dtype=np.float64).astype(np.float32).tolist()
        out.update(zip(_NAMES[role], rounded, strict=True))

    # -- persistence helpers ---------------------------------------------------------------
    def left_seqs(self, next_seq: int) -> list[int]:
        """Each window's first event as a seq (`next_seq` when the window is empty)."""
        end = self.start + len(self.events)
        return [self.events[i - self.start].seq if i < end else next_seq for i in self.left]

    def sums(self) -> np.ndarray:
        """The float running sums, (3, windows, 2) float64: total, log sum, log square sum."""
        return np.array([self.total, self.lsum, self.lsq], dtype=np.float64)

    @classmethod
    def restore(
        cls, events: list[Event], left_seqs: list[int], sums: np.ndarray, last_us: int | None
    ) -> AccountState:
        """Rebuild from stored events (seq order), window starts and float sums.

        Counts, distinct counterparties and new-pair counts are integers, so they
        are recounted from the events; the float sums are restored bit for bit.
        """
        state = cls()
        state.events = deque(events)
        seqs = [e.seq for e in events]
        state.left = [int(np.searchsorted(seqs, s, side="left")) for s in left_seqs]
        for w in range(_NW):
            for e in events[state.left[w] :]:
                state._apply(w, e, 1)
        state.total, state.lsum, state.lsq = (sums[k].tolist() for k in range(3))
        state.last_us = last_us
        return state


class AccountBook:
    """Every account's state and the pair counts: the whole streaming state, in memory."""

    def __init__(self) -> None:
        self.accounts: dict[str, AccountState] = {}
        self.pairs: dict[tuple[str, str], int] = {}
        # Events evicted since the last `apply`, which reports them for deletion from storage.
        self._gone: list[tuple[str, int]] = []

    def account(self, key: str) -> AccountState:
        state = self.accounts.get(key)
        if state is None:
            state = self.accounts[key] = AccountState()
        return state

    def check_order(self, tx: StreamTransaction) -> None:
        """Raise `OutOfOrder` when an account's last transaction is later than `tx`."""
        for role, key in (("sender", tx.src), ("receiver", tx.dst)):
            state = self.accounts.get(key)
            if state is not None and state.last_us is not None and tx.ts_us < state.last_us:
                raise OutOfOrder(
                    f"timestamp: {_when(tx.ts_us)} is earlier than the {role}'s last "
                    f"transaction, at {_when(state.last_us)}; per account, transactions "
                    "must arrive in time order"
                )

    def features(self, tx: StreamTransaction) -> dict[str, float]:
        """The streamable account and pair features of `tx`, from the state before it.

        Raises `OutOfOrder` (and changes nothing) when `tx` is earlier than one
        of its accounts' last transactions. Otherwise the two accounts' windows
        move on to `tx`'s minute: the batch kernel evicts at that point too, so
        the state stays valid whether or not `apply(tx)` follows.
        """
        self.check_order(tx)
        src, dst = self.account(tx.src), self.account(tx.dst)
        for state, key in ((src, tx.src), (dst, tx.dst)):
            self._gone.extend((key, e.seq) for e in state.evict(tx.minute))
        n_before = self.pairs.get((tx.src, tx.dst), 0)
        out: dict[str, float] = {}
        src.read("src", 0, log1p(tx.amount_paid), out)
        dst.read("dst", 1, log1p(tx.amount_received), out)
        out["pair_new"] = float(n_before == 0)
        out["pair_n_before"] = float(np.float32(n_before))
        out["pair_reverse_seen"] = float((tx.dst, tx.src) in self.pairs)
        return {k: out[k] for k in STREAM_FEATURES}

    def apply(self, tx: StreamTransaction, seq: int) -> Touched:
        """`tx` enters the state (call `features(tx)` or `check_order(tx)` first)."""
        src, dst = self.account(tx.src), self.account(tx.dst)
        for state, key in ((src, tx.src), (dst, tx.dst)):
            self._gone.extend((key, e.seq) for e in state.evict(tx.minute))
        n_before = self.pairs.get((tx.src, tx.dst), 0)
        new = int(n_before == 0)
        minute = tx.minute
        sent = Event(2 * seq, minute, 0, tx.dst, tx.amount_paid, new, log1p(tx.amount_paid))
        received = Event(
            2 * seq + 1, minute, 1, tx.src, tx.amount_received, new, log1p(tx.amount_received)
        )
        src.add(sent)  # the sender's event first, as the batch order (direction 0, then 1)
        dst.add(received)
        src.last_us = dst.last_us = tx.ts_us
        self.pairs[(tx.src, tx.dst)] = n_before + 1
        gone, self._gone = tuple(self._gone), []
        return Touched(
            accounts=(tx.src, tx.dst),
            events=((tx.src, sent), (tx.dst, received)),
            gone=gone,
            pair=(tx.src, tx.dst, n_before + 1),
        )

    def observe(
        self, tx: StreamTransaction, seq: int, *, features: bool = True
    ) -> tuple[dict[str, float], Touched]:
        """`features(tx)` (skipped when False: replaying history), then `apply(tx, seq)`."""
        if features:
            out = self.features(tx)
        else:
            self.check_order(tx)
            out = {}
        return out, self.apply(tx, seq)


@dataclass(frozen=True)
class Touched:
    """What one transaction changed: accounts to rewrite, events added and deleted, a pair."""

    accounts: tuple[str, str]
    events: tuple[tuple[str, Event], tuple[str, Event]]
    gone: tuple[tuple[str, int], ...]
    pair: tuple[str, str, int]


assert tuple(ROLES) == ("src", "dst")
