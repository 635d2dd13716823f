"""A real `amlwatch serve` over loopback: stream parity, bad input, order, health, metrics, keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest

from amlwatch.features import build_features, feature_names
from amlwatch.serve.model import choose_model
from tests.offline_docs import assert_docs_are_served_offline

from .conftest import API_KEY, Run, Server, body

STREAMABLE = feature_names(streamable_only=True)
N_STREAM = 250


@pytest.fixture(scope="module")
def keyed(aml_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server, warmed from the history, that requires an API key (set in its environment)."""
    db = tmp_path_factory.mktemp("aml-http") / "state.sqlite3"
    started = Server(run=aml_run, db=db, api_key=API_KEY).start()
    yield started
    started.kill()


@pytest.fixture(scope="module")
def client(keyed: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed.url, headers={"X-API-Key": API_KEY}, timeout=30) as c:
        yield c


def test_streamed_features_scores_and_rules_equal_the_batch_ones(
    aml_run: Run, client: httpx.Client
) -> None:
    """The service's features for the stream equal part 1's batch features for the same stream."""
    from amlwatch.detectors.rules import RulesDetector

    stream = aml_run.stream().head(N_STREAM)
    answers = []
    for row in stream.iter_rows(named=True):
        r = client.post("/v1/transactions", params={"features": "true"}, json=body(row))
        assert r.status_code == 200, r.text
        answers.append(r.json())
    batch = build_features(aml_run.ledger(), families=["transaction", "account", "pair"])
    batch = batch.slice(aml_run.n_history, N_STREAM)
    served = pl.DataFrame([a["features"] for a in answers]).select(STREAMABLE)
    for c in STREAMABLE:
        assert served.get_column(c).cast(pl.Float32).equals(batch.get_column(c)), c
    # Scores: the run's GAN (ONNX) on the batch rows; rules: the batch rules engine.
    model = choose_model(aml_run.out)
    expected = np.array([model.score(r) for r in batch.iter_rows(named=True)])
    np.testing.assert_allclose([a["score"] for a in answers], expected, rtol=1e-6, atol=1e-6)
    hits = RulesDetector().hits(batch)
    for a, want in zip(answers, hits.iter_rows(named=True), strict=True):
        assert a["rules"] == [k for k, v in want.items() if v]
        assert a["model_alert"] == (a["score"] > a["threshold"])
        assert a["alert"] == (a["model_alert"] or bool(a["rules"]))
    # A model alert says why, as the run's alerts.parquet would; other answers give no reasons.
    for a, row in zip(answers, batch.iter_rows(named=True), strict=True):
        assert a["reasons"] == (model.explain(row) if a["model_alert"] else [])
    assert any(a["reasons"] for a in answers)
    assert [a["seq"] for a in answers] == list(
        range(aml_run.n_history, aml_run.n_history + N_STREAM)
    )
    # Not vacuous: the accounts have history from the warm start, and some pairs repeat.
    assert batch.get_column("src_out_n_30d").max() > 5  # type: ignore[operator]
    assert batch.get_column("pair_n_before").max() > 0  # type: ignore[operator]


GOOD = {
    "timestamp": "2026/01/01 09:30", "from_bank": "900", "from_account": "PROBE-A",
    "to_bank": "901", "to_account": "PROBE-B", "amount_received": 120.0,
    "receiving_currency": "Euro", "amount_paid": 120.0, "payment_currency": "Euro",
    "payment_format": "Wire",
}  # fmt: skip


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


BAD: list[tuple[str, Any, int, str]] = [
    ("missing timestamp", _without("timestamp"), 422, "timestamp"),
    ("timestamp not a date", {**GOOD, "timestamp": "2026/13/45 25:00"}, 422, "timestamp"),
    # A typo past the clock would lock both accounts (every later one a 409): refused.
    ("timestamp far ahead", {**GOOD, "timestamp": "9999/12/31 23:59"}, 422, "after this service"),
    ("amount past float32", {**GOOD, "amount_paid": 1e39}, 422, "amount_paid"),
    ("timestamp a number", {**GOOD, "timestamp": 1700000000}, 422, "timestamp"),
    ("empty sender bank", {**GOOD, "from_bank": ""}, 422, "from_bank"),
    ("missing receiver account", _without("to_account"), 422, "to_account"),
    ("negative amount paid", {**GOOD, "amount_paid": -5.0}, 422, "amount_paid"),
    ("amount as a string", {**GOOD, "amount_received": "120"}, 422, "amount_received"),
    ("infinite amount", b'{"amount_paid": Infinity}', 422, "amount_paid"),
    ("amount null", {**GOOD, "amount_paid": None}, 422, "amount_paid"),
    ("unknown field", {**GOOD, "Amount Paid": 3}, 422, "Amount Paid"),
    ("label not 0/1", {**GOOD, "is_laundering": 2}, 422, "is_laundering"),
    ("format too long", {**GOOD, "payment_format": "x" * 500}, 422, "payment_format"),
    ("not JSON", b"timestamp=2030", 422, "body"),
    ("a JSON list", [GOOD], 422, "body"),
    ("body over the size limit", {**GOOD, "to_bank": "x" * 40_000}, 413, "bytes"),
]


