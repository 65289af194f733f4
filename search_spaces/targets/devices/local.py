"""The host CPU as measurement device."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dse.core.errors import DeviceUnavailable
from search_spaces.targets.devices._base import Device, LoadedModule

if TYPE_CHECKING:
    import numpy as np

    from dse.core.measure import Timer


def runtime_threads() -> int:
    """Threads TVM's runtime uses (TVM_NUM_THREADS, set by dse before TVM starts)."""
    return int(os.environ.get("TVM_NUM_THREADS", "0")) or (os.cpu_count() or 1)


class _LocalModule(LoadedModule):
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
        out = self._vm["main"](self._tensor(x))
        first = out[0] if not hasattr(out, "numpy") else out
        return first.numpy()

    def timer(self, x: np.ndarray) -> Timer:
        data = self._tensor(x)

        def run(number: int, repeat: int) -> Sequence[float]:
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
