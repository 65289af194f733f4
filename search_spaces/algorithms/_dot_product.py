"""int8 dot-product instructions of a CPU target and the TVM tensor intrinsics that use them.

One x86 VNNI instruction (``vpdpbusd``) multiplies 4 unsigned bytes by 4 signed bytes in each
32-bit lane and adds the 4 products to the lane: 64 multiply-adds per 512-bit instruction,
against 16 for an fp32 FMA. Arm's ``sdot`` (``+dotprod``: Cortex-A76, Neoverse N1 and later)
does the same on 128-bit registers with signed bytes on both sides. The int8 spatial-pack
kernel (``spatial_pack``) is written so its innermost loops are exactly that
(``C[lanes] += A[4] . B[lanes, 4]``) and the schedule tensorizes them with the intrinsic
registered here.

``vpdpbusd`` is unsigned x signed. dse's activations are signed (symmetric int8), so on x86
the kernel adds 128 to every activation byte (zero padding becomes 128) and subtracts
``128 * sum(weights of the output channel)``, a per-channel constant computed at compile
time. That identity is exact: ``sum((a + 128) * w) - 128 * sum(w) == sum(a * w)``. ``sdot``
takes the signed bytes as they are (``activation_offset`` 0).

TVM's own x86 intrinsic (``tvm.s_tir.tensor_intrin.x86``) passes the bytes as ``int32x16``,
which LLVM 22 rejects (its ``vpdpbusd`` takes ``<64 x i8>``): the ones here pass bytes.

Without VNNI (AVX2, or AVX-512 without VNNI) there are two routes, chosen per convolution by
its weights:
- ``vpmaddubsw`` (oneDNN's): the same u8 x s8 bytes, 2 products summed into each 16-bit lane,
  then ``vpmaddwd`` by ones sums the pairs into 32-bit lanes (32 multiply-adds per 3 instructions
  on 256 bits). Its 16-bit sums saturate unless ``2 * 255 * |w| <= 32767``: exact only for
  weights within +-64. So int8 quantizes weights to +-64 (7 bits) on a target whose fastest
  instruction is this one (:func:`int8_weight_peak`), as oneDNN does on CPUs without VNNI.
- ``vpmaddwd``: int8 values widened to int16, 2 products summed into each 32-bit lane, then
  added to the accumulator (16 multiply-adds per 2 instructions on 256 bits). Exact for every
  int8 value: the route for full-range weights.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

#: Products summed into each 32-bit lane by one byte instruction (the reduction block).
GROUP = 4
#: Added to each signed activation byte to make it the instruction's unsigned operand.
ACTIVATION_OFFSET = 128
#: A weight magnitude above every int8's (-128): exact for any int8 weight.
FULL_RANGE = 128
#: The block annotation that names the tensor intrinsic a dot-product kernel was written for.
DOT_ANNOTATION = "dse_dot_intrinsic"


@dataclass(frozen=True)
class DotProduct:
    """One dot-product instruction: its name, lanes (int32 outputs), LLVM intrinsic, the types
    its activations and weights are given in, how many products each lane sums (``group``),
    whether it adds to its accumulator itself (else the kernel adds its result), the
    instruction that sums its 16-bit pair sums into the lanes (``vpmaddubsw``'s ``vpmaddwd`` by
    ones; empty if none), and the largest ``|weight|`` it is exact for (``weight_peak``)."""

    name: str
    lanes: int
    llvm_intrinsic: str
    activations: str = "uint8"
    weights: str = "int8"
    group: int = GROUP
    accumulates: bool = True
    pairs_to_lanes: str = ""
    weight_peak: int = FULL_RANGE

    @property
    def activation_offset(self) -> int:
        """What the kernel adds to each signed activation to make it the operand."""
        return ACTIVATION_OFFSET if self.activations == "uint8" else 0

    @property
    def tensor_intrinsic(self) -> str:
        """The name the tensor intrinsic is registered under (:func:`register`)."""
        return f"dse_dot_{self.name}_{self.lanes}x{self.group}"


_AVX2_UBSW, _AVX2_WD = "llvm.x86.avx2.pmadd.ub.sw", "llvm.x86.avx2.pmadd.wd"
_AVX512_UBSW, _AVX512_WD = "llvm.x86.avx512.pmaddubs.w.512", "llvm.x86.avx512.pmaddw.d.512"
#: Fastest first, each with the CPU features it needs. AVX-512 VNNI runs the instruction on
#: 256-bit registers too (with AVX-512 VL): 8 lanes, for tensors whose channel block is 8.
_X86_DOT_PRODUCTS: tuple[tuple[tuple[str, ...], DotProduct], ...] = (
    (("avx512vnni",), DotProduct("avx512_vnni", 16, "llvm.x86.avx512.vpdpbusd.512")),
    (("avx512vnni", "avx512vl"), DotProduct("avx512_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
    (("avxvnni",), DotProduct("avx_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
    # Without VNNI: bytes on vpmaddubsw where the weights fit in +-64, else int16 pairs on
    # vpmaddwd (see the module's docstring)
    (
        ("avx512bw",),
        DotProduct("avx512_pmaddubsw", 16, _AVX512_UBSW, accumulates=False, pairs_to_lanes=_AVX512_WD, weight_peak=64),
    ),
    (("avx512bw",), DotProduct("avx512_pmaddwd", 16, _AVX512_WD, "int16", "int16", 2, False)),
    (
        ("avx2",),
        DotProduct("avx2_pmaddubsw", 8, _AVX2_UBSW, accumulates=False, pairs_to_lanes=_AVX2_WD, weight_peak=64),
    ),
    (("avx2",), DotProduct("avx2_pmaddwd", 8, _AVX2_WD, "int16", "int16", 2, False)),
)
#: aarch64 with the dot-product extension: 4 int32 lanes of a 128-bit register, s8 x s8.
_ARM_DOT_PRODUCTS: tuple[tuple[tuple[str, ...], DotProduct], ...] = (
    (("dotprod",), DotProduct("neon_sdot", 4, "llvm.aarch64.neon.sdot.v4i32.v16i8", "int8")),
)
_ALL_DOT_PRODUCTS = _X86_DOT_PRODUCTS + _ARM_DOT_PRODUCTS


def _available(target: Any) -> tuple[DotProduct, ...]:
    """Every dot-product instruction ``target`` has (from its triple, mcpu and mattr), fastest first."""
    if target is None or str(target.kind.name) != "llvm":
        return ()
    from tvm.target import codegen

    triple = str(target.attrs.get("mtriple", ""))
    if triple.startswith(("aarch64", "arm64")):
        table = _ARM_DOT_PRODUCTS
    elif not triple or triple.startswith(("x86_64", "i686", "i386")):
        table = _X86_DOT_PRODUCTS
    else:
        return ()
    return tuple(dot for features, dot in table if all(codegen.llvm_cpu_has_features(f, target) for f in features))


def dot_products_for(target: Any, weight_peak: int = FULL_RANGE) -> tuple[DotProduct, ...]:
    """The int8 dot-product instructions ``target`` runs exactly for weights up to ``weight_peak``
    in magnitude (the full int8 range unless told), fastest first; one per lane count."""
    found: dict[int, DotProduct] = {}
    for dot in _available(target):
        if dot.lanes not in found and dot.weight_peak >= weight_peak:
            found[dot.lanes] = dot
    return tuple(found.values())


def dot_product_for(target: Any, lanes: int | None = None, weight_peak: int = FULL_RANGE) -> DotProduct | None:
    """The fastest dot-product instruction ``target`` has (of ``lanes`` lanes, if given) that is
    exact for weights up to ``weight_peak`` in magnitude; None if it has none."""
    dots = dot_products_for(target, weight_peak)
    if lanes is not None:
        dots = tuple(dot for dot in dots if dot.lanes == lanes)
    return dots[0] if dots else None


def int8_weight_peak(target: Any) -> int:
    """The largest ``|weight|`` int8 should quantize to for ``target``: what its fastest
    instruction is exact for (64 where that is ``vpmaddubsw``), at most 127."""
    dots = _available(target)
    return min(dots[0].weight_peak, 127) if dots else 127


def dot_product_named(tensor_intrinsic: str) -> DotProduct:
    """The instruction whose tensor intrinsic is ``tensor_intrinsic`` (what a kernel's block
    carries in its ``DOT_ANNOTATION``)."""
    for _, dot in _ALL_DOT_PRODUCTS:
        if dot.tensor_intrinsic == tensor_intrinsic:
            return dot
    known = sorted({dot.tensor_intrinsic for _, dot in _ALL_DOT_PRODUCTS})
    raise ValueError(f"no dot-product instruction has the tensor intrinsic {tensor_intrinsic!r}; known: {known}")


def register(dot: DotProduct) -> str:
    """Register ``dot``'s tensor intrinsic with TVM (once per process); return its name."""
    return _register(dot)


