"""Every precision builds and runs models made of current mobile blocks; a failing pass is a compile error.

The model (``tests._modern_models:mobile_blocks``: hard-swish, squeeze-excitation, SiLU,
depthwise convolution, residual add, layer norm) goes through the real trial path,
``objectives.evaluate.evaluate``: compile, accuracy on the digits, latency.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TVM_NUM_THREADS", "1")

MODEL = "tests._modern_models:mobile_blocks"


def _request(tmp_path: Path, precision: str, params: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    import torch

    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.models import ResolvedWeights, build_model, file_sha256

    path = tmp_path / "mobile_blocks.pt"
    if not path.is_file():
        torch.manual_seed(0)
        torch.save(build_model(MODEL, 10, (1, 8, 8)).state_dict(), path)
    layers = {**BASELINE, "precision": LayerChoice.of(precision, params or {})}
    return EvaluationRequest(
        config=TrialConfig("digits", MODEL, target="x86", **layers),
        weights=ResolvedWeights(path, file_sha256(path)),
        data_dir=None,
        eval_limit=40,
        work_dir=tmp_path,
        threads=1,
        measure=MeasureConfig(repeat=2, min_repeat_ms=1, max_remeasure=0),
        device=DeviceOptions(),
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("precision", "params"),
    [("fp32", {}), ("fp16", {"accumulate": "float32"}), ("fp16", {"accumulate": "float16"}), ("int8", {})],
)
def test_every_precision_builds_and_runs_mobile_blocks(tmp_path: Path, precision: str, params: dict) -> None:
    from objectives.evaluate import evaluate

    result = evaluate(_request(tmp_path, precision, params))
    assert result.ok, f"{result.error_kind}: {result.error_message}"
    assert result.accuracy is not None and result.eval_size == 40


def test_a_failing_tvm_pass_is_a_compile_error_naming_the_layer_and_the_pass(tmp_path: Path, monkeypatch) -> None:
    """Without the clip rewrite, TVM's ToMixedPrecision fails on hard-swish, as it did before the fix."""
    from dse.core.errors import FailureKind
    from objectives.evaluate import evaluate
    from search_spaces.compression import fp16

    monkeypatch.setattr(fp16, "clip_as_min_max", lambda mod: mod)
    result = evaluate(_request(tmp_path, "fp16", {"accumulate": "float32"}))
    assert result.error_kind is FailureKind.COMPILE, result.error_message
    assert result.error_message is not None
    assert result.error_message.startswith("precision fp16 (in TVM pass ToMixedPrecision) failed")
    assert "Expected TensorType" in result.error_message
