"""Choosing the cluster: the thread split, the address forms, and the CLI's shard command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from basketcast.cli import app
from basketcast.config import ClusterConfig, load_config
from basketcast.distributed.cluster import thread_split
from basketcast.distributed.shard import read_manifest


@pytest.mark.parametrize(
    ("workers", "cores", "threads", "words"),
    [
        (1, 2, 2, "1 worker(s) × 2 thread(s) on 2 core(s)"),
        (2, 2, 1, "2 worker(s) × 1 thread(s) on 2 core(s)"),
        (3, 8, 2, "3 worker(s) × 2 thread(s) on 8 core(s)"),
        (4, 2, 1, "more workers than cores"),
    ],
)
def test_threads_are_split_so_workers_times_threads_fit_the_cores(
    workers: int, cores: int, threads: int, words: str
) -> None:
    got, note = thread_split(workers, cores=cores)
    assert got == threads and words in note
    assert workers * got <= cores or got == 1


def test_configured_threads_are_kept_and_oversubscription_is_stated() -> None:
    assert thread_split(2, cores=2, requested=3) == (
        3,
        "2 worker(s) × 3 thread(s) (as configured) on 2 core(s): more threads than cores.",
    )


@pytest.mark.parametrize("address", ["local:0", "local:x", "http://host:1", "4"])
def test_a_bad_address_is_refused_by_name(address: str) -> None:
    with pytest.raises(ValueError, match=r"cluster\.address"):
        ClusterConfig(address=address)


def test_the_cluster_section_reads_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[cluster]\naddress = "tcp://10.0.0.1:8786"\nshards = 32\n')
    config = load_config(path)
    assert config.cluster == ClusterConfig(address="tcp://10.0.0.1:8786", shards=32)
    assert "[cluster]" in config.to_toml()


def test_run_with_a_bad_cluster_exits_2_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", str(tmp_path), "--out", str(tmp_path / "o"), "--cluster", "local:0"]
    )
    assert result.exit_code == 2
    assert "local:N needs N >= 1" in result.output


def test_the_shard_command(synth_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "shards"
    result = CliRunner().invoke(
        app, ["shard", str(synth_folder), "--shards", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert manifest is not None and manifest.shards == 3
    assert f"{sum(manifest.users):,} users" in result.output
