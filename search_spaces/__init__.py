"""The across-stack search space: one registered package per DLAS layer.

Layers 1 (data set) and 6 (target) are fixed per study; layers 2-5 are searched:
``model``, ``pruning`` and ``precision`` (layer 3), ``algorithm`` (4), ``tuning`` (5).
"""

from __future__ import annotations

from search_spaces._space import BASELINE, LayerChoice, SearchSpace, TrialConfig

__all__ = ["BASELINE", "LayerChoice", "SearchSpace", "TrialConfig"]
