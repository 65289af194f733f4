"""The device interface. Measurement never compiles: it receives a built executable."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from dse.config import MeasureConfig


@dataclass(frozen=True)
class LatencySamples:
    """Raw per-repeat latencies (seconds per run) and how they were taken."""

    seconds: tuple[float, ...]
    runs_per_sample: int
    threads: int
    emulated: bool


class LoadedModule(abc.ABC):
    """A compiled module loaded on a device."""

    @abc.abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """Run one inference and return the first output as a NumPy array."""

    @abc.abstractmethod
    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        """Time inference on ``x`` with TVM's time_evaluator."""


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

    def close(self) -> None:
        """Release the device session."""
