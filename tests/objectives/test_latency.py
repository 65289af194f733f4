"""Re-measuring noisy latencies: the least dispersed attempt is kept, the others' samples too."""

from __future__ import annotations

import numpy as np

from dse.core.config import MeasureConfig
from dse.core.measure import LatencySamples
from objectives.latency import measure_stable


class NoisyModule:
    """A loaded module whose successive measurements are given (seconds per sample)."""

    def __init__(self, attempts: list[tuple[float, ...]]) -> None:
        self._attempts = list(attempts)

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        return LatencySamples(self._attempts.pop(0), 1, 2, False)


class _Data:
    class _X:
        def __getitem__(self, key: object) -> _Data._X:
            return self

        def numpy(self) -> np.ndarray:
            return np.zeros((1, 1))

    eval_x = _X()


def test_a_steady_measurement_is_taken_once() -> None:
    info: dict[str, object] = {}
    stats = measure_stable(NoisyModule([(1e-3, 1e-3, 1e-3)]), _Data(), MeasureConfig(max_cv=0.05), info)  # type: ignore[arg-type]
    assert stats.median_ms == 1.0 and info["latency_attempts"] == 1 and "latency_rejected" not in info


def test_a_noisy_measurement_is_retaken_and_every_sample_kept() -> None:
    noisy, steady = (1e-3, 3e-3, 1e-3), (2e-3, 2e-3, 2e-3)
    info: dict[str, object] = {}
    module = NoisyModule([noisy, steady])
    stats = measure_stable(module, _Data(), MeasureConfig(max_cv=0.05, max_remeasure=2), info)  # type: ignore[arg-type]
    assert stats.median_ms == 2.0 and info["latency_attempts"] == 2 and info["latency_noisy"] is False
    (rejected,) = info["latency_rejected"]  # type: ignore[misc]
    assert rejected["samples_ms"] == [1.0, 3.0, 1.0]


def test_remeasuring_stops_at_max_remeasure() -> None:
    noisy = (1e-3, 3e-3, 1e-3)
    info: dict[str, object] = {}
    measure_stable(NoisyModule([noisy] * 5), _Data(), MeasureConfig(max_cv=0.05, max_remeasure=1), info)  # type: ignore[arg-type]
    assert info["latency_attempts"] == 2 and info["latency_noisy"] is True
