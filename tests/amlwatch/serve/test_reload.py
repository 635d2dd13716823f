"""Reload (POST /v1/admin/reload or SIGHUP) serves the run folder's newly published run.

A "re-run" here publishes a new invocation into a copy of the run folder the
way `amlwatch run` does (`open_run_folder` + `publish`), with edited outputs:
a threshold, a smaller XGBoost model, another data source. A reload that
fails leaves the served model answering exactly as before.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from amlwatch.serve.model import ServedModel, choose_model
from runkit.runfolder import open_run_folder, published_folder, read_manifest

from .conftest import API_KEY, Run, Server

DETECTOR = "xgboost_tabular"
TX = {
    "timestamp": "2026/01/01 09:30", "from_bank": "900", "to_bank": "901",
    "amount_received": 9000.0, "receiving_currency": "Euro", "amount_paid": 9000.0,
    "payment_currency": "Euro", "payment_format": "Wire",
}  # fmt: skip


def _republish(folder: Path, edit: Callable[[Path], None], *, source: str | None = None) -> str:
    """Publish a new invocation into `folder` as a re-run would: the served files, edited."""
    published = published_folder(folder)
    manifest = read_manifest(published, product="amlwatch")
    with open_run_folder(folder, product="amlwatch") as run:
        for rel in manifest["files"]:
            shutil.copyfile(published / rel, run.output(rel))  # copies: `edit` writes in place
        edit(run.staging)
        run.publish(
            extra={"source": source or manifest["source"], "transactions": manifest["transactions"]}
        )
    return run.invocation_id


def _edit_metrics(staging: Path, change: Callable[[dict[str, Any]], None]) -> None:
    metrics = json.loads((staging / "metrics.json").read_text())
    change(metrics)
    (staging / "metrics.json").write_text(json.dumps(metrics))


def _smaller_model_threshold_zero(staging: Path) -> None:
    """The first 5 trees of the run's XGBoost (other scores, same columns), threshold 0."""
    import xgboost as xgb

    path = staging / "models" / f"{DETECTOR}.ubj"
    booster = xgb.Booster(model_file=str(path))
    booster[:5].save_model(str(path))

    def zero(metrics: dict[str, Any]) -> None:
        for row in metrics["evaluation"]:
            if row["detector"] == DETECTOR:
                row["threshold"] = 0.0

    _edit_metrics(staging, zero)


def _score(client: httpx.Client, pair: str) -> dict[str, Any]:
    """Score TX between two new accounts (no history: the same features every time)."""
    tx = {**TX, "from_account": f"RL-{pair}-A", "to_account": f"RL-{pair}-B"}
    r = client.post("/v1/transactions", params={"features": "true"}, json=tx)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _expected(model: ServedModel, answer: dict[str, Any]) -> float:
    return model.score(answer["features"])


def _counter(client: httpx.Client, outcome: str) -> float:
    prefix = f'amlwatch_reloads_total{{outcome="{outcome}"}} '
    lines = [ln for ln in client.get("/metrics").text.splitlines() if ln.startswith(prefix)]
    return float(lines[0].split()[-1]) if lines else 0.0


@pytest.fixture
def folder(aml_run: Run, tmp_path: Path) -> Path:
    """A copy of the run folder, links and all (so a re-run can publish into it)."""
    copy = tmp_path / "run"
    shutil.copytree(aml_run.out, copy, symlinks=True, ignore=shutil.ignore_patterns("serve"))
    return copy


@pytest.fixture
def served(
    aml_run: Run, folder: Path, server_factory: Any
) -> Iterator[tuple[Server, httpx.Client]]:
    run = Run(aml_run.world, aml_run.history, folder, aml_run.n_history)
    server = server_factory(run=run, api_key=API_KEY, extra=("--detector", DETECTOR)).start()
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield server, client


