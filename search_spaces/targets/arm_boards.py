"""Arm board presets: the generic Arm target with the board's core (LLVM ``mcpu``) and features.

Naming the core lets LLVM pick instructions and scheduling for it (on x86, ``mcpu`` was the
single biggest factor in tuned latency: shared/tvm-notes.md). Each preset is reached like
``arm``: over TVM RPC, or locally on an aarch64 host.
"""

from __future__ import annotations

from search_spaces.targets._base import TARGETS
from search_spaces.targets.arm import ArmCpu


@TARGETS.register("arm-rpi4")
class RaspberryPi4(ArmCpu):
    description = "Raspberry Pi 4 (4x Cortex-A72, NEON) over TVM RPC"
    mcpu = "cortex-a72"


@TARGETS.register("arm-rpi5")
class RaspberryPi5(ArmCpu):
    description = "Raspberry Pi 5 (4x Cortex-A76, NEON + dot product) over TVM RPC"
    mcpu = "cortex-a76"
    mattr = ("+neon", "+dotprod")


@TARGETS.register("arm-graviton2")
class Graviton2(ArmCpu):
    description = "AWS Graviton2 (Neoverse N1, NEON + dot product) over TVM RPC or locally"
    mcpu = "neoverse-n1"
    mattr = ("+neon", "+dotprod")


@TARGETS.register("arm-graviton3")
class Graviton3(ArmCpu):
    description = "AWS Graviton3 (Neoverse V1, NEON + dot product + SVE) over TVM RPC or locally"
    mcpu = "neoverse-v1"
    mattr = ("+neon", "+dotprod", "+sve")
