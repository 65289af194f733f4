"""Layer 3 (compression): each technique on tiny models, with real torch and TVM results."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from dse.core.config import DeviceOptions
from dse.core.errors import InvalidCombination
from search_spaces import BuildContext
from search_spaces.compression import PRECISION, PRUNING
from search_spaces.compression._size import model_size
from search_spaces.datasets import load_dataset
from search_spaces.models import build_model

#: int8 tolerance: max |int8 - float| over the logits, relative to the largest float logit.
INT8_RELATIVE_TOLERANCE = 0.05
#: fp16 with float32 accumulation: same measure.
FP16_RELATIVE_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def data() -> Any:
    return load_dataset("digits", None)


def _ctx(data: Any, work_dir: Path, model_key: str = "tiny_cnn-test") -> BuildContext:
    import tvm

    from search_spaces.targets import TARGETS

    return BuildContext(
        dataset="digits",
        data=data,
        model_key=model_key,
        work_dir=work_dir,
        target=TARGETS.get("x86"),
        tvm_target=tvm.target.Target({"kind": "llvm"}),
        threads=1,
        device_options=DeviceOptions(),
        tuning_db=work_dir / "tuning",
    )


def _tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model("tiny_cnn", 10, (1, 8, 8))
    with torch.no_grad():  # non-trivial batch-norm statistics, as a trained model has
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


class ResidualDepthwise(nn.Module):
    """A residual join around a depthwise separable block: what channel pruning must keep consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(16, 32, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 16, 1, bias=False),
            nn.BatchNorm2d(16),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(torch.relu(h + self.block(h)))


def _import(model: nn.Module, ctx: BuildContext) -> Any:
    from objectives.compile import import_to_relax

    return import_to_relax(model, ctx)


def _run(mod: Any, images: torch.Tensor) -> tuple[np.ndarray, Any]:
    """Compile ``mod`` for the host, run it image by image; returns (logits, executable)."""
    import tvm
    from tvm import relax

    executable = tvm.compile(mod, tvm.target.Target({"kind": "llvm"}))
    vm = relax.VirtualMachine(executable, tvm.cpu())
    outputs = [vm["main"](tvm.runtime.tensor(images[i : i + 1].numpy()))[0].numpy() for i in range(len(images))]
    return np.concatenate(outputs), executable


def _llvm_ir(executable: Any) -> str:
    return "\n".join(m.inspect_source("ll") for m in executable.mod.imports if m.kind == "llvm")


# -- registry and search space ---------------------------------------------------------------


def test_registered_techniques() -> None:
    assert {"none", "magnitude", "channel"} <= set(PRUNING.names())
    assert {"fp32", "int8", "fp16"} <= set(PRECISION.names())


@pytest.mark.parametrize("registry", [PRUNING, PRECISION], ids=["pruning", "precision"])
def test_params_are_prefixed_by_layer_and_technique(registry: Any) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for name, choice in registry.items():
        trial = study.ask()
        short = choice.suggest(trial)
        assert set(trial.params) == {choice.param_name(key) for key in short}
        for full_name, values in choice.grid().items():
            assert full_name.startswith(f"{choice.layer}.{name}.") and len(values) > 0


# -- unstructured magnitude pruning ----------------------------------------------------------


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_magnitude_hits_requested_sparsity(data: Any, tmp_path: Path, scope: str, sparsity: float) -> None:
    ctx = _ctx(data, tmp_path)
    params = {"sparsity": sparsity, "scope": scope, "finetune_epochs": 0}
    pruned = PRUNING.get("magnitude").apply(_tiny(), params, ctx)
    assert ctx.info["achieved_sparsity"] == pytest.approx(sparsity, abs=1e-3)
    assert ctx.info["nonzero_params"] < ctx.info["param_count"]
    # zeros are baked into plain weights: no masks or hooks left for export to trip on
    assert not any(name.endswith(("_orig", "_mask")) for name in pruned.state_dict())
    if scope == "layer":
        for module in pruned.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                zeros = float((module.weight == 0).float().mean())
                assert zeros == pytest.approx(sparsity, abs=1.0 / module.weight.numel() + 1e-6)


