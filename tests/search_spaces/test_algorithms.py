"""Layer 4: every convolution algorithm, dense and sparse, against torch.nn.functional.conv2d.

Each case lowers a one-conv Relax module (conv + bias + ReLU, so the fused epilogue is
covered), applies the default schedules, compiles for the host CPU and compares.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("tvm")

from dse.core.errors import InvalidCombination
from search_spaces.algorithms import ALGORITHMS, SparseAlgorithm
from search_spaces.algorithms import testing as T
from search_spaces.algorithms.schedules import apply_default_schedules

# (batch, in_ch, size, out_ch, kernel, stride, padding, dilation, groups)
SHAPES = {
    "k3s1p1": (1, 8, 10, 16, 3, 1, 1, 1, 1),
    "k3s2-batch2": (2, 6, 9, 12, 3, 2, 1, 1, 1),
    "k1": (1, 16, 8, 16, 1, 1, 0, 1, 1),
    "k5p2": (1, 8, 11, 8, 5, 1, 2, 1, 1),
    "k7s2p3": (1, 4, 12, 8, 7, 2, 3, 1, 1),
    "depthwise": (1, 8, 10, 8, 3, 1, 1, 1, 8),
    "dilated-groups2": (1, 8, 9, 16, 3, 1, 2, 2, 2),
    "depthwise-s2-batch3": (3, 16, 14, 16, 3, 2, 1, 1, 16),
}

# (algorithm, params) pairs, read from the registry: every registered algorithm, and every value
# of each of its parameters (data formats, layouts, tiles, fallbacks) at least once.
CASES = [(name, params) for name, choice in ALGORITHMS.items() for params in T.covering_params(choice)]
DENSE = [case for case in CASES if not isinstance(ALGORITHMS.get(case[0]), SparseAlgorithm)]
SPARSE = [case for case in CASES if isinstance(ALGORITHMS.get(case[0]), SparseAlgorithm)]


def _label(case: tuple[str, dict]) -> str:
    return case[0] + "".join(f"-{v}" for v in case[1].values())


def _problem(shape: tuple[int, ...], dtype: str, sparsity: float, seed: int = 0):
    n, c, size, oc, k, s, p, d, g = shape
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        x = rng.integers(-8, 8, (n, c, size, size)).astype("int8")
        w = rng.integers(-8, 8, (oc, c // g, k, k)).astype("int8")
        b = rng.integers(-50, 50, oc).astype("int32")
    else:
        x = rng.standard_normal((n, c, size, size)).astype(dtype)
        w = rng.standard_normal((oc, c // g, k, k)).astype(dtype)
        b = rng.standard_normal(oc).astype(dtype)
    if sparsity:
        w[rng.random(w.shape) < sparsity] = 0
    ref = (
        torch.nn.functional.conv2d(
            torch.tensor(x.astype("float64")),
            torch.tensor(w.astype("float64")),
            torch.tensor(b.astype("float64")),
            s,
            p,
            d,
            g,
        )
        .relu()
        .numpy()
    )
    return x, w, b, ref


def _compile_and_run(alg: str, params: dict, shape: tuple[int, ...], x, w, b, out_dtype=None):
    *_, s, p, d, g = shape
    target = T.host_target()
    mod = T.conv_module(x.shape, w, s, p, d, g, in_dtype=str(x.dtype), out_dtype=out_dtype, bias=b, relu=True)
    ctx = T.lowering_context(target)
    mod = ALGORITHMS.get(alg).lower(mod, params, ctx)
    report: dict[str, str] = {}
    mod = apply_default_schedules(mod, target, report)
    return T.run(T.build(mod, target), x), ctx.info, report


def _check_report(report: dict[str, str]) -> None:
    assert report and all(how == "rules" for how in report.values()), report


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("case", DENSE, ids=[_label(c) for c in DENSE])
def test_dense_fp32_matches_torch(case, shape):
    alg, params = case
    x, w, b, ref = _problem(shape, "float32", 0.0)
    out, info, report = _compile_and_run(alg, params, shape, x, w, b)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    _check_report(report)
    assert len(info["algorithm_layers"]) == 1


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("case", SPARSE, ids=[_label(c) for c in SPARSE])
def test_sparse_fp32_matches_torch(case, shape):
    alg, params = case
    sparsity = 0.8
    x, w, b, ref = _problem(shape, "float32", sparsity)
    out, info, report = _compile_and_run(alg, params, shape, x, w, b)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    _check_report(report)
    (layer,) = info["algorithm_layers"]
    if layer["algorithm"] != alg:  # BSR needs the block to divide the output channels
        why = "below threshold" if float(params["threshold"]) > sparsity else "not divisible"
        assert layer["algorithm"] == ALGORITHMS.get(alg).dense and why in layer["reason"], layer


@pytest.mark.parametrize("alg", ["sparse_direct", "sparse_gemm", "sparse_spatial_pack"])
def test_sparse_below_threshold_uses_dense_counterpart(alg):
    shape = SHAPES["k3s1p1"]
    x, w, b, ref = _problem(shape, "float32", 0.3)
    out, info, _ = _compile_and_run(alg, {"threshold": 0.9}, shape, x, w, b)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    (layer,) = info["algorithm_layers"]
    assert layer["algorithm"] == ALGORITHMS.get(alg).dense
    assert "below threshold" in layer["reason"]


def test_winograd_records_fallback_per_layer():
    shape = SHAPES["k3s2-batch2"]
    x, w, b, _ = _problem(shape, "float32", 0.0)
    _, info, _ = _compile_and_run("winograd", {"tile": 4, "fallback": "im2col_gemm"}, shape, x, w, b)
    (layer,) = info["algorithm_layers"]
    assert layer["algorithm"] == "im2col_gemm" and "3x3 stride-1" in layer["reason"]


INT8 = [c for c in DENSE if c[0] != "winograd"] + SPARSE


@pytest.mark.parametrize("shape", [SHAPES["k3s2-batch2"], SHAPES["depthwise"]], ids=["k3s2", "depthwise"])
@pytest.mark.parametrize("case", INT8, ids=[_label(c) for c in INT8])
def test_int8_is_exact(case, shape):
    alg, params = case
    x, w, b, ref = _problem(shape, "int8", 0.8 if alg.startswith("sparse") else 0.0)
    out, _, report = _compile_and_run(alg, params, shape, x, w, b, out_dtype="int32")
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, ref.astype("int32"))
    _check_report(report)


def test_winograd_on_int8_is_an_invalid_combination():
    shape = SHAPES["k3s1p1"]
    x, w, b, _ = _problem(shape, "int8", 0.0)
    with pytest.raises(InvalidCombination, match="winograd"):
        _compile_and_run("winograd", {"tile": 4}, shape, x, w, b, out_dtype="int32")


FP16 = [
    ("direct", {"layout": "nchw"}),
    ("im2col_gemm", {"layout": "nhwc"}),
    ("spatial_pack", {}),
    ("winograd", {"tile": 2}),
    ("sparse_gemm", {"format": "csr", "threshold": 0.5}),
]


@pytest.mark.parametrize("case", FP16, ids=[_label(c) for c in FP16])
def test_fp16_close_to_torch(case):
    alg, params = case
    shape = SHAPES["k3s1p1"]
    x, w, b, ref = _problem(shape, "float16", 0.8 if alg.startswith("sparse") else 0.0)
    out, _, report = _compile_and_run(alg, params, shape, x, w, b)
    np.testing.assert_allclose(out.astype("float32"), ref, rtol=2e-2, atol=2e-2 * np.abs(ref).max())
    _check_report(report)


@pytest.mark.parametrize("alg", ALGORITHMS.names())
def test_lower_returns_all_tir_module_with_marked_blocks(alg):
    """The contract with the tuning layer: only call_tir left, dse_ blocks findable, tunable."""
    from tvm import relax, tirx
    from tvm.s_tir import meta_schedule as ms

    shape = SHAPES["k3s1p1"]
    x, w, b, _ = _problem(shape, "float32", 0.8)
    target = T.host_target()
    ctx = T.lowering_context(target)
    mod = ALGORITHMS.get(alg).lower(T.conv_module(x.shape, w, 1, 1, bias=b, relu=True), {}, ctx)
    ops = set()
    relax.analysis.post_order_visit(
        mod["main"], lambda e: ops.add(e.op.name) if isinstance(e, relax.Call) and hasattr(e.op, "name") else None
    )
    assert ops <= {"relax.call_tir"}, ops
    funcs = [f for f in mod.functions.values() if isinstance(f, tirx.PrimFunc)]
    assert funcs and not any("tirx.is_scheduled" in (f.attrs or {}) for f in funcs)
    if alg != "tvm_default":
        assert "dse_" in mod.script()
    tasks = ms.relax_integration.extract_tasks(mod, target)
    assert tasks, "MetaSchedule found nothing to tune"


def test_params_are_namespaced():
    import optuna

    for name, choice in ALGORITHMS.items():
        trial = optuna.trial.FixedTrial({k: v[0] for k, v in choice.grid().items()})
        for key in choice.suggest(trial):
            assert choice.param_name(key).startswith(f"algorithm.{name}.")
        assert all(k.startswith(f"algorithm.{name}.") for k in choice.grid())


@pytest.mark.slow
def test_every_algorithm_gives_the_same_accuracy_end_to_end(tmp_path):
    """A trained tiny CNN: every algorithm (sparse ones forced on) scores the same accuracy."""
    from pathlib import Path

    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, resolve_weights

    data = load_dataset("digits", None)
    weights = resolve_weights("tiny_cnn", "digits", data, WeightsSpec("train", Path("studies/weights")))
    accuracies = {}
    for name in ALGORITHMS.names():
        params = {"threshold": 0.0} if name.startswith("sparse") else {}
        config = TrialConfig(
            "digits", "tiny_cnn", target="x86", **{**BASELINE, "algorithm": LayerChoice.of(name, params)}
        )
        result = evaluate(EvaluationRequest(config, weights, None, None, tmp_path, 2, MeasureConfig(), DeviceOptions()))
        assert result.error_message is None, (name, result.error_message)
        accuracies[name] = result.accuracy
    assert len(set(accuracies.values())) == 1, accuracies


@pytest.mark.parametrize(
    ("attrs", "bits"),
    [
        ({"mcpu": "rocketlake"}, 512),  # an mcpu list once missed it: 8 fp32 lanes on an AVX-512 CPU
        ({"mcpu": "znver4"}, 512),
        ({"mcpu": "haswell"}, 256),
        ({}, 128),  # generic x86-64: SSE2 only
        ({"mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}, 128),
    ],
)
def test_vector_width_comes_from_the_targets_features(attrs, bits):
    import tvm

    from search_spaces.algorithms._conv import vector_bits

    assert vector_bits(tvm.target.Target({"kind": "llvm", **attrs})) == bits


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "matmul-last"])
@pytest.mark.parametrize(("dtype", "out_dtype"), [("float32", None), ("int8", "int32")])
@pytest.mark.parametrize(("k", "n"), [(64, 10), (96, 1000), (40, 12)])
def test_classifier_matmul_gets_its_rule_and_is_exact(dtype, out_dtype, k, n, with_bias):
    """Also where the matmul is the function's last op (a bias-free classifier) and its output
    is bound to the matmul's variable: the int8 rewrite to a 1x1 conv once met that variable
    there, not the call, and failed the build."""
    from tvm import relax

    rng = np.random.default_rng(0)
    w = rng.integers(-5, 5, (k, n)).astype(dtype)
    bias = rng.integers(-5, 5, n).astype(out_dtype or dtype) if with_bias else np.zeros(n, out_dtype or dtype)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([1, k], dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.matmul(x, relax.const(w), out_dtype=out_dtype))
            if with_bias:
                y = bb.emit(relax.op.add(y, relax.const(bias)))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    target = T.host_target()
    report: dict[str, str] = {}
    lowered = ALGORITHMS.get("spatial_pack").lower(bb.get(), {}, T.lowering_context(target))
    from search_spaces.algorithms._dot_product import dot_products_for

    # int8 on a dot-product CPU: the matmul is the 1x1 conv it is, on the instruction
    assert ("dse_spatial_pack_dot" in lowered.script()) == (dtype == "int8" and bool(dot_products_for(target)))
    # float: on its weight packed [N / B, K, B], one contiguous stream per block of B columns
    assert ("dse_dense_pack" in lowered.script()) == (dtype == "float32")
    vm = T.build(apply_default_schedules(lowered, target, report), target)
    xs = rng.integers(-5, 5, (1, k)).astype(dtype)
    np.testing.assert_array_equal(T.run(vm, xs), xs.astype("int64") @ w.astype("int64") + bias)
    _check_report(report)


@pytest.mark.parametrize(
    ("columns", "lanes", "block"),
    [(1000, 16, 40), (1000, 8, 40), (512, 16, 128), (10, 16, 10), (12, 8, 12), (7, 16, 7)],
)
def test_a_classifiers_packed_weight_blocks_are_register_tiles_that_divide_its_columns(columns, lanes, block):
    """Up to 8 vectors of columns (independent accumulators), dividing the column count (a tail
    would make the register tile write back a bounding box)."""
    from search_spaces.algorithms._rules import column_tile

    assert column_tile(columns, lanes) == block


def _spatial_pack_kernel(mod, target):  # type: ignore[no-untyped-def]
    """``mod`` lowered by spatial pack and given its default schedules, and its conv's PrimFunc."""
    from tvm import tirx

    scheduled = apply_default_schedules(
        ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target)), target
    )
    kernel = next(
        f for g, f in scheduled.functions.items() if isinstance(f, tirx.PrimFunc) and "dse_pack" in f.script()
    )
    return scheduled, kernel


