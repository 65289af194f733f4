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

Without VNNI (AVX2, or AVX-512 without VNNI) the kernel runs on ``vpmaddwd``: int8 values
widened to int16, 2 products summed into each 32-bit lane, then added to the accumulator
(16 multiply-adds per 256-bit pair of instructions, against 8 for the widening kernel's
``vpmulld``). oneDNN's ``vpmaddubsw`` route is twice as wide but its 16-bit pair sums
saturate on full-range activations; ``vpmaddwd`` is exact.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

#: Products summed into each 32-bit lane by one byte instruction (the reduction block).
GROUP = 4
#: Added to each signed activation byte to make it the instruction's unsigned operand.
ACTIVATION_OFFSET = 128


@dataclass(frozen=True)
class DotProduct:
    """One dot-product instruction: its name, lanes (int32 outputs), LLVM intrinsic, the types
    its activations and weights are given in, how many products each lane sums (``group``),
    and whether it adds to its accumulator itself (else the kernel adds its result)."""

    name: str
    lanes: int
    llvm_intrinsic: str
    activations: str = "uint8"
    weights: str = "int8"
    group: int = GROUP
    accumulates: bool = True

    @property
    def activation_offset(self) -> int:
        """What the kernel adds to each signed activation to make it the operand."""
        return ACTIVATION_OFFSET if self.activations == "uint8" else 0

    @property
    def tensor_intrinsic(self) -> str:
        """The name the tensor intrinsic is registered under (:func:`register`)."""
        return f"dse_dot_{_short(self.activations)}{_short(self.weights)}i32_{self.lanes}x{self.group}"


def _short(dtype: str) -> str:
    return ("u" if dtype.startswith("u") else "s") + dtype.removeprefix("u").removeprefix("int")


#: Widest first, each with the CPU features it needs. AVX-512 VNNI runs the instruction on
#: 256-bit registers too (with AVX-512 VL): 8 lanes, for tensors whose channel block is 8.
_X86_DOT_PRODUCTS: tuple[tuple[tuple[str, ...], DotProduct], ...] = (
    (("avx512vnni",), DotProduct("avx512_vnni", 16, "llvm.x86.avx512.vpdpbusd.512")),
    (("avx512vnni", "avx512vl"), DotProduct("avx512_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
    (("avxvnni",), DotProduct("avx_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
    # Without VNNI: int16 pairs on vpmaddwd (exact; see the module's docstring)
    (("avx512bw",), DotProduct("avx512_pmaddwd", 16, "llvm.x86.avx512.pmaddw.d.512", "int16", "int16", 2, False)),
    (("avx2",), DotProduct("avx2_pmaddwd", 8, "llvm.x86.avx2.pmadd.wd", "int16", "int16", 2, False)),
)
#: aarch64 with the dot-product extension: 4 int32 lanes of a 128-bit register, s8 x s8.
_ARM_DOT_PRODUCTS: tuple[tuple[tuple[str, ...], DotProduct], ...] = (
    (("dotprod",), DotProduct("neon_sdot", 4, "llvm.aarch64.neon.sdot.v4i32.v16i8", "int8")),
)
_ALL_DOT_PRODUCTS = _X86_DOT_PRODUCTS + _ARM_DOT_PRODUCTS


def dot_products_for(target: Any) -> tuple[DotProduct, ...]:
    """The int8 dot-product instructions ``target`` has (from its triple, mcpu and mattr),
    widest first; one per lane count."""
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
    found: dict[int, DotProduct] = {}
    for features, dot in table:
        if dot.lanes not in found and all(codegen.llvm_cpu_has_features(f, target) for f in features):
            found[dot.lanes] = dot
    return tuple(found.values())


def dot_product_for(target: Any, lanes: int | None = None) -> DotProduct | None:
    """The widest dot-product instruction ``target`` has, or the one of ``lanes`` lanes; None
    if it has none."""
    dots = dot_products_for(target)
    if lanes is not None:
        dots = tuple(dot for dot in dots if dot.lanes == lanes)
    return dots[0] if dots else None


def dot_product_by_lanes(lanes: int, activations: str) -> DotProduct:
    """The instruction whose kernel has ``lanes`` output lanes and ``activations`` operands
    (what a schedule rule sees of the kernel)."""
    for _, dot in _ALL_DOT_PRODUCTS:
        if dot.lanes == lanes and dot.activations == activations:  # the x86 8-lane VNNI ones share an intrinsic
            return dot
    raise ValueError(
        f"no dot-product instruction has {lanes} lanes of {activations} activations; known: 16 (AVX-512 VNNI), "
        "8 (AVX-VNNI, or AVX-512 VNNI on 256-bit registers) with uint8, 16 (AVX-512) and 8 (AVX2) with int16, "
        "4 (Arm sdot) with int8"
    )


def register(dot: DotProduct) -> str:
    """Register ``dot``'s tensor intrinsic with TVM (once per process); return its name."""
    return _register(dot)


@functools.cache
def _register(dot: DotProduct) -> str:
    from tvm.s_tir import TensorIntrin
    from tvm.script import tirx as T

    lanes, group, activations, weights = dot.lanes, dot.group, dot.activations, dot.weights
    llvm_intrinsic, accumulates = dot.llvm_intrinsic, dot.accumulates
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
            else:  # vpmaddwd returns the pair sums: the kernel adds them
                C[T.ramp(T.int32(0), 1, lanes)] = accumulator + T.call_llvm_pure_intrin(
                    T.llvm_lookup_intrinsic_id(llvm_intrinsic),
                    every_lane,
                    B.vload([0, 0], dtype=operand),
                    dtype=f"int32x{lanes}",
                )

    TensorIntrin.register(dot.tensor_intrinsic, description, implementation, override=True)
    return dot.tensor_intrinsic