@functools.cache
def _register(dot: DotProduct) -> str:
    from tvm.s_tir import TensorIntrin
    from tvm.script import tirx as T

    lanes, group, activations, weights = dot.lanes, dot.group, dot.activations, dot.weights
    llvm_intrinsic, accumulates, pairs_to_lanes = dot.llvm_intrinsic, dot.accumulates, dot.pairs_to_lanes
    sums_pairs = bool(pairs_to_lanes)  # the parser decides on Python bools only
    # One group of activations is 32 bits (4 bytes, or 2 int16): it is broadcast to every lane.
    operand = f"{'int8' if group == 4 else 'int16'}x{lanes * group}"

    # The accumulator is the register tile ("local"): the schedule caches the output there.
    @T.prim_func(s_tir=True)
    def description(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (group,), activations, offset_factor=1)
        B = T.match_buffer(b, (lanes, group), weights, offset_factor=1)
        C = T.match_buffer(c, (lanes,), "int32", offset_factor=1, scope="local")
        with T.sblock("root"):
            T.reads(C[0:lanes], A[0:group], B[0:lanes, 0:group])
            T.writes(C[0:lanes])
            for i in T.serial(0, lanes):
                for k in T.serial(0, group):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def implementation(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (group,), activations, offset_factor=1)
        B = T.match_buffer(b, (lanes, group), weights, offset_factor=1)
        C = T.match_buffer(c, (lanes,), "int32", offset_factor=1, scope="local")
        with T.sblock("root"):
            T.reads(C[0:lanes], A[0:group], B[0:lanes, 0:group])
            T.writes(C[0:lanes])
            one_group = T.reinterpret(A.vload([0], f"{activations}x{group}"), dtype="int32")
            every_lane = T.reinterpret(T.broadcast(one_group, lanes), dtype=operand)
            accumulator = C.vload([0], dtype=f"int32x{lanes}")
            if accumulates:  # decided as the function is parsed (a Python bool): VNNI, sdot
                C[T.ramp(T.int32(0), 1, lanes)] = T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(llvm_intrinsic),
                    accumulator,
                    every_lane,
                    B.vload([0, 0], dtype=operand),
                    dtype=f"int32x{lanes}",
                )
            elif sums_pairs:  # vpmaddubsw: 16-bit pair sums, summed by vpmaddwd with ones
                C[T.ramp(T.int32(0), 1, lanes)] = accumulator + T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(pairs_to_lanes),
                    T.call_llvm_pure_intrin(
                        T.llvm_lookup_intrinsic_id(llvm_intrinsic),
                        every_lane,
                        B.vload([0, 0], dtype=operand),
                        dtype=f"int16x{lanes * 2}",
                    ),
                    T.broadcast(T.int16(1), lanes * 2),
                    dtype=f"int32x{lanes}",
                )
            else:  # vpmaddwd returns the pair sums: the kernel adds them
                C[T.ramp(T.int32(0), 1, lanes)] = accumulator + T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(llvm_intrinsic),
                    every_lane,
                    B.vload([0, 0], dtype=operand),
                    dtype=f"int32x{lanes}",
                )

    TensorIntrin.register(dot.tensor_intrinsic, description, implementation, override=True)
    return dot.tensor_intrinsic
