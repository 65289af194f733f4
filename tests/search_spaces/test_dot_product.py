"""int8 convolutions on the CPU's dot-product instructions (x86 VNNI, vpmaddubsw, vpmaddwd, Arm sdot).

Which instruction a target gets is LLVM's answer for its ``mcpu``, so the selection is
checked on named CPUs. A kernel is run only where this machine can execute it (capability
probe of the host, never a CPU name): an AVX-512 VNNI host runs the 16-lane kernel, a host
with AVX-VNNI also runs the 8-lane kernel compiled for ``alderlake``. The Arm kernel is
cross-compiled here and run on the emulated board.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("tvm")

from search_spaces.algorithms import ALGORITHMS, int8_weight_peak
from search_spaces.algorithms import testing as T
from search_spaces.algorithms._dot_product import dot_product_for, dot_products_for
from search_spaces.algorithms.schedules import apply_default_schedules


def _target(**attrs: object):
    return tvm.target.Target({"kind": "llvm", "num-cores": 2, **attrs})


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"mcpu": "cascadelake"}, "avx512_vnni"),
        ({"mcpu": "znver4"}, "avx512_vnni"),
        ({"mcpu": "alderlake"}, "avx_vnni"),
        ({"mcpu": "skylake-avx512"}, "avx512_pmaddwd"),  # no VNNI, full-range weights: int16 pairs
        ({"mcpu": "haswell"}, "avx2_pmaddwd"),
        ({"mcpu": "sandybridge"}, None),  # AVX without AVX2: no integer vectors of 256 bits
        ({"mtriple": "aarch64-linux-gnu", "mattr": ["+neon", "+dotprod"]}, "neon_sdot"),
        ({"mtriple": "aarch64-linux-gnu", "mcpu": "neoverse-n1"}, "neon_sdot"),
        ({"mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}, None),  # ARMv8.0: no sdot
        ({"mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72"}, None),
    ],
)
def test_the_instruction_follows_the_targets_features(attrs, expected):
    dot = dot_product_for(_target(**attrs))
    assert (dot.name if dot else None) == expected


@pytest.mark.parametrize(
    ("mcpu", "seven_bit", "levels"),
    [
        ("haswell", "avx2_pmaddubsw", 64),
        ("skylake-avx512", "avx512_pmaddubsw", 64),
        ("znver4", "avx512_vnni", 127),  # VNNI's 32-bit sums take any weight
        ("sandybridge", None, 127),
    ],
)
def test_without_vnni_weights_within_64_take_vpmaddubsw_and_int8_quantizes_to_them(mcpu, seven_bit, levels):
    target = _target(mcpu=mcpu)
    for peak in (64, 1):
        dot = dot_product_for(target, weight_peak=peak)
        assert (dot.name if dot else None) == seven_bit
    assert int8_weight_peak(target) == levels
    # The 16-bit pair sum 2 * 255 * 65 = 33150 would saturate: a weight of 65 keeps the exact route.
    dot = dot_product_for(target, weight_peak=65)
    assert dot is None or "pmaddubsw" not in dot.name


def _host_can_run(target) -> bool:
    """Whether this machine executes ``target``'s dot-product instruction (the kernel's own flags
    in /proc/cpuinfo: LLVM's model of the host CPU can lack some, e.g. AVX-VNNI on a Xeon)."""
    from pathlib import Path

    dot = dot_product_for(target, weight_peak=1)  # the fastest instruction, whatever its range
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else []
    return dot is not None and _CPU_FLAG.get(dot.name, dot.name) in flags


#: The /proc/cpuinfo flag of each instruction's extension, where it is not the instruction's name.
_CPU_FLAG = {
    "avx2_pmaddwd": "avx2",
    "avx2_pmaddubsw": "avx2",
    "avx512_pmaddwd": "avx512bw",
    "avx512_pmaddubsw": "avx512bw",
}
#: What each instruction looks like in the assembly.
_MNEMONIC = {
    "avx2_pmaddwd": "vpmaddwd",
    "avx2_pmaddubsw": "vpmaddubsw",
    "avx512_pmaddwd": "vpmaddwd",
    "avx512_pmaddubsw": "vpmaddubsw",
}


