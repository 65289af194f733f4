"""Target preset base class and registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.registry import Registry

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions
    from search_spaces.targets.devices import Device


class TargetPreset:
    """A hardware target: the TVM target to compile for and the device that measures it."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Whether its local device is this host's CPU (so compiling here disturbs its timings).
    measured_on_host_cpu: ClassVar[bool] = True

    def tvm_target(self, threads: int) -> dict[str, Any]:
        """The TVM target as a dict (target strings are gone in TVM 0.27)."""
        raise NotImplementedError

    def is_this_host_cpu(self) -> bool:
        """Whether this target is the CPU this process runs on (so other CPU runtimes can run it)."""
        return False

    def runs_here(self) -> bool:
        """Whether this CPU executes the target's code (so a kernel for it can be timed here)."""
        return self.is_this_host_cpu()

    def check_reachable(self, options: DeviceOptions) -> None:
        """Raise a UsageError naming the fix when no device for this target can be reached."""

    def open_device(self, options: DeviceOptions) -> Device:
        """Open a session on the measurement device."""
        raise NotImplementedError

    def cross_compiler(self) -> str | None:
        """The C compiler that links libraries for this target on this host (None: the host's own)."""
        return None

    def export_library(self, executable: Any, path: str) -> None:
        """Write the compiled module as a shared library loadable on the device."""
        executable.export_library(path)


TARGETS: Registry[TargetPreset] = Registry("target")
