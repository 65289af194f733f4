"""The host x86-64 CPU, with LLVM's ``mcpu`` detected (it matters more than anything else)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces.targets._base import TARGETS, TargetPreset

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