@pytest.mark.parametrize(
    ("in_channels", "groups", "kernel", "lanes", "block"),
    [
        (24, 1, 1, 16, 16),  # 58 = 2 x 29: 29 blocks of 2 (an eighth of a vector) become 4 of 16
        (58, 58, 3, 16, 16),  # depthwise: its input is packed in the padded block too
        (58, 1, 3, 8, 8),  # AVX2: 8 blocks of 8 (15 of 4, half vectors, would pad less)
    ],
)
def test_spatial_pack_pads_a_channel_count_without_a_wide_divisor_to_whole_vectors(
    in_channels, groups, kernel, lanes, block
):
    """58 output channels (ShuffleNetV2's narrow stage) divide only into blocks of 2: a 1x1 conv
    at 28x28 took 156 us so, 68 us in padded blocks of 16 (AVX-512, 2 threads; ShuffleNetV2
    fp32 x0.79). The padding stays inside the kernel: an NCHW output takes only the real channels."""
    import tvm
    from tvm import s_tir, tirx

    x, w, b, ref = _problem((1, in_channels, 7, 58, kernel, 1, kernel // 2, 1, groups), "float32", 0.0)
    mcpu = "skylake-avx512" if lanes == 16 else "haswell"
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 2})
    mod = T.conv_module(x.shape, w, 1, kernel // 2, 1, groups, bias=b, relu=True)
    lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target))
    conv = next(f for f in lowered.functions.values() if isinstance(f, tirx.PrimFunc) and "dse_pack" in f.script())
    sch = s_tir.Schedule(conv)
    packed_out = sch.get(sch.get_sblock("dse_spatial_pack")).writes[0].source
    assert [int(d) for d in packed_out.shape][1::3] == [-(-58 // block), block]
    if lanes == 8 or tvm.target.codegen.llvm_cpu_has_features("avx512f", T.host_target()):
        report: dict[str, str] = {}
        out = T.run(T.build(apply_default_schedules(lowered, target, report), target), x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
        _check_report(report)


@pytest.mark.parametrize(
    ("channels", "threads", "padded_rows"),
    [
        (63, 1, 10),  # 4 channel blocks (8 on AVX2) keep one thread busy: one band of all 8 rows (+2 halo)
        (7, 1, 4),  # 1 block: 4 bands of 2 rows, so the thread has 4 tasks
        (7, 2, 3),  # 2 threads want 8 tasks: a band per row
    ],
)
def test_depthwise_spatial_pack_pads_each_band_of_rows_once_inside_its_parallel_loop(channels, threads, padded_rows):
    """A depthwise conv on an NCHW input (its channels divide into no packed block) packs and pads
    the rows it reads under its own parallel loop (in cache), not in a pass of its own over the
    whole tensor (MobileNetV2 int8: 2.0 -> 1.3 ms of depthwise), and each band of output rows'
    input once, not each row's 3 input rows (one thread, its 384-channel 14x14 layer: 40 -> 22
    us). Bands are as few as keep every thread 4 tasks."""
    from tvm import s_tir

    x = np.random.default_rng(0).standard_normal((1, channels, 8, 8)).astype("float32")
    w = np.random.default_rng(1).standard_normal((channels, 1, 3, 3)).astype("float32")
    target = T.host_target(threads)
    mod = T.conv_module(x.shape, w, 1, 1, 1, channels)
    scheduled, kernel = _spatial_pack_kernel(mod, target)
    sch = s_tir.Schedule(kernel)
    pad_loops = sch.get_loops(sch.get_sblock("dse_pack"))
    conv_loops = sch.get_loops(sch.get_sblock("dse_spatial_pack_update"))
    assert sch.get(pad_loops[0]).same_as(sch.get(conv_loops[0]))  # the conv's parallel loop
    rows = next(int(sch.get(loop).extent) for loop in pad_loops[1:] if int(sch.get(loop).extent) > 1)
    assert rows == padded_rows  # (the unit loops of batch and channel block are kept)
    ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None, 1, 1, 1, channels)
    np.testing.assert_allclose(T.run(T.build(scheduled, target), x), ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("channels", "size", "kernel", "stride", "padding", "dilation", "dtype", "in_place"),
    [
        (16, 9, 3, 2, 1, 1, "float32", True),  # stride 2 on an odd size: the last row and column read the padding
        (16, 14, 3, 2, 1, 1, "float32", True),  # on an even one (MobileNetV2's): only the first do
        (8, 9, 3, 1, 2, 2, "float32", True),  # dilated, two rows and columns of padding each side
        (16, 9, 3, 1, 1, 1, "int8", True),  # the widening int8 kernel
        (8, 8, 5, 1, 2, 1, "float32", False),  # 5x5 taps: padded into a copy (in place it lost)
    ],
)
def test_a_packed_3x3_depthwise_input_is_read_in_place_zero_where_a_tap_falls_in_the_padding(
    channels, size, kernel, stride, padding, dilation, dtype, in_place
):
    """No padded copy of the input (``dse_pack``): each tap reads the packed tensor where it lies,
    and a tap outside it counts zero (MobileNetV2 fp32 x0.95-0.97: a 3x3 depthwise conv's padded
    copy cost about what the conv does)."""
    from tvm import tirx

    rng = np.random.default_rng(0)
    x = rng.integers(-9, 9, (1, channels, size, size)).astype(dtype)
    w = rng.integers(-9, 9, (channels, 1, kernel, kernel)).astype(dtype)
    target = T.host_target(2)
    out_dtype = "int32" if dtype == "int8" else None
    mod = T.conv_module(x.shape, w, stride, padding, dilation, channels, in_dtype=dtype, out_dtype=out_dtype)
    lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target))
    scheduled = apply_default_schedules(lowered, target)
    kernels = [f for f in scheduled.functions.values() if isinstance(f, tirx.PrimFunc)]
    (conv,) = [f for f in kernels if "dse_spatial_pack" in f.script()]
    assert len(conv.params[0].shape) == 5  # it takes the packed tensor
    assert ("dse_pack" not in conv.script()) == in_place  # and pads no copy of it
    ref = torch.nn.functional.conv2d(
        torch.tensor(x).double(), torch.tensor(w).double(), None, stride, padding, dilation, channels
    )
    np.testing.assert_array_equal(T.run(T.build(scheduled, target), x), ref.numpy())


