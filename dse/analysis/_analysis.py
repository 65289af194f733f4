"""Everything ``python -m dse.analyze`` reports, computed once from loaded studies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dse.analysis._effects import Effect, Interaction, Pair, Thresholds, effects, interactions, matched_pairs
from dse.analysis._frames import feasible, study_frame
from dse.analysis._front import (
    ChoiceShare,
    choice_breakdown,
    dominant_choices,
    front,
    hypervolume_history,
    reference_point,
)
from dse.analysis._importance import importances
from dse.analysis._targets import TargetRanks, target_ranks

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd


@dataclass
class TargetAnalysis:
    """One target's front, its explanation and its effects (real measurements only)."""

    target: str
    points: pd.DataFrame  # feasible, real, one row per configuration
    front: pd.DataFrame
    emulated_points: pd.DataFrame  # kept apart, never mixed with real ones
    emulated_front: pd.DataFrame
    shares: list[ChoiceShare]
    dominant: list[ChoiceShare]
    reference: np.ndarray | None
    hv_history: dict[str, list[float]]  # per study, in trial order
    importance: dict[str, dict[str, float]] | str
    pairs: list[Pair]
    effects: list[Effect]
    interactions: list[Interaction]


@dataclass
class Analysis:
    studies: list[str]
    frame: pd.DataFrame  # every trial of every study
    targets: dict[str, TargetAnalysis] = field(default_factory=dict)
    target_interactions: list[Interaction] = field(default_factory=list)
    ranks: TargetRanks | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)


def _target_trials(studies: Sequence[optuna.Study], target: str) -> list[optuna.trial.FrozenTrial]:
    from dse.core.record import TrialRecord

    def measured_on_target(trial: optuna.trial.FrozenTrial) -> bool:
        record = TrialRecord.of(trial)
        return record.target == target and not record.emulated

    return [t for s in studies for t in s.get_trials(deepcopy=False) if measured_on_target(t)]


def analyze_target(
    studies: Sequence[optuna.Study], frame: pd.DataFrame, target: str, thresholds: Thresholds, evaluator: str | None
) -> TargetAnalysis:
    rows = frame[frame["target"] == target]
    points = feasible(rows, emulated=False)
    emulated = feasible(rows, emulated=True)
    pareto = front(points)
    shares = choice_breakdown(points, pareto) if len(points) else []
    reference = reference_point(pareto, points) if len(pareto) else None
    history: dict[str, list[float]] = {}
    if reference is not None:
        for study_name, study_points in points.groupby("study"):
            history[str(study_name)] = hypervolume_history(study_points, reference)
    pairs = matched_pairs(points, thresholds, qualify=frame["study"].nunique() > 1)
    return TargetAnalysis(
        target=target,
        points=points,
        front=pareto,
        emulated_points=emulated,
        emulated_front=front(emulated),
        shares=shares,
        dominant=dominant_choices(shares, len(pareto)),
        reference=reference,
        hv_history=history,
        importance=importances(_target_trials(studies, target), evaluator) if evaluator else "not requested",
        pairs=pairs,
        effects=effects(pairs, thresholds),
        interactions=interactions(pairs, thresholds),
    )


def analyze(
    studies: Sequence[optuna.Study], thresholds: Thresholds | None = None, evaluator: str | None = "fanova"
) -> Analysis:
    """Fronts, explanations, importances and interactions of ``studies`` (any mix of targets).

    ``evaluator``: Optuna importance evaluator (fanova, ped-anova, mdi), None to skip importance.
    """
    thresholds = thresholds or Thresholds()
    frame = study_frame(studies)
    result = Analysis([s.study_name for s in studies], frame, thresholds=thresholds)
    if frame.empty:
        return result
    for target in sorted(frame["target"].dropna().unique()):
        result.targets[str(target)] = analyze_target(studies, frame, str(target), thresholds, evaluator)
    all_pairs = [p for t in result.targets.values() for p in t.pairs]
    result.target_interactions = [i for i in interactions(all_pairs, thresholds) if i.by == "target"]
    result.ranks = target_ranks(feasible(frame, emulated=False), {t: a.front for t, a in result.targets.items()})
    return result
