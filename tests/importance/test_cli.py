"""`basketcast importance` and `basketcast report` on a real (tiny) run folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.importance import load_run
from basketcast.runfolder import published_folder, read_manifest, verify_outputs

runner = CliRunner()

FAST_TOML = """
threads = 1
[features]
history_targets = 1
[model]
folds = 2
num_boost_round = 40
early_stopping_rounds = 10
device = "cpu"
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    data, run = root / "data", root / "run"
    result = runner.invoke(app, ["synth", "--users", "200", "--seed", "7", "--out", str(data)])
    assert result.exit_code == 0, result.output
    (root / "fast.toml").write_text(FAST_TOML)
    result = runner.invoke(
        app, ["run", str(data), "--out", str(run), "--config", str(root / "fast.toml")]
    )
    assert result.exit_code == 0, result.output
    return run


def test_load_run_reads_the_models_and_families(run_dir) -> None:
    run = load_run(run_dir)
    assert run.trained_folds == (0, 1)
    assert {"user", "product", "user_product"} <= set(run.families)
    covered = [c for cols in run.families.values() for c in cols]
    assert sorted(covered) == sorted(run.feature_names)  # every feature in exactly one family
    # The feature frame is the features stage's cache entry, and gain from the published
    # models is the table training recorded (kept in the item stage's cache entry).
    assert run.features_file == run_dir / "cache" / "features" / "items.parquet"
    trained = pl.read_parquet(run_dir / "cache" / "item" / "item_importance.parquet")
    assert_frame_equal(run.gain, trained, check_row_order=False)
    assert run.invocation_id == read_manifest(run_dir)["invocation_id"]


def test_importance_commands_write_files_and_the_report_shows_them(run_dir) -> None:
    before = (run_dir / "report.html").read_text()
    assert 'id="explanations"' not in before
    manifest_before = verify_outputs(run_dir)
    invocation_folder = published_folder(run_dir)
    for args in (
        ["--method", "gain"],
        ["--method", "shap", "--rows", "500", "--by", "family"],
        ["--method", "lofo", "--folds", "0", "--user-share", "0.5", "--together", "user,product"],
    ):
        result = runner.invoke(app, ["importance", str(run_dir), *args])
        assert result.exit_code == 0, result.output
        assert "computed on:" in result.output
        if args[1] == "gain":  # the spread is a standard deviation: printed without a sign
            first = pl.read_parquet(run_dir / "explanations" / "importance-gain.parquet").row(
                0, named=True
            )
            assert (
                f" {first['spread']:.4g} " in result.output
                and f"+{first['spread']:.4f}" not in result.output
            )
    explained = run_dir / "explanations"
    lofo = json.loads((explained / "importance-lofo.json").read_text())
    assert lofo["by"] == "family" and lofo["settings"]["folds"] == [0]
    assert lofo["settings"]["user_share"] == 0.5
    assert lofo["invocation_id"] == manifest_before["invocation_id"]
    assert "user + product" in pl.read_parquet(explained / "importance-lofo.parquet")["name"]
    assert (explained / "importance-shap.png").exists()
    # The explanations are beside the published outputs: run.json still tells the truth.
    assert verify_outputs(run_dir) == manifest_before
    assert not list(run_dir.glob("importance-*")) and not list(invocation_folder.glob("imp*"))

    inode = (run_dir / "report.html").stat().st_ino
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    after = (run_dir / "report.html").read_text()
    assert (run_dir / "report.html").stat().st_ino != inode  # a new file, published
    assert 'id="explanations"' in after
    for title in ("Gain by feature", "SHAP by family", "Leave one out (LOFO) by family"):
        assert title in after
    assert "Stale" not in after
    assert manifest_before["invocation_id"] in after
    assert not list(run_dir.glob(".*.tmp"))

    # Published again as a whole: a new invocation folder with a manifest that checks out,
    # the run's invocation id kept, every other output the same bytes; the old folder gone.
    manifest = verify_outputs(run_dir)
    assert published_folder(run_dir) != invocation_folder and not invocation_folder.exists()
    assert manifest["invocation_id"] == manifest_before["invocation_id"]
    assert manifest["report"]["folder"] == published_folder(run_dir).name
    assert manifest["run_id"] == manifest_before["run_id"]
    assert set(manifest["files"]) == set(manifest_before["files"])
    changed = {k for k in manifest["files"] if manifest["files"][k] != manifest_before["files"][k]}
    assert changed == {"report.html"}
    assert (run_dir / "report.html").is_symlink()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["invocation_id"] == manifest["invocation_id"]


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, symlinks=True)  # the top-level links are relative
    return copy


def test_a_damaged_feature_cache_is_named_not_used(run_dir, tmp_path) -> None:
    copy = _copy_run(run_dir, tmp_path)
    shutil.rmtree(copy / "explanations", ignore_errors=True)
    items = copy / "cache" / "features" / "items.parquet"
    items.write_bytes(items.read_bytes()[:-100])
    result = runner.invoke(app, ["importance", str(copy), "--method", "shap", "--rows", "100"])
    assert result.exit_code == 2, result.output
    assert "no intact cached feature frame" in result.output and "corrupt" in result.output
    # The command to rebuild names the run's own data folder, not a placeholder.
    data = json.loads((copy / "metrics.json").read_text())["data"]
    assert f"basketcast run {data} --out" in " ".join(result.output.split())
    assert not (copy / "explanations").exists()


def test_report_refuses_a_corrupt_run_and_a_busy_one(run_dir, tmp_path) -> None:
    copy = _copy_run(run_dir, tmp_path)
    before = (copy / "run.json").read_text()
    fd = os.open(copy / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"4242\n", 0)
        result = runner.invoke(app, ["report", str(copy)])
        assert result.exit_code == 2 and "4242" in result.output, result.output
    finally:
        os.close(fd)
    submission = published_folder(copy) / "submission.csv"
    submission.write_text(submission.read_text() + "1,2\n")
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 2 and "submission.csv is corrupt" in result.output, result.output
    assert (copy / "run.json").read_text() == before  # nothing was published


def test_importance_of_a_folder_that_is_not_a_run_exits_2(tmp_path) -> None:
    result = runner.invoke(app, ["importance", str(tmp_path)])
    assert result.exit_code == 2
    assert "run.json" in result.output
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())  # not even a lock file


def test_unknown_method_is_refused(run_dir) -> None:
    result = runner.invoke(app, ["importance", str(run_dir), "--method", "permutation"])
    assert result.exit_code == 2
