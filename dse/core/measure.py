"""The one latency protocol of dse: warm up, size each sample, take ``repeat`` samples, summarize.

Every timing in dse goes through :func:`take_samples`: trials on the host and on boards over
RPC (``search_spaces.targets.devices``) and MetaSchedule's candidates
(``search_spaces.tuning``). It is plain arithmetic over a *timer*, a function that runs the
module ``number`` times back to back for each of ``repeat`` samples and returns the seconds per
run of each sample (TVM's ``time_evaluator`` is one), so the protocol lives beside
:class:`~dse.core.config.MeasureConfig` and needs no TVM here.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dse.core.config import MeasureConfig

#: ``timer(number, repeat)`` -> seconds per run of each of ``repeat`` samples.
Timer = Callable[[int, int], Sequence[float]]


def call_timer(call: Callable[[], object], around: Callable[[], AbstractContextManager[object]] = nullcontext) -> Timer:
    """A :data:`Timer` of a Python callable, wall-clock per run (for runtimes without a timer of
    their own: PyTorch eager, ONNX Runtime, OpenVINO). ``around`` wraps the whole sampling (e.g.
    ``torch.inference_mode``), so no context is entered inside the timed runs."""

    def run(number: int, repeat: int) -> Sequence[float]:
        seconds = []
        with around():
            for _ in range(repeat):
                start = time.perf_counter()
                for _ in range(number):
                    call()
                seconds.append((time.perf_counter() - start) / number)
        return seconds

    return run


def runs_per_sample(single_run_s: float, min_repeat_ms: float) -> int:
    """How many back-to-back runs make one sample last at least ``min_repeat_ms``."""
    return max(1, math.ceil(min_repeat_ms / 1000 / max(single_run_s, 1e-9)))


def take_samples(timer: Timer, repeat: int, min_repeat_ms: float, warmup_runs: int) -> tuple[tuple[float, ...], int]:
    """Warm up, size a sample to ``min_repeat_ms``, take ``repeat`` samples.

    Returns the seconds per run of each sample and the runs per sample. The warm-up runs double
    as the probe that sizes a sample: the fastest of them estimates one run.
    """
    probe = timer(1, 1 + warmup_runs)
    number = runs_per_sample(min(probe), min_repeat_ms)
    return tuple(float(s) for s in timer(number, repeat)), number


@dataclass(frozen=True)
class LatencySamples:
    """Raw per-repeat latencies (seconds per run) and how they were taken."""

    seconds: tuple[float, ...]
    runs_per_sample: int
    threads: int
    emulated: bool
    #: CPU cores other processes kept busy, on average, while the samples were taken (None: unknown).
    foreign_load: float | None = None


def sample(timer: Timer, measure: MeasureConfig, threads: int, emulated: bool) -> LatencySamples:
    """One measurement of a trial under ``measure``'s protocol."""
    seconds, number = take_samples(timer, measure.repeat, measure.min_repeat_ms, measure.warmup_runs)
    return LatencySamples(seconds, number, threads, emulated)


@dataclass(frozen=True)
class LatencyStats:
    """Median latency with its dispersion and every raw sample (milliseconds per inference)."""

    median_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    min_ms: float
    max_ms: float
    n_samples: int
    runs_per_sample: int
    threads: int
    emulated: bool
    samples_ms: tuple[float, ...]
    foreign_load: float | None = None

    @classmethod
    def from_samples(cls, samples: LatencySamples) -> LatencyStats:
        ms = [s * 1000.0 for s in samples.seconds]
        mean = statistics.fmean(ms)
        std = statistics.stdev(ms) if len(ms) > 1 else 0.0
        return cls(
            median_ms=statistics.median(ms),
            mean_ms=mean,
            std_ms=std,
            cv=std / mean if mean > 0 else 0.0,
            min_ms=min(ms),
            max_ms=max(ms),
            n_samples=len(ms),
            runs_per_sample=samples.runs_per_sample,
            threads=samples.threads,
            emulated=samples.emulated,
            samples_ms=tuple(ms),
            foreign_load=samples.foreign_load,
        )
