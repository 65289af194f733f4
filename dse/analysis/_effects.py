"""Layer effects and across-stack interactions, from matched pairs of trials.

A *pair* is two feasible, real (not emulated) measurements whose configurations are identical
except for one layer A (same model, same other layers with the same parameters, same target):
its latency ratio is the effect of swapping A's choice, free of confounding by the other layers.
Two different choices of A are compared by name (``direct`` vs ``im2col_gemm``, whatever their
parameters); the same choice with different parameters by label
(``direct(layout=nchw)`` vs ``direct(layout=nhwc)``).

A pair's log latency ratio counts as a real difference only beyond a noise margin:
``max(min_effect, z * sqrt(cv1^2 + cv2^2))``, the two measurements' coefficients of variation
(time_evaluator samples) times ``z``, with a floor because a low CV does not reveal a busy
machine. Pairs are grouped by the level of a second layer B (or the target): a group's verdict
is ``a1``/``a2`` when at least ``agree`` of its pairs favour that choice beyond the margin,
``none`` when every pair is within the margin, else ``mixed``; groups with fewer than
``min_pairs`` pairs get no verdict. An interaction is reported only when the verdicts of two
levels of B disagree: a *reversal* (a1 faster at one level, a2 at another) or an *on/off*
effect (a clear effect at one level, at least twice the margin of every pair behind the other
level's ``none``, so noisy pairs cannot pass for "no effect"). Parameter-level pairs differ in
exactly one parameter of the choice, which keeps the number of questions asked small.
Accuracy is deterministic per configuration, so accuracy effects are reported, not tested.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from statistics import median
from typing import TYPE_CHECKING

from dse.core.layers import LAYERS

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Thresholds:
    """When a difference counts: see the module docstring."""

    min_pairs: int = 2
    min_effect: float = 0.10  # log latency ratio floor, about 10%
    z: float = 3.0
    agree: float = 0.8


@dataclass(frozen=True)
class Pair:
    layer: str
    a1: str  # a1 < a2, so the ratio's direction is fixed
    a2: str
    trial1: str  # "#12" or "study#12"
    trial2: str
    log_ratio: float  # ln(latency(a1) / latency(a2)); < 0: a1 faster
    accuracy_diff: float  # accuracy(a1) - accuracy(a2)
    margin: float
    context: dict[str, str] = field(hash=False)  # choice name of every other layer, and target


@dataclass(frozen=True)
class Effect:
    """Swapping ``a2`` for ``a1`` in ``layer``, all else equal (over all matched pairs)."""

    layer: str
    a1: str
    a2: str
    n_pairs: int
    latency_ratio: float  # median latency(a1) / latency(a2)
    n_a1_faster: int  # pairs where a1 is faster beyond noise
    n_a2_faster: int
    accuracy_diff: float  # median accuracy(a1) - accuracy(a2)
    examples: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Cell:
    level: str
    verdict: str | None  # "a1", "a2", "none", "mixed", or None (too few pairs)
    n_pairs: int
    latency_ratio: float
    examples: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Interaction:
    """The effect of ``a1`` vs ``a2`` in ``layer`` depends on ``by`` (another layer or the target)."""

    kind: str  # "reversal" or "on_off"
    layer: str
    a1: str
    a2: str
    by: str
    cells: tuple[Cell, ...]
    confounded_with: tuple[str, ...] = ()  # other layers that separate the contrasting cells just as well

    def describe(self) -> str:
        def cell_text(c: Cell) -> str:
            shown = ", ".join(f"{t1} vs {t2}" for t1, t2 in c.examples)
            return f"{self.by}={c.level}: x{c.latency_ratio:.2f} over {c.n_pairs} pairs (trials {shown})"

        a1_cells = [c for c in self.cells if c.verdict == "a1"]
        a2_cells = [c for c in self.cells if c.verdict == "a2"]
        none_cells = [c for c in self.cells if c.verdict == "none"]
        caveat = (
            f" [confounded: in these trials {', '.join(self.confounded_with)} also differs between the"
            " contrasting cells, so it may be the cause]"
            if self.confounded_with
            else ""
        )
        if self.kind == "reversal":
            return (
                f"the faster {self.layer} changes with {self.by}: {self.a1} beats {self.a2} at "
                + "; ".join(cell_text(c) for c in a1_cells)
                + f" -- but {self.a2} beats {self.a1} at "
                + "; ".join(cell_text(c) for c in a2_cells)
                + f" (ratio = latency {self.a1} / latency {self.a2})"
            ) + caveat
        effect_cells = a1_cells or a2_cells
        winner = self.a1 if a1_cells else self.a2
        loser = self.a2 if a1_cells else self.a1
        return (
            f"{self.layer}={winner} is faster than {loser} at "
            + "; ".join(cell_text(c) for c in effect_cells)
            + " -- but makes no difference beyond noise at "
            + "; ".join(cell_text(c) for c in none_cells)
            + f" (ratio = latency {self.a1} / latency {self.a2})"
            + caveat
        )


def _trial_id(row: pd.Series, many_studies: bool) -> str:
    return f"{row['study']}#{row['trial']}" if many_studies else f"#{row['trial']}"


def matched_pairs(
    points: pd.DataFrame, thresholds: Thresholds = Thresholds(), qualify: bool | None = None
) -> list[Pair]:
    """Every pair of rows that differ in exactly one layer (real, deduplicated rows expected).

    ``qualify``: name trials ``study#n`` (default: when the rows come from several studies).
    """
    if points.empty:
        return []
    many = points["study"].nunique() > 1 if qualify is None else qualify
    pairs: list[Pair] = []
    for layer in LAYERS:
        rest = [f"{other}_label" for other in LAYERS if other != layer] + ["target", "dataset"]
        for _, group in points.groupby(rest, dropna=False, sort=False):
            if group[f"{layer}_label"].nunique() < 2:
                continue
            rows = [row for _, row in group.iterrows()]
            for r1, r2 in combinations(rows, 2):
                # different choices compare by name; the same choice with other parameters, by label
                column = layer if r1[layer] != r2[layer] else f"{layer}_label"
                if r1[column] == r2[column] or (column != layer and not _one_param_apart(r1, r2, layer)):
                    continue
                if str(r1[column]) > str(r2[column]):
                    r1, r2 = r2, r1
                cv1 = float(r1["latency_cv"]) if r1["latency_cv"] == r1["latency_cv"] else 0.0
                cv2 = float(r2["latency_cv"]) if r2["latency_cv"] == r2["latency_cv"] else 0.0
                pairs.append(
                    Pair(
                        layer=layer,
                        a1=str(r1[column]),
                        a2=str(r2[column]),
                        trial1=_trial_id(r1, many),
                        trial2=_trial_id(r2, many),
                        log_ratio=math.log(float(r1["latency_ms"]) / float(r2["latency_ms"])),
                        accuracy_diff=float(r1["accuracy"]) - float(r2["accuracy"]),
                        margin=max(thresholds.min_effect, thresholds.z * math.hypot(cv1, cv2)),
                        context={**{o: str(r1[o]) for o in LAYERS if o != layer}, "target": str(r1["target"])},
                    )
                )
    return pairs


def _one_param_apart(r1: pd.Series, r2: pd.Series, layer: str) -> bool:
    """Same choice, exactly one of its own parameters different (one question per pair)."""
    prefix = f"param:{layer}.{r1[layer]}."
    keys = {k for k in r1.index if str(k).startswith(prefix)}
    differing = [k for k in keys if not (r1[k] == r2[k] or (r1[k] != r1[k] and r2[k] != r2[k]))]
    return len(differing) == 1


def _examples(pairs: list[Pair], n: int = 3) -> tuple[tuple[str, str], ...]:
    return tuple((p.trial1, p.trial2) for p in pairs[:n])


def effects(pairs: list[Pair], thresholds: Thresholds = Thresholds()) -> list[Effect]:
    """The main effect of each swap ``a2 -> a1`` of each layer, over all its matched pairs."""
    grouped: dict[tuple[str, str, str], list[Pair]] = defaultdict(list)
    for p in pairs:
        grouped[(p.layer, p.a1, p.a2)].append(p)
    return [
        Effect(
            layer=layer,
            a1=a1,
            a2=a2,
            n_pairs=len(ps),
            latency_ratio=math.exp(median(p.log_ratio for p in ps)),
            n_a1_faster=sum(p.log_ratio < -p.margin for p in ps),
            n_a2_faster=sum(p.log_ratio > p.margin for p in ps),
            accuracy_diff=median(p.accuracy_diff for p in ps),
            examples=_examples(ps),
        )
        for (layer, a1, a2), ps in sorted(grouped.items())
    ]


def _cell(level: str, ps: list[Pair], thresholds: Thresholds) -> Cell:
    ratio = math.exp(median(p.log_ratio for p in ps))
    if len(ps) < thresholds.min_pairs:
        return Cell(level, None, len(ps), ratio, _examples(ps))
    a1 = [p for p in ps if p.log_ratio < -p.margin]
    a2 = [p for p in ps if p.log_ratio > p.margin]
    if len(a1) >= thresholds.agree * len(ps):
        return Cell(level, "a1", len(ps), ratio, _examples(a1))
    if len(a2) >= thresholds.agree * len(ps):
        return Cell(level, "a2", len(ps), ratio, _examples(a2))
    if not a1 and not a2:
        return Cell(level, "none", len(ps), ratio, _examples(ps))
    return Cell(level, "mixed", len(ps), ratio, _examples(ps))


def interactions(pairs: list[Pair], thresholds: Thresholds = Thresholds()) -> list[Interaction]:
    """Effects of one layer whose direction or presence depends on another layer or the target."""
    grouped: dict[tuple[str, str, str], list[Pair]] = defaultdict(list)
    for p in pairs:
        grouped[(p.layer, p.a1, p.a2)].append(p)
    found: list[Interaction] = []
    for (layer, a1, a2), ps in sorted(grouped.items()):
        for by in [*(o for o in LAYERS if o != layer), "target"]:
            levels: dict[str, list[Pair]] = defaultdict(list)
            for p in ps:
                levels[p.context[by]].append(p)
            if len(levels) < 2:
                continue
            cells = tuple(_cell(level, lp, thresholds) for level, lp in sorted(levels.items()))
            verdicts = {c.verdict for c in cells}
            if {"a1", "a2"} <= verdicts:
                sides = ({c.level for c in cells if c.verdict == "a1"}, {c.level for c in cells if c.verdict == "a2"})
                found.append(Interaction("reversal", layer, a1, a2, by, cells, _confounders(levels, by, *sides, layer)))
                continue
            # "no difference" is a claim too: only where those pairs could have shown half the effect
            null_margin = max((p.margin for c in cells if c.verdict == "none" for p in levels[c.level]), default=0.0)
            margin = max(median(p.margin for p in ps), null_margin)
            strong = [c for c in cells if c.verdict in ("a1", "a2") and abs(math.log(c.latency_ratio)) >= 2 * margin]
            if strong and "none" in verdicts:
                sides = ({c.level for c in strong}, {c.level for c in cells if c.verdict == "none"})
                found.append(Interaction("on_off", layer, a1, a2, by, cells, _confounders(levels, by, *sides, layer)))
    return found


def _confounders(
    levels: dict[str, list[Pair]], by: str, left: set[str], right: set[str], layer: str
) -> tuple[str, ...]:
    """Other layers whose levels differ completely between the two contrasting sides' pairs."""
    out = []
    for other in [*LAYERS, "target"]:
        if other in (by, layer):
            continue
        seen_left = {p.context[other] for level in left for p in levels[level]}
        seen_right = {p.context[other] for level in right for p in levels[level]}
        if seen_left.isdisjoint(seen_right):
            out.append(other)
    return tuple(out)
