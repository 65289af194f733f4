"""int8 post-training quantization of a Relax module: calibration and the rewrite.

TVM 0.27 has ``relax.op.quantize`` / ``dequantize`` but no QNN dialect and no calibration
pass, so both are here. Every ``nn.conv2d`` (NCHW/OIHW) and ``matmul`` whose weight is a
float32 constant becomes::

    x_q   = quantize(x, s_x, 0) -> int8                     (per-tensor, symmetric)
    acc   = conv2d / matmul(x_q, w_q, out_dtype="int32")    (int8 x int8 -> int32)
    y     = dequantize(acc, s_x * s_w[c], 0) -> float32     (per output channel)

with ``w_q`` the weight quantized offline per output channel (symmetric, [-127, 127], or
[-64, 64] where the caller says the target's instruction needs it), so pruned zeros stay
zeros. The int8 ``conv2d`` is kept as a plain ``relax.nn.conv2d`` call so layer 4's
algorithms lower it like any other convolution. Everything else (bias and batch
norm arithmetic, activations, pooling, residual additions, softmax, reshapes) stays float32:
:func:`float_ops` lists those ops for the trial record.

Calibration: a copy of the module returns the input of every quantized op; it is lowered with
spatial-pack convolutions and default schedules, compiled for this host's CPU and run on
training images, and each input's range sets its scale. (As TVM's unscheduled code it took
about 100 s of a ResNet-18 int8 trial at 224x224, most of the trial's build.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

QUANTIZED_OPS = ("relax.nn.conv2d", "relax.matmul")
#: The rescale ops the rewrite adds; they are not "ops left in float".
_QDQ_OPS = ("relax.quantize", "relax.dequantize")
CALIBRATION_METHODS = ("max", "percentile")
#: Of each calibration image's |x|, the quantile whose mean over images sets the range.
PERCENTILE = 99.99
#: The largest |q| of symmetric int8 (-128 is left out, so the range is symmetric).
LEVELS = 127


@dataclass(frozen=True)
class QuantizationReport:
    """What the rewrite did: counts of int8 ops by kind and the op kinds left in float."""

    int8_ops: dict[str, int]
    float_ops: list[str]


def _is_candidate(call: Any) -> bool:
    """A conv2d / matmul on float32 data with a float32 constant weight we know how to quantize."""
    import tvm

    if not isinstance(call, tvm.ir.Call) or not hasattr(call.op, "name") or call.op.name not in QUANTIZED_OPS:
        return False
    data, weight = call.args[0], call.args[1]
    if not isinstance(weight, tvm.ir.expr.Constant) or weight.ty.dtype != "float32":
        return False
    if getattr(data.ty, "dtype", None) != "float32":
        return False
    if call.op.name == "relax.nn.conv2d":
        attrs = call.attrs
        return attrs.data_layout == "NCHW" and attrs.kernel_layout == "OIHW" and attrs.out_layout == "NCHW"
    return len(weight.ty.shape) == 2


def _candidate_inputs(func: Any) -> list[Any]:
    """The data argument of every candidate call of ``func``, in binding order."""
    inputs = []
    for block in func.body.blocks:
        for binding in block.bindings:
            if _is_candidate(binding.value):
                inputs.append(binding.value.args[0])
    return inputs


def prepare(mod: Any) -> Any:
    """Fold constant expressions so every linear layer's weight is a constant (no permute_dims)."""
    from search_spaces._folding import fold_constants

    return fold_constants(mod)


def calibrate(mod: Any, images: torch.Tensor, method: str, threads: int = 1) -> list[float]:
    """The per-tensor range (max |x|) of each candidate's input over ``images``, in binding order.

    ``mod`` must come from :func:`prepare`. Compiled for this host's CPU on ``threads`` cores:
    calibration always runs here, whatever the trial's target.
    """
    import numpy as np
    import tvm
    from tvm import relax

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration must be one of {CALIBRATION_METHODS}, got {method!r}")
    flat = relax.transform.ToNonDataflow()(mod)
    func = flat["main"]
    inputs = _candidate_inputs(func)
    if not inputs:
        return []
    outputs_ty = relax.TupleType([inp.ty for inp in inputs])
    probe = relax.Function(
        func.params, relax.SeqExpr(func.body.blocks, relax.Tuple(inputs)), outputs_ty, attrs=func.attrs
    )
    probe_mod = tvm.IRModule({"main": probe})
    executable = _compile_for_host(probe_mod, threads)
    vm = relax.VirtualMachine(executable, tvm.cpu())
    per_image = np.zeros((len(images), len(inputs)), dtype=np.float64)
    for i in range(len(images)):
        outputs = vm["main"](tvm.runtime.tensor(images[i : i + 1].numpy()))
        for j in range(len(inputs)):
            per_image[i, j] = _range_of(np.abs(outputs[j].numpy()), method)
    ranges = per_image.max(axis=0) if method == "max" else per_image.mean(axis=0)
    return [float(r) for r in ranges]


def _compile_for_host(mod: Any, threads: int) -> Any:
    """``mod`` with spatial-pack convolutions and the default schedules, built for this CPU."""
    from types import SimpleNamespace

    import tvm

    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.algorithms.schedules import apply_default_schedules

    cpu = tvm.target.codegen.llvm_get_system_cpu()
    target = tvm.target.Target({"kind": "llvm", "mcpu": cpu, "num-cores": max(1, threads)})
    context = SimpleNamespace(tvm_target=target, info={})  # all that lowering reads of a BuildContext
    lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, context)  # type: ignore[arg-type]
    return tvm.compile(apply_default_schedules(lowered, target), target)


