"""The host CPU as measurement device."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dse.core.errors import DeviceUnavailable
from search_spaces.targets.devices._base import Device, LoadedModule

if TYPE_CHECKING:
    import numpy as np

    from dse.core.config import MeasureConfig
    from dse.core.measure import LatencySamples, Timer


@dataclasses.dataclass(frozen=True)
class CpuUsage:
    """A snapshot: wall clock, CPU seconds busy on the whole host, and of this process (all threads)."""

    wall_s: float
    host_busy_s: float
    own_s: float


def cpu_usage() -> CpuUsage | None:
    """Read /proc/stat and this process's rusage (None where /proc/stat is not there)."""
    import resource
    import time

    try:
        with open("/proc/stat", encoding="ascii") as file:
            fields = [int(v) for v in file.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is in user)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return CpuUsage(time.monotonic(), busy / ticks, own.ru_utime + own.ru_stime)


def foreign_load(before: CpuUsage, after: CpuUsage) -> float:
    """Cores other processes kept busy on average between two snapshots."""
    wall = max(after.wall_s - before.wall_s, 1e-6)
    others = (after.host_busy_s - before.host_busy_s) - (after.own_s - before.own_s)
    return max(0.0, others / wall)


#: Before timing, wait (at most this long) for a window in which other processes kept fewer
#: than QUIET_LOAD cores busy.
QUIET_WAIT_S = 3.0
QUIET_WINDOW_S = 0.05
QUIET_LOAD = 0.05


def wait_until_quiet() -> float:
    """Sleep until the other processes of the host idle (or ``QUIET_WAIT_S``); returns the wait."""
    import time

    start = time.monotonic()
    while time.monotonic() - start < QUIET_WAIT_S:
        before = cpu_usage()
        time.sleep(QUIET_WINDOW_S)
        after = cpu_usage()
        if before is None or after is None or foreign_load(before, after) < QUIET_LOAD:
            break
    return time.monotonic() - start


def runtime_threads() -> int:
    """Threads TVM's runtime uses (TVM_NUM_THREADS, set by dse before TVM starts)."""
    return int(os.environ.get("TVM_NUM_THREADS", "0")) or (os.cpu_count() or 1)


def _thread_ids() -> set[int]:
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return set()


#: Threads started while the runtime ran (:func:`runtime_call` blocks): TVM's pool, which it
#: starts at the first parallel loop of the process, often an accuracy run before any timing
#: (threads other libraries started, such as an ONNX Runtime or OpenVINO pool pinned for their
#: own runs, are not among them).
_RUNTIME_WORKERS: set[int] = set()


def _cores_bound_to_runtime_workers() -> set[int]:
    """The cores that a runtime worker of this process is bound to alone (how TVM binds them)."""
    cores: set[int] = set()
    for tid in _RUNTIME_WORKERS & _thread_ids():
        try:
            allowed = os.sched_getaffinity(tid)
        except OSError:  # the thread ended meanwhile
            continue
        if len(allowed) == 1:
            cores |= allowed
    return cores


@contextlib.contextmanager
def runtime_call() -> Iterator[None]:
    """Wrap a call into TVM's runtime: the threads it starts are recorded as the runtime's pool."""
    before = _thread_ids()
    try:
        yield
    finally:
        _RUNTIME_WORKERS.update(_thread_ids() - before - {threading.get_native_id()})


@contextlib.contextmanager
def beside_bound_workers() -> Iterator[None]:
    """Keep the calling thread off the cores the runtime's workers are bound to, for the block.

    TVM's thread pool binds each worker to one core and lets the calling thread, which runs
    the first share of every parallel loop, roam all of them. When the OS puts it on a bound
    worker's core, the two take turns and the whole model runs at one core's speed: seen on a
    2-core AMD EPYC (MobileNetV2 fp32, 2 threads) as 13.8 ms against 6.9-7.8 ms, from one run to
    the next. Restricting the calling thread to the cores no worker holds (core 0 where TVM binds
    workers to 1..n-1) is the placement TVM's binding intends. The block is a
    :func:`runtime_call`: where the pool starts inside it, the placement holds from the next
    call. The calling thread's cores are restored after each block, as threads started later
    (another runtime's pool) inherit the mask of the thread that starts them.
    """
    if not hasattr(os, "sched_setaffinity"):
        with runtime_call():
            yield
        return
    own = os.sched_getaffinity(0)
    free = own - _cores_bound_to_runtime_workers()
    if free and free != own:
        os.sched_setaffinity(0, free)
    try:
        with runtime_call():
            yield
    finally:
        os.sched_setaffinity(0, own)


class HostCpuModule(LoadedModule):
    """A module that runs on this host's CPU (TVM's, or another runtime's): timed once the host
    is quiet, with the load other processes put on the CPU meanwhile."""

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        """One measurement, with the load other processes put on the CPU meanwhile.

        Starts once the host is quiet: a process that just gave up the CPU (another worker
        waiting for the lock) may still spin its thread pools for a fraction of a second.
        """
        wait_until_quiet()
        before = cpu_usage()
        samples = super().time(x, measure)
        after = cpu_usage()
        if before is None or after is None:
            return samples
        return dataclasses.replace(samples, foreign_load=foreign_load(before, after))


class _LocalModule(HostCpuModule):
    def __init__(self, library_path: str, device: Any) -> None:
        import tvm
        from tvm import relax

        self._device = device
        self._vm = relax.VirtualMachine(tvm.runtime.load_module(library_path), device)
        self.threads = runtime_threads()

    def _tensor(self, x: np.ndarray) -> Any:
        import tvm

        return tvm.runtime.tensor(x, self._device)

    def run(self, x: np.ndarray) -> np.ndarray:
        with runtime_call():  # the first run (accuracy, before any timing) starts TVM's pool
            out = self._vm["main"](self._tensor(x))
        first = out[0] if not hasattr(out, "numpy") else out
        return first.numpy()

    def timer(self, x: np.ndarray) -> Timer:
        data = self._tensor(x)

        def run(number: int, repeat: int) -> Sequence[float]:
            with beside_bound_workers():
                return self._vm.time_evaluator("main", self._device, number=number, repeat=repeat)(data).results

        return run


class LocalDevice(Device):
    description = "host CPU"

    def __init__(self, kind: str = "cpu") -> None:
        import tvm

        self._device = tvm.device(kind, 0)
        if not self._device.exist:
            raise DeviceUnavailable(f"No {kind} device on this machine")

    def load(self, library_path: str) -> LoadedModule:
        return _LocalModule(library_path, self._device)
