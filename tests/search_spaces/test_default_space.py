"""MetaSchedule's design space around dse's default schedules (``schedules.default_space``).

Decided as its trace records, the space is the default schedule itself; resampled (as the
tuner's initial population and mutations resample it), each variant still computes the conv.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")

torch = pytest.importorskip("torch")
tvm = pytest.importorskip("tvm")

from search_spaces.algorithms import ALGORITHMS
from search_spaces.algorithms import testing as T
from search_spaces.algorithms.schedules import apply_default_schedules, default_space, schedule_function

#: One 3x3 conv (bias, ReLU) whose every axis has several register-tile sizes to sample.
SHAPE = (1, 16, 16)  # input channels, height, width
OUT_CHANNELS = 32


def _lowered(algorithm: str, target: object) -> tuple[object, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, *SHAPE)).astype("float32")
    w = rng.standard_normal((OUT_CHANNELS, SHAPE[0], 3, 3)).astype("float32")
    b = rng.standard_normal(OUT_CHANNELS).astype("float32")
    mod = T.conv_module(x.shape, w, 1, 1, bias=b, relu=True)
    lowered = ALGORITHMS.get(algorithm).lower(mod, {}, T.lowering_context(target))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 1, 1).relu()
    return lowered, x, ref.numpy()


def _kernels(mod: object) -> dict[object, object]:
    from tvm import tirx

    return {gv: f for gv, f in mod.functions.items() if isinstance(f, tirx.PrimFunc)}  # type: ignore[attr-defined]


def _space(func: object, target: object) -> object:
    from tvm import s_tir

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    default_space(sch, target)
    return sch


@pytest.mark.parametrize("algorithm", ["spatial_pack", "direct", "im2col_gemm", "winograd"])
def test_the_default_space_as_decided_is_the_default_schedule(algorithm: str) -> None:
    target = T.host_target()
    lowered, _, _ = _lowered(algorithm, target)
    sampled = 0
    for func in _kernels(lowered).values():
        sch = _space(func, target)
        expected, plan = schedule_function(func, target)
        assert plan == "rules" or "dse_" not in func.script()
        tvm.ir.assert_structural_equal(sch.mod["main"], expected)
        sampled += sum(inst.kind.name == "SamplePerfectTile" for inst in sch.trace.insts)
    assert sampled >= 1  # the conv's register tile is a decision the tuner can move


# Winograd's variants are left out: each took 25 s to build here (their GEMM tiles are unrolled
# under unrolled transforms), and its GEMM's rule samples as the others do.
@pytest.mark.parametrize("algorithm", ["spatial_pack", "direct", "im2col_gemm"])
def test_resampled_variants_of_the_default_space_compute_the_conv(algorithm: str) -> None:
    """The tuner replays the space's trace with new decisions (its initial population): the
    variants that replay differ from the default schedule and compute what PyTorch does."""
    import tvm_ffi
    from tvm import s_tir

    target = T.host_target()
    lowered, x, ref = _lowered(algorithm, target)
    kernels = _kernels(lowered)
    variants: dict[object, list[object]] = {}
    for gv, func in kernels.items():
        trace, default = _space(func, target).trace, schedule_function(func, target)[0]
        found = variants.setdefault(gv, [])
        for seed in range(1, 200):
            variant = s_tir.Schedule(tvm.IRModule({"main": func}), seed=seed)
            try:
                s_tir.Trace(trace.insts, {}).apply_to_schedule(variant, remove_postproc=True)
            except (s_tir.ScheduleError, tvm.error.InternalError):
                continue  # a variant the tuner discards: it does not replay (a unit loop went away)
            new = variant.mod["main"]
            if not tvm_ffi.structural_equal(new, default) and not any(tvm_ffi.structural_equal(new, f) for f in found):
                found.append(new)
            if len(found) == VARIANTS:
                break
    assert any(variants.values()), "no resampled variant differed from the default schedule"
    for index in range(VARIANTS):
        mod = tvm.IRModule(dict(lowered.functions.items()))
        for gv, found in variants.items():
            if found:
                mod[gv] = found[index % len(found)].with_attr("tirx.is_scheduled", True)
        out = T.run(T.build(apply_default_schedules(mod, target), target), x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


#: Distinct resampled schedules per kernel built and checked.
VARIANTS = 3
