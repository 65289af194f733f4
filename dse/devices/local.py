"""The host CPU as measurement device."""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from dse.devices._base import Device, LatencySamples, LoadedModule

if TYPE_CHECKING:
    import numpy as np

    from dse.config import MeasureConfig


def runtime_threads() -> int:
    """Threads TVM's runtime uses (TVM_NUM_THREADS, set by dse before TVM starts)."""
    return int(os.environ.get("TVM_NUM_THREADS", "0")) or (os.cpu_count() or 1)


def runs_per_sample(single_run_s: float, min_repeat_ms: int) -> int:
    """How many back-to-back runs make one sample last at least ``min_repeat_ms``."""
    return max(1, math.ceil(min_repeat_ms / 1000 / max(single_run_s, 1e-9)))


class _LocalModule(LoadedModule):
    def __init__(self, library_path: str, device: Any) -> None:
        import tvm
        from tvm import relax

        self._device = device
        self._vm = relax.VirtualMachine(tvm.runtime.load_module(library_path), device)

    def _tensor(self, x: np.ndarray) -> Any:
        import tvm

        return tvm.runtime.tensor(x, self._device)

    def run(self, x: np.ndarray) -> np.ndarray:
        out = self._vm["main"](self._tensor(x))
        first = out[0] if not hasattr(out, "numpy") else out
        return first.numpy()

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        data = self._tensor(x)
        probe = self._vm.time_evaluator("main", self._device, number=1, repeat=1 + measure.warmup_runs)
        single_s = min(probe(data).results)
        number = runs_per_sample(single_s, measure.min_repeat_ms)
        evaluator = self._vm.time_evaluator("main", self._device, number=number, repeat=measure.repeat)
        result = evaluator(data)
        return LatencySamples(tuple(float(s) for s in result.results), number, runtime_threads(), emulated=False)


class LocalDevice(Device):
    description = "host CPU"

    def __init__(self, kind: str = "cpu") -> None:
        import tvm

        self._device = tvm.device(kind, 0)
        if not self._device.exist:
            from dse.errors import DeviceUnavailable

            raise DeviceUnavailable(f"No {kind} device on this machine")

    def load(self, library_path: str) -> LoadedModule:
        return _LocalModule(library_path, self._device)
