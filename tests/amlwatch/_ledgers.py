"""Small hand-made ledgers for exact tests (canonical columns -> `Ledger`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import strategies as st

from amlwatch.data.ledger import Ledger
from amlwatch.data.load import build_ledger

START = dt.datetime(2022, 9, 1)


def make_ledger(
    src: list[int],
    dst: list[int],
    minutes: list[int],
    amounts: list[float] | None = None,
    *,
    received: list[float] | None = None,
    countries: dict[int, str] | None = None,
    labels: list[int] | None = None,
) -> Ledger:
    """A ledger whose account codes equal the given integers (file order = list order)."""
    n = len(src)
    amounts = amounts if amounts is not None else [100.0] * n
    accounts = sorted(set(src) | set(dst))
    # Zero-padded names sort like the integers, so the ledger's codes equal them.
    name = {a: f"{a:06d}" for a in accounts}
    tx = pl.DataFrame(
        {
            "txn_id": np.arange(n, dtype=np.int64),
            "timestamp": [START + dt.timedelta(minutes=int(m)) for m in minutes],
            "from_bank": ["001"] * n,
            "from_account": [name[a] for a in src],
            "to_bank": ["001"] * n,
            "to_account": [name[a] for a in dst],
            "amount_received": [float(a) for a in (received if received is not None else amounts)],
            "receiving_currency": ["US Dollar"] * n,
            "amount_paid": [float(a) for a in amounts],
            "payment_currency": ["US Dollar"] * n,
            "payment_format": ["ACH"] * n,
            "is_laundering": pl.Series(labels if labels is not None else [0] * n, dtype=pl.Int8),
            "typology": pl.Series([None] * n, dtype=pl.String),
            "ring_id": pl.Series([None] * n, dtype=pl.Int64),
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    acc = pl.DataFrame(
        {
            "bank": ["001"] * len(accounts),
            "account": [name[a] for a in accounts],
            "kind": ["Indiv"] * len(accounts),
            "country": [(countries or {}).get(a, "US") for a in accounts],
            "entity_id": [f"E{a}" for a in accounts],
        }
    )
    ledger = build_ledger(tx, acc, source="test")
    assert ledger.accounts.get_column("code").to_list() == list(range(len(accounts)))
    return ledger


def dense(values: list[int]) -> list[int]:
    """Relabel to 0..k-1 in sorted order (so codes equal labels)."""
    order = {v: i for i, v in enumerate(sorted(set(values)))}
    return [order[v] for v in values]


# Amounts whose ratios fall inside, on and outside the forward band [0.9, 1.0].
FORWARD_AMOUNTS = (100.0, 97.0, 95.0, 90.0, 89.0, 111.0)


@st.composite
def forward_ledgers(
    draw: st.DrawFn,
    *,
    max_rows: int,
    max_account: int,
    days: int,
    amounts: tuple[float, ...] = FORWARD_AMOUNTS,
) -> tuple[list[int], list[int], list[int], list[float], list[float]]:
    """(src, dst, minutes, paid, received) of a random small ledger for the flow families.

    Few distinct minutes (same-minute ties) spread over `days`, more than one window;
    account codes dense from 0 (`dense`).
    """
    n = draw(st.integers(1, max_rows))
    n_acc = draw(st.integers(1, max_account))
    src = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    dst = draw(st.lists(st.integers(0, n_acc), min_size=n, max_size=n))
    slots = draw(st.lists(st.integers(0, days * 1440), min_size=1, max_size=10))
    minutes = sorted(draw(st.lists(st.sampled_from(slots), min_size=n, max_size=n)))
    paid = draw(st.lists(st.sampled_from(amounts), min_size=n, max_size=n))
    received = draw(st.lists(st.sampled_from(amounts), min_size=n, max_size=n))
    codes = dense(src + dst)
    return codes[:n], codes[n:], minutes, paid, received
