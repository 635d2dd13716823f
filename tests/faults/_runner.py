"""Run `basketcast` commands in child processes forked from one warm fork server.

A child that SIGKILLs itself (the `BASKETCAST_FAULT` hook) is a real process
death: its lock is released by the kernel, its open files are cut short. The
fork server imports basketcast once, so a child costs the run, not the imports.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from basketcast._fault import ENV
from basketcast.runfolder import FINAL_OUTPUTS, MANIFEST, verify_outputs

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["tests.faults._preload"])

FAST_A = """threads = 1
[features]
history_targets = 0
[model]
folds = 2
num_boost_round = 5
early_stopping_rounds = 2
device = "cpu"
"""
FAST_B = FAST_A.replace("history_targets = 0", "history_targets = 1").replace(
    "folds = 2", "folds = 3"
)


def _exit_file(log: str | Path) -> Path:
    return Path(f"{log}.exit")


def _child(args: list[str], fault: str | None, log: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    if fault:
        os.environ[ENV] = fault
    else:
        os.environ.pop(ENV, None)
    from basketcast.cli import app

    code = 0
    try:
        app(args=args, prog_name="basketcast")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # as multiprocessing would: the traceback to the log, exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    _exit_file(log).write_text(f"{code}\n")  # it exited (a killed child writes nothing)
    os._exit(code)


@dataclass(frozen=True)
class Outcome:
    code: int
    """Exit code; -9 for a SIGKILL."""
    log: str
    relayed: int
    """The code the fork server relayed (it may say 255 for a child it lost: CPython gh-140867)."""

    @property
    def killed(self) -> bool:
        return self.code == -signal.SIGKILL


def _outcome(relayed: int, log: Path, fault: str | None) -> Outcome:
    """The child's exit code: its own record when it exited, else the signal that ended it.

    The fork server relays the exit status, but under load it can lose a child
    and relay 255 instead; a child that called exit wrote its code first, so a
    255 with no record and a kill fault set is that fault's SIGKILL.
    """
    exit_file = _exit_file(log)
    if exit_file.exists():
        code = int(exit_file.read_text())
        exit_file.unlink()
    elif relayed == 255 and fault and fault.startswith("kill@"):
        code = -signal.SIGKILL
    else:
        code = relayed
    return Outcome(code, log.read_text(errors="replace"), relayed)


CHILD_CPU_SECONDS: list[float] = []
"""CPU seconds of every child (sampled from /proc while it runs): the suite's real cost."""
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def wait(process: multiprocessing.process.BaseProcess, timeout: float = 300) -> int:
    """Join a child, sampling its CPU time; its exit code (-9: SIGKILL)."""
    deadline, cpu = time.monotonic() + timeout, 0.0
    while process.exitcode is None:
        if process.pid is not None:
            cpu = _cpu_seconds(process.pid) or cpu
        process.join(0.05)
        if time.monotonic() > deadline:
            process.kill()
            process.join()
            raise TimeoutError(f"a basketcast child ran over {timeout} s")
    CHILD_CPU_SECONDS.append(cpu)
    return process.exitcode


def cli(args: list[str], *, log: Path, fault: str | None = None, timeout: float = 300) -> Outcome:
    """Run `basketcast <args>` in a forked child and wait for it."""
    _exit_file(log).unlink(missing_ok=True)
    process = _CONTEXT.Process(target=_child, args=(args, fault, str(log)))
    process.start()
    return _outcome(wait(process, timeout), log, fault)


def start(args: list[str], *, log: Path, fault: str | None = None) -> multiprocessing.Process:
    """Start `basketcast <args>` in a child and return without waiting."""
    _exit_file(log).unlink(missing_ok=True)
    process = _CONTEXT.Process(target=_child, args=(args, fault, str(log)))
    process.start()
    return process


def finish(process: multiprocessing.process.BaseProcess, *, log: Path, fault: str | None = None,
           timeout: float = 300) -> Outcome:  # fmt: skip
    """Wait for a child from `start` (given its log and fault, as `start` was) and read how it ended."""
    return _outcome(wait(process, timeout), log, fault)


def output_state(folder: Path) -> tuple[str, str | None]:
    """("none", None), or ("complete", invocation id) when every final output is there and agrees.

    Anything else (some outputs without the others, files that differ from
    the manifest, ids that disagree) raises AssertionError: a mix.
    """
    names = [*FINAL_OUTPUTS, MANIFEST]
    present = [name for name in names if (folder / name).exists()]
    if not present:
        return "none", None
    assert present == names, f"a partial set of outputs: {present}"
    manifest = verify_outputs(folder)  # sizes and hashes of every published file
    invocation = manifest["invocation_id"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["invocation_id"] == invocation, "metrics.json is from another invocation"
    assert invocation in (folder / "report.html").read_text(), "report.html is from another run"
    listed = {rel.split("/")[0] for rel in manifest["files"]}
    assert listed == set(FINAL_OUTPUTS), f"manifest lists {sorted(listed)}"
    return "complete", invocation


def leftovers(folder: Path) -> list[str]:
    """Temp files, staging folders or unpublished invocations left in a run folder."""
    found = [str(p.relative_to(folder)) for p in folder.rglob("*.tmp")]
    outputs = folder / ".outputs"
    if outputs.is_dir():
        current = os.readlink(outputs / "current") if (outputs / "current").is_symlink() else None
        found += [
            f".outputs/{p.name}" for p in outputs.iterdir() if p.name not in ("current", current)
        ]
    return found