# (in_ch, size, out_ch, kernel, stride, padding, dilation): channels that are not multiples of
# the 4-byte group or of the lanes are padded by the kernel; a 7x7 stem with 3 channels.
SHAPES = {
    "k3s1p1": (16, 9, 32, 3, 1, 1, 1),
    "k3s2-odd-channels": (6, 9, 12, 3, 2, 1, 1),
    "k1s2": (32, 8, 48, 1, 2, 0, 1),
    "k7s2p3-stem": (3, 16, 16, 7, 2, 3, 1),
    "dilated": (8, 11, 16, 3, 1, 2, 2),
}
TARGETS = {
    "host": T.host_target(),
    "alderlake": _target(mcpu="alderlake"),
    "haswell": _target(mcpu="haswell"),  # AVX2 only: vpmaddubsw (7-bit weights) or vpmaddwd
    "skylake-avx512": _target(mcpu="skylake-avx512"),  # AVX-512 without VNNI: the same on zmm
}


@pytest.mark.parametrize("weight_peak", [127, 64], ids=["full-range-weights", "7-bit-weights"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_dot_product_conv_is_exact_and_uses_the_instruction(target_name, shape, weight_peak):
    target = TARGETS[target_name]
    if not _host_can_run(target):
        pytest.skip(f"this machine cannot run the {target_name} target's dot-product instruction")
    c, size, oc, k, s, p, d = shape
    rng = np.random.default_rng(1)
    # The full int8 range: +128 offset and compensation must be exact at the extremes, and
    # vpmaddubsw's 16-bit pair sums must not saturate (activations of 127 and -128 beside
    # weights of +-64 reach 2 * 255 * 64 = 32640).
    x = rng.integers(-128, 128, (2, c, size, size)).astype("int8")
    w = rng.integers(-weight_peak, weight_peak + 1, (oc, c, k, k)).astype("int8")
    x[0], w[0] = 127, weight_peak  # a whole output channel of the largest products
    x[1, :, ::2], w[1 % oc] = -128, -weight_peak
    b = rng.integers(-1000, 1000, oc).astype("int32")
    mod = T.conv_module(x.shape, w, s, p, d, in_dtype="int8", out_dtype="int32", bias=b, relu=True)
    ctx = T.lowering_context(target)
    report: dict[str, str] = {}
    lowered = apply_default_schedules(ALGORITHMS.get("spatial_pack").lower(mod, {}, ctx), target, report)
    executable = tvm.compile(lowered, target)
    out = T.run(tvm.relax.VirtualMachine(executable, tvm.cpu()), x)
    ref = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64),
        torch.tensor(w, dtype=torch.float64),
        torch.tensor(b, dtype=torch.float64),
        s,
        p,
        d,
    ).relu()
    np.testing.assert_array_equal(out, ref.numpy().astype("int32"))
    dot = dot_product_for(target, weight_peak=weight_peak)
    assert ctx.info["dot_product"] == {"instruction": dot.name, "layers": 1}
    assert [how for name, how in report.items() if "dse_spatial_pack_dot" in name] == ["rules"], report
    assert _MNEMONIC.get(dot.name, "vpdpbusd") in executable.mod.imports[0].inspect_source("asm")
    # Padding 3 or 6 channels up to a group of 4 stays vectorized (TVM names a loop it had to
    # run one lane at a time "<loop>.s").
    assert not re.search(r"for_begin_\w+\.s\b", executable.mod.imports[0].inspect_source("ll"))


def test_an_eight_channel_block_takes_the_256_bit_instruction_on_avx512_vnni():
    """Spatial pack's layout flow gives a 24-channel tensor 8-channel blocks; AVX-512 VNNI then
    runs the instruction on 256-bit registers (8 lanes) instead of leaving the conv unpacked."""
    target = T.host_target()
    if [dot.lanes for dot in dot_products_for(_target(mcpu="znver4"))] != [16, 8]:
        pytest.fail("AVX-512 VNNI should offer the 512- and 256-bit forms")
    if not _host_can_run(target) or dot_product_for(target).lanes != 16:
        pytest.skip("this machine does not run AVX-512 VNNI")
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (1, 16, 7, 7)).astype("int8")
    w = rng.integers(-127, 128, (24, 16, 3, 3)).astype("int8")
    mod = T.conv_module(x.shape, w, 1, 1, in_dtype="int8", out_dtype="int32")
    ctx = T.lowering_context(target)
    lowered = apply_default_schedules(ALGORITHMS.get("spatial_pack").lower(mod, {}, ctx), target)
    assert ctx.info["algorithm_layers"][0]["layout"] == "NCHW16c->NCHW8c"
    assert ctx.info["dot_product"] == {"instruction": "avx512_vnni", "layers": 1}
    executable = tvm.compile(lowered, target)
    out = T.run(tvm.relax.VirtualMachine(executable, tvm.cpu()), x)
    ref = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64), None, 1, 1
    )
    np.testing.assert_array_equal(out, ref.numpy().astype("int32"))
    assert "vpdpbusd\t%ymm" in executable.mod.imports[0].inspect_source("asm")


