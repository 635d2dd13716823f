"""Values the model has no notion of are scored with a warning, on both paths, and counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from amlwatch.data.schema import PAYMENT_FORMATS
from amlwatch.serve.inputs import InputCheck

from .conftest import Run, Server

TX = {
    "timestamp": "2026/01/01 09:30", "from_bank": "900", "to_bank": "901",
    "amount_received": 2500.0, "receiving_currency": "US Dollar", "amount_paid": 2500.0,
    "payment_currency": "US Dollar", "payment_format": "Wire",
}  # fmt: skip
FORMAT_COLUMNS = [f"format_{f.lower().replace(' ', '_')}" for f in PAYMENT_FORMATS]


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def _score(client: httpx.Client, pair: str, *, fastapi: bool = False, **fields: Any) -> Any:
    """TX between two new accounts (no history: the same account features every time).

    `fastapi`: a content type the fast path leaves to FastAPI (it answers plain ones)."""
    tx = {**TX, "from_account": f"IW-{pair}-A", "to_account": f"IW-{pair}-B", **fields}
    if fastapi:
        r = client.post(
            "/v1/transactions?features=true", content=json.dumps(tx),
            headers={"content-type": "application/json; charset=utf-8"},
        )  # fmt: skip
    else:
        r = client.post("/v1/transactions", params={"features": "true"}, json=tx)
    assert r.status_code == 200, r.text
    return r.json()


def _metric(client: httpx.Client, name: str) -> float:
    lines = [ln for ln in client.get("/metrics").text.splitlines() if ln.startswith(f"{name} ")]
    return float(lines[0].split()[-1]) if lines else 0.0


def _warned(client: httpx.Client, kind: str) -> float:
    return _metric(client, f'amlwatch_input_warnings_total{{kind="{kind}"}}')


def test_the_run_records_its_currencies(aml_run: Run) -> None:
    metrics = json.loads((aml_run.out / "metrics.json").read_text())
    tx = aml_run.ledger().transactions
    seen = set(tx.get_column("payment_currency")) | set(tx.get_column("receiving_currency"))
    assert metrics["currencies"] == sorted(seen) and "US Dollar" in seen


def test_a_known_row_has_no_warnings(client: httpx.Client) -> None:
    assert _score(client, "known")["warnings"] == []


def test_an_unknown_format_is_named_scored_as_any_unknown_format_and_counted(
    client: httpx.Client,
) -> None:
    counted = _warned(client, "payment_format")
    fast = _metric(client, "amlwatch_fast_path_requests_total")
    transfer = _score(client, "fmt-1", payment_format="Wire Transfer")
    slow = _score(client, "fmt-2", payment_format="Wire Transfer", fastapi=True)
    assert _metric(client, "amlwatch_fast_path_requests_total") == fast + 1  # one per path
    (warning,) = transfer["warnings"]
    assert "payment_format 'Wire Transfer' is not one of AMLworld's seven" in warning
    assert "it gets no format feature" in warning and "did you mean" not in warning
    assert slow["warnings"] == transfer["warnings"] and slow["score"] == transfer["score"]
    # No format column is set, and the GAN reads it as "unseen": every unknown format
    # gets the same score (the same accounts' features, new accounts each time).
    assert all(transfer["features"][c] == 0.0 for c in FORMAT_COLUMNS)
    zelle = _score(client, "fmt-3", payment_format="Zelle")
    assert zelle["score"] == transfer["score"] and "'Zelle'" in zelle["warnings"][0]
    assert _warned(client, "payment_format") == counted + 3
    # Other case than a known format: the same, with the hint.
    (lower,) = _score(client, "fmt-4", payment_format="wire")["warnings"]
    assert "did you mean 'Wire'?" in lower


def test_currencies_beyond_the_runs_data_are_named_and_counted(client: httpx.Client) -> None:
    counted = _warned(client, "currency")
    # Other case than a known currency: compared as written, it is a currency mismatch.
    cased = _score(client, "cur-1", payment_currency="us dollar")
    (warning,) = cased["warnings"]
    assert warning.startswith("payment_currency 'us dollar' differs only in case from 'US Dollar'")
    assert cased["features"]["currency_mismatch"] == 1.0
    # One unknown currency in both fields: one warning naming both; on both paths.
    for fastapi in (False, True):
        both = _score(client, f"cur-2-{fastapi}", payment_currency="Dogecoin",
                      receiving_currency="Dogecoin", fastapi=fastapi)  # fmt: skip
        assert both["warnings"] == [
            "payment_currency and receiving_currency 'Dogecoin' never occurs in the run's data;"
            " its amounts are read as if in a currency the model knows"
        ]
        assert both["features"]["currency_mismatch"] == 0.0
    assert _warned(client, "currency") == counted + 3


def test_a_run_that_records_no_currencies_checks_formats_only() -> None:
    check = InputCheck(None)
    kw = {"payment_currency": "Dogecoin", "receiving_currency": "us dollar"}
    assert check.warnings(payment_format="Wire", **kw) == []
    assert [w.kind for w in check.warnings(payment_format="ACH ", **kw)] == ["payment_format"]