@pytest.mark.parametrize(
    ("in_channels", "out_channels", "groups", "dtype", "size", "rows_first"),
    [
        (16, 32, 1, "float32", 8, True),  # 18 KiB of weights: each thread computes its rows, all channels
        (32, 32, 32, "float32", 8, True),  # depthwise: by bands of rows
        (64, 64, 64, "float32", 7, False),  # 7 rows make bands of 1, which pad every input row 3 times
        (256, 256, 1, "float32", 8, False),  # 2.3 MiB: each thread computes its output channels, all rows
        (64, 256, 1, "int8", 8, True),  # 144 KiB of int8 (the dot-product kernel where the CPU has one)
        (256, 256, 1, "int8", 8, False),  # 576 KiB
    ],
)
def test_threads_split_a_small_weight_conv_by_rows_and_a_large_one_by_output_channels(
    in_channels, out_channels, groups, dtype, size, rows_first
):
    """Split by rows, each thread reads back the rows it wrote in the layer before; split by
    channels, every thread reads all of its input, half of it written by the other core. Where
    the weights are too large to be read again for each row from a core's L2, channels win."""
    from tvm import s_tir, tirx

    from search_spaces.algorithms._rules import ROWS_FIRST_WEIGHT_BYTES

    rng = np.random.default_rng(0)
    x = rng.integers(-9, 9, (1, in_channels, size, size)).astype(dtype)
    w = rng.integers(-9, 9, (out_channels, in_channels // groups, 3, 3)).astype(dtype)
    assert (w.nbytes <= ROWS_FIRST_WEIGHT_BYTES) == rows_first or size == 7
    target = T.host_target(2)
    out_dtype = "int32" if dtype == "int8" else None
    mod = T.conv_module(x.shape, w, 1, 1, 1, groups, in_dtype=dtype, out_dtype=out_dtype)
    report: dict[str, str] = {}
    lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target))
    scheduled = apply_default_schedules(lowered, target, report)
    (kernel_name,) = [name for name in report if name.startswith("dse_spatial_pack")]
    assert report[kernel_name] == "rules"  # not the generic fallback (int8: 14-30x slower)
    sch = s_tir.Schedule(scheduled[kernel_name])
    update = f"{kernel_name}_update" + ("_o" if kernel_name.endswith("_dot") else "")  # a tensorized block
    parallel = sch.get(sch.get_loops(sch.get_sblock(update))[0])
    order = str(parallel.loop_var.name).split("_")  # the fused loop is named after its loops, outer first
    assert parallel.kind == tirx.ForKind.PARALLEL
    assert (order.index("y") < order.index("ocb")) == rows_first
    ref = torch.nn.functional.conv2d(torch.tensor(x).double(), torch.tensor(w).double(), None, 1, 1, 1, groups)
    np.testing.assert_allclose(T.run(T.build(scheduled, target), x), ref.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_the_epilogue_is_applied_to_the_register_tile_not_to_a_stored_conv_output(dtype):
    """Bias and ReLU run on each register tile as it is written back: the conv's own output
    is never a tensor of its own in the kernel (only the padded input and the tile are)."""
    from tvm import tirx

    rng = np.random.default_rng(0)
    x = rng.integers(-9, 9, (1, 16, 6, 6)).astype(dtype)
    w = rng.integers(-9, 9, (32, 16, 3, 3)).astype(dtype)
    b = rng.integers(-9, 9, 32).astype("int32" if dtype == "int8" else dtype)
    out_dtype = "int32" if dtype == "int8" else None
    mod = T.conv_module(x.shape, w, 1, 1, in_dtype=dtype, out_dtype=out_dtype, bias=b, relu=True)
    target = T.host_target()
    lowered = ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target))
    scheduled = apply_default_schedules(lowered, target)
    kernel = next(
        f for g, f in scheduled.functions.items() if isinstance(f, tirx.PrimFunc) and "dse_pack" in f.script()
    )
    buffers = [line for line in kernel.script().splitlines() if "sblock_alloc_buffer" in line]
    assert [line.strip().split(" = ")[0] for line in buffers if 'scope="local"' not in line] == ["dse_pack"]
    ref = torch.nn.functional.conv2d(
        torch.tensor(x.astype("float64")), torch.tensor(w.astype("float64")), torch.tensor(b.astype("float64")), 1, 1
    ).relu()
    np.testing.assert_allclose(T.run(T.build(scheduled, target), x), ref.numpy(), rtol=1e-5, atol=1e-4)


