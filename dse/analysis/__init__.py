"""Analysis of finished studies: Pareto fronts and what they are made of, layer effects,
across-stack interactions, importance, across-target ranks, search-efficiency comparison,
and the matched-pair trials that verify an interaction question.

Light to import (pandas, plotly and optuna load inside the functions).
"""

from dse.analysis._analysis import Analysis, TargetAnalysis, analyze
from dse.analysis._compare import EXHAUSTIVE, LEVELS, curves, reach_table
from dse.analysis._compare_html import render_compare_html
from dse.analysis._discrete import DiscreteTrial, count_configurations, distinct_configurations
from dse.analysis._effects import (
    Cell,
    Effect,
    Interaction,
    Pair,
    Question,
    Thresholds,
    effects,
    interactions,
    matched_pairs,
)
from dse.analysis._frames import feasible, load_studies, study_frame, trials_frame
from dse.analysis._front import (
    accuracy_ties,
    front,
    hypervolume,
    loss_points,
    losses_hypervolume,
    pareto_mask,
    reference_point,
)
from dse.analysis._html import render_html
from dse.analysis._text import render
from dse.analysis._verify import PlannedTrial, describe_question, plan_verification, verdicts, verification_round
from dse.core.layers import LAYERS

__all__ = [
    "EXHAUSTIVE",
    "LAYERS",
    "LEVELS",
    "Analysis",
    "Cell",
    "DiscreteTrial",
    "Effect",
    "Interaction",
    "Pair",
    "PlannedTrial",
    "Question",
    "TargetAnalysis",
    "Thresholds",
    "accuracy_ties",
    "analyze",
    "count_configurations",
    "curves",
    "describe_question",
    "distinct_configurations",
    "effects",
    "feasible",
    "front",
    "hypervolume",
    "interactions",
    "load_studies",
    "loss_points",
    "losses_hypervolume",
    "matched_pairs",
    "pareto_mask",
    "plan_verification",
    "reach_table",
    "reference_point",
    "render",
    "render_compare_html",
    "render_html",
    "study_frame",
    "trials_frame",
    "verdicts",
    "verification_round",
]
