"""Pareto fronts, which layer choices they are made of, and hypervolume.

Objectives: maximize accuracy, minimize latency_ms. Hypervolume is computed on
``(-accuracy, log10(latency_ms))`` (both minimized): latencies of one space span orders of
magnitude (an untuned default build next to a tuned int8 one), and on a linear scale the
slowest point would decide most of the volume. The reference point is the nadir (worst
accuracy, worst latency) of the reference front pushed out by 10% of the front's range in each
objective: the range of all feasible points when given (``cloud``), else of the front itself
(0.1 where that range is zero), so points near the front earn volume and a one-point front
still leaves a sensible box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dse.core.layers import LAYERS, NOT_APPLICABLE

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

REFERENCE_MARGIN = 0.10


def pareto_mask(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """True where no other point is at least as good in both objectives and better in one."""
    import numpy as np

    acc = np.asarray(accuracy, dtype=float)
    lat = np.asarray(latency, dtype=float)
    mask = np.ones(len(acc), dtype=bool)
    for i in range(len(acc)):
        dominated = (acc >= acc[i]) & (lat <= lat[i]) & ((acc > acc[i]) | (lat < lat[i]))
        mask[i] = not dominated.any()
    return mask


def front(points: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated rows of a frame of feasible rows, fastest first (ties: one per config)."""
    if points.empty:
        return points
    mask = pareto_mask(points["accuracy"].to_numpy(), points["latency_ms"].to_numpy())
    out = points[mask].sort_values(["latency_ms", "accuracy"], ascending=[True, False])
    return out.drop_duplicates(subset=["accuracy", "latency_ms"]).reset_index(drop=True)


def accuracy_ties(pareto: pd.DataFrame) -> list[int | None]:
    """Per front row (fastest first): the trial of a faster front point it ties with, else None.

    A front point earns its place by being more accurate than every faster one; when its
    accuracy lies inside the 95% interval of a faster point's (or theirs inside its own), the
    data do not say it is more accurate, and the faster point is the decision. Needs the
    ``eval_size`` column; rows without it are never tied.
    """
    from dse.core.stats import accuracies_tie

    ties: list[int | None] = []
    rows = list(pareto.itertuples(index=False))
    for i, row in enumerate(rows):
        tied = None
        n_row = _size(getattr(row, "eval_size", None))
        for faster in rows[:i]:
            n_faster = _size(getattr(faster, "eval_size", None))
            if n_row and n_faster and accuracies_tie(float(row.accuracy), n_row, float(faster.accuracy), n_faster):
                tied = int(faster.trial)
                break
        ties.append(tied)
    return ties


def _size(value: object) -> int | None:
    """An evaluation size from a frame cell (NaN or missing: None)."""
    if isinstance(value, (int, float)) and value == value and value > 0:
        return int(value)
    return None


def loss_points(points: pd.DataFrame) -> np.ndarray:
    """Rows as minimization vectors ``(-accuracy, log10 latency_ms)``."""
    import numpy as np

    return np.column_stack([-points["accuracy"].to_numpy(float), np.log10(points["latency_ms"].to_numpy(float))])


def reference_point(reference_front: pd.DataFrame, cloud: pd.DataFrame | None = None) -> np.ndarray:
    """Nadir of ``reference_front`` plus 10% of the range of ``cloud`` (default: the front) per objective."""
    import numpy as np

    worst = loss_points(reference_front).max(axis=0)
    spread = loss_points(cloud if cloud is not None and len(cloud) else reference_front)
    span = spread.max(axis=0) - spread.min(axis=0)
    return worst + REFERENCE_MARGIN * np.where(span > 0, span, 0.1)


def hypervolume(points: pd.DataFrame, reference: np.ndarray) -> float:
    """Hypervolume of ``points`` w.r.t. ``reference`` (points not better than it add nothing)."""
    if points.empty:
        return 0.0
    return losses_hypervolume(loss_points(points), reference)


def losses_hypervolume(losses: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of minimization vectors (rows of :func:`loss_points`) w.r.t. ``reference``."""
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    losses = losses[np.all(losses < reference, axis=1)] if len(losses) else losses
    if len(losses) == 0:
        return 0.0
    return float(compute_hypervolume(losses, reference))


def hypervolume_history(points: pd.DataFrame, reference: np.ndarray, order: str = "trial") -> list[float]:
    """Hypervolume after each row of ``points`` in ``order`` (a running maximum by construction)."""
    ordered = points.sort_values(order).reset_index(drop=True)
    return [hypervolume(ordered.iloc[: i + 1], reference) for i in range(len(ordered))]


@dataclass(frozen=True)
class ChoiceShare:
    """How often one choice of one layer appears on the front and in all feasible trials."""

    layer: str
    choice: str
    n_trials: int
    n_front: int
    share_trials: float
    share_front: float
    best_accuracy: float
    best_latency_ms: float
    front_accuracy: tuple[float, float] | None  # (min, max) over its front points
    front_latency_ms: tuple[float, float] | None


def choice_breakdown(points: pd.DataFrame, pareto: pd.DataFrame) -> list[ChoiceShare]:
    """Per layer and choice: share of trials vs share of the front, and what its front points buy."""
    shares: list[ChoiceShare] = []
    for layer in LAYERS:
        counts = points[layer].value_counts()
        for choice, n in counts.items():
            mine = points[points[layer] == choice]
            on_front = pareto[pareto[layer] == choice]
            shares.append(
                ChoiceShare(
                    layer=layer,
                    choice=str(choice),
                    n_trials=int(n),
                    n_front=len(on_front),
                    share_trials=float(n) / len(points),
                    share_front=len(on_front) / len(pareto) if len(pareto) else 0.0,
                    best_accuracy=float(mine["accuracy"].max()),
                    best_latency_ms=float(mine["latency_ms"].min()),
                    front_accuracy=(float(on_front["accuracy"].min()), float(on_front["accuracy"].max()))
                    if len(on_front)
                    else None,
                    front_latency_ms=(float(on_front["latency_ms"].min()), float(on_front["latency_ms"].max()))
                    if len(on_front)
                    else None,
                )
            )
    return shares


def dominant_choices(shares: list[ChoiceShare], n_front: int) -> list[ChoiceShare]:
    """Choices every front point uses while the layer's other choices were tried too.

    ``n/a`` (no algorithm or tuning on a runtime other than TVM) is no choice: the front being
    all ``n/a`` says the runtime, which the runtime layer's own share already shows."""
    tried = {layer: sum(1 for s in shares if s.layer == layer) for layer in LAYERS}
    return [
        s for s in shares if n_front >= 2 and s.n_front == n_front and tried[s.layer] > 1 and s.choice != NOT_APPLICABLE
    ]
