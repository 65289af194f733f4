"""Layer 6: hardware. Every fact about a device lives here.

One registered preset per file (``x86``, ``arm`` and its board presets, ``cuda``) says which TVM
target to compile for, how to link for it (the aarch64 cross compiler), how to reach its device
and which session measures it; ``devices`` holds the sessions (local, RPC, emulated) and the
device identity and lock; ``sessions`` keeps one open session per process.
"""

from __future__ import annotations

from search_spaces.targets import arm, arm_boards, cuda, x86  # noqa: F401  (registration)
from search_spaces.targets._base import TARGETS, TargetPreset
from search_spaces.targets._fma import PROBE_CHAINS, fma_gflops, fma_kernels, full_rate_512
from search_spaces.targets.devices import (
    Device,
    LoadedModule,
    cpu_work,
    device_identity,
    device_lock,
    host_cpu,
    host_lock_dir,
    last_level_cache_bytes,
    measurement_lock,
)
from search_spaces.targets.sessions import forget_session, open_session

__all__ = [
    "PROBE_CHAINS",
    "TARGETS",
    "Device",
    "LoadedModule",
    "TargetPreset",
    "cpu_work",
    "device_identity",
    "device_lock",
    "fma_gflops",
    "fma_kernels",
    "forget_session",
    "full_rate_512",
    "host_cpu",
    "host_lock_dir",
    "last_level_cache_bytes",
    "measurement_lock",
    "open_session",
]
