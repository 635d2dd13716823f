"""The GAN anomaly detector: generator, encoder and discriminators trained together (needs the `gan` extra)."""

from __future__ import annotations

try:
    import torch
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "amlwatch.gan needs PyTorch: pip install torch==2.13.0 && pip install -e '.[gan]'"
    ) from err

# The GAN's scores depend on PyTorch's CPU thread count (the order of its sums), so it
# trains and scores on one thread wherever it runs, as every recorded figure did; the CLI
# gives OpenMP more threads for XGBoost. Training scales out by processes (DDP) instead.
torch.set_num_threads(1)

from amlwatch.gan.config import Amp, GANConfig  # noqa: E402
from amlwatch.gan.detector import GANDetector, average_precision  # noqa: E402
from amlwatch.gan.prep import Preprocessor  # noqa: E402

__all__ = ["Amp", "GANConfig", "GANDetector", "Preprocessor", "average_precision"]
