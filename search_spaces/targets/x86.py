"""The host x86-64 CPU, with LLVM's ``mcpu`` detected (it matters more than anything else), and
AVX2 code (``x86-avx2``) for deployments to CPUs without AVX-512."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError
from search_spaces.targets._base import TARGETS, TargetPreset
from search_spaces.targets.devices.identity import host_cpu

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions
    from search_spaces.targets.devices import Device


@TARGETS.register("x86")
class X86Host(TargetPreset):
    description = "this machine's x86-64 CPU (LLVM, mcpu detected), measured locally or over --rpc/--rpc-tracker"

    def tvm_target(self, threads: int) -> dict[str, Any]:
        from tvm.target import codegen

        return {"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu(), "num-cores": threads}

    def is_this_host_cpu(self) -> bool:
        import platform

        return platform.machine().lower() in ("x86_64", "amd64")

    def check_reachable(self, options: DeviceOptions) -> None:
        """With --rpc/--rpc-tracker, a one-line UsageError when the x86 machine cannot be reached."""
        from search_spaces.targets.devices import rpc

        fix = "Start `python -m tvm.exec.rpc_server --host 127.0.0.1 --port PORT` (another host only if trusted)."
        if options.rpc_tracker:
            rpc.check_tcp(options.rpc_tracker, "--rpc-tracker", fix)
            rpc.check_tracker_key(options)
        elif options.rpc_server:
            rpc.check_tcp(options.rpc_server, "--rpc", fix)

    def open_device(self, options: DeviceOptions) -> Device:
        # Over RPC the code is still compiled for this host's CPU: the remote x86 machine must
        # have the same (or a newer, compatible) CPU.
        if options.remote:
            from search_spaces.targets.devices.rpc import RPCDevice

            return RPCDevice(options)
        from search_spaces.targets.devices.local import LocalDevice

        return LocalDevice("cpu")


@TARGETS.register("x86-avx2")
class X86Avx2(X86Host):
    """AVX2 code (LLVM's ``x86-64-v3`` level: AVX2, FMA, BMI2; no AVX-512, no VNNI), the fleet
    of CPUs from Haswell and Zen 1 on. On a host with AVX-512 it measures the AVX2 code on this
    core (same clock and caches, AVX2 instructions only): what a deployment to AVX2 machines
    runs, not a timing of such a machine."""

    description = "x86-64 AVX2 code (x86-64-v3: no AVX-512, no VNNI), measured here if this CPU has AVX2, or over --rpc"
    #: The LLVM CPU: the AVX2 level, not one core's model.
    mcpu = "x86-64-v3"

    def tvm_target(self, threads: int) -> dict[str, Any]:
        return {"kind": "llvm", "mcpu": self.mcpu, "num-cores": threads}

    def is_this_host_cpu(self) -> bool:
        # Its code uses a subset of this CPU: ONNX Runtime or OpenVINO here would use the rest.
        return False

    def runs_here(self) -> bool:
        return super().is_this_host_cpu() and _runs_avx2(host_cpu())

    def check_reachable(self, options: DeviceOptions) -> None:
        super().check_reachable(options)
        cpu = host_cpu()
        if not options.remote and not _runs_avx2(cpu):
            raise UsageError(
                f"--target {self.name} runs AVX2 code, which this CPU ({cpu['name']}) lacks; "
                "measure it on an AVX2 machine over --rpc HOST:PORT"
            )


def _runs_avx2(cpu: dict[str, Any]) -> bool:
    """Whether ``cpu`` (``host_cpu()``) executes ``x86-64-v3`` code: AVX2 and FMA."""
    return {"avx2", "fma"} <= set(cpu["features"])
