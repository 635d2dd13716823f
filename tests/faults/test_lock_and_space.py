"""Two runs into one folder, an unwritable folder, a full disk: each a clear exit 2, nothing half-written.

CI runs as root, for whom a chmod proves nothing: the permission cases run the
command as an unprivileged user (`setpriv`), and the full-disk cases on a small
tmpfs the test mounts. Without root, setpriv or mount they are skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults._runner import cli, finish, output_state, start

_NOBODY = 65534


def test_second_run_into_a_locked_folder_exits_2_naming_the_holder(
    fault_root: Path, data: Path, configs: dict[str, Path]
) -> None:
    out = fault_root / "locked"
    args = ["run", str(data), "--out", str(out), "--config", str(configs["A"])]
    # The first run stops itself (SIGSTOP) right after taking the lock, so the second
    # run meets a held lock for certain, not by timing.
    first = start(args, log=fault_root / "locked1.log", fault="stop@lock:held")
    try:
        deadline = time.monotonic() + 120
        while not _stopped(first.pid):
            assert time.monotonic() < deadline, "the first run never reached the lock"
            time.sleep(0.05)
        second = cli(args, log=fault_root / "locked2.log")
        assert second.code == 2, second.log
        assert f"PID {first.pid}" in second.log and "in use by another basketcast run" in second.log
        assert "Traceback" not in second.log
        assert output_state(out) == ("none", None)  # the second run wrote nothing
    finally:
        os.kill(first.pid, signal.SIGCONT)
        first_done = finish(first, log=fault_root / "locked1.log", fault="stop@lock:held")
    assert first_done.code == 0, first_done.log
    assert output_state(out)[0] == "complete"


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("T")
    except (OSError, IndexError):
        return False


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the command as an unprivileged user")
    return ["setpriv", f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups"]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder an unprivileged user can read (pytest's own tmp folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="basketcast-faults-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _basketcast(prefix: list[str], cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASKETCAST_")}
    env["NUMBA_CACHE_DIR"] = str(cache)  # the source tree's __pycache__ is root's
    command = [*prefix, sys.executable, "-m", "basketcast.cli", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.mark.parametrize("command", ["run", "predict", "synth"])
def test_read_only_folder_exits_2_saying_cannot_write(
    command: str, shared_dir: Path, data: Path, run_a: Path, configs: dict[str, Path]
) -> None:
    nobody = _as_nobody()
    readable = shared_dir / "data"
    shutil.copytree(data, readable)
    shutil.copy(configs["A"], shared_dir / "a.toml")
    locked = shared_dir / "root-owned"  # 0755 and owned by root: nobody cannot write in it
    locked.mkdir()
    for path in [shared_dir, *shared_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    if command == "run":
        args = [
            "run",
            str(readable),
            "--out",
            str(locked / "run"),
            "--config",
            str(shared_dir / "a.toml"),
        ]
    elif command == "predict":
        run_copy = shared_dir / "run"
        shutil.copytree(run_a, run_copy, symlinks=True)
        for path in [run_copy, *run_copy.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
        args = ["predict", str(run_copy), str(readable), "--out", str(locked / "sub.csv")]
    else:
        args = ["synth", "--users", "20", "--out", str(locked / "synth")]
    numba_cache = shared_dir / "numba"
    numba_cache.mkdir(mode=0o777)
    numba_cache.chmod(0o777)
    done = _basketcast(nobody, numba_cache, *args)
    assert done.returncode == 2, done.stderr
    assert "cannot write" in done.stderr and str(locked) in done.stderr
    assert "Traceback" not in done.stderr
    assert list(locked.iterdir()) == []


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    """A 256 KiB tmpfs, mounted for the test (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount to make a small full disk (tmpfs)")
    folder = Path(tempfile.mkdtemp(prefix="basketcast-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)
    folder.rmdir()


def test_full_disk_run_exits_2_and_publishes_nothing(
    tiny_disk: Path, data: Path, configs: dict[str, Path], fault_root: Path
) -> None:
    out = tiny_disk / "run"
    done = cli(["run", str(data), "--out", str(out), "--config", str(configs["A"])],
               log=fault_root / "full_disk_run.log")  # fmt: skip
    assert done.code == 2, done.log
    assert "cannot write" in done.log and "No space left on device" in done.log
    assert "Traceback" not in done.log
    assert output_state(out) == ("none", None)
    assert not list(out.rglob("*.tmp"))


def test_full_disk_synth_exits_2_and_writes_no_table(tiny_disk: Path, fault_root: Path) -> None:
    out = tiny_disk / "synth"
    done = cli(
        ["synth", "--users", "3000", "--out", str(out)], log=fault_root / "full_disk_synth.log"
    )
    assert done.code == 2, done.log
    assert "cannot write" in done.log and "No space left on device" in done.log
    assert [p.name for p in out.iterdir()] == []  # no table, no answer key, no staging left
