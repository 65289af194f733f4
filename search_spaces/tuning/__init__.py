"""Layer 5: systems software. Untuned (default schedules) vs auto-scheduled code."""

from __future__ import annotations

from search_spaces.tuning import metaschedule, untuned  # noqa: F401  (registration)
from search_spaces.tuning._base import TUNING, TuningMode
from search_spaces.tuning.metaschedule import records_unchanged

__all__ = ["TUNING", "TuningMode", "records_unchanged"]
