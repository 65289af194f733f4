"""The evaluation cache serves a result only where it means the same: same CPU, same dse code."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.cache import EvaluationCache
from dse.core.config import DeviceOptions, MeasureConfig
from dse.core.measure import LatencySamples, LatencyStats
from dse.core.record import EvaluationResult
from objectives.request import EvaluationRequest


def _request(tmp_path: Path) -> EvaluationRequest:
    from search_spaces import LayerChoice, TrialConfig
    from search_spaces.models import ResolvedWeights

    config = TrialConfig(
        "digits",
        "tiny_cnn",
        LayerChoice("none"),
        LayerChoice("fp32"),
        LayerChoice("direct"),
        LayerChoice("untuned"),
        "x86",
    )
    weights = ResolvedWeights(tmp_path / "w.pt", "0" * 64)
    return EvaluationRequest(config, weights, None, 10, tmp_path, 1, MeasureConfig(), DeviceOptions())


def _run(calls: list[int]):  # type: ignore[no-untyped-def]
    def run(request: EvaluationRequest) -> EvaluationResult:
        calls.append(1)
        latency = LatencyStats.from_samples(LatencySamples((0.001, 0.002), 1, 1, emulated=False))
        return EvaluationResult(request.config.as_dict(), accuracy=0.5, eval_size=10, latency=latency)

    return run


def test_a_shared_work_folder_never_serves_another_cpus_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from search_spaces.targets.devices import identity

    calls: list[int] = []
    request = _request(tmp_path)
    assert EvaluationCache(tmp_path / "cache").get_or_run(request, _run(calls))[1] is False
    assert EvaluationCache(tmp_path / "cache").get_or_run(request, _run(calls))[1] is True  # same host: a hit
    other = {**identity.host_cpu(), "name": "Another CPU", "features": ["avx2"]}
    monkeypatch.setattr(identity, "host_cpu", lambda: other)
    assert EvaluationCache(tmp_path / "cache").get_or_run(request, _run(calls))[1] is False
    assert len(calls) == 2


def test_changed_dse_code_is_never_served_a_result_of_the_old(tmp_path: Path) -> None:
    calls: list[int] = []
    request = _request(tmp_path)
    assert EvaluationCache(tmp_path / "cache").get_or_run(request, _run(calls))[1] is False
    changed = EvaluationCache(tmp_path / "cache")
    changed._versions = {**changed._versions, "dse-source": "0" * 16}  # a fixed kernel, say
    assert changed.get_or_run(request, _run(calls))[1] is False
    assert len(calls) == 2


def test_corrupt_cache_entry_is_recomputed(tmp_path: Path) -> None:
    calls: list[int] = []
    run = _run(calls)
    request = _request(tmp_path)
    cache = EvaluationCache(tmp_path / "cache")
    assert cache.get_or_run(request, run)[1] is False
    assert cache.get_or_run(request, run) == (run(request), True) and len(calls) == 2
    outputs = list((tmp_path / "cache").rglob("output.pkl"))
    assert len(outputs) == 1
    outputs[0].write_bytes(b"\x80\x04 damaged")
    result, hit = EvaluationCache(tmp_path / "cache").get_or_run(request, run)  # joblib logs the damage
    assert result.accuracy == 0.5 and hit is False and len(calls) == 3
    assert EvaluationCache(tmp_path / "cache").get_or_run(request, run)[1] is True  # stored again