def test_an_elementwise_kernel_runs_rows_per_parallel_iteration_not_single_vectors():
    """Padding or requantizing a tensor parallelizes over enough outer loops for the threads
    (channel blocks x rows) and walks each row serially, instead of one parallel iteration
    per vector that recomputes its indices by division (ResNet-18 int8: 11.0 -> 9.6 ms)."""
    from tvm import relax, s_tir, tirx

    x = np.random.default_rng(0).standard_normal((1, 4, 56, 56, 16)).astype("float32")
    bb = relax.BlockBuilder()
    var = relax.Var("x", relax.TensorType(list(x.shape), "float32"))
    with bb.function("main", [var]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.multiply(var, relax.const(2.0, "float32"))))
        bb.emit_func_output(out)
    target = tvm.target.Target({"kind": "llvm", "num-cores": 2})
    scheduled = apply_default_schedules(relax.transform.LegalizeOps()(bb.get()), target)
    kernel = next(f for f in scheduled.functions.values() if isinstance(f, tirx.PrimFunc))
    sch = s_tir.Schedule(kernel)
    block = sch.get_child_blocks(sch.get_sblock("root"))[0]
    loops = [sch.get(loop) for loop in sch.get_loops(block)]
    kinds = [(int(loop.extent), int(loop.kind)) for loop in loops]
    # parallel (channel blocks x rows), serial (the row), ..., vectorized
    assert kinds[:2] == [(4 * 56, 1), (56, 0)] and kinds[-1][1] == 2, kinds
    np.testing.assert_array_equal(T.run(T.build(scheduled, target), x), 2 * x)


