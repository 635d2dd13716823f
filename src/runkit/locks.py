"""One process at a time: an exclusive lock on a file, holding the holder's PID.

`flock` without waiting: a second process is refused at once, with the
holder's PID in the message, and the kernel releases the lock when its holder
dies (even by SIGKILL), so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from runkit.errors import WriteError

__all__ = ["LockBusy", "hold_lock"]


class LockBusy(OSError):
    """Another live process holds the lock."""


def hold_lock(
    path: str | Path, busy: Callable[[str], str], *, error: type[LockBusy] = LockBusy
) -> int:
    """Lock `path` (created if need be) and write this PID in it; return the open descriptor.

    Closing the descriptor releases the lock. Raises `error` (a `LockBusy`) with
    ``busy(pid)`` when another process holds it, and `WriteError` when the file
    cannot be made.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise error(busy(holder)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_holder(fd: int) -> str:
    for _ in range(20):  # the holder writes its PID right after locking
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "unknown"
