"""Reload re-reads the run folder given at startup (POST or SIGHUP); a failed reload changes nothing."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from basketcast.client import ServiceError
from basketcast.runfolder import MANIFEST, file_digest

from .conftest import Run


def _wait_for_version(client: Any, old: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = client.health()["model_version"]
        if version != old:
            return str(version)
        time.sleep(0.2)
    raise TimeoutError("the model version did not change")


def _republish(folder: Path, rel: str) -> None:
    """Record a changed output in the manifest, as a re-run's publication would."""
    manifest = json.loads((folder / MANIFEST).read_text())
    path = folder / rel
    manifest["files"][rel] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def test_reload_after_a_rerun_into_the_folder_and_failed_reloads(
    server_factory: Any, run: Run, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    shutil.copytree(run.out, folder, ignore=shutil.ignore_patterns("features", "serve"))
    server = server_factory(run=Run(data=run.data, out=folder)).start()
    user = run.test_users()[5]
    with server.client() as client:
        before = client.next_basket(user)
        version = client.health()["model_version"]
        assert client.reload()["model_version"] == version  # nothing changed: same version

        # A "nightly re-run" whose p(None) choice is independence: the next answers use
        # p(None) = prod(1 - p), a known answer.
        choice = folder / "models" / "p_none.json"
        choice.write_text(json.dumps({"requested": "independent", "chosen": "independent"}))
        _republish(folder, "models/p_none.json")
        server.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        new_version = _wait_for_version(client, version)
        after = client.next_basket(user)
        p = np.array([c["p"] for c in after["candidates"]])
        assert after["model_version"] == new_version
        assert after["p_none"] == pytest.approx(float(np.prod(1 - p)), rel=1e-6)
        assert before["p_none"] != pytest.approx(after["p_none"], rel=1e-6)

        # A broken folder: the reload fails with a reason, the loaded model keeps serving.
        (folder / "models" / "item_models.json").write_text("{broken")
        with pytest.raises(ServiceError) as failed:
            client.reload()
        assert failed.value.status == 500 and "keeps serving" in failed.value.reasons[0]
        assert client.health()["model_version"] == new_version
        assert client.next_basket(user) == after


def test_the_service_refuses_models_that_differ_from_the_manifest(run: Run, tmp_path: Path) -> None:
    from basketcast.errors import UsageError
    from basketcast.serve.scorer import ModelScorer

    folder = tmp_path / "run"
    shutil.copytree(run.out, folder, ignore=shutil.ignore_patterns("features", "serve"))
    assert ModelScorer(folder).version  # the copy itself is whole
    models = folder / "models"
    shutil.copyfile(
        models / "item_fold1.ubj", models / "item_fold0.ubj"
    )  # a valid model, not this one
    with pytest.raises(UsageError, match=r"item_fold0\.ubj is corrupt; re-run"):
        ModelScorer(folder)
