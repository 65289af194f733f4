"""The per_layer algorithm: each workload timed once (its candidates in turn), the fastest used, decisions kept."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dse.core.config import DeviceOptions
from search_spaces.algorithms import ALGORITHMS
from search_spaces.algorithms import testing as T
from search_spaces.algorithms.per_layer import CANDIDATES
from search_spaces.algorithms.schedules import apply_default_schedules
from search_spaces.targets import TARGETS


def _two_conv_module(x_shape, w3, w1):  # type: ignore[no-untyped-def]
    """main(x) = conv1x1(relu(conv3x3(x))): two workloads, one packed in the layout flow, one not."""
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(list(x_shape), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.nn.conv2d(x, relax.const(w3), padding=1)))
            out = bb.emit_output(relax.op.nn.conv2d(y, relax.const(w1)))
        bb.emit_func_output(out)
    return bb.get()


def test_each_layer_runs_its_fastest_candidate_and_the_decisions_are_kept(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 8, 8)).astype("float32")
    w3 = rng.standard_normal((32, 16, 3, 3)).astype("float32")
    w1 = rng.standard_normal((10, 32, 1, 1)).astype("float32")  # 10 channels: no block, NCHW
    target = T.host_target()

    def lower():  # type: ignore[no-untyped-def]
        ctx = SimpleNamespace(
            tvm_target=target, info={}, tuning_db=tmp_path, target=TARGETS.get("x86"), device_options=DeviceOptions(),
            threads=2,
        )  # fmt: skip
        return ALGORITHMS.get("per_layer").lower(_two_conv_module(x.shape, w3, w1), {}, ctx), ctx.info

    mod, info = lower()
    layers = info["algorithm_layers"]
    assert len(layers) == 2 and info["effective_algorithm"] == "per_layer"
    for layer in layers:
        timings = layer["per_layer"]["timings_ms"]
        fastest = min(timings, key=lambda label: timings[label])
        assert layer["algorithm"] == fastest.split("/")[0] and not layer["per_layer"]["cached"]
    # The 3x3 sits in spatial pack's packed flow and is timed packed, by the candidates that take
    # that layout; the 1x1 to 10 channels stays NCHW, where every candidate but Winograd takes it
    assert "NCHW" in layers[0]["layout"] and layers[0]["layout"].endswith("c")
    assert set(layers[0]["per_layer"]["timings_ms"]) == {"spatial_pack", "winograd/tile=2", "winograd/tile=4"}
    assert "layout" not in layers[1]
    assert len(layers[1]["per_layer"]["timings_ms"]) == len(CANDIDATES) - 2
    (decisions,) = tmp_path.glob("per-layer-*.json")
    assert len(json.loads(decisions.read_text())) == 2

    out = T.run(T.build(apply_default_schedules(mod, target), target), x)
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w3), padding=1).relu(), torch.tensor(w1)
    )
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-4 * float(ref.abs().max()))

    _, again = lower()  # the same workloads: read back, nothing timed
    assert all(layer["per_layer"]["cached"] for layer in again["algorithm_layers"])
    assert [layer["algorithm"] for layer in again["algorithm_layers"]] == [layer["algorithm"] for layer in layers]

    # Timings of other kernels (an older dse's) are not reused: the workloads are timed again.
    from search_spaces.algorithms import per_layer

    current = per_layer.kernels_version()
    monkeypatch.setattr(per_layer, "_SEEN", {})
    monkeypatch.setattr(per_layer, "kernels_version", lambda: "older-kernels")
    _, other = lower()
    assert not any(layer["per_layer"]["cached"] for layer in other["algorithm_layers"])
    keys = json.loads(decisions.read_text())
    assert len(keys) == 4 and sum(f"|kernels={current}|" in key for key in keys) == 2


def test_it_is_offered_only_where_the_host_cpu_runs_the_targets_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On x86, and on x86-avx2 where this CPU has AVX2 (its AVX2 code is what the trial measures
    here); not for Arm or CUDA, nor on a remote device, where each layer would be timed elsewhere."""
    import search_spaces.targets.x86 as x86
    from dse.core.errors import UsageError
    from dse.optimize import config_from_args, parse_args
    from search_spaces.targets.devices.identity import host_cpu

    per_layer = ALGORITHMS.get("per_layer")
    assert per_layer.incompatibility(SimpleNamespace(target="x86")) is None
    for elsewhere in ("arm", "cuda"):
        assert "this host's CPU" in (per_layer.incompatibility(SimpleNamespace(target=elsewhere)) or "")
    has_avx2 = {"avx2", "fma"} <= set(host_cpu()["features"])
    assert (per_layer.incompatibility(SimpleNamespace(target="x86-avx2")) is None) == has_avx2
    monkeypatch.setattr(x86, "host_cpu", lambda: {"name": "Old CPU", "features": ["avx", "sse4_2"]})
    assert "this host's CPU" in (per_layer.incompatibility(SimpleNamespace(target="x86-avx2")) or "")
    args = parse_args(["--algorithms", "per_layer", "--rpc", "127.0.0.1:9", "--work-dir", str(tmp_path)])
    with pytest.raises(UsageError, match="leave per_layer out") as error:
        config_from_args(args)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["direct", "im2col_gemm"])
