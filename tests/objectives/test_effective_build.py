"""A trial is credited with the algorithm that ran, and a build already measured is not built again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TVM_NUM_THREADS", "1")


def _lowered_info(model_name: str, algorithm: str, params: dict) -> dict:
    from types import SimpleNamespace

    import torch

    from objectives.compile import import_to_relax
    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.algorithms import testing as T
    from search_spaces.models import build_model

    model = build_model(model_name, 10, (3, 32, 32)).eval()
    ctx = T.lowering_context(T.host_target(1))
    relax_ctx = SimpleNamespace(example_input=torch.randn(1, 3, 32, 32))
    ALGORITHMS.get(algorithm).lower(import_to_relax(model, relax_ctx), params, ctx)  # type: ignore[arg-type]
    return ctx.info


def test_winograd_on_mobilenet_v2_records_its_flop_share_and_the_algorithm_that_ran() -> None:
    """MobileNetV2 is depthwise and 1x1 convolutions: Winograd takes almost none of its FLOPs."""
    info = _lowered_info("mobilenet_v2", "winograd", {})
    shares = info["algorithm_flop_share"]
    assert abs(sum(shares.values()) - 1.0) < 1e-3
    assert shares.get("winograd", 0.0) < 0.5
    assert info["effective_algorithm"] != "winograd" and info["effective_algorithm"] == max(shares, key=shares.get)
    assert all(layer["flops"] > 0 for layer in info["algorithm_layers"])


def test_winograd_on_resnet18_is_credited_as_winograd() -> None:
    info = _lowered_info("resnet18", "winograd", {})
    assert info["effective_algorithm"] == "winograd" and info["algorithm_flop_share"]["winograd"] >= 0.5


def test_the_analyzer_groups_by_the_effective_algorithm() -> None:
    import optuna

    from dse.analysis import study_frame
    from dse.core.record import TrialRecord

    study = optuna.create_study(directions=["maximize", "minimize"])
    config = {"model": "m", "algorithm": {"name": "winograd"}, "target": "x86", "dataset": "d"}
    info = {"effective_algorithm": "im2col_gemm", "algorithm_flop_share": {"im2col_gemm": 0.9, "winograd": 0.1}}
    record = TrialRecord(config=config, target="x86", accuracy=0.9, latency_ms=1.0, info=info)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1.0], user_attrs=record.attrs()))
    row = study_frame([study]).iloc[0]
    assert row["algorithm"] == "im2col_gemm" and row["algorithm_requested"] == "winograd"
    assert "asked winograd" in row["algorithm_label"]


def test_a_configuration_that_builds_the_same_module_reuses_the_measurement(tmp_path: Path) -> None:
    """A sparse algorithm on unpruned weights runs its dense counterpart: same module, one build."""
    import torch

    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.evaluate import evaluate
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.models import ResolvedWeights, build_model, file_sha256

    pytest.importorskip("tvm")
    torch.manual_seed(0)
    path = tmp_path / "tiny_cnn.pt"
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), path)
    weights = ResolvedWeights(path, file_sha256(path))

    def request(algorithm: LayerChoice) -> EvaluationRequest:
        config = TrialConfig("digits", "tiny_cnn", target="x86", **{**BASELINE, "algorithm": algorithm})
        return EvaluationRequest(
            config, weights, None, 30, tmp_path, 1, MeasureConfig(repeat=2, min_repeat_ms=1), DeviceOptions()
        )

    dense_name = ALGORITHMS.get("sparse_direct").dense
    dense = evaluate(request(LayerChoice(dense_name)))
    sparse = evaluate(request(LayerChoice("sparse_direct", (("threshold", 0.9),))))
    assert dense.ok and sparse.ok, (dense.error_message, sparse.error_message)
    assert "reused_build_of" not in dense.info and "compile" in dense.timings_s
    assert sparse.info["reused_build_of"]["algorithm"]["name"] == dense_name
    assert "compile" not in sparse.timings_s  # not compiled, not measured again
    assert sparse.latency == dense.latency and sparse.accuracy == dense.accuracy
    assert sparse.info["effective_algorithm"] == dense_name