def test_round_on_the_cpu_is_vectorized_and_rounds_half_to_even():
    """int8 quantization's ``round`` becomes one vector instruction per 16 values (TOPI's
    ``nearbyint`` ran one lane at a time) and still rounds ties to even, as PyTorch does."""
    from tvm import relax

    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, 3.7, -2.2] * 32, "float32").reshape(1, 4, 4, 16)
    bb = relax.BlockBuilder()
    var = relax.Var("x", relax.TensorType(list(x.shape), "float32"))
    with bb.function("main", [var]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.round(var)))
        bb.emit_func_output(out)
    target = T.host_target()
    lowered = ALGORITHMS.get("spatial_pack").lower(bb.get(), {}, T.lowering_context(target))
    executable = tvm.compile(apply_default_schedules(lowered, target), target)
    llvm_ir = executable.mod.imports[0].inspect_source("ll")
    assert "@llvm.nearbyint.v" in llvm_ir
    assert not re.search(r"for_begin_\w+\.s\b", llvm_ir)  # TVM names a loop it scalarized "<loop>.s"
    np.testing.assert_array_equal(T.run(tvm.relax.VirtualMachine(executable, tvm.cpu()), x), np.round(x))


@pytest.mark.parametrize(("op", "dtype"), [("sigmoid", "float32"), ("silu", "float32"), ("sigmoid", "float16")])
def test_a_float32_sigmoid_on_the_cpu_calls_no_scalar_exp_and_stays_within_a_few_ulps(op, dtype):
    """``sigmoid`` and SiLU (EfficientNet-B0) compute ``exp`` as TOPI's vectorized polynomial:
    LLVM's ``exp`` called ``expf`` lane by lane (the model 8.3 -> 3.1 ms on Zen 5). Saturating
    inputs stay exact at 0 and 1; float16 keeps TVM's own sigmoid."""
    from tvm import relax

    x = np.concatenate([np.linspace(-20, 20, 1016), [-100, -88.5, 88.5, 100, 0, -0.0, 1e-8, -1e-8]])
    x = x.astype(dtype).reshape(1, 4, 2, 128)
    bb = relax.BlockBuilder()
    var = relax.Var("x", relax.TensorType(list(x.shape), dtype))
    with bb.function("main", [var]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.op.sigmoid(var) if op == "sigmoid" else relax.op.nn.silu(var)))
        bb.emit_func_output(out)
    target = T.host_target()
    lowered = ALGORITHMS.get("spatial_pack").lower(bb.get(), {}, T.lowering_context(target))
    executable = tvm.compile(apply_default_schedules(lowered, target), target)
    llvm_ir = executable.mod.imports[0].inspect_source("ll")
    assert ("expf" in llvm_ir or "@llvm.exp." in llvm_ir) == (dtype == "float16")
    out = T.run(tvm.relax.VirtualMachine(executable, tvm.cpu()), x)
    ref = getattr(torch.nn.functional, op)(torch.tensor(x.astype("float64"))).numpy()
    tolerance = (
        {"rtol": 1e-6, "atol": 1e-30} if dtype == "float32" else {"rtol": 1e-3, "atol": 1e-4}
    )  # float16 underflows
    np.testing.assert_allclose(out, ref, **tolerance)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pooling_in_the_packed_layout_is_a_vector_per_window_element(op):
    """A pool over ``NCHW[x]c`` with the host's vector as its block (spatial pack's flow keeps
    ResNet-18's max pool there: ``NCHW16c`` on AVX-512, ``NCHW8c`` on AVX2) takes the channel
    block as its vector, with the window reduced above it; results stay exact."""
    from tvm import relax

    from search_spaces.algorithms._conv import vector_lanes

    target = T.host_target()
    lanes = vector_lanes(target, "float32")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 9, 9, lanes)).astype("float32")
    bb = relax.BlockBuilder()
    var = relax.Var("x", relax.TensorType(list(x.shape), "float32"))
    pool = getattr(relax.op.nn, op)
    with bb.function("main", [var]):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(pool(var, 3, 2, 1, layout=f"NCHW{lanes}c")))
        bb.emit_func_output(out)
    scheduled = apply_default_schedules(relax.transform.LegalizeOps()(bb.get()), target)
    kernel = next(f for g, f in scheduled.functions.items() if g.name_hint != "main")
    assert f"T.vectorized(T.int64({lanes}))" in kernel.script() and "_init" in kernel.script()
    nchw = torch.tensor(x.transpose(0, 1, 4, 2, 3).reshape(1, 2 * lanes, 9, 9))
    if op == "max_pool2d":
        ref = torch.nn.functional.max_pool2d(nchw, 3, 2, 1)
    else:
        ref = torch.nn.functional.avg_pool2d(nchw, 3, 2, 1, count_include_pad=False)
    packed = ref.numpy().reshape(1, 2, lanes, 5, 5).transpose(0, 1, 3, 4, 2)
    np.testing.assert_allclose(T.run(T.build(scheduled, target), x), packed, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("channels", "mcpu", "block"),
    [
        (232, "skylake-avx512", 8),  # half a vector: kept packed
        (116, "skylake-avx512", 0),  # a quarter (4): left NCHW, computed in padded blocks of 16
        (116, "haswell", 4),  # half of AVX2's vector
        (58, "haswell", 0),
    ],
)
def test_a_tensor_flows_packed_only_in_blocks_of_half_a_vector_or_more(channels, mcpu, block):
    """ShuffleNetV2's 116-channel stage flowed in blocks of 4 on AVX-512; left NCHW, its convs
    compute in padded blocks of 16 and the model ran x0.79 (fp32, 2 threads)."""
    import tvm

    from search_spaces.algorithms.spatial_pack import flow_block

    assert flow_block(channels, tvm.target.Target({"kind": "llvm", "mcpu": mcpu})) == block