def test_a_plain_layout_kernel_declines_a_packed_layer_as_not_applicable(name) -> None:  # type: ignore[no-untyped-def]
    """per_layer offers every candidate each layer; on a packed one direct and im2col+GEMM say
    they do not apply (so the driver falls back), rather than failing inside their compute."""
    from search_spaces.algorithms._conv import ConvSpec, NotApplicable

    spec = ConvSpec(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "NCHW16c", "float32", "float32", "float32",
                    np.zeros((16, 16, 3, 3), "float32"), in_block=16, out_block=16)  # fmt: skip
    with pytest.raises(NotApplicable, match="packed layout NCHW16c"):
        ALGORITHMS.get(name).emit(None, None, spec, {"layout": "nchw"}, None)


def test_candidates_are_timed_in_turn_and_decided_by_their_median_round(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A slow spell of the machine during one candidate's timing must not lose it the layer: the
    candidates are built first, then timed round by round in turn, each keeping its median; and
    every run starts from evicted caches, as a layer's weights come back from memory in a model."""
    from types import SimpleNamespace as Namespace

    import tvm_ffi
    from tvm import relax

    from search_spaces.algorithms import per_layer
    from search_spaces.algorithms._conv import ConvSpec

    made: list[int] = []
    timed: list[int] = []
    preprocs: list[str | None] = []
    spell = {0: 9.0}  # the first candidate's first round falls in a spell: 9 ms against its 1 ms

    class FakeVM:
        def __init__(self, executable, device) -> None:  # type: ignore[no-untyped-def]
            self.index = len(made)
            made.append(self.index)

        def time_evaluator(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            preprocs.append(kwargs.get("f_preproc"))

            def timer(x):  # type: ignore[no-untyped-def]
                ms = spell.pop(self.index, None) if self.index == 0 else None
                timed.append(self.index)
                return Namespace(median=(ms or (1.0 if self.index == 0 else 2.0 + self.index)) / 1e3)

            return timer

    monkeypatch.setattr(relax, "VirtualMachine", FakeVM)
    locks: list[int] = []

    class Lock:
        def __enter__(self) -> None:
            locks.append(len(timed))

        def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
            pass

    w = np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype("float32")
    spec = ConvSpec(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, "NCHW", "float32", "float32", "float32", w)
    timings = per_layer.time_candidates(spec, T.host_target(), Lock)
    n = len(made)
    assert n >= 3 and len(timings) == n  # direct, im2col+GEMM, spatial pack, Winograd (a 3x3 NCHW layer)
    assert timed == list(range(n)) * per_layer.ROUNDS  # all built before any is timed; then in turn
    assert locks == list(range(n * per_layer.ROUNDS))  # each timing inside its own lock
    assert preprocs == [per_layer.EVICT_CACHES] * n  # every run with the caches evicted first
    evict = tvm_ffi.get_global_func(per_layer.EVICT_CACHES)
    evict()  # callable as TVM's timer calls it
    first = min(timings, key=lambda label: timings[label])
    assert first == next(iter(timings)) and timings[first] == pytest.approx(1.0)  # won despite its 9 ms round
