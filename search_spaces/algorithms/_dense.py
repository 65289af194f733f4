"""The classifier (a float ``[M, K] x [K, N]`` matmul with a constant weight) on a packed weight.

TVM's legalized matmul reads the weight ``[K, N]`` a column tile at a time: per ``k`` a few
hundred bytes, then ``N * 4`` bytes further on. Run after the rest of a model (its 5 MB of
weights out of cache), MobileNetV2's 1280 x 1000 classifier took 0.41 ms in place: the stride
(4000 bytes) defeats the prefetchers, so each row segment waits for memory. Packed as
``[N / B, K, B]`` (``B`` = the register tile's columns), each parallel task reads one
contiguous stream (TVM's former x86 ``dense_pack`` did the same).
"""

from __future__ import annotations

from typing import Any

from search_spaces.algorithms._conv import vector_lanes
from search_spaces.algorithms._rules import column_tile


def legalize_matmul(bb: Any, call: Any, target: Any) -> Any:
    """A float32 matmul with a 2-D constant weight as ``dse_dense_pack`` on the packed weight
    (blocks sized for ``target``'s vectors); any other matmul by TVM's own legalization."""
    import numpy as np
    import tvm
    from tvm import relax, te

    default = tvm.ir.Op.get("relax.matmul").get_attr("FLegalize")
    x, weight = call.args
    shape = getattr(x.ty, "shape", None)
    if (
        not isinstance(weight, tvm.ir.expr.Constant)
        or shape is None
        or len(shape.values) != 2
        or (str(x.ty.dtype), str(weight.ty.dtype)) != ("float32", "float32")
        or str(call.attrs.out_dtype) not in ("", "void", "None", "float32")
    ):
        return default(bb, call)
    w = weight.value.numpy()
    if w.ndim != 2:
        return default(bb, call)
    depth, columns = (int(d) for d in w.shape)
    block = column_tile(columns, vector_lanes(target))  # one block per register tile of the rule
    packed = np.ascontiguousarray(w.reshape(depth, columns // block, block).transpose(1, 0, 2))

    def compute(data: Any, wp: Any) -> Any:
        k = te.reduce_axis((0, depth), name="k")
        return te.compute(
            (data.shape[0], columns),
            lambda m, n: te.sum(data[m, k] * wp[n // block, k, n % block], axis=k),
            name="dse_dense_pack",
        )

    return bb.call_te(compute, x, relax.const(packed), primfunc_name_hint="dse_dense_pack")
