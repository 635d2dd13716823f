"""The training loop: ALAD steps, early stopping, checkpoints, data-parallel over W processes.

Read it top to bottom: `fit_networks` prepares x once, then per epoch shuffles
with a seed derived from (seed, epoch), takes global batches of
``config.batch_size`` rows, gives process r the r-th slice of each, and
calls `train_step`. The noise z is drawn for the whole global batch on every
process and sliced the same way, so W processes take exactly the steps one
process takes (up to float summation order). Gradients are averaged by
DistributedDataParallel when a process group is initialised.

Early stopping criterion (unsupervised, labels never read): the mean
reconstruction error ``||x - G(E(x))||`` on the held-out last
``val_fraction`` of the training rows (the latest period, so it also guards
against drift within the training period). The best epoch's weights are kept.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from amlwatch.gan.config import Amp, GANConfig
from amlwatch.gan.nets import Discriminator, EncoderGenerator

__all__ = ["Networks", "TrainResult", "build_networks", "fit_networks", "train_step"]

logger = logging.getLogger("amlwatch.gan")

CHECKPOINT = "checkpoint.pt"


@dataclasses.dataclass
class Networks:
    """The trained modules and their optimisers (the optimisers for resuming)."""

    encgen: EncoderGenerator
    disc: Discriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


@dataclasses.dataclass
class TrainResult:
    networks: Networks
    history: list[dict[str, float]]
    best_epoch: int
    stopped_early: bool


def build_networks(
    *, n_numeric: int, vocab_sizes: list[int], config: GANConfig, device: torch.device
) -> Networks:
    """Seeded construction: every process builds the same initial weights."""
    torch.manual_seed(config.seed)
    encgen = EncoderGenerator(
        n_numeric=n_numeric,
        vocab_sizes=vocab_sizes,
        latent=config.latent_dim,
        hidden=config.hidden,
    ).to(device)
    disc = Discriminator(
        x_dim=n_numeric + sum(vocab_sizes),
        latent=config.latent_dim,
        hidden=config.hidden,
        cycle=config.cycle,
    ).to(device)
    # beta1 = 0.5: the usual GAN choice (Radford et al.), damps oscillation.
    opt_g = torch.optim.Adam(encgen.parameters(), lr=config.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.5, 0.999))
    return Networks(encgen, disc, opt_g, opt_d)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(
        logits.float(), torch.full_like(logits.float(), target)
    )


def train_step(
    nets: Networks,
    x: torch.Tensor,
    z: torch.Tensor,
    *,
    encgen: nn.Module | None = None,
    disc: nn.Module | None = None,
    autocast: contextlib.AbstractContextManager[Any] | None = None,
    scaler: torch.amp.GradScaler | None = None,
    rec_weight: float = 0.0,
) -> tuple[float, float, float]:
    """One discriminator step, then one encoder+generator step, on this process's rows.

    Returns the discriminators' loss, the encoder+generator's adversarial
    loss and the mean squared reconstruction error of the step's rows.

    `encgen`/`disc` are the (possibly DDP-wrapped) modules to call; the
    generator step calls the bare discriminator with frozen weights, so only
    E and G gradients are averaged there. With `rec_weight` > 0 the E+G loss
    adds ``rec_weight * mean_rows ||x - G(E(x))||^2`` (a mean over this
    process's rows, so DDP's gradient average is the whole batch's mean).
    """
    encgen = encgen if encgen is not None else nets.encgen
    disc = disc if disc is not None else nets.disc
    ctx = autocast if autocast is not None else contextlib.nullcontext()

    # Discriminators: real pairs (x, E(x)), (x, x) -> 1; fake (G(z), z), (x, G(E(x))) -> 0.
    with torch.no_grad(), ctx:
        z_enc, x_fake, x_rec = encgen(x, z)
    with ctx:
        xz_r, xz_f, xx_r, xx_f = disc(x, z_enc, x_fake, z, x_rec)
        loss_d = _bce(xz_r, 1.0) + _bce(xz_f, 0.0)
        if xx_r is not None and xx_f is not None:
            loss_d = loss_d + _bce(xx_r, 1.0) + _bce(xx_f, 0.0)
    nets.opt_d.zero_grad(set_to_none=True)
    _backward_step(loss_d, nets.opt_d, scaler)

    # Encoder + generator: the flipped targets (ALAD, non-saturating form).
    nets.disc.requires_grad_(False)
    try:
        with ctx:
            z_enc, x_fake, x_rec = encgen(x, z)
            xz_r, xz_f, xx_r, xx_f = nets.disc(x, z_enc, x_fake, z, x_rec)
            loss_g = _bce(xz_r, 0.0) + _bce(xz_f, 1.0)
            if xx_f is not None:
                # D_xx(x, x) does not depend on E or G: only the fake pair's term has a gradient.
                loss_g = loss_g + _bce(xx_f, 1.0)
            rec = ((x - x_rec).float() ** 2).sum(1).mean()
            total = loss_g + rec_weight * rec if rec_weight > 0 else loss_g
        nets.opt_g.zero_grad(set_to_none=True)
        _backward_step(total, nets.opt_g, scaler)
    finally:
        nets.disc.requires_grad_(True)
    return float(loss_d.detach()), float(loss_g.detach()), float(rec.detach())


def _backward_step(
    loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _batches(n: int, batch: int, gen: torch.Generator, rows: int | None) -> Iterator[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    steps = max(1, min(n, rows or n) // batch)
    for s in range(steps):
        yield perm[s * batch : (s + 1) * batch]


@torch.no_grad()
def reconstruction_error(encgen: EncoderGenerator, x: torch.Tensor) -> torch.Tensor:
    """Per-row ||x - G(E(x))||_2 (the stopping criterion's quantity)."""
    out = []
    for chunk in torch.split(x, 8192):
        out.append(torch.sqrt(((chunk - encgen.generate(encgen.encode(chunk))) ** 2).sum(1)))
    return torch.cat(out) if out else x.new_zeros(0)


def fit_networks(
    x: torch.Tensor,
    *,
    n_numeric: int,
    vocab_sizes: list[int],
    config: GANConfig,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
) -> TrainResult:
    """Train on the rows of x (already in data space), in time order; returns the best epoch.

    With `checkpoint_dir`, the full training state is written after every
    epoch (atomically, process 0 only); `resume=True` continues from it and
    reaches the same weights as an uninterrupted run on CPU. `max_steps`
    stops after that many global steps (for the parity test), keeping the
    current weights rather than the best epoch's.
    """
    rank, world = _rank_world()
    device = torch.device(config.device)
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    n_val = max(1, round(x.shape[0] * config.val_fraction))
    x_fit, x_val = x[:-n_val].to(device), x[-n_val:].to(device)
    if x_fit.shape[0] < world:
        raise ValueError(f"{x_fit.shape[0]} training rows for {world} processes")
    batch = min(config.batch_size, x_fit.shape[0] // world * world)
    local = batch // world

    nets = build_networks(
        n_numeric=n_numeric, vocab_sizes=vocab_sizes, config=config, device=device
    )
    state: dict[str, Any] = {"epoch": 0, "best": float("inf"), "bad": 0, "history": []}
    state["best_state"] = _snapshot(nets)
    ckpt = checkpoint_dir / CHECKPOINT if checkpoint_dir is not None else None
    if resume and ckpt is not None and ckpt.exists():
        state = _load_checkpoint(ckpt, nets, device)
        logger.info("resumed from %s after epoch %d", ckpt, state["epoch"])

    encgen_call: nn.Module = nets.encgen
    disc_call: nn.Module = nets.disc
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        encgen_call = DDP(nets.encgen, device_ids=ids)
        disc_call = DDP(nets.disc, device_ids=ids)
    autocast, scaler = _precision(config, device)

    steps_done = 0
    stopped_early = False
    while state["epoch"] < config.max_epochs and (max_steps is None or max_steps > 0):
        epoch = state["epoch"]
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        t0 = time.perf_counter()
        losses_d, losses_g, losses_rec = [], [], []
        for idx in _batches(x_fit.shape[0], batch, gen, config.epoch_rows):
            z = torch.randn(idx.shape[0], config.latent_dim, generator=gen).to(device)
            mine = slice(rank * local, (rank + 1) * local)
            ld, lg, lr = train_step(
                nets,
                x_fit[idx[mine].to(device)],
                z[mine],
                encgen=encgen_call,
                disc=disc_call,
                autocast=autocast,
                scaler=scaler,
                rec_weight=config.rec_weight,
            )
            losses_d.append(ld)
            losses_g.append(lg)
            losses_rec.append(lr)
            steps_done += 1
            if max_steps is not None and steps_done >= max_steps:
                break
        seconds = time.perf_counter() - t0
        val = float(reconstruction_error(nets.encgen, x_val).mean())
        record = {
            "epoch": float(epoch + 1),
            "loss_d": sum(losses_d) / len(losses_d),
            "loss_g": sum(losses_g) / len(losses_g),
            "loss_rec": sum(losses_rec) / len(losses_rec),
            "val_reconstruction": val,
            "samples_per_s": len(losses_d) * batch / seconds,
        }
        state["history"].append(record)
        logger.info(
            "epoch %d  loss_d %.4f  loss_g %.4f  val_rec %.4f  %.0f samples/s (%d processes)",
            epoch + 1,
            record["loss_d"],
            record["loss_g"],
            val,
            record["samples_per_s"],
            world,
        )
        if val < state["best"]:
            state.update(best=val, bad=0, best_state=_snapshot(nets), best_epoch=epoch + 1)
        else:
            state["bad"] += 1
        state["epoch"] = epoch + 1
        if max_steps is not None and steps_done >= max_steps:
            state["best_state"] = _snapshot(nets)
        if ckpt is not None and rank == 0:
            _save_checkpoint(ckpt, nets, state)
        if max_steps is not None and steps_done >= max_steps:
            break
        if state["bad"] >= config.patience:
            stopped_early = True
            break

    nets.encgen.load_state_dict(state["best_state"]["encgen"])
    nets.disc.load_state_dict(state["best_state"]["disc"])
    return TrainResult(nets, state["history"], int(state.get("best_epoch", 0)), stopped_early)


def _precision(
    config: GANConfig, device: torch.device
) -> tuple[contextlib.AbstractContextManager[Any] | None, torch.amp.GradScaler | None]:
    """bf16/fp16 autocast on CUDA only; CPU trains in float32 (reproducible, parity-tested)."""
    if device.type != "cuda" or config.amp is Amp.OFF:
        return None, None
    dtype = torch.bfloat16 if config.amp is Amp.BF16 else torch.float16
    ctx = torch.autocast(device_type="cuda", dtype=dtype)
    scaler = torch.amp.GradScaler("cuda") if config.amp is Amp.FP16 else None
    return ctx, scaler


def _snapshot(nets: Networks) -> dict[str, dict[str, torch.Tensor]]:
    return {
        "encgen": copy.deepcopy(nets.encgen.state_dict()),
        "disc": copy.deepcopy(nets.disc.state_dict()),
    }


def _save_checkpoint(path: Path, nets: Networks, state: dict[str, Any]) -> None:
    """Everything a resume needs, written to a temp file then renamed (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **{k: v for k, v in state.items()},
        "encgen": nets.encgen.state_dict(),
        "disc": nets.disc.state_dict(),
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, nets: Networks, device: torch.device) -> dict[str, Any]:
    # weights_only=True: tensors and plain containers only, no arbitrary unpickling.
    payload = torch.load(path, map_location=device, weights_only=True)
    nets.encgen.load_state_dict(payload.pop("encgen"))
    nets.disc.load_state_dict(payload.pop("disc"))
    nets.opt_g.load_state_dict(payload.pop("opt_g"))
    nets.opt_d.load_state_dict(payload.pop("opt_d"))
    return dict(payload)
