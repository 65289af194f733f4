"""The across-stack search space: one registered package per DLAS layer.

Layers 1 (data set) and 6 (target) are fixed per study; layers 2-5 are searched:
``model``, ``pruning`` and ``precision`` (layer 3), ``algorithm`` (4), ``tuning`` (5).
This package's face: the trial configuration, the space over it, and what a build reads.
"""

from __future__ import annotations

from search_spaces._base import Choice, Param, Params, ParamValue
from search_spaces._context import BuildContext
from search_spaces._space import (
    BASELINE,
    LayerChoice,
    SearchSpace,
    TrialConfig,
    compatible_configurations,
    count_configurations,
    distinct_configurations,
    layer_registries,
    reference_builds,
)

__all__ = [
    "BASELINE",
    "BuildContext",
    "Choice",
    "LayerChoice",
    "Param",
    "ParamValue",
    "Params",
    "SearchSpace",
    "TrialConfig",
    "compatible_configurations",
    "count_configurations",
    "distinct_configurations",
    "layer_registries",
    "reference_builds",
]
