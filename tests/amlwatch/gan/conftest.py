"""GAN tests: skip cleanly without PyTorch; one torch thread (the machine has 2 cores)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