@pytest.mark.parametrize(("case", "payload", "status", "names"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_that_names_the_field(
    client: httpx.Client, case: str, payload: Any, status: int, names: str
) -> None:
    if isinstance(payload, bytes):
        r = client.post("/v1/transactions", content=payload,
                        headers={"content-type": "application/json"})  # fmt: skip
    else:
        r = client.post("/v1/transactions", json=payload)
    assert r.status_code == status, r.text
    answer = r.json()
    assert answer["error"] and names in " ".join(answer["reasons"]), answer


def test_after_bad_input_the_server_is_up_and_scores(client: httpx.Client) -> None:
    assert client.get("/v1/health").json()["status"] == "ok"
    r = client.post("/v1/transactions", json=GOOD)
    assert r.status_code == 200, r.text
    assert r.json()["features"] is None  # only with ?features=true


def test_an_out_of_order_transaction_is_409_and_changes_nothing(client: httpx.Client) -> None:
    late = {**GOOD, "timestamp": "2025/12/31 23:59", "to_account": "PROBE-C"}
    r = client.post("/v1/transactions", json=late)
    assert r.status_code == 409 and "timestamp" in r.json()["reasons"][0]
    later = {**GOOD, "timestamp": "2026/01/01 09:31"}
    again = client.post("/v1/transactions", params={"features": "true"}, json=later).json()
    assert again["features"]["src_out_n_1h"] == 1.0  # GOOD only; the refused one is not counted


def test_writes_need_the_api_key(keyed: Server) -> None:
    url = f"{keyed.url}/v1/transactions"
    assert httpx.post(url, json=GOOD, timeout=10).status_code == 401
    wrong = httpx.post(url, json=GOOD, headers={"X-API-Key": "x" * 24}, timeout=10)
    assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["reasons"][0]
    # Without the key, a bad body is still a 401: the fields are not described to strangers.
    blind = httpx.post(url, json={}, headers={"X-API-Key": "x" * 24}, timeout=10)
    assert blind.status_code == 401
    assert httpx.get(f"{keyed.url}/v1/health", timeout=10).status_code == 200  # reads are open


def test_a_body_that_is_not_json_is_a_415(client: httpx.Client) -> None:
    # Accounts of their own: what GOOD's accounts saw before does not matter here.
    sent = json.dumps({**GOOD, "from_account": "PROBE-M", "to_account": "PROBE-N"})
    r = client.post("/v1/transactions", content=sent, headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported media type"
    assert "text/plain" in r.json()["reasons"][0] and "application/json" in r.json()["reasons"][0]
    assert client.post("/v1/transactions", content=sent).status_code == 415  # no content type
    r = client.post("/v1/transactions", content=sent,
                    headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert client.get("/v1/health", headers={"content-type": "text/plain"}).status_code == 200
    # Counted under the route it was sent to; only a path no route has is "unmatched".
    assert client.post("/v1/nowhere", content=sent).status_code == 415
    text = client.get("/metrics").text
    assert 'amlwatch_requests_total{method="POST",route="/v1/transactions",status="415"}' in text
    assert 'amlwatch_requests_total{method="POST",route="unmatched",status="415"}' in text


def test_a_body_over_the_limit_is_counted_as_a_413(client: httpx.Client) -> None:
    # The size limit answers before routing too; its 413 is still logged and counted.
    huge = json.dumps({**GOOD, "to_bank": "x" * 40_000})
    sent = client.post(
        "/v1/transactions", content=huge, headers={"content-type": "application/json"}
    )
    assert sent.status_code == 413
    text = client.get("/metrics").text
    assert 'amlwatch_requests_total{method="POST",route="/v1/transactions",status="413"}' in text


def test_health_and_prometheus_metrics(aml_run: Run, client: httpx.Client) -> None:
    health = client.get("/v1/health").json()
    assert health["detector"] == "gan" and health["kind"] == "gan_onnx"
    assert health["history_transactions"] == aml_run.n_history
    assert health["scored_transactions"] >= N_STREAM
    text = client.get("/metrics").text
    assert 'amlwatch_requests_total{method="POST",route="/v1/transactions",status="422"}' in text
    assert "amlwatch_commit_group_size_count" in text
    # Over 128 commits so far: the WAL was checkpointed on the checkpointer's thread.
    rounds = [ln for ln in text.splitlines() if ln.startswith("amlwatch_checkpoint_seconds_count")]
    assert rounds and float(rounds[0].split()[-1]) >= 1
    assert 'amlwatch_model_info{detector="gan"' in text
    assert health["durability"] == "process"  # the default
    assert 'amlwatch_state_info{durability="process",synchronous="NORMAL"} 1.0' in text


def test_sighup_reloads_the_same_run_and_does_not_end_the_service(
    keyed: Server, client: httpx.Client
) -> None:
    import signal

    assert keyed.process is not None
    invocation = client.get("/v1/health").json()["invocation_id"]
    keyed.process.send_signal(signal.SIGHUP)  # a reload, as in basketcast serve
    deadline = time.monotonic() + 60
    while '"event": "reloaded"' not in keyed.tail() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert '"event": "reloaded"' in keyed.tail() and keyed.alive()
    health = client.get("/v1/health").json()
    assert health["invocation_id"] == invocation and health["detector"] == "gan"
    assert 'amlwatch_reloads_total{outcome="ok"} 1.0' in client.get("/metrics").text


def test_the_api_docs_load_nothing_from_outside_the_server(client: httpx.Client) -> None:
    assert_docs_are_served_offline(client)