def test_magnitude_zeros_survive_export(data: Any, tmp_path: Path) -> None:
    import tvm

    ctx = _ctx(data, tmp_path)
    pruned = PRUNING.get("magnitude").apply(_tiny(), {"sparsity": 0.8, "scope": "global", "finetune_epochs": 0}, ctx)
    mod = _import(pruned, ctx)
    conv_weights = [
        b.value.args[1].value.numpy()
        for block in mod["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, tvm.ir.Call) and getattr(b.value.op, "name", "") == "relax.nn.conv2d"
    ]
    zeros = sum(int((w == 0).sum()) for w in conv_weights)
    expected = sum(int((m.weight == 0).sum()) for m in pruned.modules() if isinstance(m, nn.Conv2d))
    assert len(conv_weights) == 3 and zeros == expected > 0


# -- structured channel pruning --------------------------------------------------------------


@pytest.mark.parametrize("make", [_tiny, ResidualDepthwise], ids=["tiny_cnn", "residual_depthwise"])
def test_channel_pruning_shrinks_and_keeps_output_shape(data: Any, tmp_path: Path, make: Any) -> None:
    ctx = _ctx(data, tmp_path)
    model = make().eval()
    before = model_size(model)["param_count"]
    pruned = PRUNING.get("channel").apply(model, {"ratio": 0.5, "finetune_epochs": 0}, ctx)
    assert ctx.info["param_count"] < 0.6 * before and ctx.info["param_count_unpruned"] == before
    assert model_size(model)["param_count"] == before  # the caller's model is untouched
    x = data.eval_x[:4]
    assert pruned(x).shape == model(x).shape == (4, 10)
    _import(pruned, ctx)  # the smaller network still exports to Relax


def test_channel_pruning_untraceable_model_is_invalid_combination(data: Any, tmp_path: Path) -> None:
    # ShuffleNet V2 splits, concatenates and shuffles channels: DepGraph cannot map its reshapes
    model = build_model("shufflenet_v2_x1_0", 10, (1, 8, 8)).eval()
    with pytest.raises(InvalidCombination, match="channel pruning cannot trace"):
        PRUNING.get("channel").apply(model, {"ratio": 0.5, "finetune_epochs": 0}, _ctx(data, tmp_path))
    # the search prunes such trials before building them
    from search_spaces import BASELINE, TrialConfig

    config = TrialConfig("digits", "shufflenet_v2_x1_0", target="x86", **BASELINE)
    assert PRUNING.get("channel").incompatibility(config)
    assert PRUNING.get("channel").incompatibility(TrialConfig("digits", "resnet18", target="x86", **BASELINE)) is None


# -- recovery fine-tuning ----------------------------------------------------------------------


def test_finetune_trains_once_then_loads_from_cache(data: Any, tmp_path: Path) -> None:
    params = {"ratio": 0.25, "finetune_epochs": 1}
    first_ctx, second_ctx = _ctx(data, tmp_path), _ctx(data, tmp_path)
    first = PRUNING.get("channel").apply(_tiny(), params, first_ctx)
    second = PRUNING.get("channel").apply(_tiny(), params, second_ctx)
    assert first_ctx.info["finetune"] == "trained" and second_ctx.info["finetune"] == "cached"
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert len(list((tmp_path / "weights" / "finetuned").glob("*.pt"))) == 1
    assert not list((tmp_path / "weights" / "finetuned").glob("*.part"))


def test_finetune_keeps_magnitude_zeros(data: Any, tmp_path: Path) -> None:
    ctx = _ctx(data, tmp_path)
    PRUNING.get("magnitude").apply(_tiny(), {"sparsity": 0.7, "scope": "layer", "finetune_epochs": 1}, ctx)
    assert ctx.info["finetune"] == "trained"
    assert ctx.info["achieved_sparsity"] == pytest.approx(0.7, abs=1e-3)


# -- int8 -------------------------------------------------------------------------------------


def test_int8_agrees_with_float_and_compiles_to_int8_arithmetic(data: Any, tmp_path: Path) -> None:
    from tvm import relax

    ctx = _ctx(data, tmp_path)
    model = _tiny()
    mod = PRECISION.get("int8").apply(_import(model, ctx), model, {"calibration": "max"}, ctx)
    assert ctx.info["int8_ops"] == {"nn.conv2d": 3, "matmul": 1}
    assert "nn.relu" in ctx.info["float_ops"] and "nn.conv2d" not in ctx.info["float_ops"]

    images = data.eval_x[:16]
    got, executable = _run(mod, images)
    with torch.no_grad():
        want = model(images).numpy()
    assert np.abs(got - want).max() <= INT8_RELATIVE_TOLERANCE * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9

    # the Relax module keeps plain int8 x int8 -> int32 conv2d calls (layer 4 lowers them) ...
    script = mod.script()
    assert re.search(r'R\.nn\.conv2d\([^\n]*out_dtype="int32"', script)
    # ... the lowered TIR reads int8 buffers and accumulates in int32 ...
    lowered = relax.transform.LegalizeOps()(mod).script()
    assert '"int8"' in lowered and 'T.Cast("int32"' in lowered
    # ... and the machine code loads int8 values and widens them to int32
    assert re.search(r"sext (<\d+ x )?i8>? [^\n]* to (<\d+ x )?i32", _llvm_ir(executable))


@pytest.mark.parametrize(("mcpu", "levels"), [("x86-64-v3", 64), ("znver4", 127)])
def test_int8_weights_take_the_range_the_targets_instruction_is_exact_for(
    data: Any, tmp_path: Path, mcpu: str, levels: int
) -> None:
    """AVX2 without VNNI runs int8 on vpmaddubsw, whose 16-bit pair sums are exact only for
    weights within +-64: int8 quantizes to that range there (as oneDNN does), and to +-127 on
    a VNNI CPU. The model still agrees with float."""
    import tvm

    ctx = _ctx(data, tmp_path)
    ctx.tvm_target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu})
    model = _tiny()
    mod = PRECISION.get("int8").apply(_import(model, ctx), model, {"calibration": "max"}, ctx)
    assert ctx.info["int8_weight_levels"] == levels
    weights = [
        b.value.args[1].value.numpy()
        for block in mod["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, tvm.ir.Call) and getattr(b.value.op, "name", "") in ("relax.nn.conv2d", "relax.matmul")
    ]
    assert len(weights) == 4
    assert all(int(np.abs(w.astype(np.int16)).max()) == levels for w in weights)  # per channel: its peak is +-levels
    images = data.eval_x[:16]
    got, _ = _run(mod, images)
    with torch.no_grad():
        want = model(images).numpy()
    assert np.abs(got - want).max() <= INT8_RELATIVE_TOLERANCE * np.abs(want).max()


def test_float_build_has_no_int8_arithmetic(data: Any, tmp_path: Path) -> None:
    ctx = _ctx(data, tmp_path)
    _, executable = _run(_import(_tiny(), ctx), data.eval_x[:1])
    assert not re.search(r"sext (<\d+ x )?i8>? [^\n]* to (<\d+ x )?i32", _llvm_ir(executable))


def test_int8_keeps_pruned_zeros(data: Any, tmp_path: Path) -> None:
    import tvm

    ctx = _ctx(data, tmp_path)
    pruned = PRUNING.get("magnitude").apply(_tiny(), {"sparsity": 0.8, "scope": "layer", "finetune_epochs": 0}, ctx)
    mod = PRECISION.get("int8").apply(_import(pruned, ctx), pruned, {"calibration": "percentile"}, ctx)
    weights = [
        b.value.args[1].value.numpy()
        for block in mod["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, tvm.ir.Call) and getattr(b.value.op, "name", "") == "relax.nn.conv2d"
    ]
    assert all(w.dtype == np.int8 for w in weights)
    pruned_zeros = [m.weight == 0 for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    for w, zero in zip(weights, pruned_zeros, strict=True):  # every pruned weight is an int8 zero
        assert np.all(w[zero.numpy()] == 0)


# -- float16 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("accumulate", ["float32", "float16"])
def test_fp16_compiles_and_runs(data: Any, tmp_path: Path, accumulate: str) -> None:
    ctx = _ctx(data, tmp_path)
    model = _tiny()
    mod = PRECISION.get("fp16").apply(_import(model, ctx), model, {"accumulate": accumulate}, ctx)
    assert "float16" in mod.script()
    images = data.eval_x[:8]
    got, _ = _run(mod, images)
    with torch.no_grad():
        want = model(images).numpy()
    tolerance = FP16_RELATIVE_TOLERANCE * (1 if accumulate == "float32" else 5)
    assert np.abs(got - want).max() <= tolerance * np.abs(want).max()


# -- through the whole trial pipeline ---------------------------------------------------------


@pytest.mark.slow
def test_techniques_end_to_end_on_trained_tiny_cnn(work_dir: Path) -> None:
    """A trained tiny CNN through evaluate(): int8 and fp16 keep accuracy, pruning records its size."""
    from dataclasses import replace

    from dse.core.config import MeasureConfig
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.models import WeightsSpec, resolve_weights

    data = load_dataset("digits", None)
    weights = resolve_weights("tiny_cnn", "digits", data, WeightsSpec("train", work_dir / "weights"))
    base = TrialConfig("digits", "tiny_cnn", target="x86", **BASELINE)
    configs = {
        "baseline": base,
        "int8": replace(base, precision=LayerChoice.of("int8", {"calibration": "percentile"})),
        "fp16": replace(base, precision=LayerChoice.of("fp16", {"accumulate": "float32"})),
        "magnitude+int8": replace(
            base,
            pruning=LayerChoice.of("magnitude", {"sparsity": 0.5, "scope": "layer", "finetune_epochs": 0}),
            precision=LayerChoice.of("int8", {"calibration": "max"}),
        ),
        "channel": replace(base, pruning=LayerChoice.of("channel", {"ratio": 0.25, "finetune_epochs": 1})),
    }
    results = {}
    for label, config in configs.items():
        request = EvaluationRequest(
            config, weights, None, 200, work_dir, 2, MeasureConfig(repeat=3, min_repeat_ms=5), DeviceOptions()
        )
        results[label] = evaluate(request)
        assert results[label].error_message is None, (label, results[label].error_message)
    accuracy = {label: r.accuracy for label, r in results.items()}
    assert accuracy["int8"] >= accuracy["baseline"] - 0.03, accuracy
    assert accuracy["fp16"] >= accuracy["baseline"] - 0.01, accuracy
    assert results["int8"].info["int8_ops"] == {"nn.conv2d": 3, "matmul": 1}
    assert results["magnitude+int8"].info["achieved_sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert results["channel"].info["param_count"] < results["baseline"].info["param_count"]
    assert results["channel"].info["finetune"] == "trained"
