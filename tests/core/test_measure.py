"""The one latency protocol: warm-up as probe, samples sized to min_repeat_ms, repeat samples."""

from __future__ import annotations

import pytest

from dse.core.config import MeasureConfig
from dse.core.measure import LatencySamples, LatencyStats, runs_per_sample, sample, take_samples


class FakeTimer:
    """A module whose one run takes ``run_s``; records every (number, repeat) it was asked for."""

    def __init__(self, run_s: float) -> None:
        self.run_s = run_s
        self.calls: list[tuple[int, int]] = []

    def __call__(self, number: int, repeat: int) -> list[float]:
        self.calls.append((number, repeat))
        return [self.run_s] * repeat


@pytest.mark.parametrize(("run_s", "min_repeat_ms", "expected"), [(0.001, 100, 100), (0.3, 100, 1), (0.0004, 1, 3)])
def test_a_sample_lasts_at_least_min_repeat_ms(run_s: float, min_repeat_ms: float, expected: int) -> None:
    assert runs_per_sample(run_s, min_repeat_ms) == expected


def test_warm_up_probes_then_repeat_samples_of_the_sized_length() -> None:
    timer = FakeTimer(0.002)
    seconds, number = take_samples(timer, repeat=5, min_repeat_ms=10, warmup_runs=2)
    assert timer.calls == [(1, 3), (5, 5)]  # probe: 1 run x (1 + warm-ups); then 5 samples of 5 runs
    assert number == 5 and seconds == (0.002,) * 5


def test_a_trial_measurement_follows_measure_config() -> None:
    timer = FakeTimer(0.01)
    samples = sample(timer, MeasureConfig(repeat=4, min_repeat_ms=50, warmup_runs=0), threads=2, emulated=False)
    assert timer.calls == [(1, 1), (5, 4)]
    assert samples == LatencySamples((0.01,) * 4, 5, 2, False)


def test_stats_keep_every_sample_in_milliseconds() -> None:
    stats = LatencyStats.from_samples(LatencySamples((0.001, 0.002, 0.003), 7, 2, True))
    assert stats.median_ms == pytest.approx(2.0) and stats.samples_ms == pytest.approx((1.0, 2.0, 3.0))
    assert stats.cv == pytest.approx(0.5) and stats.runs_per_sample == 7 and stats.emulated
