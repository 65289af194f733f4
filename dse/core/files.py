"""File primitives every floor shares: cross-process locks, atomic writes, stable key hashes.

``flock`` locks belong to an open file, so they also separate threads of one process
(``--n-jobs``), and the kernel drops them when a process dies (``kill -9`` leaves no stale lock).
Workers on several machines share them only when the locked folder is on a shared file system
(Linux NFS maps ``flock`` to byte-range locks).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_DIR = "locks"


def stable_hash(value: Any, length: int = 64) -> str:
    """The SHA-256 (hex, first ``length`` digits) of ``value``'s canonical JSON.

    Every cache key, lock name and database folder of dse is named by this one function, so
    the same configuration always maps to the same name, in every process and on every host.
    """
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def lock_path(folder: Path, kind: str, identity: Any) -> Path:
    """The lock file of ``identity`` (any JSON-able value) of one ``kind`` under ``folder/locks``."""
    return folder / LOCK_DIR / f"{kind}-{stable_hash(identity, 32)}.lock"


@contextmanager
def file_lock(path: Path, shared: bool = False, mode: int = 0o644) -> Iterator[None]:
    """Hold an exclusive (or shared) ``flock`` on ``path`` (created with ``mode`` if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_shared_file(path, mode) if mode != 0o644 else os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a scratch path beside ``path``; on success it replaces ``path`` in one step.

    Readers see the old file or the new one, never half of one, even when the writer crashes
    (the scratch file is removed on error) or several processes write the same path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def atomic_copy(source: str | Path, destination: Path) -> None:
    """Copy ``source`` to ``destination`` atomically (see :func:`atomic_write`)."""
    with atomic_write(destination) as partial:
        shutil.copyfile(source, partial)


class SharedExclusiveLock:
    """A cross-process reader/writer lock on one file, shared by the threads of one process.

    ``hold(exclusive=False)`` for work that may run beside other such work (compiling),
    ``hold(exclusive=True)`` for work nothing may run beside (timing). Holds nest: asking for
    exclusive inside shared gives up the shared hold, waits for exclusive, and returns to shared
    afterwards (so a worker that compiles under shared can measure under exclusive).

    Waiting writers go first: a second file (the turnstile) is held by a writer while it waits
    and taken briefly by every reader before it enters, so a stream of compiles cannot starve a
    measurement. Nobody waits for the turnstile while holding the lock itself, which rules out
    deadlock between the two files.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._turnstile = path.with_name(path.name + ".turnstile")
        self._fd: int | None = None
        self._mode: str | None = None  # None, "shared" or "exclusive"
        self._state = threading.RLock()

    @property
    def mode(self) -> str | None:
        return self._mode

    @contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        with self._state:
            previous = self._mode
            if previous == "exclusive" or (previous == "shared" and not exclusive):
                yield  # already covered by the outer hold
                return
            self._enter(exclusive)
            try:
                yield
            finally:
                if previous is None:
                    self._release()
                else:  # back to shared: a downgrade never waits for the turnstile
                    assert self._fd is not None
                    fcntl.flock(self._fd, fcntl.LOCK_SH)
                    self._mode = "shared"

    def _enter(self, exclusive: bool) -> None:
        if self._fd is not None:  # shared -> exclusive: let go before waiting (no deadlock)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        else:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = _open_shared_file(self._path)
        with file_lock(self._turnstile, mode=0o666):
            fcntl.flock(self._fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        self._mode = "exclusive" if exclusive else "shared"

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._mode = None, None


def _open_shared_file(path: Path, mode: int = 0o666) -> int:
    """Open (creating) a lock file every user of the host may lock: host-wide locks are shared."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        if os.fstat(fd).st_uid == os.getuid():
            os.fchmod(fd, mode)  # the umask must not lock other users out
    except OSError:
        pass
    return fd
