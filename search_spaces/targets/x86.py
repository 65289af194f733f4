"""The host x86-64 CPU, with LLVM's ``mcpu`` detected (it matters more than anything else)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces.targets._base import TARGETS, TargetPreset

if TYPE_CHECKING:
    from dse.config import DeviceOptions
    from dse.devices import Device


@TARGETS.register("x86")
class X86Host(TargetPreset):
    description = "this machine's x86-64 CPU (LLVM, mcpu detected), measured locally"

    def tvm_target(self, threads: int) -> dict[str, Any]:
        from tvm.target import codegen

        return {"kind": "llvm", "mcpu": codegen.llvm_get_system_cpu(), "num-cores": threads}

    def open_device(self, options: DeviceOptions) -> Device:
        from dse.devices.local import LocalDevice

        return LocalDevice("cpu")
