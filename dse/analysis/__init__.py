"""Analysis of finished studies: Pareto fronts and what they are made of, layer effects,
across-stack interactions, importance, across-target ranks, and search-efficiency comparison.

Light to import (pandas, plotly and optuna load inside the functions).
"""

from dse.analysis._analysis import Analysis, TargetAnalysis, analyze
from dse.analysis._effects import Effect, Interaction, Pair, Thresholds, effects, interactions, matched_pairs
from dse.analysis._frames import LAYERS, feasible, load_studies, study_frame, trials_frame
from dse.analysis._front import front, hypervolume, pareto_mask, reference_point
from dse.analysis._html import render_html
from dse.analysis._text import render

__all__ = [
    "LAYERS", "Analysis", "Effect", "Interaction", "Pair", "TargetAnalysis", "Thresholds", "analyze", "effects",
    "feasible", "front", "hypervolume", "interactions", "load_studies", "matched_pairs", "pareto_mask",
    "reference_point", "render", "render_html", "study_frame", "trials_frame",
]
