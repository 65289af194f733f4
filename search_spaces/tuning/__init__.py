"""Layer 5: systems software. Untuned (default schedules) vs auto-scheduled code."""

from __future__ import annotations

from search_spaces.tuning._base import TUNING, TuningMode
from search_spaces.tuning import metaschedule, untuned  # noqa: F401  (registration)

__all__ = ["TUNING", "TuningMode"]
