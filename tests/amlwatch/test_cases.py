"""Alerts grouped into cases (`amlwatch.cases`, shared accounts within a time window) and
ring-level recall, against brute force."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlwatch.cases import assign_cases
from amlwatch.evaluate.table import Period, evaluate_at_threshold

ACCOUNTS = [("1", "a"), ("1", "b"), ("2", "a"), ("2", "c"), ("3", "d"), ("3", "e"), ("4", "f")]
START = datetime(2022, 9, 1)

Alert = tuple[tuple[str, str], tuple[str, str], float]  # (from, to, day)


def _brute_cases(alerts: list[Alert], window_days: float) -> list[int]:
    """Grow each case from its first alert: any alert sharing an account with one
    already in the case, at most `window_days` from it, joins (pairwise, no sorting)."""
    case = [0] * len(alerts)
    next_id = 0
    for start in range(len(alerts)):
        if case[start]:
            continue
        next_id += 1
        case[start] = next_id
        members = [start]
        grew = True
        while grew:
            grew = False
            for i, (u, v, day) in enumerate(alerts):
                if case[i]:
                    continue
                if any(
                    {u, v} & {alerts[m][0], alerts[m][1]} and abs(day - alerts[m][2]) <= window_days
                    for m in members
                ):
                    case[i] = next_id
                    members.append(i)
                    grew = True
    return case


def _frame(rows: list[tuple[str, int, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "timestamp": [START + timedelta(days=day) for *_, day in rows],
            "detector": [d for d, *_ in rows],
            "from_bank": [ACCOUNTS[s][0] for _, s, _, _ in rows],
            "from_account": [ACCOUNTS[s][1] for _, s, _, _ in rows],
            "to_bank": [ACCOUNTS[t][0] for _, _, t, _ in rows],
            "to_account": [ACCOUNTS[t][1] for _, _, t, _ in rows],
        }
    )


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["x", "y"]),
            st.sampled_from(range(len(ACCOUNTS))),
            st.sampled_from(range(len(ACCOUNTS))),
            # Whole and quarter days, so gaps of exactly the window occur.
            st.integers(0, 160).map(lambda q: q / 4),
        ),
        min_size=1,
        max_size=25,
    ).map(lambda rows: sorted(rows, key=lambda r: r[3])),  # alerts come in time order
    st.sampled_from([0.25, 1.0, 3.0, 14.0, 1e4]),
)
def test_cases_are_the_components_of_shared_accounts_within_the_window(
    rows: list[tuple[str, int, int, float]], window_days: float
) -> None:
    alerts = _frame(rows)
    out = assign_cases(alerts, window_days=window_days)
    assert out.drop("case_id", "case_size").equals(alerts)  # rows and order kept
    for name in ("x", "y"):
        mine = [(ACCOUNTS[s], ACCOUNTS[t], day) for d, s, t, day in rows if d == name]
        got = out.filter(pl.col("detector") == name)
        expected = _brute_cases(mine, window_days)
        assert got.get_column("case_id").to_list() == expected  # numbered by first alert
        sizes = [expected.count(c) for c in expected]
        assert got.get_column("case_size").to_list() == sizes


def test_a_hub_splits_into_cases_by_the_window() -> None:
    # One shop ("1", "a") paid by three customers, 30 days apart: three cases at 14 days,
    # one case at 60; a chain of 10-day gaps stays one case at 14 days.
    apart = _frame([("x", 1, 0, 0.0), ("x", 2, 0, 30.0), ("x", 3, 0, 60.0)])
    assert assign_cases(apart, window_days=14).get_column("case_id").to_list() == [1, 2, 3]
    assert assign_cases(apart).get_column("case_id").to_list() == [1, 2, 3]  # 14 by default
    assert assign_cases(apart, window_days=60).get_column("case_size").to_list() == [3, 3, 3]
    chain = _frame([("x", 1, 0, 0.0), ("x", 2, 0, 10.0), ("x", 3, 0, 20.0)])
    assert assign_cases(chain, window_days=14).get_column("case_id").to_list() == [1, 1, 1]


@pytest.mark.parametrize("window", [0.0, -1.0, float("nan")])
def test_a_window_that_is_not_positive_is_refused(window: float) -> None:
    with pytest.raises(ValueError, match="case window must be > 0 days"):
        assign_cases(_frame([("x", 1, 0, 0.0)]), window_days=window)


def test_no_alerts_and_no_detectors_stay_empty() -> None:
    empty = pl.DataFrame(
        schema={
            c: pl.String for c in ("detector", "from_bank", "from_account", "to_bank", "to_account")
        }
        | {"timestamp": pl.Datetime("us")}
    )
    assert assign_cases(empty).columns[-2:] == ["case_id", "case_size"]
    assert assign_cases(pl.DataFrame()).is_empty()


def test_a_ring_is_found_when_any_of_its_legs_alerts() -> None:
    scores = np.array([0.9, 0.1, 0.1, 0.2, 0.8, 0.1, 0.7])
    labels = np.array([1, 1, 1, 1, 1, 0, 0])
    rings = np.array([7, 7, 8, 8, 9, np.nan, np.nan])  # lawful rows have no ring
    row = evaluate_at_threshold(
        "d", threshold=0.5, period=Period(scores, labels, None, rings), beta=2.0
    )
    assert row["rings"] == 3 and row["rings_found"] == 2 / 3  # ring 8 has no alerted leg
    assert row["recall"] == 2 / 5  # the transaction-level recall is lower
