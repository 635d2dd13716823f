"""The harness reads a child's end from the child's own record, not only from the fork server.

CPython's fork server can lose a child under concurrent starts and relay 255
for it, whether it exited 0 or was killed (gh-140867; on the development
machine 10 of 400 self-killing children, started two threads at a time, came
back as 255).
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.faults._runner import _exit_file, _outcome


def test_an_exit_record_wins_over_what_the_fork_server_relayed(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("done\n")
    _exit_file(log).write_text("0\n")
    outcome = _outcome(255, log, None)
    assert (outcome.code, outcome.relayed, outcome.log) == (0, 255, "done\n")
    assert not _exit_file(log).exists()  # read once


def test_no_record_and_a_lost_child_under_a_kill_fault_is_that_kill(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    log.write_text("")
    assert _outcome(255, log, "kill@lock:held").killed
    assert _outcome(-signal.SIGKILL, log, "kill@lock:held").killed
    # Without a kill fault, a lost child stays unexplained: 255, not a kill.
    assert _outcome(255, log, None).code == 255
    assert _outcome(255, log, "stop@lock:held").code == 255
