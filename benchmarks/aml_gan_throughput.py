"""GAN training throughput (samples/s): 1 process vs N data-parallel gloo processes (torchrun).

    flock /work/heavy.lock python benchmarks/aml_gan_throughput.py --rows 60000 --procs 1 2

Writes a random feature Parquet shaped like the AML detector's input (80
numeric columns, 4 categoricals), then runs the real launcher
(``python -m amlwatch.gan.ddp``, under torchrun for N > 1) for 3 epochs of
``--rows`` rows each with the AML settings (batch 1024, hidden 64, latent 16),
one torch thread per process, and prints the logged samples/s per epoch
(global samples: every process's rows counted once). ``--device cuda`` runs the
same on GPUs with bf16 autocast (not measured in this session: no GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tmp = Path(tempfile.mkdtemp())
    cols = {f"f{j}": rng.lognormal(size=args.rows) for j in range(80)}
    cats = {"c0": 7, "c1": 10, "c2": 24, "c3": 7}
    frame = pl.DataFrame(cols).with_columns(
        pl.Series(name, rng.integers(0, k, args.rows).astype(str)) for name, k in cats.items()
    )
    frame.write_parquet(tmp / "x.parquet")
    config = {"batch_size": 1024, "hidden": 64, "latent_dim": 16, "max_epochs": 3,
              "patience": 10, "log_scale": True}  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for n in args.procs:
        launch = [sys.executable, "-m", "amlwatch.gan.ddp"]
        if n > 1:
            launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                      f"--nproc_per_node={n}", "-m", "amlwatch.gan.ddp"]  # fmt: skip
        cmd = [*launch, "--features", str(tmp / "x.parquet"), "--columns", ",".join(cols),
               "--categorical", ",".join(cats), "--out", str(tmp / f"out{n}"),
               "--config", json.dumps(config), "--device", args.device]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        rates = [float(r) for r in re.findall(r"rank0 .* ([0-9.]+) samples/s", done.stderr)]
        print(f"{n} process(es) on {args.device}: samples/s per epoch {rates}", flush=True)


if __name__ == "__main__":
    main()
