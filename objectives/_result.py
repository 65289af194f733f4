"""The record of one evaluated configuration (JSON-able: it is cached and stored on trials)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from dse.devices import LatencySamples
from dse.errors import FailureKind


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
        )


@dataclass(frozen=True)
class EvaluationResult:
    """Accuracy and latency of one configuration, or why there are none.

    Attributes:
        info: what the layers reported while building (algorithm per layer, sparsity, ...).
        timings_s: wall time of each step: ``compile``, ``accuracy``, ``measure``.
    """

    config: dict[str, Any]
    accuracy: float | None = None
    eval_size: int = 0
    latency: LatencyStats | None = None
    artifact_bytes: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    error_kind: FailureKind | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None and self.accuracy is not None and self.latency is not None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["error_kind"] = self.error_kind.value if self.error_kind else None
        return record
