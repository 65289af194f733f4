"""A tuned trial is timed against its untuned build, and the faster of the two is the trial's.

MetaSchedule keeps the faster schedule kernel by kernel, each timed alone; as a whole model
the tuned build can still lose (kernels that win alone lose together). The trial then reports,
scores and keeps the untuned build, and the analysis credits it to ``untuned``.

Tuning itself is replaced by a stand-in that schedules nothing new (the check, not the tuning,
is under test: a real MetaSchedule run takes minutes); every build is real.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TVM_NUM_THREADS", "1")

pytest.importorskip("tvm")


@pytest.fixture
def request_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    import torch

    from dse.core.config import DeviceOptions, MeasureConfig
    from objectives.request import EvaluationRequest
    from search_spaces import BASELINE, LayerChoice, TrialConfig
    from search_spaces.models import ResolvedWeights, build_model, file_sha256
    from search_spaces.tuning.metaschedule import MetaSchedule, default_schedules

    def stand_in(self: Any, mod: Any, params: Any, ctx: Any) -> Any:
        ctx.info.update(tuned_kernels=1, total_kernels=1)
        return default_schedules(mod, ctx)

    monkeypatch.setattr(MetaSchedule, "schedule", stand_in)
    torch.manual_seed(0)
    path = tmp_path / "tiny_cnn.pt"
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), path)
    weights = ResolvedWeights(path, file_sha256(path))

    def make(tuning: str) -> EvaluationRequest:
        choice = LayerChoice("metaschedule", (("trials", 16),)) if tuning == "metaschedule" else LayerChoice(tuning)
        config = TrialConfig("digits", "tiny_cnn", target="x86", **{**BASELINE, "tuning": choice})
        return EvaluationRequest(
            config, weights, None, 30, tmp_path, 1, MeasureConfig(repeat=2, min_repeat_ms=1), DeviceOptions()
        )

    return make


def test_a_tuned_trial_reports_the_faster_of_its_tuned_and_untuned_builds(request_for: Any) -> None:
    from dse.core.record import UNTUNED_CHECK
    from objectives.evaluate import evaluate

    tuned = evaluate(request_for("metaschedule"))
    assert tuned.ok, tuned.error_message
    check = tuned.info[UNTUNED_CHECK]
    assert len(check["tuned_ms"]) == len(check["untuned_ms"]) == 2 and min(check["tuned_ms"] + check["untuned_ms"]) > 0
    kept = "untuned" if sum(check["untuned_ms"]) < sum(check["tuned_ms"]) else "tuned"
    assert check["kept"] == kept
    assert tuned.latency is not None and tuned.latency.median_ms == check[f"{kept}_ms"][0]  # its first round
    assert tuned.timings_s["compile_untuned"] > 0

    untuned = evaluate(request_for("untuned"))  # nothing to check an untuned trial against
    assert untuned.ok and UNTUNED_CHECK not in untuned.info and "compile_untuned" not in untuned.timings_s


def test_a_tuned_build_slower_as_a_whole_model_is_replaced_by_the_untuned_one(
    request_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tuned build's timings (the first and third) are made 10 ms slower: the untuned build
    is kept, reported, remembered for a reuse of the same build, and credited to ``untuned``."""
    import dataclasses

    import optuna

    import objectives.latency
    from dse.analysis import study_frame
    from dse.core.record import UNTUNED_CHECK, TrialRecord
    from objectives.evaluate import evaluate

    measured = objectives.latency.measure_stable
    calls: list[float] = []

    def tuned_slower(module: Any, data: Any, measure: Any, info: dict[str, object]) -> Any:
        stats = measured(module, data, measure, info)
        calls.append(stats.median_ms)
        return dataclasses.replace(stats, median_ms=stats.median_ms + 10.0) if len(calls) in (1, 3) else stats

    monkeypatch.setattr(objectives.latency, "measure_stable", tuned_slower)
    result = evaluate(request_for("metaschedule"))
    assert result.ok, result.error_message
    assert len(calls) == 4 and result.info[UNTUNED_CHECK]["kept"] == "untuned"
    assert result.latency is not None and result.latency.median_ms == calls[1] < 10.0
    assert 0.0 <= (result.accuracy or 0.0) <= 1.0

    again = evaluate(request_for("metaschedule"))  # the same build: reused, with its verdict
    assert "reused_build_of" in again.info and len(calls) == 4
    assert again.info[UNTUNED_CHECK] == result.info[UNTUNED_CHECK] and again.latency == result.latency

    study = optuna.create_study(directions=["maximize", "minimize"])
    record = TrialRecord.of_evaluation(result, references=[], cache_hit=False)
    attrs = dataclasses.replace(record, config=result.config, target="x86").attrs()
    study.add_trial(optuna.trial.create_trial(values=[result.accuracy, result.latency.median_ms], user_attrs=attrs))
    row = study_frame([study]).iloc[0]
    assert row["tuning"] == "untuned" and "asked metaschedule" in row["tuning_label"]
