"""Layer 6: hardware targets, one registered preset per file."""

from __future__ import annotations

from search_spaces.targets import arm, arm_boards, cuda, x86  # noqa: F401  (registration)
from search_spaces.targets._base import TARGETS, TargetPreset

__all__ = ["TARGETS", "TargetPreset"]
