"""Turns a TrialConfig into a (cached) EvaluationResult: weights, cache and worker joined here."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dse.cache import EvaluationCache
from dse.core.errors import TrialFailure
from dse.core.measure import LatencyStats
from dse.core.provenance import tool_versions
from dse.core.record import EvaluationResult
from objectives.evaluate import evaluate, remeasure_library
from objectives.request import EvaluationRequest

if TYPE_CHECKING:
    from dse.core.config import StudyConfig
    from dse.worker import IsolatedRunner
    from search_spaces import TrialConfig
    from search_spaces.models import ResolvedWeights


class Evaluator:
    """Evaluates configurations of one study, each at most once per machine."""

    def __init__(self, config: StudyConfig, weights: dict[str, ResolvedWeights], runner: IsolatedRunner) -> None:
        self._config = config
        self._weights = weights
        self._runner = runner
        self._cache = EvaluationCache(config.work_dir / "cache")

    def request(self, trial_config: TrialConfig) -> EvaluationRequest:
        return EvaluationRequest.of_study(self._config, trial_config, self._weights[trial_config.model])

    def library_path(self, request: EvaluationRequest) -> Path:
        """Where the compiled library of ``request`` is kept (with ``--remeasure-front``)."""
        return self._config.work_dir / "artifacts" / f"{self._cache.key_hash(request)}.so"

    def evaluate(self, trial_config: TrialConfig, time_torch_eager: bool = False) -> tuple[EvaluationResult, bool]:
        """The result of ``trial_config`` and whether it came from the cache (``time_torch_eager``:
        also time the model in PyTorch eager, for a reference build)."""
        request = replace(self.request(trial_config), time_torch_eager=time_torch_eager)
        if self._config.remeasure_front:
            request = replace(request, keep_library=self.library_path(request))
        return self._cache.get_or_run(request, self._run_isolated)

    def remeasure(self, trial_config: TrialConfig) -> tuple[LatencyStats, dict[str, object]] | None:
        """Time the kept library of ``trial_config`` again; None when no library was kept.

        Raises:
            TrialFailure: the device failed or timed out.
        """
        request = self.request(trial_config)
        library = self.library_path(request)
        if not library.is_file():
            return None
        return self._runner.call(remeasure_library, request, str(library), timeout_s=self._config.trial_timeout_s)

    def _run_isolated(self, request: EvaluationRequest) -> EvaluationResult:
        try:
            return self._runner.call(evaluate, request, timeout_s=self._config.trial_timeout_s)
        except TrialFailure as failure:
            return EvaluationResult(
                request.config.as_dict(),
                versions=tool_versions(),
                error_kind=failure.kind,
                error_message=failure.message,
            )
