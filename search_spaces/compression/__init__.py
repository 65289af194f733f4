"""Layer 3: model optimizations. Two searched sub-layers that combine: pruning, then precision.

``pruning`` rewrites the PyTorch model before export (weights zeroed or channels removed,
optionally fine-tuned); ``precision`` rewrites the imported Relax module (int8, float16).
"""

from __future__ import annotations

from search_spaces.compression import channel, fp16, int8, magnitude, none  # noqa: F401  (registration)
from search_spaces.compression._base import PRECISION, PRUNING, PrecisionMethod, PruningMethod

__all__ = ["PRECISION", "PRUNING", "PrecisionMethod", "PruningMethod"]
