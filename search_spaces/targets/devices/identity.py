"""Which physical device a measurement uses, and the host-wide locks that keep other work off it.

A latency means something only when nothing else ran on that device while it was taken. The
locks are host-wide (a folder under the system's temp dir, not under ``--work-dir``), so two
studies with different work folders, or a tuning run beside a study, still exclude each other:

* the host CPU has one reader/writer lock. Everything dse runs on the CPU (loading data,
  training, compiling, accuracy runs) holds it shared; timing a module on the CPU, and
  MetaSchedule tuning on it, hold it exclusive. So compiles run beside each other, but never
  beside a measurement.
* a remote board (or the GPU) has its own exclusive lock: one module is measured on it at a time.
"""

from __future__ import annotations

import functools
import os
import platform
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.files import SharedExclusiveLock, stable_hash

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions

#: Overrides the host-wide lock folder (tests; hosts whose temp dir is not shared by all users).
LOCK_DIR_ENV = "DSE_LOCK_DIR"

#: CPU flags that change generated code or its speed (x86 /proc/cpuinfo ``flags``, Arm ``Features``).
_VECTOR_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_int8",
    "asimd",
    "asimddp",
    "asimdhp",
    "sve",
    "sve2",
    "i8mm",
)


def host_lock_dir() -> Path:
    """The folder of this host's device locks (every dse process of the host uses the same one)."""
    override = os.environ.get(LOCK_DIR_ENV)
    folder = Path(override) if override else Path(tempfile.gettempdir()) / "dse-locks"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            folder.chmod(0o1777)  # like /tmp: every user may lock, nobody may delete others' files
        except OSError:
            pass
    return folder


@functools.lru_cache(maxsize=1)
def host_cpu() -> dict[str, Any]:
    """This host's CPU: model name, architecture, core count and vector features.

    Part of every cache key and study identity: a latency measured on another CPU model is
    another measurement, even with the same target and options.
    """
    name, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not name:
                    name = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "name": name or platform.processor() or "unknown",
        "arch": platform.machine(),
        "cores": os.cpu_count() or 1,
        "features": sorted(flags.intersection(_VECTOR_FLAGS)),
    }


#: Where Linux describes the first CPU's caches: ``index<N>/size`` holds "48K", "1024K", "32768K".
CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")


def last_level_cache_bytes(caches: Path = CPU_CACHES) -> int:
    """The largest CPU cache this host reports (Linux sysfs), or 64 MiB where none is reported.

    What a timing that starts cold must write over to leave nothing cached (``per_layer``)."""
    sizes = []
    for path in caches.glob("index*/size"):
        text = path.read_text().strip().upper()
        scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KM")) * scale)
        except ValueError:
            continue
    return max(sizes, default=64 << 20)


def device_identity(target: str, options: DeviceOptions, on_host_cpu: bool = True) -> dict[str, Any]:
    """What names one measurement device: the board behind an RPC address, this host's CPU, or its GPU."""
    if options.remote:
        return {"target": target, "tracker": options.rpc_tracker, "key": options.rpc_key, "server": options.rpc_server}
    if on_host_cpu:
        return {"device": "host-cpu", "cpu": host_cpu()}
    return {"device": "host-gpu", "target": target}


@functools.cache
def _lock(name: str) -> SharedExclusiveLock:
    """This process's handle on one host-wide lock (one handle per process, so holds nest)."""
    return SharedExclusiveLock(host_lock_dir() / f"{name}.lock")


def _device_lock(target: str, options: DeviceOptions, on_host_cpu: bool) -> SharedExclusiveLock:
    if not options.remote and on_host_cpu:
        return _lock("host-cpu")
    return _lock("device-" + stable_hash(device_identity(target, options, on_host_cpu), 32))


def cpu_work() -> AbstractContextManager[None]:
    """Hold while running anything on the host CPU that may run beside other such work."""
    return _lock("host-cpu").hold(exclusive=False)


def measurement_lock(target: str, options: DeviceOptions, on_host_cpu: bool = True) -> AbstractContextManager[None]:
    """Hold while timing a module (or tuning) on the device of ``target``: nothing else runs there."""
    return _device_lock(target, options, on_host_cpu).hold(exclusive=True)


def device_lock(target: str, options: DeviceOptions, on_host_cpu: bool = True) -> AbstractContextManager[None]:
    """Hold while the device runs a module at all (accuracy): on the host CPU a shared hold
    (compiles may run beside it, measurements may not), on a board or the GPU its exclusive one."""
    return _device_lock(target, options, on_host_cpu).hold(exclusive=options.remote or not on_host_cpu)