@pytest.mark.parametrize("lanes", [16, 8], ids=["avx512", "avx2"])
def test_spatial_pack_keeps_the_packed_layout_from_conv_to_conv(lanes):
    """Layout flow: ReLU6, a depthwise conv, a residual add and a channel count that takes a
    smaller block (24: 8 channels) all stay packed; NCHW only at the graph's edges."""
    import tvm
    from torch import nn

    from objectives.compile import import_to_relax

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU6())
            self.depthwise = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU6())
            self.narrow = nn.Conv2d(16, 24, 1)
            self.wide = nn.Conv2d(24, 16, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.stem(x)
            return self.wide(self.narrow(self.depthwise(y))) + y

    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(1, 3, 10, 10)
    mcpu = "skylake-avx512" if lanes == 16 else "haswell"
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 2})
    ctx = T.lowering_context(target)
    ctx.example_input = x
    mod = ALGORITHMS.get("spatial_pack").lower(import_to_relax(model, ctx), {}, ctx)
    layouts = [layer["layout"] for layer in ctx.info["algorithm_layers"]]
    block = f"NCHW{lanes}c"
    assert layouts == [f"NCHW->{block}", f"{block}->{block}", f"{block}->NCHW8c", f"NCHW8c->{block}"]
    # The first conv packs its NCHW input itself: the one layout transform left is the output's.
    transforms = [
        g.name_hint for g, f in mod.functions.items() if g.name_hint != "main" and "layout_transform" in f.script()
    ]
    assert transforms == ["te_layout_transform"], transforms
    if lanes == 8 or tvm.target.codegen.llvm_cpu_has_features("avx512f", T.host_target()):
        report: dict[str, str] = {}
        out = T.run(T.build(apply_default_schedules(mod, target, report), target), x.numpy())
        np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)
        _check_report(report)


