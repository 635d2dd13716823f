"""Alerts grouped into cases (`amlwatch.cases`) and ring-level recall, against brute force."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from amlwatch.cases import assign_cases
from amlwatch.evaluate.table import Period, evaluate_at_threshold

ACCOUNTS = [("1", "a"), ("1", "b"), ("2", "a"), ("2", "c"), ("3", "d"), ("3", "e"), ("4", "f")]


def _brute_cases(edges: list[tuple[tuple[str, str], tuple[str, str]]]) -> list[int]:
    """Grow each case from its first alert: any alert sharing an account joins it."""
    case = [0] * len(edges)
    next_id = 0
    for start in range(len(edges)):
        if case[start]:
            continue
        next_id += 1
        case[start] = next_id
        reached = set(edges[start])
        grew = True
        while grew:
            grew = False
            for i, (u, v) in enumerate(edges):
                if not case[i] and (u in reached or v in reached):
                    case[i] = next_id
                    reached |= {u, v}
                    grew = True
    return case


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["x", "y"]),
            st.sampled_from(range(len(ACCOUNTS))),
            st.sampled_from(range(len(ACCOUNTS))),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_cases_are_the_components_of_shared_accounts(rows: list[tuple[str, int, int]]) -> None:
    alerts = pl.DataFrame(
        {
            "detector": [d for d, _, _ in rows],
            "from_bank": [ACCOUNTS[s][0] for _, s, _ in rows],
            "from_account": [ACCOUNTS[s][1] for _, s, _ in rows],
            "to_bank": [ACCOUNTS[t][0] for _, _, t in rows],
            "to_account": [ACCOUNTS[t][1] for _, _, t in rows],
        }
    )
    out = assign_cases(alerts)
    assert out.drop("case_id", "case_size").equals(alerts)  # rows and order kept
    for name in ("x", "y"):
        mine = [(ACCOUNTS[s], ACCOUNTS[t]) for d, s, t in rows if d == name]
        got = out.filter(pl.col("detector") == name)
        expected = _brute_cases(mine)
        assert got.get_column("case_id").to_list() == expected  # numbered by first alert
        sizes = [expected.count(c) for c in expected]
        assert got.get_column("case_size").to_list() == sizes


def test_no_alerts_and_no_detectors_stay_empty() -> None:
    empty = pl.DataFrame(
        schema={
            c: pl.String for c in ("detector", "from_bank", "from_account", "to_bank", "to_account")
        }
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
