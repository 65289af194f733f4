"""Which physical device a measurement uses, and the lock that gives it to one measurement at a time."""

from __future__ import annotations

import socket
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.files import file_lock, lock_path

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions


def device_identity(target: str, options: DeviceOptions) -> dict[str, Any]:
    """What names one measurement device: the board behind an RPC address, or this host's CPU."""
    if options.remote:
        return {"target": target, "tracker": options.rpc_tracker, "key": options.rpc_key, "server": options.rpc_server}
    return {"target": target, "host": socket.gethostname()}


def device_lock(folder: Path, target: str, options: DeviceOptions) -> AbstractContextManager[None]:
    """The exclusive lock of the device of ``target`` (lock files under ``folder/locks``)."""
    return file_lock(lock_path(folder, "device", device_identity(target, options)))
