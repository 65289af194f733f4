"""The device interface. Measurement never compiles: it receives a built library."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from dse.core.measure import LatencySamples, Timer, sample

if TYPE_CHECKING:
    import numpy as np

    from dse.core.config import MeasureConfig


class LoadedModule(abc.ABC):
    """A compiled module loaded on a device."""

    #: Threads of the runtime that runs it (0: unknown) and whether its timings are emulated.
    threads: int = 0
    emulated: bool = False

    @abc.abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one inference and return the first output as a NumPy array."""

    @abc.abstractmethod
    def timer(self, x: np.ndarray) -> Timer:
        """TVM's time_evaluator on input ``x``, as ``timer(number, repeat)`` (see ``dse.core.measure``)."""

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        """One measurement of inference on ``x`` under ``measure``'s protocol."""
        return sample(self.timer(x), measure, self.threads, self.emulated)


class Device(abc.ABC):
    """A place that runs compiled modules: the host, or a board over TVM RPC."""

    #: Latencies from an emulator are flagged and never compared with real ones.
    emulated: bool = False
    #: Failures of a remote device are retryable (DEVICE); local ones are runtime errors.
    remote: bool = False
    description: str = ""

    @abc.abstractmethod
    def load(self, library_path: str) -> LoadedModule:
        """Load a compiled module exported as a shared library (uploading it if the device is remote)."""

    def close(self) -> None:  # noqa: B027  (optional hook: most devices hold nothing to release)
        """Release the device session."""
