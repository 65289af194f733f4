"""The two objectives of every trial and the TVM compile path that produces what they measure.

``compile`` builds a trial's configuration into a shared library (layers 2 to 6);
``accuracy`` runs that library over labelled data; ``latency`` times it on the device;
``evaluate`` joins the three for one configuration.
"""

from __future__ import annotations

from dse.core.measure import LatencyStats
from dse.core.record import EvaluationResult

__all__ = ["EvaluationResult", "LatencyStats"]