def _range_of(magnitudes: np.ndarray, method: str) -> float:
    import numpy as np

    if method == "max":
        return float(magnitudes.max())
    return float(np.percentile(magnitudes, PERCENTILE))


def quantize_weight(weight: np.ndarray, axis: int, levels: int = LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 (``axis`` = output channels) in ``[-levels, levels]``; returns
    (int8 weight, scales)."""
    import numpy as np

    reduce_axes = tuple(a for a in range(weight.ndim) if a != axis)
    peak = np.abs(weight).max(axis=reduce_axes)
    scale = np.where(peak > 0, peak / levels, 1.0).astype(np.float32)  # an all-zero channel stays zero
    shape = [1] * weight.ndim
    shape[axis] = -1
    quantized = np.clip(np.round(weight / scale.reshape(shape)), -levels, levels).astype(np.int8)
    return quantized, scale


def rewrite(mod: Any, ranges: list[float], dense_levels: int = LEVELS) -> Any:
    """Replace every candidate with its int8 form, given the input ranges from :func:`calibrate`.

    ``dense_levels`` bounds the weights of dense convolutions and matmuls (the ops a dot-product
    instruction runs): 64 where the target's instruction is exact only that far
    (``search_spaces.algorithms.int8_weight_peak``). Depthwise and grouped ones keep ``LEVELS``.
    """
    import tvm

    rewriter = _make_rewriter_class()(mod, ranges, dense_levels)
    func = rewriter.visit_expr(mod["main"])
    if rewriter.next_index != len(ranges):
        raise RuntimeError(
            f"int8 rewrite met {rewriter.next_index} quantizable ops but calibration measured {len(ranges)}"
        )
    rewriter.builder_.update_func(mod.get_global_var("main"), func)
    new_mod = rewriter.builder_.get()
    return tvm.relax.transform.DeadCodeElimination()(new_mod)


def report(mod: Any) -> QuantizationReport:
    """Count the int8 ops of ``mod``'s main and list the op kinds that compute in float."""
    import tvm

    int8_ops: dict[str, int] = {}
    float_ops: set[str] = set()
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            call = binding.value
            if not isinstance(call, tvm.ir.Call) or not hasattr(call.op, "name") or call.op.name in _QDQ_OPS:
                continue
            name = call.op.name.removeprefix("relax.")
            dtype = getattr(binding.var.ty, "dtype", None)
            if call.op.name in QUANTIZED_OPS and dtype == "int32":
                int8_ops[name] = int8_ops.get(name, 0) + 1
            elif dtype is not None and str(dtype).startswith("float"):
                float_ops.add(name)
    return QuantizationReport(int8_ops, sorted(float_ops))


@functools.cache
def _make_rewriter_class() -> type:
    """Build the mutator class lazily: ``tvm.relax`` must not load when this module is imported."""
    from tvm import relax

    @relax.expr_functor.mutator
    class Int8Rewriter(relax.PyExprMutator):
        def __init__(self, mod: Any, ranges: list[float], dense_levels: int) -> None:
            super().__init__(mod)
            self.ranges = ranges
            self.dense_levels = dense_levels
            self.next_index = 0

        def visit_call_(self, call: Any) -> Any:
            if not _is_candidate(call):
                return super().visit_call_(call)
            index = self.next_index
            self.next_index += 1
            if index >= len(self.ranges):
                raise RuntimeError("int8 rewrite met more quantizable ops than calibration measured")
            data = self.visit_expr(call.args[0])
            return _int8_call(self.builder_, call, data, self.ranges[index], self.dense_levels)

    return Int8Rewriter


def _int8_call(builder: Any, call: Any, data: Any, data_range: float, dense_levels: int) -> Any:
    """Emit quantize -> int8 op with int32 accumulation -> per-channel dequantize for ``call``."""
    import numpy as np
    from tvm import relax

    is_conv = call.op.name == "relax.nn.conv2d"
    weight = call.args[1].value.numpy()
    levels = dense_levels if not is_conv or int(call.attrs.groups) == 1 else LEVELS
    weight_q, weight_scale = quantize_weight(weight, axis=0 if is_conv else 1, levels=levels)
    data_scale = np.float32(data_range / LEVELS if data_range > 0 else 1.0)
    data_q = builder.emit(
        relax.op.quantize(
            data,
            relax.const(data_scale, "float32"),
            relax.const(0, "int8"),
            axis=1 if is_conv else -1,
            out_dtype="int8",
        )
    )
    if is_conv:
        a = call.attrs
        acc = relax.op.nn.conv2d(
            data_q,
            relax.const(weight_q),
            strides=a.strides,
            padding=a.padding,
            dilation=a.dilation,
            groups=a.groups,
            data_layout="NCHW",
            kernel_layout="OIHW",
            out_layout="NCHW",
            out_dtype="int32",
        )
    else:
        acc = relax.op.matmul(data_q, relax.const(weight_q), out_dtype="int32")
    acc_var = builder.emit(acc)
    scale = relax.const((data_scale * weight_scale).astype(np.float32))
    return relax.op.dequantize(acc_var, scale, relax.const(0, "int32"), axis=1 if is_conv else -1, out_dtype="float32")
