"""What a worker needs to evaluate one configuration (picklable, it crosses the process boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse.core.config import DeviceOptions, MeasureConfig

if TYPE_CHECKING:
    from dse.core.config import StudyConfig
    from search_spaces import TrialConfig
    from search_spaces.models import ResolvedWeights


@dataclass(frozen=True)
class EvaluationRequest:
    """Everything a worker needs to evaluate ``config`` (picklable)."""

    config: TrialConfig
    weights: ResolvedWeights
    data_dir: Path | None
    eval_limit: int | None
    work_dir: Path
    threads: int
    measure: MeasureConfig
    device: DeviceOptions
    tuning_db: Path | None = None
    #: Where to keep a copy of the compiled library (re-measurement of the Pareto front).
    keep_library: Path | None = None
    #: Also time the PyTorch model in eager mode, same protocol (a reference build on the host).
    time_torch_eager: bool = False

    @classmethod
    def of_study(
        cls, study: StudyConfig, config: TrialConfig, weights: ResolvedWeights, keep_library: Path | None = None
    ) -> EvaluationRequest:
        """The request for ``config`` under a study's data, protocol and device (a trial, or
        dse.export's rebuild of one: both must ask for the same build)."""
        return cls(
            config=config,
            weights=weights,
            data_dir=study.data_dir,
            eval_limit=study.eval_limit,
            work_dir=study.work_dir,
            threads=study.threads,
            measure=study.measure,
            device=study.device,
            tuning_db=study.tuning_db,
            keep_library=keep_library,
        )


__all__ = ["EvaluationRequest"]
