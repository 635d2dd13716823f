"""Data parallel: 2 gloo processes, each with half a batch, take the single-process step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from amlwatch.gan import GANConfig, GANDetector

from ._planted import CATEGORICAL, NUMERIC, planted


def _params(det: GANDetector) -> dict[str, np.ndarray]:
    assert det.graph_ is not None
    return {k: v.detach().numpy().copy() for k, v in det.graph_.state_dict().items()}


def test_two_process_gloo_step_equals_one_process_step(tmp_path: Path) -> None:
    # 80 rows, val_fraction 0.2 -> 64 training rows = exactly one global batch of 64.
    frame, _ = planted(80, anomaly_rate=0.05, seed=3)
    path = tmp_path / "train.parquet"
    frame.write_parquet(path)
    cfg = GANConfig(batch_size=64, val_fraction=0.2, max_epochs=1, seed=5)
    single = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg, max_steps=1)
    single.fit(frame)
    untrained = GANDetector(columns=NUMERIC, categorical=CATEGORICAL, config=cfg, max_steps=0)
    untrained.fit(frame)

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "amlwatch.gan.ddp", "--features", str(path), "--columns", ",".join(NUMERIC),
        "--categorical", ",".join(CATEGORICAL), "--out", str(out), "--max-steps", "1",
        "--config", '{"batch_size": 64, "val_fraction": 0.2, "max_epochs": 1, "seed": 5}',
    ]  # fmt: skip
    # A hang guard, not a speed check: torchrun's two imports of torch took > 120 s on the
    # shared 2-core machine under load.
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 processes" in done.stderr  # the log line names the world size
    ddp = GANDetector.load(out)

    a, b, before = _params(single), _params(ddp), _params(untrained)
    assert a.keys() == b.keys()
    moved = 0
    for key in a:
        np.testing.assert_allclose(b[key], a[key], atol=1e-5, rtol=0, err_msg=key)
        moved += int(not np.array_equal(a[key], before[key]))
    assert moved > 10  # the step changed the weights: the comparison is not vacuous
    scores = ddp.decision_function(frame)
    np.testing.assert_allclose(scores, single.decision_function(frame), atol=1e-4)
