"""Base class and registry of the runtime layer (DLAS layer 5: who compiles and runs the model).

``tvm`` is dse's own path (the algorithm and tuning layers below it). Another runtime gets the
trial's model after layers 1-3 (pruned, fine-tuned) as an ONNX file and builds it its own way,
precision included; it runs on this host's CPU and is timed with the same protocol as TVM
(``dse.core.measure`` through :class:`HostCpuModule`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.measure import call_timer
from dse.core.registry import Registry
from search_spaces._base import Choice
from search_spaces.targets.devices.local import HostCpuModule

if TYPE_CHECKING:
    import numpy as np

    from dse.core.measure import Timer
    from search_spaces._context import BuildContext


class Runtime(Choice):
    """Layer 5's runtime. Subclasses other than ``tvm`` implement :meth:`load`."""

    layer: ClassVar[str] = "runtime"
    #: Whether trials on it choose TVM's algorithm and tuning (define-by-run: only then drawn).
    uses_tvm: ClassVar[bool] = False
    #: The importable package it needs (an optional extra: ``pip install dse[runtimes]``).
    package: ClassVar[str | None] = None
    #: Precisions it builds (others are invalid combinations, said in one line).
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def incompatibility(self, config: Any) -> str | None:
        from search_spaces.targets import TARGETS

        if self.uses_tvm:
            return None
        if not TARGETS.get(config.target).is_this_host_cpu():
            return f"{self.name} runs on this host's CPU only, not on --target {config.target}"
        if config.precision.name not in self.precisions:
            return f"{self.name} builds {', '.join(self.precisions)} here, not {config.precision.name}"
        return None

    def available(self) -> bool:
        return self.package is None or importlib.util.find_spec(self.package) is not None

    def load(self, onnx_path: Path, config: Any, ctx: BuildContext, folder: Path) -> HostCpuModule:
        """Build the ONNX model at the trial's precision (in ``folder``) and load it on the CPU."""
        raise NotImplementedError


class FunctionModule(HostCpuModule):
    """A model another runtime loaded, as a module dse can score and time: ``infer(x)`` runs one
    inference and returns the first output."""

    def __init__(self, infer: Callable[[np.ndarray], np.ndarray], threads: int) -> None:
        self._infer = infer
        self.threads = threads

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._infer(x)

    def timer(self, x: np.ndarray) -> Timer:
        infer = self._infer
        return call_timer(lambda: infer(x))


def calibration_images(ctx: BuildContext, n: int = 64) -> list[np.ndarray]:
    """The calibration images every int8 path uses (training split, stratified), batch 1 each."""
    images = ctx.data.calibration(n).numpy()
    return [images[i : i + 1] for i in range(len(images))]


RUNTIMES: Registry[Runtime] = Registry("runtime")
