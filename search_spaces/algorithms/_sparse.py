"""Sparse weight formats (CSR, BSR) and the sparse convolution computes built on them.

The weight of a conv is read as a matrix ``W[oc, k]`` with ``k = (ic_in_group, kh, kw)``;
its pattern is fixed at compile time, so the format arrays are constants of the module
(``data``, ``indices``, ``indptr``). The computes are plain TE (static extents, so
MetaSchedule can tune them): a row's nonzeros are reduced over ``j < max_row_nnz`` with
``if j < row_length``, which the default schedule keeps outside the vectorized pixel loop.
TVM 0.27 has no sparse operators of its own (``topi.nn.sparse_*`` were removed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search_spaces.algorithms._conv import ConvSpec, NotApplicable

FORMATS = ("csr", "bsr")
#: Every sparse kernel's name starts so (fused ones contain it): its index arrays are inputs
#: whose values decide what it reads, so the tuning layer times it on the model's own.
SPARSE_KERNEL = "dse_sparse_"
BLOCK_ROWS = (4, 8, 16)
THRESHOLDS = (0.5, 0.7, 0.9)


@dataclass(frozen=True)
class SparseWeight:
    """A CSR (``block_rows == 1``) or BSR (``block_rows`` x 1 blocks) weight matrix."""

    data: Any  # [nnz_blocks, block_rows] float/int
    indices: Any  # [nnz_blocks] int32: column k of each block
    indptr: Any  # [block_row_count + 1] int32
    block_rows: int
    max_row_blocks: int
    density: float  # stored values / all values (BSR stores the zeros inside kept blocks)


def sparsify(spec: ConvSpec, block_rows: int) -> SparseWeight:
    """Convert the conv's constant weight to CSR (``block_rows=1``) or BSR (``block_rows`` x 1)."""
    import numpy as np
    import scipy.sparse as sp

    w = spec.require_constant_weight().reshape(spec.out_channels, spec.reduce_size)
    if spec.out_channels % block_rows:
        raise NotApplicable(f"{spec.out_channels} output channels not divisible by BSR block {block_rows}")
    exact = w.astype(np.float32) if w.dtype == np.float16 else w  # scipy has no float16
    m = sp.bsr_matrix(exact, blocksize=(block_rows, 1))
    m.eliminate_zeros()
    m.sort_indices()
    data = np.ascontiguousarray(m.data.reshape(-1, block_rows).astype(w.dtype))
    indices, indptr = m.indices.astype("int32"), m.indptr.astype("int32")
    longest = max(1, int(np.diff(indptr).max(initial=0)))
    # Pad with ``longest`` zero blocks pointing at column 0: the guarded reduction may still
    # load ``start + j`` past a row's end (a vectorized select evaluates both sides).
    data = np.concatenate([data, np.zeros((longest, block_rows), w.dtype)])
    indices = np.concatenate([indices, np.zeros(longest, "int32")])
    return SparseWeight(data, indices, indptr, block_rows, longest, float(m.data.size) / float(max(1, w.size)))


def check_threshold(spec: ConvSpec, threshold: float) -> None:
    sparsity = spec.sparsity()
    if spec.weight is not None and sparsity < threshold:
        raise NotApplicable(f"weight sparsity {sparsity:.2f} below threshold {threshold:.2f}")


def row_reduce(
    sw: SparseWeight,
    data: Any,
    indices: Any,
    indptr: Any,
    od: str,
    row: Any,
    lane: Any,
    source: Callable[[Any], Any],
) -> Any:
    """``sum_j data[row, j, lane] * source(k_j)`` over the stored blocks of block row ``row``."""
    from tvm import te, tirx

    j = te.reduce_axis((0, sw.max_row_blocks), name="j")
    start = indptr[row]
    value = data[start + j, lane].astype(od) * source(indices[start + j]).astype(od)
    # Not ``te.sum(where=...)``: TVM 0.27's create_prim_func silently drops the condition.
    return te.sum(tirx.if_then_else(j < indptr[row + 1] - start, value, tirx.const(0, od)), axis=j)


def decode_tap(spec: ConvSpec, k: Any) -> tuple[Any, Any, Any]:
    """(input channel within group, kh, kw) of weight column ``k``."""
    khw = spec.kernel_h * spec.kernel_w
    return k // khw, k % khw // spec.kernel_w, k % spec.kernel_w


def sparse_rows_compute(
    spec: ConvSpec,
    sw: SparseWeight,
    arrays: tuple[Any, Any, Any],
    name: str,
    source: Callable[[Any, Any, Any, Any], Any],
) -> Any:
    """``out[n, oc, p]`` (NCHW, pixels flattened) from ``source(n, oc, k, p)``, then unflattened."""
    from tvm import te

    data, indices, indptr = arrays
    r, ow = sw.block_rows, spec.out_w
    flat = te.compute(
        (spec.batch, spec.out_channels, spec.out_h * ow),
        lambda n, oc, p: row_reduce(
            sw, data, indices, indptr, spec.out_dtype, oc // r, oc % r, lambda k: source(n, oc, k, p)
        ),
        name=name,
    )
    shape = (spec.batch, spec.out_channels, spec.out_h, ow)
    return te.compute(shape, lambda n, c, y, x: flat[n, c, y * ow + x], name="dse_unflatten")


def direct_source(spec: ConvSpec, pad: Any) -> Callable[[Any, Any, Any, Any], Any]:
    """Sparse direct: read the padded input at weight column ``k``'s tap (no im2col copy)."""

    def source(n: Any, oc: Any, k: Any, p: Any) -> Any:
        ic, kh, kw = decode_tap(spec, k)
        ic = (oc // spec.out_per_group) * spec.in_per_group + ic
        y, x = p // spec.out_w, p % spec.out_w
        return pad[n, ic, y * spec.stride_h + kh * spec.dilation_h, x * spec.stride_w + kw * spec.dilation_w]

    return source


def gemm_source(spec: ConvSpec, col: Any) -> Callable[[Any, Any, Any, Any], Any]:
    """Sparse GEMM: read row ``k`` of the unfolded input (NCHW ``col[n, g, k, p]``)."""
    return lambda n, oc, k, p: col[n, oc // spec.out_per_group, k, p]


def format_name(block_rows: int) -> str:
    return "csr" if block_rows == 1 else f"bsr{block_rows}x1"


def emit_sparse(
    bb: Any, call: Any, spec: ConvSpec, sw: SparseWeight, name: str, compute: Callable[[Any, Any, Any, Any], Any]
) -> Any:
    """Emit ``compute(data, values, indices, indptr)`` with the format arrays as constants."""
    from tvm import relax

    if spec.data_layout != "NCHW":
        raise NotApplicable("sparse kernels take NCHW input")
    assert name.startswith(SPARSE_KERNEL), name  # the tuning layer finds index arrays by it
    consts = [relax.const(sw.data), relax.const(sw.indices), relax.const(sw.indptr)]
    return bb.call_te(compute, call.args[0], *consts, primfunc_name_hint=name)
