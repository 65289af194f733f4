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
Without VNNI (AVX2 or AVX-512 without VNNI) the ``vpmaddubsw`` route would saturate on 8-bit
activations, so such targets keep the widening int8 kernel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

#: Products summed into each 32-bit lane by one instruction (the reduction block).
GROUP = 4
#: Added to each signed activation byte to make it the instruction's unsigned operand.
ACTIVATION_OFFSET = 128


@dataclass(frozen=True)
class DotProduct:
    """One dot-product instruction: its name, lanes (int32 outputs), LLVM intrinsic and the
    type of its activation bytes (the weights are signed bytes for all of them)."""

    name: str
    lanes: int
    llvm_intrinsic: str
    activations: str = "uint8"

    @property
    def activation_offset(self) -> int:
        """What the kernel adds to each signed activation byte to make it the operand."""
        return ACTIVATION_OFFSET if self.activations == "uint8" else 0

    @property
    def tensor_intrinsic(self) -> str:
        """The name the tensor intrinsic is registered under (:func:`register`)."""
        kind = "u8" if self.activations == "uint8" else "s8"
        return f"dse_dot_{kind}s8i32_{self.lanes}x{GROUP}"


#: Widest first, each with the CPU features it needs. AVX-512 VNNI runs the instruction on
#: 256-bit registers too (with AVX-512 VL): 8 lanes, for tensors whose channel block is 8.
_X86_DOT_PRODUCTS = (
    (("avx512vnni",), DotProduct("avx512_vnni", 16, "llvm.x86.avx512.vpdpbusd.512")),
    (("avx512vnni", "avx512vl"), DotProduct("avx512_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
    (("avxvnni",), DotProduct("avx_vnni", 8, "llvm.x86.avx512.vpdpbusd.256")),
)
#: aarch64 with the dot-product extension: 4 int32 lanes of a 128-bit register, s8 x s8.
_ARM_DOT_PRODUCTS = ((("dotprod",), DotProduct("neon_sdot", 4, "llvm.aarch64.neon.sdot.v4i32.v16i8", "int8")),)
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
    """The instruction whose kernel has ``lanes`` output lanes and ``activations`` bytes (what
    a schedule rule sees of the kernel)."""
    for _, dot in _ALL_DOT_PRODUCTS:
        if dot.lanes == lanes and dot.activations == activations:  # the x86 8-lane ones share an intrinsic
            return dot
    raise ValueError(
        f"no dot-product instruction has {lanes} lanes of {activations} activations; known: 16 (AVX-512 VNNI), "
        "8 (AVX-VNNI, or AVX-512 VNNI on 256-bit registers) with uint8, 4 (Arm sdot) with int8"
    )


def register(dot: DotProduct) -> str:
    """Register ``dot``'s tensor intrinsic with TVM (once per process); return its name."""
    return _register(dot.lanes, dot.llvm_intrinsic, dot.tensor_intrinsic, dot.activations)


@functools.cache
def _register(lanes: int, llvm_intrinsic: str, name: str, activations: str) -> str:
    from tvm.s_tir import TensorIntrin
    from tvm.script import tirx as T

    # The accumulator is the register tile ("local"): the schedule caches the output there.
    @T.prim_func(s_tir=True)
    def description(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (GROUP,), activations, offset_factor=1)
        B = T.match_buffer(b, (lanes, GROUP), "int8", offset_factor=1)
        C = T.match_buffer(c, (lanes,), "int32", offset_factor=1, scope="local")
        with T.sblock("root"):
            T.reads(C[0:lanes], A[0:GROUP], B[0:lanes, 0:GROUP])
            T.writes(C[0:lanes])
            for i in T.serial(0, lanes):
                for k in T.serial(0, GROUP):
                    with T.sblock("update"):
                        vi, vk = T.axis.remap("SR", [i, k])
                        C[vi] = C[vi] + T.cast(A[vk], "int32") * T.cast(B[vi, vk], "int32")

    @T.prim_func(s_tir=True)
    def implementation(a: T.handle, b: T.handle, c: T.handle) -> None:
        A = T.match_buffer(a, (GROUP,), activations, offset_factor=1)
        B = T.match_buffer(b, (lanes, GROUP), "int8", offset_factor=1)
        C = T.match_buffer(c, (lanes,), "int32", offset_factor=1, scope="local")
        with T.sblock("root"):
            T.reads(C[0:lanes], A[0:GROUP], B[0:lanes, 0:GROUP])
            T.writes(C[0:lanes])
            four_bytes = T.reinterpret(A.vload([0], f"{activations}x{GROUP}"), dtype="int32")
            every_lane = T.reinterpret(T.broadcast(four_bytes, lanes), dtype=f"int8x{lanes * GROUP}")
            C[T.ramp(T.int32(0), 1, lanes)] = T.call_llvm_pure_intrin(
                T.llvm_lookup_intrinsic_id(llvm_intrinsic),
                C.vload([0], dtype=f"int32x{lanes}"),
                every_lane,
                B.vload([0, 0], dtype=f"int8x{lanes * GROUP}"),
                dtype=f"int32x{lanes}",
            )

    TensorIntrin.register(name, description, implementation, override=True)
    return name
