"""`amlwatch run` writes its run folder as one unit (`runkit.runfolder`), as `basketcast run` does.

A reader, a failed run or a killed run sees the previous run's complete
outputs or the new run's, never a mix: a model of a detector that the last
run no longer has is gone, a run killed while writing leaves the previous
outputs byte for byte, two runs never write one folder at once, and
`amlwatch serve` refuses a model that differs from the manifest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from amlwatch.cli import app
from amlwatch.config import load_config
from amlwatch.pipeline import run
from amlwatch.synth import World, write_world
from runkit.runfolder import MANIFEST, OUTPUTS, published_folder, read_manifest, verify_outputs
from tests.amlwatch.test_cli import FAST_CONFIG

WITHOUT_XGBOOST = FAST_CONFIG.split('[[detector]]\nname = "xgboost_graph"')[0]
THREADS = {k: "1" for k in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS")}


@pytest.fixture(scope="module")
def world_folder(small_world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_world(small_world, folder)
    return folder


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("configs")
    (folder / "full.toml").write_text(FAST_CONFIG)
    (folder / "lean.toml").write_text(WITHOUT_XGBOOST)
    return {"full": folder / "full.toml", "lean": folder / "lean.toml"}


def _cli(args: list[str], fault: str) -> subprocess.Popen[str]:
    code = "import sys; from amlwatch.cli import app; sys.argv = ['amlwatch', *sys.argv[1:]]; app()"
    env = {**os.environ, **THREADS, "AMLWATCH_FAULT": fault}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def _outputs(root: Path) -> dict[str, bytes]:
    info = read_manifest(root, product="amlwatch")
    return {rel: (root / rel).read_bytes() for rel in info["files"]}


def test_a_run_publishes_every_output_with_a_manifest_and_a_rerun_drops_stale_models(
    small_world: World, world_folder: Path, configs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run(world_folder, out, load_config(configs["full"]))
    info = verify_outputs(out, product="amlwatch")
    for name in ("config.json", "metrics.json", "alerts.parquet", "evaluation.csv",
                 "features.parquet", "report.html", "models/xgboost_graph.ubj"):  # fmt: skip
        assert name in info["files"]
    assert (
        info["source"] == str(world_folder)
        and info["transactions"] == small_world.transactions.height
    )
    assert (out / "models").is_symlink() and (out / "metrics.json").is_symlink()

    run(world_folder, out, load_config(configs["lean"]))
    info = verify_outputs(out, product="amlwatch")
    assert not any(rel.startswith("models/") for rel in info["files"])
    # The first run's XGBoost model is not left behind for `amlwatch serve` to find.
    assert not (out / "models").exists()
    assert not (out / "models" / "xgboost_graph.ubj").exists()
    assert sorted(p.name for p in (out / OUTPUTS).iterdir()) == sorted(
        ["current", info["invocation_id"]]
    )


@pytest.mark.parametrize("point", ["write:alerts.parquet", "publish:links"])
def test_a_killed_run_leaves_the_previous_outputs_whole(
    world_folder: Path, configs: dict[str, Path], tmp_path: Path, point: str
) -> None:
    out = tmp_path / "run"
    run(world_folder, out, load_config(configs["lean"]))
    before = _outputs(out)
    invocation = read_manifest(out, product="amlwatch")["invocation_id"]

    child = _cli(["run", str(world_folder), "--out", str(out), "--config", str(configs["full"])],
                 f"kill@{point}")  # fmt: skip
    child.communicate(timeout=600)
    assert child.returncode == -signal.SIGKILL

    assert read_manifest(out, product="amlwatch")["invocation_id"] == invocation
    assert _outputs(out) == before  # byte for byte, and nothing of the killed run's
    verify_outputs(out, product="amlwatch")
    assert not (out / "models").exists()
    # The next run sweeps what the killed one left and publishes its own outputs.
    run(world_folder, out, load_config(configs["full"]))
    info = verify_outputs(out, product="amlwatch")
    assert "models/xgboost_graph.ubj" in info["files"]
    assert len(list((out / OUTPUTS).iterdir())) == 2
    assert not list(out.glob(".*.tmp"))


def test_a_second_run_into_a_busy_folder_exits_2_naming_the_holder(
    world_folder: Path, configs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    holder = _cli(["run", str(world_folder), "--out", str(out), "--config", str(configs["lean"])],
                  "stop@lock:held")  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # stopped right after taking the lock
            if Path(f"/proc/{holder.pid}/stat").read_text().split(")")[1].split()[0] == "T":
                break
            time.sleep(0.1)
        else:
            pytest.fail("the first run never took the lock")
        res = CliRunner().invoke(
            app, ["run", str(world_folder), "--out", str(out), "--config", str(configs["lean"])]
        )
        assert res.exit_code == 2, res.output
        shown = " ".join(res.output.split())
        assert f"in use by another amlwatch run (PID {holder.pid})" in shown
        assert not (out / MANIFEST).exists()  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.communicate(timeout=60)
    run(world_folder, out, load_config(configs["lean"]))  # the lock died with its holder
    verify_outputs(out, product="amlwatch")


def test_serve_refuses_a_model_that_differs_from_the_manifest(
    world_folder: Path, configs: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("fastapi")
    from amlwatch.serve.service import Service
    from amlwatch.serve.settings import ServeSettings

    out = tmp_path / "run"
    run(world_folder, out, load_config(configs["full"]))
    model = published_folder(out) / "models" / "xgboost_graph.ubj"
    model.write_bytes(model.read_bytes()[:-1])
    settings = ServeSettings(out, history=False, db=tmp_path / "state.sqlite3")
    with pytest.raises(ValueError, match=r"xgboost_graph\.ubj is corrupt; re-run"):
        Service.start(settings)
    assert not (tmp_path / "state.sqlite3").exists()  # refused before any state was made


def test_alerts_name_each_transaction_as_the_input_file_does(
    world_folder: Path, configs: dict[str, Path], tmp_path: Path
) -> None:
    import polars as pl

    result = run(world_folder, tmp_path / "run", load_config(configs["full"]))
    alerts = pl.read_parquet(tmp_path / "run" / "alerts.parquet")
    assert alerts.height > 0 and alerts.equals(result.alerts)
    # transactions.csv repeats the header name "Account": read it by position, as text.
    raw = pl.read_csv(world_folder / "transactions.csv", has_header=False, skip_rows=1,
                      infer_schema=False)  # fmt: skip
    for alert in alerts.sample(min(alerts.height, 50), seed=0).iter_rows(named=True):
        row = raw.row(alert["txn_id"])
        assert (alert["from_bank"], alert["from_account"]) == (row[1], row[2])
        assert (alert["to_bank"], alert["to_account"]) == (row[3], row[4])
        assert alert["amount_paid"] == pytest.approx(float(row[7]))
        assert (alert["payment_currency"], alert["payment_format"]) == (row[8], row[9])
        assert alert["timestamp"].strftime("%Y/%m/%d %H:%M") == row[0]
    # The report lists each detector's top alerts apart: scores of two detectors do not compare.
    html = (tmp_path / "run" / "report.html").read_text()
    for name in alerts.get_column("detector").unique():
        assert f"<h3>{name}</h3>" in html
