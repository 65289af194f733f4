"""Layer effects and across-stack interactions, from matched pairs of trials.

A *pair* is two feasible, real (not emulated) measurements whose configurations are identical
except for one layer A (same model, same other layers with the same parameters, same target):
its latency ratio is the effect of swapping A's choice, free of confounding by the other layers.
Choices are compared by their full label, parameters included (``direct(layout=nchw)`` vs
``im2col_gemm``): pooling a choice's parameters would let an unevenly sampled parameter pass
for an effect of the choice. The same choice with different parameters pairs only when exactly
one parameter differs. Levels of the second layer B are full labels too.

A pair's log latency ratio counts as a real difference only beyond a noise margin:
``max(min_effect, z * sqrt(cv1^2 + cv2^2))``, the two measurements' coefficients of variation
(time_evaluator samples) times ``z``, with a floor because a low CV does not reveal a busy
machine. Pairs are grouped by the level of a second layer B (or the target): a group's verdict
is ``a1``/``a2`` when at least ``agree`` of its pairs favour that choice beyond the margin,
``none`` when every pair is within the margin and they do not lean one way (the 80% interval
of their median holds 1: a claim of absence carries the burden), else ``mixed``; groups with fewer than
``min_pairs`` pairs get no verdict. An interaction is reported only when the verdicts of two
levels of B disagree: a *reversal* (a1 faster at one level, a2 at another) or an *on/off*
effect (a clear effect at one level, at least twice the margin of every pair behind the other
level's ``none``, so noisy pairs cannot pass for "no effect"). Parameter-level pairs differ in
exactly one parameter of the choice, which keeps the number of questions asked small.

Every (swap, B) with at least two levels of ``min_pairs`` pairs is a *test*: a one-way F-test
of whether the pairs' log ratios differ between B's levels, its within-level variance floored
at the typical test's (which sees the per-trial drift that no trial's own CV shows). Where the
same contexts (every other layer) recur at two or more of B's levels, the test is *blocked*
instead: the additive fit ``log ratio = context + level`` over those pairs, whose level term is
tested against the residual (floored at the typical blocked test's). A one-way test counts what
the other layers do to the swap as noise: in the shipped table the swap's effect moves with
the model, pruning and precision within every level, and that spread hid interactions of
several-fold effects. Over all tests of an analysis, Holm's correction
keeps the chance of any false claim at ``alpha``; an interaction is claimed only when the
verdicts contrast as above *and* its adjusted p-value is below ``alpha``. Every reported effect
and cell carries a percentile bootstrap interval of its median ratio.
An accuracy is one measurement over a finite evaluation set: a pair whose accuracies lie in one
another's 95% interval is an accuracy tie, and an effect reports its accuracy difference only as
"beyond the interval in k of n pairs", never as an exact gain.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cached_property
from itertools import combinations
from statistics import median
from typing import TYPE_CHECKING

from dse.core.layers import LAYERS, NOT_APPLICABLE, TVM_ONLY_LAYERS

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Thresholds:
    """When a difference counts: see the module docstring."""

    # pairs a level needs to be tested and to state a verdict; with 2, the blocked test's power
    # let two contexts that agreed by chance say "no difference" for a whole level (2 false
    # claims in 32 replayed --verify runs on the shipped table; none with 3)
    min_pairs: int = 3
    min_effect: float = 0.10  # log latency ratio floor, about 10%
    z: float = 3.0
    agree: float = 0.8
    alpha: float = 0.01  # family-wise error rate over every test of an analysis (Holm)
    bootstrap: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Pair:
    layer: str
    a1: str  # a1 < a2, so the ratio's direction is fixed
    a2: str
    trial1: str  # "#12" or "study#12"
    trial2: str
    log_ratio: float  # ln(latency(a1) / latency(a2)); < 0: a1 faster
    accuracy_diff: float  # accuracy(a1) - accuracy(a2)
    accuracy_tie: bool  # the two accuracies lie inside one another's 95% interval
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
    n_accuracy_differs: int  # pairs whose accuracies differ beyond their 95% intervals
    examples: tuple[tuple[str, str], ...]
    ratio_ci: tuple[float, float] = (math.nan, math.nan)  # 95% bootstrap interval of latency_ratio


@dataclass(frozen=True)
class Cell:
    level: str
    verdict: str | None  # "a1", "a2", "none", "mixed", or None (too few pairs)
    n_pairs: int
    latency_ratio: float
    examples: tuple[tuple[str, str], ...]
    ratio_ci: tuple[float, float] = (math.nan, math.nan)


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
    p_value: float = math.nan  # F-test of "the ratio does not depend on `by`" (one-way or blocked)
    p_adjusted: float = math.nan  # Holm-adjusted over every test of the analysis
    n_tests: int = 0
    blocks: int = 0  # contexts the blocked test compared the levels within (0: one-way test)

    def describe(self) -> str:
        def cell_text(c: Cell) -> str:
            shown = ", ".join(f"{t1} vs {t2}" for t1, t2 in c.examples)
            low, high = c.ratio_ci
            return (
                f"{self.by}={c.level}: x{c.latency_ratio:.2f} [95% CI {low:.2f}-{high:.2f}] over {c.n_pairs} pairs "
                f"(trials {shown})"
            )

        evidence = f"; p={self.p_adjusted:.3g} after Holm over {self.n_tests} tests"
        if self.blocks:
            evidence += f", compared within {self.blocks} contexts measured at several levels"

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
                + f" (ratio = latency {self.a1} / latency {self.a2}{evidence})"
            ) + caveat
        effect_cells = a1_cells or a2_cells
        winner = self.a1 if a1_cells else self.a2
        loser = self.a2 if a1_cells else self.a1
        return (
            f"{self.layer}={winner} is faster than {loser} at "
            + "; ".join(cell_text(c) for c in effect_cells)
            + " -- but makes no difference beyond noise at "
            + "; ".join(cell_text(c) for c in none_cells)
            + f" (ratio = latency {self.a1} / latency {self.a2}{evidence})"
            + caveat
        )


def _sub_choices(layer: str) -> tuple[str, ...]:
    """Layers that exist only under some choices of ``layer``: a runtime swap (TVM against ONNX
    Runtime) cannot hold TVM's algorithm and tuning equal, so it pairs whatever each side ran."""
    return TVM_ONLY_LAYERS if layer == "runtime" else ()


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
        others = [other for other in LAYERS if other != layer and other not in _sub_choices(layer)]
        rest = [f"{other}_label" for other in others] + ["target", "dataset"]
        for _, group in points.groupby(rest, dropna=False, sort=False):
            if group[f"{layer}_label"].nunique() < 2:
                continue
            rows = [row for _, row in group.iterrows()]
            for r1, r2 in combinations(rows, 2):
                # full labels always; the same choice with other parameters only one parameter apart
                column = f"{layer}_label"
                if r1[column] == r2[column] or (r1[layer] == r2[layer] and not _one_param_apart(r1, r2, layer)):
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
                        accuracy_tie=_accuracies_tie(r1, r2),
                        margin=max(thresholds.min_effect, thresholds.z * math.hypot(cv1, cv2)),
                        context={
                            **{o: str(r1[f"{o}_label"]) for o in others},
                            "target": str(r1["target"]),
                        },
                    )
                )
    return pairs


