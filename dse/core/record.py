"""What one trial produces and what dse stores about it.

* :class:`EvaluationResult` is what evaluating a configuration returns (JSON-able: it is cached).
* :class:`TrialRecord` is the only writer and the only reader of a trial's user attributes: the
  objective, the lifecycle (heartbeats, retries), the synthetic studies of the tests and every
  reader (report, analysis, re-measurement) go through it, so an attribute is named once.
* :data:`OBJECTIVES` and :data:`DIRECTIONS` name the two objectives of every study.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind
from dse.core.measure import LatencyStats
from dse.core.stats import accuracy_interval

if TYPE_CHECKING:
    import optuna

OBJECTIVES = ("accuracy", "latency_ms")
DIRECTIONS = ("maximize", "minimize")
#: ``info`` key of a tuned trial's whole-model check against its untuned build:
#: ``{"tuned_ms": [2 medians], "untuned_ms": [2 medians], "kept": "tuned" | "untuned"}``
#: (``objectives.evaluate``).
UNTUNED_CHECK = "untuned_check"


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


@dataclass(frozen=True)
class TrialRecord:
    """A trial's user attributes as one typed record (``None``: not recorded).

    Measurement: ``config`` (layer by layer), ``target``, ``accuracy`` with ``accuracy_ci`` (its
    95% interval), ``latency_ms`` (median),
    ``latency`` (:class:`LatencyStats` as a dict, raw samples included), ``emulated``, the
    references a speedup is quoted against (``speedup_vs_untuned_fp32``: the uncompressed fp32
    model under its fastest default-scheduled algorithm, ``baseline_*``; ``speedup_vs_torch_eager``:
    PyTorch eager on the same device and threads, local targets only) and ``accuracy_drop``,
    ``eval_size``, ``artifact_bytes``, ``timings_s``, ``versions``, ``info``, ``cache_hit``.
    Failure: ``error_kind``, ``error_message``, ``retryable``.
    Lifecycle: ``worker`` (host, pid, start time), ``heartbeat_at``, ``retry_of``, ``retry_count``.
    """

    config: dict[str, Any] | None = None
    target: str | None = None
    accuracy: float | None = None
    #: 95% Wilson interval of ``accuracy`` over ``eval_size`` images, as ``[low, high]``.
    accuracy_ci: list[float] | None = None
    latency_ms: float | None = None
    latency: dict[str, Any] | None = None
    emulated: bool | None = None
    #: The reference: the uncompressed fp32 model under the fastest default-scheduled algorithm.
    baseline_latency_ms: float | None = None
    baseline_accuracy: float | None = None
    baseline_algorithm: str | None = None
    speedup_vs_untuned_fp32: float | None = None
    #: PyTorch eager on the same device and threads (local targets only).
    torch_eager_ms: float | None = None
    speedup_vs_torch_eager: float | None = None
    accuracy_drop: float | None = None
    eval_size: int | None = None
    artifact_bytes: int | None = None
    timings_s: dict[str, float] | None = None
    versions: dict[str, str] | None = None
    info: dict[str, Any] | None = None
    cache_hit: bool | None = None
    error_kind: str | None = None
    error_message: str | None = None
    retryable: bool | None = None
    worker: dict[str, Any] | None = None
    heartbeat_at: float | None = None
    retry_of: int | None = None
    retry_count: int | None = None
    #: A ``--verify`` trial: the interaction question (JSON list) it was planned to answer.
    dse_verification: str | None = None

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial | optuna.Trial) -> TrialRecord:
        """Read the record of ``trial`` (attributes dse does not know are ignored)."""
        return cls.from_attrs(trial.user_attrs)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> TrialRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in attrs.items() if k in known})

    @classmethod
    def failure(cls, kind: FailureKind, message: str) -> TrialRecord:
        """The classified reason of a failed trial."""
        return cls(error_kind=kind.value, error_message=message, retryable=kind.retryable)

    @classmethod
    def of_evaluation(
        cls, result: EvaluationResult, references: Sequence[EvaluationResult], cache_hit: bool
    ) -> TrialRecord:
        """The full layer-by-layer record of an evaluation, with its speedups over the references.

        ``references``: the model's uncompressed fp32 untuned builds (one per default-scheduled
        algorithm); the fastest that worked is the baseline, and PyTorch eager's latency comes
        with whichever timed it (``info["torch_eager"]``).
        """
        values: dict[str, Any] = {
            "cache_hit": cache_hit,
            "eval_size": result.eval_size,
            "artifact_bytes": result.artifact_bytes,
            "timings_s": result.timings_s,
            "versions": result.versions,
            "info": result.info,
        }
        if result.ok:
            assert result.latency is not None and result.accuracy is not None  # ok says so
            values.update(
                accuracy=result.accuracy,
                accuracy_ci=list(accuracy_interval(result.accuracy, result.eval_size)),
                latency_ms=result.latency.median_ms,
                latency=asdict(result.latency),
                emulated=result.latency.emulated,
            )
            measured = [r for r in references if r.ok and r.latency is not None and r.accuracy is not None]
            if measured:
                baseline = min(measured, key=lambda r: r.latency.median_ms)  # type: ignore[union-attr]
                assert baseline.latency is not None and baseline.accuracy is not None
                values.update(
                    baseline_latency_ms=baseline.latency.median_ms,
                    baseline_accuracy=baseline.accuracy,
                    baseline_algorithm=(baseline.config.get("algorithm") or {}).get("name"),
                    speedup_vs_untuned_fp32=baseline.latency.median_ms / result.latency.median_ms,
                    accuracy_drop=baseline.accuracy - result.accuracy,
                )
            eager = next((r.info["torch_eager"] for r in references if "torch_eager" in r.info), None)
            if eager:
                values.update(
                    torch_eager_ms=eager["median_ms"],
                    speedup_vs_torch_eager=eager["median_ms"] / result.latency.median_ms,
                )
        if result.error_kind is not None:
            values.update(
                error_kind=result.error_kind.value,
                error_message=result.error_message or "",
                retryable=result.error_kind.retryable,
            )
        return cls(**values)

    def attrs(self) -> dict[str, Any]:
        """The recorded (non-None) fields, as user attributes."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def write(self, trial: optuna.Trial) -> None:
        """Store the recorded fields on ``trial`` (fields left None are not touched)."""
        for key, value in self.attrs().items():
            trial.set_user_attr(key, value)

    @property
    def latency_cv(self) -> float | None:
        return (self.latency or {}).get("cv")

    @property
    def is_emulated(self) -> bool:
        return bool(self.emulated if self.emulated is not None else (self.latency or {}).get("emulated", False))
