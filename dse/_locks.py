"""Cross-process locks (``flock`` on files under ``<work_dir>/locks``) that make workers share safely.

Three locks keep several workers of one study honest:

* the *configuration* lock: a worker about to evaluate a configuration holds it; a second worker
  that drew the same configuration waits, then reads the result from the cache instead of
  compiling and measuring it again;
* the *device* lock: held only around loading, scoring and timing a module (never around
  compilation), so compiles run in parallel while measurements on one device run one at a time;
* the *budget* lock: held while a worker counts the study's trials and asks for a new one, so
  several workers never start more trials than the budget.

``flock`` locks belong to an open file, so they also separate threads of one process
(``--n-jobs``), and the kernel drops them when a process dies (``kill -9`` leaves no stale lock).
Workers on several machines share these guarantees only when ``--work-dir`` is on a shared file
system (Linux NFS maps ``flock`` to byte-range locks); with separate work folders, each machine
may measure a configuration once and the budget may overshoot by the number of workers - 1.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_DIR = "locks"


def lock_path(work_dir: Path, kind: str, identity: Any) -> Path:
    """The lock file of ``identity`` (any JSON-able value) of one ``kind`` under ``work_dir``."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return work_dir / LOCK_DIR / f"{kind}-{digest}.lock"


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


def device_identity(target: str, rpc_tracker: str | None, rpc_key: str | None, rpc_server: str | None) -> dict[str, Any]:
    """What names one measurement device: the board behind an RPC address, or this host's CPU."""
    if rpc_tracker or rpc_server:
        return {"target": target, "tracker": rpc_tracker, "key": rpc_key, "server": rpc_server}
    return {"target": target, "host": socket.gethostname()}
