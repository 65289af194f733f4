"""ONNX files as models: imported with Relax's ONNX frontend, scored like the PyTorch model they came from.

The end-to-end test trains ResNet-18 (torchvision's, small-input variant) on the digits
through a study, exports the same checkpoint to ONNX, runs a study of the ONNX file and
compares the accuracies: same model, same images, so inside each other's 95% intervals.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from dse.core.errors import UsageError
from dse.optimize import main
from tests.conftest import FAST_TRIAL_FLAGS


def _export_onnx(model: object, path: Path, shape: tuple[int, ...]) -> Path:
    import torch

    torch.onnx.export(model, (torch.zeros(*shape),), str(path), dynamo=False, input_names=["image"])
    return path


def test_a_file_of_the_wrong_shape_or_width_stops_with_one_line(tmp_path: Path) -> None:
    import torch

    from search_spaces.models import check_onnx_model

    wide = _export_onnx(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1000)), tmp_path / "w.onnx", (1, 1, 8, 8)
    )
    with pytest.raises(UsageError, match="outputs 1000 scores per image but the data set has 10 classes"):
        check_onnx_model(str(wide), 10, (1, 8, 8))
    with pytest.raises(UsageError, match=r"takes input \[1, 1, 8, 8\] but the data set gives \[1, 3, 32, 32\]"):
        check_onnx_model(str(wide), 10, (3, 32, 32))
    with pytest.raises(UsageError, match="does not exist"):
        check_onnx_model(str(tmp_path / "missing.onnx"), 10, (1, 8, 8))
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UsageError, match="cannot be read"):
        check_onnx_model(str(tmp_path / "junk.onnx"), 10, (1, 8, 8))


def test_pruning_says_it_needs_a_pytorch_module_for_an_onnx_model() -> None:
    from dse.core.config import SpaceConfig
    from search_spaces import BASELINE, LayerChoice, SearchSpace, TrialConfig

    space = SearchSpace(SpaceConfig(models=("m.onnx",), pruning=("none", "magnitude")), "digits", "x86")
    pruned = TrialConfig("digits", "m.onnx", target="x86", **{**BASELINE, "pruning": LayerChoice.of("magnitude")})
    reason = space.incompatibility(pruned)
    assert reason is not None and reason.startswith("pruning=magnitude: needs a PyTorch module")
    assert space.incompatibility(TrialConfig("digits", "m.onnx", target="x86", **BASELINE)) is None


@pytest.mark.e2e
@pytest.mark.slow
def test_an_onnx_export_of_a_torchvision_model_scores_as_the_pytorch_model(tmp_path: Path, work_dir: Path) -> None:
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, build_model, load_weights, resolve_weights

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert FAST_TRIAL_FLAGS[:2] == ["--models", "tiny_cnn"]
    flags = [*FAST_TRIAL_FLAGS[2:], "--algorithms", "spatial_pack", "--work-dir", str(work_dir), "--storage", storage]
    assert main([*flags, "--models", "resnet18", "--study-name", "torch", "--n-trials", "1", "--no-report"]) == 0

    data = load_dataset("digits", None)
    weights = resolve_weights("resnet18", "digits", data, WeightsSpec("train", work_dir / "weights"))
    model = load_weights(build_model("resnet18", 10, (1, 8, 8)), weights).eval()
    onnx_file = _export_onnx(model, tmp_path / "resnet18.onnx", (1, 1, 8, 8))
    assert main([*flags, "--models", str(onnx_file), "--study-name", "onnx", "--n-trials", "1", "--no-report"]) == 0

    trials = {name: optuna.load_study(study_name=name, storage=storage).get_trials()[0] for name in ("torch", "onnx")}
    for trial in trials.values():
        assert trial.state is optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("error_message")
    torch_acc, onnx_acc = (trials[name].values[0] for name in ("torch", "onnx"))
    low, high = trials["torch"].user_attrs["accuracy_ci"]
    assert low <= onnx_acc <= high and abs(onnx_acc - torch_acc) <= 1 / 60 + 1e-9  # at most one image of 60
    assert trials["onnx"].user_attrs["config"]["model"] == str(onnx_file)


@pytest.mark.e2e
def test_an_onnx_model_takes_every_precision_and_its_trial_exports(tmp_path: Path, work_dir: Path) -> None:
    """Precision, algorithm and export apply to an ONNX file as to the PyTorch model it came from."""
    from dse.export.__main__ import main as export_main
    from search_spaces.datasets import load_dataset
    from search_spaces.models import WeightsSpec, build_model, load_weights, resolve_weights

    data = load_dataset("digits", None)
    weights = resolve_weights("tiny_cnn", "digits", data, WeightsSpec("train", work_dir / "weights"))
    model = load_weights(build_model("tiny_cnn", 10, (1, 8, 8)), weights).eval()
    onnx_file = _export_onnx(model, tmp_path / "tiny.onnx", (1, 1, 8, 8))
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    flags = [*FAST_TRIAL_FLAGS[2:], "--models", str(onnx_file), "--precision", "fp32,fp16,int8"]
    flags += ["--param", "precision.fp16.accumulate=float32", "--param", "precision.int8.calibration=max"]
    flags += ["--algorithms", "spatial_pack", "--work-dir", str(work_dir), "--storage", storage]
    assert main([*flags, "--sampler", "grid", "--n-trials", "3", "--no-report"]) == 0  # the whole grid

    trials = optuna.load_study(study_name="dse-x86-digits", storage=storage).get_trials()
    by_precision = {t.user_attrs["config"]["precision"]["name"]: t for t in trials}
    assert set(by_precision) == {"fp32", "fp16", "int8"}
    for trial in trials:
        assert trial.state is optuna.trial.TrialState.COMPLETE, trial.user_attrs.get("error_message")
    low, high = by_precision["fp32"].user_attrs["accuracy_ci"]
    assert all(low <= t.values[0] <= high for t in trials)  # reduced precision costs no real accuracy here
    int8 = by_precision["int8"].number
    assert export_main([*flags, "--trial", str(int8), "--out", str(tmp_path / "bundle")]) == 0
    assert (tmp_path / "bundle" / "model.so").is_file()
