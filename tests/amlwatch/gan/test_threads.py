"""The GAN scores alike whatever OMP_NUM_THREADS a process starts with (amlwatch.gan pins PyTorch).

The CLI gives OpenMP every core for XGBoost; PyTorch reads the same variable, and with two
threads its sums run in another order (the scores moved by ~4e-6 before the pin).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import sys
import numpy as np
from amlwatch.detectors import make_detector
from amlwatch.evaluate import temporal_split
from amlwatch.features import build_features
from amlwatch.synth import SynthConfig, generate, to_ledger

cfg = SynthConfig(n_transactions=8_000, days=60, laundering_rate=0.01, n_banks=8, seed=3)
frame = build_features(to_ledger(generate(cfg)))
split = temporal_split(frame.height)
y = frame.get_column("is_laundering").to_numpy()
gan = make_detector("gan", {}, seed=1).fit(frame[split.train], y[split.train])
np.save(sys.argv[1], gan.decision_function(frame[split.test]))
"""


def test_gan_scores_do_not_depend_on_the_processs_openmp_threads(tmp_path) -> None:
    scores = []
    for threads in ("1", "2"):
        path = tmp_path / f"scores_{threads}.npy"
        env = {**os.environ, "OMP_NUM_THREADS": threads}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        scores.append(np.load(path))
    np.testing.assert_array_equal(scores[0], scores[1])