def test_reload_serves_a_rerun_and_a_failed_reload_changes_nothing(
    folder: Path, served: tuple[Server, httpx.Client]
) -> None:
    _, client = served
    first = read_manifest(published_folder(folder), product="amlwatch")["invocation_id"]
    old_model = choose_model(published_folder(folder), detector=DETECTOR)
    assert client.get("/v1/health").json()["invocation_id"] == first
    same = client.post("/v1/admin/reload")
    assert same.status_code == 200, same.text
    assert same.json()["invocation_id"] == first == same.json()["previous_invocation_id"]
    before = _score(client, "before")
    assert before["score"] == pytest.approx(_expected(old_model, before), abs=1e-7)

    # A re-run publishes a smaller model with threshold 0: every answer after the reload
    # is that model's score and alerts (XGBoost's scores are probabilities, > 0).
    second = _republish(folder, _smaller_model_threshold_zero)
    new_model = choose_model(published_folder(folder), detector=DETECTOR)
    during: list[dict[str, Any]] = []

    def keep_scoring() -> None:  # requests while the reload loads the new model
        with httpx.Client(
            base_url=client.base_url, headers={"X-API-Key": API_KEY}, timeout=60
        ) as c:
            for i in range(60):
                during.append(_score(c, f"during-{i}"))

    scorer = threading.Thread(target=keep_scoring)
    scorer.start()
    while len(during) < 5 and scorer.is_alive():
        time.sleep(0.01)
    reloaded = client.post("/v1/admin/reload")
    scorer.join()
    assert reloaded.status_code == 200, reloaded.text
    answer = reloaded.json()
    assert answer["invocation_id"] == second and answer["previous_invocation_id"] == first
    assert (answer["detector"], answer["kind"], answer["threshold"]) == (DETECTOR, "xgboost", 0.0)
    after = _score(client, "after")
    assert (after["detector"], after["threshold"], after["model_alert"]) == (DETECTOR, 0.0, True)
    assert after["score"] == pytest.approx(_expected(new_model, after), abs=1e-7)
    assert after["score"] != pytest.approx(before["score"], abs=1e-4)  # same features, new model
    # No answer mixes the two runs: each one's score is its own threshold's model's.
    assert during[0]["threshold"] == old_model.threshold != 0.0
    for a in during:
        model = new_model if a["threshold"] == 0.0 else old_model
        assert a["threshold"] == model.threshold
        assert a["score"] == pytest.approx(_expected(model, a), abs=1e-7)
    health = client.get("/v1/health").json()
    assert (health["invocation_id"], health["threshold"]) == (second, 0.0)
    assert _counter(client, "ok") == 2.0
    assert f'invocation_id="{second}"' in client.get("/metrics").text

    # Refused, each with its reason; the model of the second run keeps answering alike.
    def still_the_second(pair: str) -> None:
        again = _score(client, pair)
        assert (again["score"], again["threshold"]) == (after["score"], 0.0)
        assert client.get("/v1/health").json()["invocation_id"] == second

    # 1. A re-run made from other data: the account state was built from the served run's.
    other = str(folder.parent / "other-data")
    third = _republish(
        folder, lambda s: _edit_metrics(s, lambda m: m.update(source=other)), source=other
    )
    conflict = client.post("/v1/admin/reload")
    assert conflict.status_code == 409, conflict.text
    reason = conflict.json()["reasons"][0]
    assert "keeps serving" in reason and "other data" in reason and other in reason
    assert third in reason and "--db" in reason
    still_the_second("conflict")
    assert _counter(client, "state_conflict") == 1.0
    # 2. A damaged model (its bytes differ from run.json's).
    model_path = published_folder(folder) / "models" / f"{DETECTOR}.ubj"
    model_path.write_bytes(b"not a model")
    damaged = client.post("/v1/admin/reload")
    assert damaged.status_code == 500, damaged.text
    assert "keeps serving" in damaged.json()["reasons"][0]
    assert f"{DETECTOR}.ubj is corrupt" in damaged.json()["reasons"][0]
    still_the_second("damaged")
    # 3. A folder half copied: a file run.json lists is missing.
    model_path.unlink()
    half = client.post("/v1/admin/reload")
    assert half.status_code == 500 and "is missing" in half.json()["reasons"][0], half.text
    still_the_second("half")
    assert _counter(client, "error") == 2.0 and _counter(client, "ok") == 2.0


def test_reload_needs_the_api_key(served: tuple[Server, httpx.Client]) -> None:
    server, _ = served
    url = f"{server.url}/v1/admin/reload"
    assert httpx.post(url, timeout=30).status_code == 401
    wrong = httpx.post(url, headers={"X-API-Key": "x" * 24}, timeout=30)
    assert wrong.status_code == 401 and "X-API-Key" in wrong.json()["reasons"][0]


def _wait_for_event(server: Server, event: str, timeout: float = 120.0) -> None:
    def logged() -> bool:
        assert server.log is not None
        return any(
            json.loads(line).get("event") == event
            for line in server.log.read_text().splitlines()
            if line.startswith("{")
        )

    deadline = time.monotonic() + timeout
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged(), server.tail()


def test_sighup_reloads_and_a_failed_one_keeps_serving(
    folder: Path, served: tuple[Server, httpx.Client]
) -> None:
    server, client = served
    assert server.process is not None
    before = _score(client, "hup-before")
    second = _republish(folder, _smaller_model_threshold_zero)
    server.process.send_signal(signal.SIGHUP)
    _wait_for_event(server, "reloaded")
    assert client.get("/v1/health").json()["invocation_id"] == second
    after = _score(client, "hup-after")
    assert after["threshold"] == 0.0 and after["score"] != before["score"]

    (published_folder(folder) / "config.json").write_text("{broken")
    server.process.send_signal(signal.SIGHUP)
    _wait_for_event(server, "reload_failed")
    assert server.alive()
    assert client.get("/v1/health").json()["invocation_id"] == second
    assert _score(client, "hup-failed")["score"] == after["score"]
    assert _counter(client, "ok") == 1.0 and _counter(client, "error") == 1.0