def _spatial_pack_update_loops(target, mod):
    """``mod`` lowered by spatial pack and scheduled for ``target``, and the loops of its conv's
    update block (the register tile's reduction step)."""
    import re

    from tvm import s_tir, tirx

    scheduled = apply_default_schedules(
        ALGORITHMS.get("spatial_pack").lower(mod, {}, T.lowering_context(target)), target
    )
    ((kernel, update),) = [
        (f, name)
        for f in scheduled.functions.values()
        if isinstance(f, tirx.PrimFunc)
        for name in re.findall(r'sblock\("([^"]+)"', f.script())
        if name.startswith("dse_spatial_pack") and "update" in name
    ]
    sch = s_tir.Schedule(kernel)
    return scheduled, [sch.get(loop) for loop in sch.get_loops(sch.get_sblock(update))]


def _spatial_pack_register_tile(target, x, w):
    """A spatial-pack conv of ``x`` by ``w`` (stride 1, same padding) scheduled for ``target``, and
    its register tile: the extents of its update's unrolled spatial loops (output-channel blocks,
    pixels; an unrolled block of the reduction, see ``_rules._input_block_unrolled``, is no tile)."""
    scheduled, loops = _spatial_pack_unrolled(target, x, w)
    return scheduled, [extent for name, extent in loops if not name.startswith("ric")]


def _spatial_pack_unrolled(target, x, w):
    """``_spatial_pack_register_tile``'s conv and its update's unrolled loops, (name, extent) each."""
    from tvm import tirx

    dtype = str(x.dtype)
    padding = w.shape[-1] // 2
    mod = T.conv_module(x.shape, w, 1, padding, in_dtype=dtype, out_dtype="int32" if dtype == "int8" else None)
    scheduled, loops = _spatial_pack_update_loops(target, mod)
    return scheduled, [(loop.loop_var.name, int(loop.extent)) for loop in loops if loop.kind == tirx.ForKind.UNROLLED]


@pytest.mark.parametrize(
    ("mcpu", "in_channels", "kernel", "unrolled"),
    [
        ("haswell", 16, 1, [8]),  # 16 registers, 1x1: one vector of input channels unrolled
        ("haswell", 12, 1, []),  # ... where a vector divides the input channels
        ("haswell", 16, 3, []),  # 3x3 convs keep the whole loop (ResNet-18 x1.17 so)
        ("skylake-avx512", 32, 1, []),  # 32 registers (AVX-512): not measured, kept whole
    ],
)
def test_a_1x1_conv_on_16_registers_unrolls_a_vector_of_input_channels(mcpu, in_channels, kernel, unrolled):
    """Its reduction read ``input[ric // b, y, x, ric % b]``, an address computed anew per channel;
    unrolled by a vector, a block's channels are constant offsets (AVX2 on a Zen 3 EPYC:
    MobileNetV2 fp32 x0.93, MNASNet x0.86, EfficientNet-B0 x0.84, outputs bit-identical)."""
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1})
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, in_channels, 8, 8)).astype("float32")
    w = rng.standard_normal((32, in_channels, kernel, kernel)).astype("float32")
    scheduled, loops = _spatial_pack_unrolled(target, x, w)
    assert [extent for name, extent in loops if name.startswith("ric")] == unrolled
    needs = "avx2" if mcpu == "haswell" else "avx512bw"
    if tvm.target.codegen.llvm_cpu_has_features(needs, T.host_target()):  # a capability probe of this host
        out = T.run(T.build(scheduled, target), x)
        ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=kernel // 2).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("mcpu", "width", "out_channels", "tile"),
    [
        ("haswell", 8, 64, [2, 4]),  # 16 registers: two blocks x 4 pixels where rows divide by 4
        ("haswell", 14, 64, [2, 2, 2]),  # ... two blocks x 2 rows x 2 pixels where they divide by 2
        ("haswell", 7, 64, [1, 7]),  # ... else one block x the row (two x 7 spills)
        ("haswell", 8, 24, [1, 8]),  # ... and where the blocks (3 of 8) do not pair
        ("skylake-avx512", 8, 64, [2, 8]),  # 32 registers: two blocks x 8 pixels
        ("skylake-avx512", 8, 144, [3, 4]),  # ... three x 4 where the blocks (9 of 16) are odd and 3 divides them
        ("skylake-avx512", 14, 144, [1, 7]),  # ... and the row divides by 4 (three x 2 on 14 pixels lost)
        ("skylake-avx512", 8, 80, [1, 8]),  # ... else one x 8 (5 of 16)
    ],
)
def test_a_float_conv_s_register_tile_follows_the_targets_registers_and_the_row(mcpu, width, out_channels, tile):
    """AVX2 code on a Zen 5 EPYC, against one block x 8 everywhere: MobileNetV2 fp32 x0.90 and
    ResNet-18 x0.95 (see ``_rules._dense_tile``)."""
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1})
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 16, width, width)).astype("float32")
    w = rng.standard_normal((out_channels, 16, 1, 1)).astype("float32")
    scheduled, found = _spatial_pack_register_tile(target, x, w)
    assert found == tile
    needs = "avx2" if mcpu == "haswell" else "avx512bw"
    if tvm.target.codegen.llvm_cpu_has_features(needs, T.host_target()):  # a capability probe of this host
        out = T.run(T.build(scheduled, target), x)
        ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("width", "out_channels", "tile"), [(8, 144, [3, 4]), (8, 64, [2, 8]), (14, 144, [1, 7])])
