"""The networks: input layer, encoder E, generator G, discriminators, and the scoring graph.

Data space. A row is ``x = [scaled numeric | one-hot categoricals]``. The
encoder's and the discriminators' first linear layers act on the one-hot block,
which makes them learned embeddings of each category (a linear map of a
one-hot vector *is* an embedding lookup), while the reconstruction target stays
fixed; a trainable embedding as the target would let G and E shrink it to
nothing. The generator emits a softmax per categorical block, so G's output
lives on the same simplex as the one-hot rows.

No batch norm and no dropout anywhere: every layer treats each row on its own,
so a batch split across data-parallel processes gives exactly the gradients of
the whole batch (the DDP parity test relies on it).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["Discriminator", "EncoderGenerator", "InputLayer", "ScoringGraph"]


def _sn(layer: nn.Linear) -> nn.Module:
    return spectral_norm(layer)


def _mlp(sizes: list[int], *, sn: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b)
        layers.append(_sn(lin) if sn else lin)
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _log1p(a: torch.Tensor) -> torch.Tensor:
    """log(1 + a) accurate for tiny a, in plain ops that export to ONNX unchanged.

    Not `torch.log1p`: ONNX has no Log1p and the exporter writes Log(1 + a),
    which is 0 for |a| < float32 eps, so the graph parted from torch on the
    1e-12 rounding residues of window sums. Goldberg's identity
    ``log(u) * a / (u - 1)`` with ``u = 1 + a`` (a where u == 1) is exact to an ulp.
    """
    u = 1.0 + a
    d = u - 1.0
    safe = torch.where(d == 0, torch.ones_like(d), d)
    return torch.where(d == 0, a, torch.log(u) * a / safe)


class InputLayer(nn.Module):
    """Raw numeric values + category indices -> x (fitted scaling as buffers, no parameters)."""

    center: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        *,
        center: list[float],
        scale: list[float],
        vocab_sizes: list[int],
        clip: float,
        log_scale: bool = False,
    ) -> None:
        super().__init__()
        self.log_scale = bool(log_scale)
        self.register_buffer("center", torch.tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))
        self.clip = float(clip)
        self.vocab_sizes = list(vocab_sizes)
        self.dim = len(center) + sum(vocab_sizes)

    def forward(self, num: torch.Tensor, cat: torch.Tensor | None = None) -> torch.Tensor:
        if self.log_scale:
            num = torch.sign(num) * _log1p(num.abs())
        v = (num - self.center) / self.scale
        # Missing values sit at the training median (0 after centring).
        v = torch.where(torch.isnan(v), torch.zeros_like(v), v).clamp(-self.clip, self.clip)
        parts = [v]
        if self.vocab_sizes:
            assert cat is not None
            for j, size in enumerate(self.vocab_sizes):
                levels = torch.arange(size, device=cat.device)
                # Comparison with arange, not F.one_hot: exports to plain ONNX ops.
                parts.append((cat[:, j : j + 1] == levels).to(v.dtype))
        return torch.cat(parts, dim=1)


class EncoderGenerator(nn.Module):
    """E: x -> z and G: z -> x, called together so one forward serves DDP."""

    def __init__(self, *, n_numeric: int, vocab_sizes: list[int], latent: int, hidden: int) -> None:
        super().__init__()
        x_dim = n_numeric + sum(vocab_sizes)
        self.n_numeric = n_numeric
        self.vocab_sizes = list(vocab_sizes)
        self.encoder = _mlp([x_dim, hidden, hidden, latent])
        self.generator = _mlp([latent, hidden, hidden, x_dim])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        out = self.generator(z)
        if not self.vocab_sizes:
            return out
        parts = [out[:, : self.n_numeric]]
        start = self.n_numeric
        for size in self.vocab_sizes:
            parts.append(torch.softmax(out[:, start : start + size], dim=1))
            start += size
        return torch.cat(parts, dim=1)

    def forward(
        self, x: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """E(x), G(z) and the reconstruction G(E(x)); G runs once on both codes."""
        z_enc = self.encode(x)
        both = self.generate(torch.cat([z, z_enc], dim=0))
        return z_enc, both[: z.shape[0]], both[z.shape[0] :]


class Discriminator(nn.Module):
    """ALAD's discriminators, spectrally normalised: D_xz over (x, z) pairs, D_xx over (x, x')."""

    def __init__(self, *, x_dim: int, latent: int, hidden: int, cycle: bool) -> None:
        super().__init__()
        self.cycle = cycle
        self.xz_x = _mlp([x_dim, hidden], sn=True)
        self.xz_z = _mlp([latent, hidden], sn=True)
        self.xz_joint = _mlp([2 * hidden, hidden], sn=True)
        self.xz_out = _sn(nn.Linear(hidden, 1))
        if cycle:
            self.xx_feat = _mlp([2 * x_dim, hidden, hidden], sn=True)
            self.xx_out = _sn(nn.Linear(hidden, 1))
        self.act = nn.LeakyReLU(0.2)

    def xz(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit and penultimate features of D_xz."""
        h = torch.cat([self.act(self.xz_x(x)), self.act(self.xz_z(z))], dim=1)
        f = self.act(self.xz_joint(h))
        return self.xz_out(f).squeeze(1), f

    def xx(self, x: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit and penultimate features of D_xx."""
        f = self.act(self.xx_feat(torch.cat([x, x2], dim=1)))
        return self.xx_out(f).squeeze(1), f

    def forward(
        self,
        x: torch.Tensor,
        z_enc: torch.Tensor,
        x_fake: torch.Tensor,
        z: torch.Tensor,
        x_rec: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Logits (real pairs, fake pairs) of D_xz and, with the cycle, of D_xx."""
        n = x.shape[0]
        lxz, _ = self.xz(torch.cat([x, x_fake]), torch.cat([z_enc, z]))
        if not self.cycle:
            return lxz[:n], lxz[n:], None, None
        lxx, _ = self.xx(torch.cat([x, x]), torch.cat([x, x_rec]))
        return lxz[:n], lxz[n:], lxx[:n], lxx[n:]


class ScoringGraph(nn.Module):
    """Raw inputs -> (score, reconstruction error, feature distance); the exported graph.

    ``rec = ||((x - G(E(x))) / r - m) W||_2`` with r the per-column scale of
    the residual on the held-out training slice (`res_scale`; ones = the
    plain error) and, with ``rec_whiten``, m and W that slice's residual mean
    and Ledoit-Wolf whitening matrix (`res_mean`, `res_whiten`; zero and the
    identity otherwise), which makes rec the residual's Mahalanobis distance. Why per column: a column that G(E(x)) reconstructs almost exactly
    on lawful rows (one implied by the others) carries the most evidence
    when it is off, and an unscaled sum drowns it in the columns that are
    noise around the manifold (hour of day, say).
    ``feat = ||f(x, x) - f(x, G(E(x)))||_1`` with f D_xx's penultimate layer
    (ALAD's score), or D_xz's features of (x, E(x)) vs (G(E(x)), E(x))
    without the cycle discriminator. Each term is divided by its median on
    the held-out training slice so the weight w mixes comparable numbers:
    ``score = w rec/s_rec + (1 - w) feat/s_feat``.
    """

    weight: torch.Tensor
    rec_scale: torch.Tensor
    feat_scale: torch.Tensor
    res_scale: torch.Tensor
    res_mean: torch.Tensor
    res_whiten: torch.Tensor

    def __init__(
        self,
        inputs: InputLayer,
        encgen: EncoderGenerator,
        disc: Discriminator,
        *,
        weight: float = 0.5,
        rec_scale: float = 1.0,
        feat_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.encgen = encgen
        self.disc = disc
        self.register_buffer("weight", torch.tensor(float(weight)))
        self.register_buffer("rec_scale", torch.tensor(float(rec_scale)))
        self.register_buffer("feat_scale", torch.tensor(float(feat_scale)))
        self.register_buffer("res_scale", torch.ones(inputs.dim))
        # Whitening of the scaled residual (zero and identity = none; see `whiten`).
        self.register_buffer("res_mean", torch.zeros(inputs.dim))
        self.register_buffer("res_whiten", torch.eye(inputs.dim))

    def components(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unscaled (reconstruction error, feature distance) per row of x."""
        rec, feat, _ = self._parts(x)
        return rec, feat

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction error, feature distance, |x - G(E(x))| / res_scale per column)."""
        z = self.encgen.encode(x)
        x_rec = self.encgen.generate(z)
        scaled = (x - x_rec) / self.res_scale
        res = (scaled - self.res_mean) @ self.res_whiten
        rec = torch.sqrt((res**2).sum(dim=1))
        if self.disc.cycle:
            _, f_real = self.disc.xx(x, x)
            _, f_rec = self.disc.xx(x, x_rec)
        else:
            _, f_real = self.disc.xz(x, z)
            _, f_rec = self.disc.xz(x_rec, z)
        return rec, (f_real - f_rec).abs().sum(dim=1), scaled.abs()

    def forward(
        self, num: torch.Tensor, cat: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(score, reconstruction error, feature distance, per-column residual): the residual
        is what `GANDetector.reasons` ranks, so a served alert can give the same reasons."""
        rec, feat, residual = self._parts(self.inputs(num, cat))
        score = self.weight * rec / self.rec_scale + (1 - self.weight) * feat / self.feat_scale
        return score, rec, feat, residual
