"""The GAN anomaly detector: generator, encoder and discriminators trained together (needs the `gan` extra)."""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "amlwatch.gan needs PyTorch: pip install torch==2.13.0 && pip install -e '.[gan]'"
    ) from err

from amlwatch.gan.config import Amp, GANConfig
from amlwatch.gan.detector import GANDetector, average_precision
from amlwatch.gan.prep import Preprocessor

__all__ = ["Amp", "GANConfig", "GANDetector", "Preprocessor", "average_precision"]
