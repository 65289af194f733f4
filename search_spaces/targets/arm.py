"""64-bit Arm CPUs (aarch64 + NEON): cross-compiled here, measured on the board over TVM RPC.

On an aarch64 host without RPC options the host itself is the device. On an x86 host the
module is compiled with LLVM for ``aarch64-linux-gnu``, linked with the aarch64 cross
compiler (Debian ``gcc-aarch64-linux-gnu``) and uploaded to the board, which needs only the
TVM runtime and ``python -m tvm.exec.rpc_server``. ``python -m dse.emulate arm``
starts an emulated board on loopback for dry runs (its latencies are flagged as emulated).
Board presets (``arm_boards``) only change ``mcpu`` and ``mattr``.
"""

from __future__ import annotations

import platform
import shutil
from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.errors import FailureKind, TrialFailure, UsageError
from search_spaces.targets._base import TARGETS, TargetPreset

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions
    from search_spaces.targets.devices import Device

CROSS_CC = "aarch64-linux-gnu-gcc"
#: The Debian packages that link aarch64 shared libraries: the compiler and the C runtime (crti.o).
CROSS_PACKAGES_FIX = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
TRIPLE = "aarch64-linux-gnu"
BOARD_SETUP = (
    "on the board run `python -m tvm.exec.rpc_server --host 0.0.0.0 --port 9090` and pass --rpc BOARD:9090 "
    "(or --rpc-tracker HOST:PORT --rpc-key KEY); for a dry run start an emulated board with "
    "`python -m dse.emulate arm` and pass --rpc 127.0.0.1:9090 (see README)"
)


def host_is_aarch64() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64")


@TARGETS.register("arm")
class ArmCpu(TargetPreset):
    """Generic aarch64 with NEON (ARMv8-A); subclasses name a core."""

    description = "64-bit Arm CPU, generic ARMv8-A + NEON (board over TVM RPC, or this host if aarch64)"
    #: LLVM's name of the core; None: generic ARMv8-A (or the host's core when measuring locally).
    mcpu: ClassVar[str | None] = None
    mattr: ClassVar[tuple[str, ...]] = ("+neon",)

    def tvm_target(self, threads: int) -> dict[str, Any]:
        target: dict[str, Any] = {"kind": "llvm", "mtriple": TRIPLE, "mattr": list(self.mattr), "num-cores": threads}
        mcpu = self.mcpu
        if mcpu is None and host_is_aarch64():
            from tvm.target import codegen

            mcpu = codegen.llvm_get_system_cpu()
        if mcpu:
            target["mcpu"] = mcpu
        return target

    def is_this_host_cpu(self) -> bool:
        return host_is_aarch64()

    def check_reachable(self, options: DeviceOptions) -> None:
        """One-line UsageError when no board can be reached or the cross compiler is missing."""
        from search_spaces.targets.devices import rpc

        if options.rpc_tracker:
            rpc.check_tcp(
                options.rpc_tracker,
                "--rpc-tracker",
                "Start it with `python -m tvm.exec.rpc_tracker --host 0.0.0.0 --port PORT` and on the "
                "board `python -m tvm.exec.rpc_server --tracker HOST:PORT --key KEY`, or use --rpc",
            )
            rpc.check_tracker_key(options)
        elif options.rpc_server:
            rpc.check_tcp(options.rpc_server, "--rpc", "Is the board's RPC server running? " + BOARD_SETUP)
        elif not host_is_aarch64():
            raise UsageError(
                f"--target {self.name} on this {platform.machine()} host needs an Arm board: {BOARD_SETUP}"
            )
        if not host_is_aarch64() and shutil.which(CROSS_CC) is None:
            raise UsageError(f"--target {self.name} needs the aarch64 cross compiler {CROSS_CC}: {CROSS_PACKAGES_FIX}")

    def open_device(self, options: DeviceOptions) -> Device:
        if options.remote:
            from search_spaces.targets.devices.rpc import RPCDevice

            return RPCDevice(options)
        from search_spaces.targets.devices.local import LocalDevice

        return LocalDevice("cpu")

    def cross_compiler(self) -> str | None:
        """``aarch64-linux-gnu-gcc`` on any host but an aarch64 one (which links natively)."""
        return None if host_is_aarch64() else CROSS_CC

    def export_library(self, executable: Any, path: str) -> None:
        """Link for aarch64: natively on an Arm host, with the cross compiler elsewhere."""
        compiler = self.cross_compiler()
        if compiler is None:
            executable.export_library(path)
            return
        if shutil.which(compiler) is None:
            raise TrialFailure(FailureKind.COMPILE, f"{compiler} not found: {CROSS_PACKAGES_FIX}")
        from tvm.support import cc

        executable.export_library(path, fcompile=cc.cross_compiler(compiler))
