"""An NVIDIA GPU on this machine (CUDA), with GPU schedules from DLight or MetaSchedule.

Kernels the tuning layer leaves unscheduled get DLight's default GPU rules inside
``tvm.compile`` (TVM's CUDA pipeline applies them to every PrimFunc not yet scheduled), so
CPU schedules must not be applied for this target. Compiling needs no GPU (CUDA code is
generated and compiled with NVRTC or nvcc); measuring does, and without one the study stops
with one line instead of failing every trial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError
from search_spaces.targets._base import TARGETS, TargetPreset

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions
    from search_spaces.targets.devices import Device

#: Architecture compiled for when no GPU is present to ask (compile-only checks): Ampere.
FALLBACK_ARCH = "sm_80"


def gpu_arch() -> str | None:
    """``sm_XY`` of GPU 0, or None when there is no usable CUDA device."""
    import tvm

    device = tvm.cuda(0)
    if not device.exist:
        return None
    return "sm_" + str(device.compute_version).replace(".", "")


def is_gpu_target(tvm_target: Any) -> bool:
    """True for targets whose kernels need GPU schedules (thread bindings), not CPU ones."""
    kind = tvm_target.kind.name if hasattr(tvm_target, "kind") else str(dict(tvm_target).get("kind"))
    return kind in ("cuda", "rocm", "vulkan", "metal", "opencl")


@TARGETS.register("cuda")
class CudaGpu(TargetPreset):
    measured_on_host_cpu = False
    description = "this machine's NVIDIA GPU (CUDA; DLight or MetaSchedule GPU schedules), measured locally"

    def tvm_target(self, threads: int) -> dict[str, Any]:
        from tvm.target import codegen

        host = {"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu(), "num-cores": threads}
        return {"kind": "cuda", "arch": gpu_arch() or FALLBACK_ARCH, "host": host}

    def check_reachable(self, options: DeviceOptions) -> None:
        """One-line UsageError without a GPU here (CUDA boards over RPC are not supported yet)."""
        if options.remote:
            raise UsageError(
                "--target cuda measures on this machine's GPU; RPC (--rpc/--rpc-tracker) is "
                "not supported for cuda yet: run dse on the GPU machine itself"
            )
        if gpu_arch() is None:
            raise UsageError(
                "--target cuda needs an NVIDIA GPU and its driver on this machine, and none was "
                "found (tvm.cuda(0).exist is False): run on a GPU machine or pick --target x86"
            )

    def open_device(self, options: DeviceOptions) -> Device:
        from search_spaces.targets.devices.local import LocalDevice

        return LocalDevice("cuda")  # DeviceUnavailable (retryable) if the GPU went away