def test_an_int8_dot_product_conv_takes_odd_blocks_in_threes_where_the_row_divides_by_4(width, out_channels, tile):
    """144 int8 channels on AVX-512 are 9 blocks of 16: three blocks x 4 pixels, not one x 8
    (MobileNetV2 int8 x0.963-0.965, MNASNet x0.925, EfficientNet-B0 x0.968 on Zen 5)."""
    target = tvm.target.Target({"kind": "llvm", "mcpu": "cascadelake", "num-cores": 1})  # AVX-512 VNNI
    rng = np.random.default_rng(4)
    x = rng.integers(-9, 9, (1, 16, width, width)).astype("int8")
    w = rng.integers(-9, 9, (out_channels, 16, 1, 1)).astype("int8")
    scheduled, found = _spatial_pack_register_tile(target, x, w)
    assert found == tile
    if tvm.target.codegen.llvm_cpu_has_features("avx512vnni", T.host_target()):  # a capability probe of this host
        ref = torch.nn.functional.conv2d(torch.tensor(x).int(), torch.tensor(w).int()).numpy()
        np.testing.assert_array_equal(T.run(T.build(scheduled, target), x), ref)


@pytest.mark.parametrize("full_rate", [True, False])
def test_a_packed_output_of_part_vector_blocks_is_computed_in_whole_vectors_where_they_run_at_full_rate(
    monkeypatch, full_rate
):
    """24 output channels on AVX-512 are packed in blocks of 8. Where the probe finds 512-bit
    FMAs at full rate, the conv computes them in zero-padded 16-lane vectors (two FMAs, not
    three, per input value) and re-blocks its output into NCHW8c; else in 8-lane ones."""
    from tvm import tirx

    import search_spaces.targets as targets

    monkeypatch.setattr(targets, "full_rate_512", lambda mcpu: full_rate)
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 1})
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 16, 8, 8)).astype("float32")
    w = rng.standard_normal((24, 16, 1, 1)).astype("float32")
    scheduled, loops = _spatial_pack_update_loops(target, T.conv_module(x.shape, w, 1, 0))
    assert [int(loop.extent) for loop in loops if loop.kind == tirx.ForKind.VECTORIZED] == [16 if full_rate else 8]
    if tvm.target.codegen.llvm_cpu_has_features("avx512bw", T.host_target()):  # a capability probe of this host
        out = T.run(T.build(scheduled, target), x)
        ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w)).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_the_512_bit_rate_is_probed_only_on_this_hosts_own_cpu() -> None:
    """Another CPU's code cannot be timed here: its 512-bit rate is not assumed."""
    from search_spaces.targets import full_rate_512

    assert full_rate_512("cannonlake" if T.host_target().attrs["mcpu"] != "cannonlake" else "skx") is False


@pytest.mark.parametrize("dtype", ["float32", "int8"])
@pytest.mark.parametrize(("mcpu", "registers"), [("haswell", 16), ("skylake-avx512", 32)])
def test_the_register_tile_takes_half_the_targets_vector_registers(dtype, mcpu, registers):
    """A conv's register tile (its unrolled loops: output-channel blocks x pixels, one vector
    each) keeps half the target's vector registers as accumulators: AVX2 has 16, AVX-512 32.
    The AVX-512 tile on AVX2 made ResNet-18's fp32 code 1.6x slower."""
    from search_spaces.algorithms._conv import vector_registers

    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1})
    assert vector_registers(target) == registers
    x = np.ones((1, 64, 8, 8), dtype)
    w = np.ones((64, 64, 3, 3), dtype)
    scheduled, tile = _spatial_pack_register_tile(target, x, w)
    assert int(np.prod(tile)) == registers // 2
    needs = "avx2" if registers == 16 else "avx512bw"
    if tvm.target.codegen.llvm_cpu_has_features(needs, T.host_target()):  # a capability probe of this host
        out = T.run(T.build(scheduled, target), x)
        assert (out == 64 * 9).sum() == 64 * 6 * 6  # the interior: every tap of every channel


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_keeps_the_packed_layout_and_reads_and_writes_it_in_place(tile):
    """With spatial pack as its fallback, Winograd layers sit in the packed layout flow: a 3x3
    stride-1 conv pair with a residual add takes and gives NCHW16c (its input tiles read from
    it, its output written to it), the stride-2 conv falls back to spatial pack in the same
    layout, and the model matches PyTorch with no layout transform but the output's."""
    import tvm
    from torch import nn

    from objectives.compile import import_to_relax

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.Conv2d(3, 16, 3, stride=2, padding=1)
            self.first = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
            self.second = nn.Conv2d(16, 32, 3, padding=1)
            self.skip = nn.Conv2d(16, 32, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.down(x)
            return torch.relu(self.second(self.first(y)) + self.skip(y))

    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(1, 3, 14, 18)  # 7x9 after the stride: tiles overhang
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    ctx = T.lowering_context(target)
    ctx.example_input = x
    mod = ALGORITHMS.get("winograd").lower(import_to_relax(model, ctx), {"tile": tile, "fallback": "spatial_pack"}, ctx)
    layers = [(layer["algorithm"], layer["layout"]) for layer in ctx.info["algorithm_layers"]]
    assert sorted(layers) == sorted(
        [
            ("spatial_pack", "NCHW->NCHW16c"),
            ("winograd", "NCHW16c->NCHW16c"),
            ("winograd", "NCHW16c->NCHW16c"),
            ("spatial_pack", "NCHW16c->NCHW16c"),
        ]
    ), layers
    transforms = [
        g.name_hint for g, f in mod.functions.items() if g.name_hint != "main" and "layout_transform" in f.script()
    ]
    assert transforms == ["te_layout_transform"], transforms
    if tvm.target.codegen.llvm_cpu_has_features("avx512f", T.host_target()):
        report: dict[str, str] = {}
        out = T.run(T.build(apply_default_schedules(mod, target, report), target), x.numpy())
        np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)
        _check_report(report)
