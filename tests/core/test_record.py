"""The trial record: what a trial stores, written and read through one dataclass."""

from __future__ import annotations

from dse.core.errors import FailureKind
from dse.core.measure import LatencySamples, LatencyStats
from dse.core.record import EvaluationResult, TrialRecord


def _result(latency_s: float, accuracy: float, algorithm: str = "x", **info: object) -> EvaluationResult:
    stats = LatencyStats.from_samples(LatencySamples((latency_s,) * 3, 1, 2, False))
    config = {"model": "m", "algorithm": {"name": algorithm}}
    return EvaluationResult(config, accuracy=accuracy, eval_size=10, latency=stats, versions={"x": "1"}, info=info)


def test_speedups_are_quoted_against_the_fastest_reference_and_torch_eager() -> None:
    references = [
        _result(0.008, 0.95, "direct", torch_eager={"median_ms": 12.0}),
        _result(0.004, 0.95, "spatial_pack"),
        EvaluationResult({"algorithm": {"name": "winograd"}}, error_kind=FailureKind.COMPILE, error_message="x"),
    ]
    record = TrialRecord.of_evaluation(_result(0.001, 0.9), references, cache_hit=False)
    assert record.latency_ms == 1.0 and record.accuracy == 0.9
    assert record.baseline_algorithm == "spatial_pack" and record.speedup_vs_untuned_fp32 == 4.0
    assert record.torch_eager_ms == 12.0 and record.speedup_vs_torch_eager == 12.0
    assert abs(record.accuracy_drop - 0.05) < 1e-12  # type: ignore[operator]
    assert record.accuracy_ci is not None and record.accuracy_ci[0] < 0.9 < record.accuracy_ci[1]
    assert record.latency is not None and record.latency["samples_ms"] == (1.0, 1.0, 1.0)
    assert record.error_kind is None and not record.is_emulated


def test_attrs_round_trip_and_unknown_attributes_are_ignored() -> None:
    record = TrialRecord(config={"model": "m"}, target="x86", retry_of=3, heartbeat_at=1.5)
    attrs = record.attrs()
    assert attrs == {"config": {"model": "m"}, "target": "x86", "retry_of": 3, "heartbeat_at": 1.5}
    assert TrialRecord.from_attrs({**attrs, "someone_else": 1}) == record


def test_a_failure_records_kind_reason_and_whether_it_is_retried() -> None:
    failed = TrialRecord.of_evaluation(
        EvaluationResult({}, error_kind=FailureKind.TIMEOUT, error_message="slow"), [EvaluationResult({})], False
    )
    assert (failed.error_kind, failed.error_message, failed.retryable) == ("timeout", "slow", True)
    assert failed.accuracy is None and failed.speedup_vs_untuned_fp32 is None
    assert TrialRecord.failure(FailureKind.INVALID, "no").retryable is False