def test_depthwise_and_targets_without_the_instruction_keep_the_widening_kernel():
    x = np.ones((1, 8, 6, 6), "int8")
    for w, groups, target in [
        (np.ones((8, 1, 3, 3), "int8"), 8, T.host_target()),  # depthwise: no reduction over channels
        (np.ones((8, 8, 3, 3), "int8"), 1, _target(mcpu="sandybridge")),
    ]:
        mod = T.conv_module(x.shape, w, 1, 1, groups=groups, in_dtype="int8", out_dtype="int32")
        ctx = T.lowering_context(target)
        lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, ctx)
        assert "dot_product" not in ctx.info
        assert "dse_spatial_pack_dot" not in lowered.script()


ARM_DOTPROD = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon", "+dotprod"], "num-cores": 1}


def _conv_reference(x, w, b, stride, padding):
    ref = torch.nn.functional.conv2d(
        torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
        stride, padding,
    )  # fmt: skip
    return ref.relu().numpy().astype("int32")


def _arm_sdot_build(x, w, b, stride, padding):
    """The int8 conv lowered by spatial pack for an Arm CPU with ``+dotprod``: (lowered, executable, ctx)."""
    target = tvm.target.Target(ARM_DOTPROD)
    mod = T.conv_module(x.shape, w, stride, padding, in_dtype="int8", out_dtype="int32", bias=b, relu=True)
    ctx = T.lowering_context(target)
    report: dict[str, str] = {}
    lowered = apply_default_schedules(ALGORITHMS.get("spatial_pack").lower(mod, {}, ctx), target, report)
    assert [how for name, how in report.items() if "dse_spatial_pack_dot" in name] == ["rules"], report
    return lowered, tvm.compile(lowered, target), ctx


def test_an_arm_cpu_with_dotprod_runs_signed_bytes_on_sdot():
    """No +128 shift on Arm: sdot multiplies signed bytes, so the kernel packs the activations as
    they are and subtracts no compensation."""
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 6, 9, 9)).astype("int8")
    w = rng.integers(-127, 128, (8, 6, 3, 3)).astype("int8")
    lowered, executable, ctx = _arm_sdot_build(x, w, np.zeros(8, "int32"), 1, 1)
    assert ctx.info["dot_product"] == {"instruction": "neon_sdot", "layers": 1}
    asm = executable.mod.imports[0].inspect_source("asm")
    assert re.search(r"\bsdot\tv\d+\.4s", asm), "no sdot in the Arm kernel"
    assert "uint8" not in lowered.script()  # the activations stay signed bytes
    assert not re.search(r"for_begin_\w+\.s\b", executable.mod.imports[0].inspect_source("ll"))


@pytest.mark.e2e
def test_the_arm_sdot_conv_is_exact_on_the_emulated_board(board, tmp_path):
    from dse.core.config import DeviceOptions
    from search_spaces.targets import TARGETS
    from search_spaces.targets.devices.rpc import RPCDevice

    rng = np.random.default_rng(4)
    for c, size, oc, stride, padding in [(6, 9, 12, 1, 1), (16, 8, 8, 2, 1)]:
        x = rng.integers(-128, 128, (1, c, size, size)).astype("int8")
        w = rng.integers(-127, 128, (oc, c, 3, 3)).astype("int8")
        b = rng.integers(-1000, 1000, oc).astype("int32")
        _, executable, _ = _arm_sdot_build(x, w, b, stride, padding)
        library = tmp_path / f"sdot-{c}-{stride}.so"
        TARGETS.get("arm").export_library(executable, str(library))
        device = RPCDevice(DeviceOptions(rpc_server=board.address))
        try:
            out = device.load(str(library)).run(x)
        finally:
            device.close()
        np.testing.assert_array_equal(out, _conv_reference(x, w, b, stride, padding))
