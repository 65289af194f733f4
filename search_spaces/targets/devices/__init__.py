"""Measurement devices: where a compiled module runs for accuracy and latency.

``local`` (this host), ``rpc`` (a board over TVM RPC) and ``emulated`` (an aarch64 board under
qemu-user on loopback, for dry runs); ``identity`` names a device and locks it.
"""

from __future__ import annotations

from search_spaces.targets.devices._base import Device, LoadedModule
from search_spaces.targets.devices.identity import (
    cpu_work,
    device_identity,
    device_lock,
    host_cpu,
    host_lock_dir,
    last_level_cache_bytes,
    measurement_lock,
)

__all__ = [
    "Device",
    "LoadedModule",
    "cpu_work",
    "device_identity",
    "device_lock",
    "host_cpu",
    "host_lock_dir",
    "last_level_cache_bytes",
    "measurement_lock",
]
