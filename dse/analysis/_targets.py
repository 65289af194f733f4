"""Across targets: the same configuration's latency rank on each platform (real measurements)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TargetRanks:
    """Configurations measured on every listed target, ranked by latency within each target."""

    targets: tuple[str, ...]
    table: pd.DataFrame  # config, config_key, then per target: latency_ms / rank / on_front
    spearman: pd.DataFrame  # rank correlation between targets
    biggest_moves: pd.DataFrame  # configurations whose rank differs most between targets


def target_ranks(points: pd.DataFrame, fronts: dict[str, pd.DataFrame]) -> TargetRanks | None:
    """Ranks of the configurations common to >= 2 targets, or None when there are none.

    Args:
        points: feasible, real, deduplicated rows of all targets.
        fronts: each target's Pareto front (to mark which common configurations are on it).
    """
    import pandas as pd

    targets = tuple(sorted(points["target"].dropna().unique()))
    if len(targets) < 2:
        return None
    wide = points.pivot_table(index=["config_key", "config"], columns="target", values="latency_ms", aggfunc="first")
    wide = wide.dropna()
    if len(wide) < 2:
        return None
    table = pd.DataFrame(index=wide.index)
    for target in targets:
        on_front = set(fronts.get(target, pd.DataFrame(columns=["config_key"]))["config_key"])
        table[f"{target}:latency_ms"] = wide[target]
        table[f"{target}:rank"] = wide[target].rank(method="min").astype(int)
        table[f"{target}:front"] = [key in on_front for key, _ in wide.index]
    table = table.reset_index().sort_values(f"{targets[0]}:rank").reset_index(drop=True)
    ranks = table[[f"{t}:rank" for t in targets]]
    ranks.columns = list(targets)
    spearman = ranks.corr(method="spearman")
    moves = table.assign(rank_spread=ranks.max(axis=1) - ranks.min(axis=1))
    moves = moves[moves["rank_spread"] > 0].sort_values("rank_spread", ascending=False).head(5)
    return TargetRanks(targets, table, spearman, moves.reset_index(drop=True))
