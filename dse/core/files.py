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
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) ``flock`` on ``path`` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