def _accuracies_tie(r1: pd.Series, r2: pd.Series) -> bool:
    """Whether the two rows' accuracies cannot be told apart (unknown evaluation size: exact)."""
    from dse.core.stats import accuracies_tie

    n1, n2 = r1.get("eval_size"), r2.get("eval_size")
    if not n1 or not n2 or n1 != n1 or n2 != n2:  # missing or NaN
        return bool(r1["accuracy"] == r2["accuracy"])
    return accuracies_tie(float(r1["accuracy"]), int(n1), float(r2["accuracy"]), int(n2))


def _one_param_apart(r1: pd.Series, r2: pd.Series, layer: str) -> bool:
    """Same choice, exactly one of its own parameters different (one question per pair)."""
    prefix = f"param:{layer}.{r1[layer]}."
    keys = {k for k in r1.index if str(k).startswith(prefix)}
    differing = [k for k in keys if not (r1[k] == r2[k] or (r1[k] != r1[k] and r2[k] != r2[k]))]
    return len(differing) == 1


def _examples(pairs: list[Pair], n: int = 3) -> tuple[tuple[str, str], ...]:
    return tuple((p.trial1, p.trial2) for p in pairs[:n])


def _bootstrap_ratio(
    ratios: list[float], thresholds: Thresholds, salt: str, coverage: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of exp(median log ratio), 95% unless ``coverage`` says
    otherwise (seeded per question: the same resamples at every coverage)."""
    import numpy as np

    values = np.asarray(ratios, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng([thresholds.seed, _stable_int(salt)])
    samples = rng.choice(values, size=(thresholds.bootstrap, len(values)), replace=True)
    medians = np.median(samples, axis=1)
    tail = 50 * (1 - coverage)
    return float(math.exp(np.percentile(medians, tail))), float(math.exp(np.percentile(medians, 100 - tail)))


def _stable_int(text: str) -> int:
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def accuracy_words(effect: Effect) -> str:
    """The accuracy side of a swap, as much as the evaluation set can tell."""
    if effect.n_accuracy_differs == 0:
        return "accuracy the same within its 95% interval"
    return (
        f"accuracy {effect.accuracy_diff:+.3f} (median; beyond the 95% interval in "
        f"{effect.n_accuracy_differs} of {effect.n_pairs} pairs)"
    )


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
            n_accuracy_differs=sum(not p.accuracy_tie for p in ps),
            examples=_examples(ps),
            ratio_ci=_bootstrap_ratio([p.log_ratio for p in ps], thresholds, f"{layer}|{a1}|{a2}"),
        )
        for (layer, a1, a2), ps in sorted(grouped.items())
    ]


def _cell(level: str, ps: list[Pair], thresholds: Thresholds) -> Cell:
    ratio = math.exp(median(p.log_ratio for p in ps))
    salt = f"cell|{level}|{ps[0].layer}|{ps[0].a1}|{ps[0].a2}"
    ci = _bootstrap_ratio([p.log_ratio for p in ps], thresholds, salt)
    if len(ps) < thresholds.min_pairs:
        return Cell(level, None, len(ps), ratio, _examples(ps), ci)
    a1 = [p for p in ps if p.log_ratio < -p.margin]
    a2 = [p for p in ps if p.log_ratio > p.margin]
    if len(a1) >= thresholds.agree * len(ps):
        return Cell(level, "a1", len(ps), ratio, _examples(a1), ci)
    if len(a2) >= thresholds.agree * len(ps):
        return Cell(level, "a2", len(ps), ratio, _examples(a2), ci)
    # "no difference" only where the pairs do not lean one way, and a claim of absence carries
    # the burden: even the 80% interval of their median must hold 1. Pairs each a few percent
    # inside their margin but on one side (int8 2-10% faster than fp16 in 3 of 4 pairs, the
    # fourth 0.998: 95% interval 1.00-1.10, 80% 1.01-1.10) are a small effect, not none
    lean = _bootstrap_ratio([p.log_ratio for p in ps], thresholds, salt, coverage=0.80)
    if not a1 and not a2 and not lean[0] > 1.0 and not lean[1] < 1.0:
        return Cell(level, "none", len(ps), ratio, _examples(ps), ci)
    return Cell(level, "mixed", len(ps), ratio, _examples(ps), ci)


def within_variance(levels: list[list[float]]) -> tuple[float, int]:
    """Pooled within-level variance of log ratios and its degrees of freedom."""
    import numpy as np

    groups = [np.asarray(v, dtype=float) for v in levels]
    dof = sum(len(g) for g in groups) - len(groups)
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in groups)
    return (squares / dof if dof > 0 else 0.0), dof


def noise_floor(spread: list[tuple[float, int]]) -> float:
    """The within-level variance no test may claim to be below: the median over the analysis's
    tests (with degrees of freedom) of their own within-level variance. A typical test's
    spread is what per-trial drift and noise produce; a pooled mean would instead be set by the
    few swaps whose effect varies wildly with the context (pruning a model that then collapses,
    a sparse kernel on dense weights), and in a full factorial that silenced every test."""
    variances = sorted(v for v, d in spread if d > 0)
    return median(variances) if variances else 0.0


def heterogeneity_p(levels: list[list[float]], noise_floor: float = 0.0) -> float:
    """p-value of "the mean log ratio is the same at every level" (one-way ANOVA F-test).

    The within-level variance is never taken below ``noise_floor`` (:func:`noise_floor` of the
    analysis's tests): two or three pairs that agree by chance must not make a
    per-trial drift look like precision. A permutation test cannot go below 1/C(n, k) (about
    0.002 for two levels of 6 pairs), which a correction over dozens of tests turns into
    "never significant"; the F-test's tail keeps clear effects clear. Checked by the null
    studies of the tests (drift, unbalanced parameters, unequal sizes: no false claim).
    """
    import numpy as np
    from scipy.stats import f as f_distribution

    groups = [np.asarray(v, dtype=float) for v in levels]
    values = np.concatenate(groups)
    between = sum(len(g) * (g.mean() - values.mean()) ** 2 for g in groups) / (len(groups) - 1)
    within, dof = within_variance(levels)
    within = max(within, noise_floor)
    if within <= 1e-24:
        return 0.0 if between > 1e-24 else 1.0
    return float(f_distribution.sf(between / within, len(groups) - 1, max(dof, 1)))


@dataclass(frozen=True)
class BlockedDesign:
    """A test's pairs that share their context (every layer but ``by``) with a pair at another
    tested level: each such context is a *block*, and the additive fit ``log ratio = block +
    level`` takes out what the context does to the swap, so a level's effect is read against
    the same contexts elsewhere, not against whatever other contexts that level happened to get."""

    ratios: tuple[float, ...]
    blocks: tuple[int, ...]
    levels: tuple[int, ...]

    @cached_property
    def fit(self) -> tuple[float, int, float, int]:
        """(residual variance, its degrees of freedom, level sum of squares, its degrees of freedom)."""
        import numpy as np

        y = np.asarray(self.ratios, dtype=float)
        blocks = np.eye(max(self.blocks) + 1)[list(self.blocks)]
        levels = np.eye(max(self.levels) + 1)[list(self.levels)][:, 1:]
        full, reduced = np.hstack([blocks, levels]), blocks

        def rss(x: np.ndarray) -> tuple[float, int]:
            coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
            return float(((y - x @ coef) ** 2).sum()), int(rank)

        rss_full, rank_full = rss(full)
        rss_reduced, rank_reduced = rss(reduced)
        dof = len(y) - rank_full
        return (rss_full / dof if dof > 0 else 0.0), dof, max(rss_reduced - rss_full, 0.0), rank_full - rank_reduced


#: Residual degrees of freedom a blocked test needs to be used instead of the one-way F-test.
MIN_BLOCKED_DOF = 2


def blocked_design(levels: dict[str, list[Pair]], by: str, thresholds: Thresholds) -> BlockedDesign | None:
    """The blocked form of a test (:class:`BlockedDesign`), or None where too few contexts recur
    across its levels (fewer than :data:`MIN_BLOCKED_DOF` residual degrees of freedom).

    Whether a test is blocked depends only on which contexts were measured, never on the
    latencies, so choosing it does not select for small p-values."""

    def block(pair: Pair) -> str:
        return "|".join(f"{k}={v}" for k, v in sorted(pair.context.items()) if k != by)

    tested = [
        (level, p, block(p)) for level, lp in sorted(levels.items()) if len(lp) >= thresholds.min_pairs for p in lp
    ]
    seen: dict[str, set[str]] = defaultdict(set)
    for level, _, key in tested:
        seen[key].add(level)
    shared = {key: i for i, key in enumerate(sorted(key for key, at in seen.items() if len(at) > 1))}
    kept = [(level, p, key) for level, p, key in tested if key in shared]
    level_names = {level: i for i, level in enumerate(sorted({level for level, _, _ in kept}))}
    if len(shared) < 2 or len(level_names) < 2:
        return None
    design = BlockedDesign(
        tuple(p.log_ratio for _, p, _ in kept),
        tuple(shared[key] for _, _, key in kept),
        tuple(level_names[level] for level, _, _ in kept),
    )
    return design if design.fit[1] >= MIN_BLOCKED_DOF else None


def blocked_p(design: BlockedDesign, noise_floor: float = 0.0) -> float:
    """p-value of "the swap's effect is the same at every level, context by context" (the
    level term of the additive fit, an F-test), its residual variance floored like
    :func:`heterogeneity_p`'s at the typical blocked test's (:func:`noise_floor`)."""
    from scipy.stats import f as f_distribution

    within, dof, between, between_dof = design.fit
    within = max(within, noise_floor)
    if between_dof < 1:
        return 1.0
    if within <= 1e-24:
        return 0.0 if between > 1e-24 else 1.0
    return float(f_distribution.sf(between / between_dof / within, between_dof, dof))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


#: An interaction question: does swapping ``a1``/``a2`` in ``layer`` depend on ``by``?
Question = tuple[str, str, str, str]


def questions(pairs: list[Pair]) -> list[tuple[Question, dict[str, list[Pair]], list[Pair]]]:
    """Every (layer, a1, a2, by) the pairs bear on, with the swap's pairs per level of ``by``."""
    grouped: dict[tuple[str, str, str], list[Pair]] = defaultdict(list)
    for p in pairs:
        grouped[(p.layer, p.a1, p.a2)].append(p)
    out = []
    for (layer, a1, a2), ps in sorted(grouped.items()):
        for by in [o for o in (*LAYERS, "target") if o in ps[0].context]:
            levels: dict[str, list[Pair]] = defaultdict(list)
            for p in ps:
                levels[p.context[by]].append(p)
            # n/a is not an algorithm or tuning but "not TVM": contrasting it asks the runtime's question
            levels.pop(NOT_APPLICABLE, None)
            out.append(((layer, a1, a2, by), dict(levels), ps))
    return out


def is_tested(levels: dict[str, list[Pair]], thresholds: Thresholds) -> bool:
    """Whether :func:`interactions` tests a question: two levels with ``min_pairs`` pairs each."""
    return sum(len(lp) >= thresholds.min_pairs for lp in levels.values()) >= 2


def interactions(pairs: list[Pair], thresholds: Thresholds = Thresholds()) -> list[Interaction]:
    """Effects of one layer whose direction or presence depends on another layer or the target.

    Every (swap, ``by``) with two or more levels of ``min_pairs`` pairs is tested; claims are
    the contrasting ones whose Holm-adjusted p-value over all those tests is below ``alpha``.
    """
    return [test for test in tests(pairs, thresholds) if is_claimed(test, thresholds)]


def is_claimed(test: Interaction, thresholds: Thresholds) -> bool:
    """Whether a test (:func:`tests`) is a claim: its levels' verdicts contrast and its
    Holm-adjusted p-value is below ``alpha``."""
    return bool(test.kind) and test.p_adjusted < thresholds.alpha


def tests(pairs: list[Pair], thresholds: Thresholds = Thresholds()) -> list[Interaction]:
    """Every test :func:`interactions` makes, claimed or not, with its p-values (``kind`` empty
    where the levels' verdicts do not contrast)."""
    made: list[tuple[Interaction, list[list[float]], BlockedDesign | None]] = []
    for (layer, a1, a2, by), levels, ps in questions(pairs):
        if is_tested(levels, thresholds):
            tested = [[p.log_ratio for p in lp] for lp in levels.values() if len(lp) >= thresholds.min_pairs]
            found = _contrast(layer, a1, a2, by, levels, ps, thresholds)
            made.append((found, tested, blocked_design(levels, by, thresholds)))
    floor = noise_floor([within_variance(groups) for _, groups, _ in made])
    blocked_floor = noise_floor([design.fit[:2] for _, _, design in made if design is not None])
    p_values = [
        heterogeneity_p(groups, floor) if design is None else blocked_p(design, blocked_floor)
        for _, groups, design in made
    ]
    adjusted = holm(p_values)
    return [
        replace(
            found,
            p_value=p,
            p_adjusted=q,
            n_tests=len(p_values),
            blocks=len(set(design.blocks)) if design is not None else 0,
        )
        for (found, _, design), p, q in zip(made, p_values, adjusted, strict=True)
    ]


def _contrast(
    layer: str, a1: str, a2: str, by: str, levels: dict[str, list[Pair]], ps: list[Pair], thresholds: Thresholds
) -> Interaction:
    """The interaction the verdicts of ``levels`` describe (``kind`` empty when they do not contrast)."""
    cells = tuple(_cell(level, lp, thresholds) for level, lp in sorted(levels.items()))
    verdicts = {c.verdict for c in cells}
    if {"a1", "a2"} <= verdicts:
        sides = ({c.level for c in cells if c.verdict == "a1"}, {c.level for c in cells if c.verdict == "a2"})
        return Interaction("reversal", layer, a1, a2, by, cells, _confounders(levels, by, *sides, layer))
    # "no difference" is a claim too: only where those pairs could have shown half the effect
    null_margin = max((p.margin for c in cells if c.verdict == "none" for p in levels[c.level]), default=0.0)
    margin = max(median(p.margin for p in ps), null_margin)
    strong = [c for c in cells if c.verdict in ("a1", "a2") and abs(math.log(c.latency_ratio)) >= 2 * margin]
    if strong and "none" in verdicts:
        sides = ({c.level for c in strong}, {c.level for c in cells if c.verdict == "none"})
        return Interaction("on_off", layer, a1, a2, by, cells, _confounders(levels, by, *sides, layer))
    return Interaction("", layer, a1, a2, by, cells)


def _confounders(
    levels: dict[str, list[Pair]], by: str, left: set[str], right: set[str], layer: str
) -> tuple[str, ...]:
    """Other layers whose levels differ completely between the two contrasting sides' pairs."""
    out = []
    for other in [*LAYERS, "target"]:
        if other in (by, layer) or other in _sub_choices(layer):
            continue
        seen_left = {p.context[other] for level in left for p in levels[level]}
        seen_right = {p.context[other] for level in right for p in levels[level]}
        if seen_left.isdisjoint(seen_right):
            out.append(other)
    return tuple(out)
