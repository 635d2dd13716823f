"""Data-parallel training launcher: ``torchrun --nproc_per_node N -m amlwatch.gan.ddp ...``.

Every process reads the same feature Parquet, fits the same (deterministic)
preprocessing and trains with `DistributedDataParallel`; process 0 writes the
detector. On CPU the backend is gloo (what the tests run, 2 processes); with
``--device cuda`` it is NCCL, one GPU per process (``cuda:LOCAL_RANK``), with
mixed precision from the config (bf16 by default). Without torchrun's
environment it trains in one process.

Example::

    torchrun --standalone --nproc_per_node 2 -m amlwatch.gan.ddp \\
        --features features.parquet --columns amount_log,out_count_1d \\
        --out runs/gan --config '{"batch_size": 512}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

import polars as pl
import torch
import torch.distributed as dist

from amlwatch.gan.config import GANConfig
from amlwatch.gan.detector import GANDetector

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="amlwatch.gan.ddp", description=__doc__.splitlines()[0])
    p.add_argument("--features", type=Path, required=True, help="feature Parquet (training rows)")
    p.add_argument("--columns", required=True, help="comma-separated numeric columns")
    p.add_argument("--categorical", default="", help="comma-separated categorical columns")
    p.add_argument("--out", type=Path, required=True, help="directory for the fitted detector")
    p.add_argument("--config", default="{}", help="GANConfig fields as JSON")
    p.add_argument("--device", default=None, help="cpu or cuda (overrides the config)")
    p.add_argument("--checkpoint-dir", type=Path, default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--max-steps", type=int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))  # torchrun's; every log line names its process
    old_factory = logging.getLogRecordFactory()

    def factory(*a: object, **k: object) -> logging.LogRecord:
        record = old_factory(*a, **k)
        record.rank = rank
        return record

    logging.setLogRecordFactory(factory)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s rank%(rank)s %(message)s")
    config = GANConfig(**json.loads(args.config))
    if args.device is not None:
        config = dataclasses.replace(config, device=args.device)
    distributed = "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        cuda = config.device.startswith("cuda")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
            config = dataclasses.replace(config, device=f"cuda:{local}")
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        frame = pl.read_parquet(args.features)
        det = GANDetector(
            columns=[c for c in args.columns.split(",") if c],
            categorical=[c for c in args.categorical.split(",") if c],
            config=config,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
            max_steps=args.max_steps,
        ).fit(frame)
        if rank == 0:
            det.save(args.out)
    finally:
        if distributed:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
