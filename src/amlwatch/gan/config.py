"""The GAN detector's settings: one frozen dataclass, validated once."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from amlwatch.gan.weight import WeightRule

__all__ = ["Amp", "GANConfig"]


class Amp(enum.StrEnum):
    """Mixed precision on CUDA (ignored on CPU, where training is float32)."""

    OFF = "off"
    BF16 = "bf16"
    FP16 = "fp16"


@dataclasses.dataclass(frozen=True, kw_only=True)
class GANConfig:
    """Architecture, optimisation and stopping settings of `GANDetector`.

    Parameters
    ----------
    latent_dim, hidden
        Size of the latent code z and width of every hidden layer.
    lr_g, lr_d
        Adam learning rates of the generator+encoder and of the discriminators.
    batch_size
        The *global* batch: with W data-parallel processes each holds
        ``batch_size / W`` rows of it, so W processes take the same steps as one.
    max_epochs, patience
        Early stopping: stop after `patience` epochs without a better
        validation criterion (see `GANDetector`), at most `max_epochs`.
    val_fraction
        The last share of the training rows (the frame is in time order) held
        out for the unsupervised stopping criterion and the score scales.
    weight
        Starting score weight w of the reconstruction term (``choose_weight``
        replaces it, using validation labels).
    weight_rule, weight_boot
        How ``choose_weight`` picks w on validation (`amlwatch.gan.weight`):
        ``"best"`` (highest PR-AUC) or ``"one_se"`` (the most
        reconstruction-heavy w within one bootstrap standard error of it,
        from `weight_boot` seeded resamples).
    epoch_rows
        Rows drawn (without replacement, seeded) per epoch; None = all. Keeps
        an epoch, and so the stopping check, at a fixed cost on large periods.
    log_scale
        Apply ``sign(v) log(1 + |v|)`` to numeric values before the robust
        scaling: counts and sums of money are heavy-tailed.
    clip
        Scaled numeric features are clipped to ``[-clip, clip]`` so a few
        extreme amounts cannot dominate the loss.
    rec_weight
        Weight of the reconstruction loss ``mean ||x - G(E(x))||^2`` added to
        the encoder+generator objective (0 = pure ALAD). See `GANDetector`
        for why: the score is a reconstruction error, so E and G are asked
        for reconstructions directly, with the adversarial terms keeping
        G(E(x)) on the data manifold and E's codes on the prior.
    rec_scaling
        Divide each column's reconstruction residual by its SD on the
        held-out slice before taking the norm (see `nets.ScoringGraph`).
    rec_whiten
        Whiten the scaled residual with its held-out mean and Ledoit-Wolf
        covariance (`amlwatch.gan.whiten`), so the reconstruction term is a
        Mahalanobis distance: residuals that are correlated on lawful rows
        (window counts over nested horizons) count once, and a row that
        breaks the correlation stands out.
    cycle
        Train ALAD's x-x discriminator (cycle consistency); it supplies the
        discriminator-feature term of the score, so turning it off leaves the
        x-z discriminator's features in its place.
    seed
        Seeds weights, shuffling and noise; CPU runs are bit-reproducible.
    device
        ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` etc.).
    amp
        Mixed precision on CUDA: bf16 (default there), fp16 (with a gradient
        scaler) or off.
    """

    latent_dim: int = 8
    hidden: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    batch_size: int = 256
    max_epochs: int = 50
    patience: int = 5
    val_fraction: float = 0.1
    epoch_rows: int | None = None
    weight: float = 0.5
    weight_rule: WeightRule = WeightRule.BEST
    weight_boot: int = 200
    log_scale: bool = False
    clip: float = 10.0
    rec_weight: float = 1.0
    rec_scaling: bool = True
    rec_whiten: bool = False
    cycle: bool = True
    seed: int = 0
    device: str = "cpu"
    amp: Amp = Amp.BF16

    def __post_init__(self) -> None:
        problems = []
        for name in ("latent_dim", "hidden", "batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d", "clip"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, got {getattr(self, name)}")
        if self.epoch_rows is not None and self.epoch_rows < 1:
            problems.append(f"epoch_rows must be >= 1 or None, got {self.epoch_rows}")
        if not self.rec_weight >= 0.0:
            problems.append(f"rec_weight must be >= 0, got {self.rec_weight}")
        if not 0.0 < self.val_fraction < 0.5:
            problems.append(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        if not 0.0 <= self.weight <= 1.0:
            problems.append(f"weight must be in [0, 1], got {self.weight}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            problems.append(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.weight_boot < 2:
            problems.append(f"weight_boot must be >= 2, got {self.weight_boot}")
        if self.weight_rule not in set(WeightRule):
            problems.append(
                f"weight_rule must be one of {[str(r) for r in WeightRule]}, got {self.weight_rule!r}"
            )
        if problems:
            raise ValueError("GANConfig: " + "; ".join(problems))
        object.__setattr__(self, "amp", Amp(self.amp))
        object.__setattr__(self, "weight_rule", WeightRule(self.weight_rule))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON next to the checkpoints)."""
        out = dataclasses.asdict(self)
        out["amp"] = str(self.amp)
        out["weight_rule"] = str(self.weight_rule)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GANConfig:
        return cls(**values)
