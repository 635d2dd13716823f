"""`GANDetector`: an ALAD-style GAN with a simultaneously trained encoder, as an amlwatch `Detector`.

Formulation. Generator G, encoder E and discriminators are trained at the
same time, as in ALAD (Zenati et al., 2018): a BiGAN joint discriminator
D_xz tells real pairs (x, E(x)) from generated pairs (G(z), z), and a
cycle-consistency discriminator D_xx tells (x, x) from (x, G(E(x))). Why
this one: Berg et al. (2019), the architecture the bank cites, show that
training the encoder *at training time, jointly with the generator* is what
makes a GAN detector tolerate anomalies mixed into its "normal" data, and
that the encoder gives a score without per-sample latent optimisation. Their
experiments are on images; ALAD is the joint-training formulation with a
tabular track record (KDD99, arrhythmia), and its D_xx supplies the
discriminator-feature distance the score needs. Berg et al.'s latent-norm
cue ``||E(x)||`` is not part of the score here.

Reconstruction loss. Pure ALAD asks E and G for reconstructions only through
D_xx, and on this tabular data G(E(x)) stayed far from x (the first
session's seed-0 PR-AUC was below the Isolation Forest's). The encoder+
generator objective therefore adds ``rec_weight * mean ||x - G(E(x))||^2``
(an izi-style term, like f-AnoGAN's encoder loss, but trained at the same
time as the GAN, which is the simultaneous training Berg et al. argue for;
its gradient reaches G as well as E); the adversarial terms keep
G(E(x)) on the data and E's codes on the prior. ``rec_weight = 0`` is ALAD.

Score (higher = more anomalous):
``w * ||(x - G(E(x))) / r||_2 / s_rec + (1 - w) * ||f(x,x) - f(x,G(E(x)))||_1 / s_feat``
with r the per-column residual SD on the held-out training slice (so a
column that is reconstructed tightly on lawful rows counts when it is off;
with ``rec_whiten`` the scaled residual is also whitened by that slice's
Ledoit-Wolf covariance, making the first norm a Mahalanobis distance),
f the penultimate layer of D_xx and s_* the medians of the two terms on the
same slice. `choose_weight` picks w on a labelled
validation frame by ``config.weight_rule`` (highest PR-AUC, or the one-SE
rule of `amlwatch.gan.weight`): **it uses labels** (the training itself never does).

Stability: spectral normalisation on every discriminator layer; Adam with
beta1 = 0.5; seeded; early stopping on the unsupervised criterion stated in
`amlwatch.gan.train`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl
import torch

from amlwatch.detectors.base import Detector, NotFittedError
from amlwatch.gan.config import GANConfig
from amlwatch.gan.nets import Discriminator, EncoderGenerator, InputLayer, ScoringGraph
from amlwatch.gan.prep import Preprocessor, residual_reasons
from amlwatch.gan.train import fit_networks
from amlwatch.gan.weight import WeightChoice, average_precision, choose_weight
from amlwatch.gan.whiten import whitener

__all__ = ["GANDetector", "average_precision"]

_WEIGHTS = "weights.pt"
# Smallest per-column residual scale, in the scaled input's units (robust SDs / one-hot).
_RES_FLOOR = 1e-2
_META = "gan.json"


class GANDetector(Detector):
    """GAN + encoder anomaly detector over chosen feature columns (labels ignored in `fit`).

    Parameters
    ----------
    columns
        Numeric feature columns (robust-scaled with statistics fitted on the
        training rows, clipped to ``±config.clip``; missing -> median).
    categorical
        Categorical columns (one-hot, embedded by the first layers; values
        unseen in training map to one "unseen" level).
    config
        Architecture, optimisation and stopping settings.
    checkpoint_dir, resume
        Save the training state after every epoch there; resume from it.
    max_steps
        Stop after this many global optimiser steps, keeping the last weights
        (smoke runs and the data-parallel parity test).
    contamination
        The share for the first threshold (see `Detector`).
    """

    name: ClassVar[str] = "GAN"
    supervised: ClassVar[bool] = False

    def __init__(
        self,
        *,
        columns: Sequence[str],
        categorical: Sequence[str] = (),
        config: GANConfig | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        max_steps: int | None = None,
        contamination: float = 0.001,
    ) -> None:
        super().__init__(contamination=contamination)
        if not columns:
            raise ValueError("GANDetector needs at least one numeric column")
        self.columns = tuple(columns)
        self.categorical = tuple(categorical)
        self.config = config or GANConfig()
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.resume = resume
        self.max_steps = max_steps
        self.prep_: Preprocessor | None = None
        self.graph_: ScoringGraph | None = None
        self.history_: list[dict[str, float]] = []
        self.best_epoch_ = 0
        self._train_components: tuple[np.ndarray, np.ndarray] | None = None
        self.weight_choice_: WeightChoice | None = None

    # -- fitting ---------------------------------------------------------------
    def _fit(self, features: pl.DataFrame, labels: np.ndarray | None) -> None:
        del labels  # unsupervised: the training period is used with its labels ignored
        cfg = self.config
        prep = Preprocessor.fit(
            features, numeric=self.columns, categorical=self.categorical, log_scale=cfg.log_scale
        )
        inputs = _input_layer(prep, cfg)
        x = _to_x(inputs, *prep.transform(features))
        result = fit_networks(
            x,
            n_numeric=len(prep.numeric),
            vocab_sizes=list(prep.vocab_sizes),
            config=cfg,
            checkpoint_dir=self.checkpoint_dir,
            resume=self.resume,
            max_steps=self.max_steps,
        )
        graph = ScoringGraph(
            inputs, result.networks.encgen, result.networks.disc, weight=cfg.weight
        )
        graph.eval()
        # Scales from the held-out slice (rows the networks did not fit): the per-column
        # residual SD (floored: a column reconstructed exactly must not divide by ~0),
        # then the medians of both terms.
        n_val = max(1, round(x.shape[0] * cfg.val_fraction))
        if cfg.rec_scaling:
            graph.res_scale.copy_(_residual(graph, x[-n_val:]).std(0).clamp_min(_RES_FLOOR))
        if cfg.rec_whiten:
            r = (_residual(graph, x[-n_val:]) / graph.res_scale).cpu().double().numpy()
            mean, w = whitener(r)
            graph.res_mean.copy_(torch.from_numpy(mean))
            graph.res_whiten.copy_(torch.from_numpy(w))
        rec, feat = _components(graph, x[-n_val:])
        graph.rec_scale.fill_(max(float(np.median(rec)), 1e-12))
        graph.feat_scale.fill_(max(float(np.median(feat)), 1e-12))
        self.prep_, self.graph_ = prep, graph.cpu()
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self._train_components = _components(self.graph_, x)

    def _score(self, features: pl.DataFrame) -> np.ndarray:
        rec, feat = self.components(features)
        return self._combine(rec, feat)

    # -- the two score terms and their weight ----------------------------------
    @property
    def weight(self) -> float:
        """The current weight w of the reconstruction term."""
        return float(self._graph().weight)

    def components(self, features: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per row: reconstruction error and discriminator-feature distance (unscaled)."""
        graph, prep = self._graph(), self.prep_
        assert prep is not None
        num, cat = prep.transform(features)
        x = _to_x(graph.inputs, num, cat)
        return _components(graph, x)

    def reasons(self, features: pl.DataFrame, *, top: int = 3) -> list[list[str]]:
        """The columns G(E(x)) reconstructs worst, as 'name (+|error| / its held-out residual SD)'."""
        graph, prep = self._graph(), self.prep_
        assert prep is not None
        x = _to_x(graph.inputs, *prep.transform(features))
        err = (_residual(graph, x) / graph.res_scale).abs().cpu().numpy()
        return residual_reasons(prep, err, top)

    def _combine(self, rec: np.ndarray, feat: np.ndarray) -> np.ndarray:
        g = self._graph()
        w, sr, sf = float(g.weight), float(g.rec_scale), float(g.feat_scale)
        return w * rec / sr + (1.0 - w) * feat / sf

    def set_weight(self, weight: float) -> Self:
        """Set w; the training scores and the contamination threshold follow."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        self._graph().weight.fill_(float(weight))
        if self._train_components is not None:
            self.decision_scores_ = self._combine(*self._train_components)
            self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.contamination))
        return self

    def choose_weight(
        self, val_frame: pl.DataFrame, val_labels: np.ndarray, *, grid: int = 21
    ) -> float:
        """Pick w on a labelled validation frame by ``config.weight_rule``. **Uses labels.**

        ``best``: the w in {0, 1/(grid-1), ..., 1} of highest validation PR-AUC
        (ties: the w closest to 0.5); ``one_se``: the largest w within one
        bootstrap standard error of that PR-AUC (see `amlwatch.gan.weight`).
        Returns the chosen w, which is also set (details in `weight_choice_`);
        without any positive label the weight is kept.
        """
        y = np.asarray(val_labels).astype(bool)
        if y.shape[0] != val_frame.height:
            raise ValueError(f"{y.shape[0]} labels for {val_frame.height} validation rows")
        if not y.any():
            return self.weight  # nothing to learn from: keep the current weight
        rec, feat = self.components(val_frame)
        g = self._graph()
        choice = choose_weight(
            rec / float(g.rec_scale),
            feat / float(g.feat_scale),
            y,
            rule=self.config.weight_rule,
            grid=grid,
            n_boot=self.config.weight_boot,
            seed=self.config.seed,
        )
        self.weight_choice_ = choice
        self.set_weight(choice.weight)
        return choice.weight

    def _graph(self) -> ScoringGraph:
        if self.graph_ is None:
            raise NotFittedError(f"{self.name} must be fitted first")
        return self.graph_

    # -- persistence -----------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write weights (torch state dict) and metadata (JSON); atomic per file."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        graph, prep = self._graph(), self.prep_
        assert prep is not None and self.decision_scores_ is not None
        tmp = out / f".{_WEIGHTS}.tmp{os.getpid()}"
        torch.save(graph.state_dict(), tmp)
        os.replace(tmp, out / _WEIGHTS)
        meta: dict[str, Any] = {
            "columns": list(self.columns),
            "categorical": list(self.categorical),
            "config": self.config.to_dict(),
            "contamination": self.contamination,
            "threshold": self.threshold_,
            "preprocessor": prep.to_dict(),
            "history": self.history_,
            "best_epoch": self.best_epoch_,
        }
        tmp = out / f".{_META}.tmp{os.getpid()}"
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, out / _META)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> GANDetector:
        """Load what `save` wrote (scores like the saved detector; not resumable training)."""
        src = Path(directory)
        meta = json.loads((src / _META).read_text())
        det = cls(
            columns=meta["columns"],
            categorical=meta["categorical"],
            config=GANConfig.from_dict(meta["config"]),
            contamination=meta["contamination"],
        )
        prep = Preprocessor.from_dict(meta["preprocessor"])
        graph = _empty_graph(prep, det.config)
        state = torch.load(src / _WEIGHTS, map_location="cpu", weights_only=True)
        # Saved before the residual whitening existed: no whitening (zero mean, identity).
        state.setdefault("res_mean", graph.res_mean.clone())
        state.setdefault("res_whiten", graph.res_whiten.clone())
        graph.load_state_dict(state)
        graph.eval()
        det.prep_, det.graph_ = prep, graph
        det.history_, det.best_epoch_ = meta["history"], meta["best_epoch"]
        det.threshold_ = meta["threshold"]
        det.decision_scores_ = np.zeros(0)  # marks it fitted; training scores are not stored
        return det


def _input_layer(prep: Preprocessor, cfg: GANConfig) -> InputLayer:
    return InputLayer(
        center=list(prep.center),
        scale=list(prep.scale),
        vocab_sizes=list(prep.vocab_sizes),
        clip=cfg.clip,
        log_scale=cfg.log_scale,
    )


def _empty_graph(prep: Preprocessor, cfg: GANConfig) -> ScoringGraph:
    vocab = list(prep.vocab_sizes)
    encgen = EncoderGenerator(
        n_numeric=len(prep.numeric), vocab_sizes=vocab, latent=cfg.latent_dim, hidden=cfg.hidden
    )
    disc = Discriminator(
        x_dim=len(prep.numeric) + sum(vocab),
        latent=cfg.latent_dim,
        hidden=cfg.hidden,
        cycle=cfg.cycle,
    )
    return ScoringGraph(_input_layer(prep, cfg), encgen, disc)


@torch.no_grad()
def _to_x(inputs: InputLayer, num: np.ndarray, cat: np.ndarray) -> torch.Tensor:
    cat_t = torch.from_numpy(cat) if cat.shape[1] else None
    return inputs(torch.from_numpy(num), cat_t)


@torch.no_grad()
def _residual(graph: ScoringGraph, x: torch.Tensor) -> torch.Tensor:
    """x - G(E(x)) per row and column (chunked; on the graph's device)."""
    graph.eval()
    x = x.to(next(graph.parameters()).device)
    out = [c - graph.encgen.generate(graph.encgen.encode(c)) for c in torch.split(x, 16384)]
    return torch.cat(out) if out else x.new_zeros(x.shape)


@torch.no_grad()
def _components(graph: ScoringGraph, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    graph.eval()
    x = x.to(next(graph.parameters()).device)
    recs, feats = [], []
    for chunk in torch.split(x, 16384):
        r, f = graph.components(chunk)
        recs.append(r.double().cpu().numpy())
        feats.append(f.double().cpu().numpy())
    if not recs:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(recs), np.concatenate(feats)
