"""Re-measure the Pareto front's latencies at the end of a study (``--remeasure-front``).

A front chosen from single measurements favours the lucky ones; timing each candidate again
(from the library kept at evaluation time, no compilation) shows which gains hold up. The new
measurements go to the study's user attributes as ``remeasured:<trial number>``, with their raw
samples, next to the original median; the trials themselves stay as they were recorded.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dse.core.errors import TrialFailure
from dse.core.record import TrialRecord

if TYPE_CHECKING:
    import optuna

    from dse.core.config import StudyConfig
    from search_spaces import TrialConfig
    from search_spaces.models import ResolvedWeights

log = logging.getLogger("dse")
PREFIX = "remeasured:"


def config_from_record(record: dict[str, Any]) -> TrialConfig:
    """Rebuild a TrialConfig from the ``config`` user attribute of a trial."""
    from dse.core.layers import CHOICE_LAYERS, LEGACY_CHOICE
    from search_spaces import LayerChoice, TrialConfig

    recorded = {layer: record.get(layer) or {"name": LEGACY_CHOICE[layer]} for layer in CHOICE_LAYERS}
    layers = {
        layer: LayerChoice.of(choice["name"], {k: v for k, v in choice.items() if k != "name"})
        for layer, choice in recorded.items()
    }
    return TrialConfig(record["dataset"], record["model"], target=record["target"], **layers)


def remeasure_front(config: StudyConfig, study: optuna.Study, weights: dict[str, ResolvedWeights]) -> dict[int, Any]:
    """Time every Pareto trial's kept library again; returns ``{trial number: record}`` of new ones."""
    from dse.evaluator import Evaluator
    from dse.report import pareto_frame
    from dse.worker import IsolatedRunner

    done = study.user_attrs
    on_front = set(pareto_frame(study)["trial"]) if study.trials else set()
    runner = IsolatedRunner.with_threads(config.threads)
    evaluator = Evaluator(config, weights, runner)
    records: dict[int, Any] = {}
    try:
        for trial in (t for t in study.get_trials(deepcopy=False) if t.number in on_front):
            recorded = TrialRecord.of(trial)
            if f"{PREFIX}{trial.number}" in done or recorded.config is None:
                continue
            try:
                outcome = evaluator.remeasure(config_from_record(recorded.config))
            except TrialFailure as failure:
                log.warning("Re-measuring trial %d failed (%s): %s", trial.number, failure.kind.value, failure.message)
                continue
            if outcome is None:
                log.warning(
                    "Trial %d has no kept library (evaluated before --remeasure-front); not re-measured", trial.number
                )
                continue
            latency, info = outcome
            record = {"original_median_ms": recorded.latency_ms, "latency": asdict(latency), "info": info}
            study.set_user_attr(f"{PREFIX}{trial.number}", record)
            records[trial.number] = record
    finally:
        runner.close()
    return records
