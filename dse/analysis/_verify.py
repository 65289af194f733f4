"""Verification by experiment: the few matched-pair trials that settle an interaction question.

A guided study rarely holds the matched pairs an interaction test needs (two levels of the
second layer with ``min_pairs`` pairs each), so its analysis explains little across layers.
:func:`plan_verification` turns its open questions into trials: for a question "does swapping ``a1``/``a2``
in ``layer`` depend on ``by``?", each new trial is the *partner* of a measured one (the same
configuration with ``layer`` swapped), so it adds exactly one pair at that trial's level of
``by``; where the study allows, the partners complete *blocks* instead (one context of the
other layers with both choices at both levels), which the analyzer's blocked test reads
context by context. Questions are served in order (claims first, to confirm them; then the largest
contrast the study suggests, from what is left of its latencies once each layer's own effect is
taken out), each at the two levels where that contrast is most different, and only when the
budget left can make it testable. A fallback is never asked against the algorithm it runs.

:func:`verification_round` asks one question at a time, reading each round's trials before the
next: a question whose test is claimed, or does not lean toward an interaction (p above
:data:`KEEP_P`), is settled; one that leans but is not yet claimed is asked again with
:data:`MORE_BLOCKS` more blocks. A blocked test of 4 blocks has 3 residual degrees of freedom,
which Holm's correction over a study's dozens of tests rarely lets through; spreading the same
trials over three questions tested none of them well. Replayed on the shipped table (20 seeds
per sampler, 42 guided trials, --verify 21): 27 true claims and no false one over all samplers,
against 15 and none asked all at once. :func:`verdicts` then reads each question from the
analysis of the study with those trials added: confirmed (claimed), rejected (tested, not
claimed), or untested.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

from dse.analysis._effects import (
    MIN_BLOCKED_DOF,
    Pair,
    Question,
    Thresholds,
    interactions,
    is_claimed,
    is_tested,
    questions,
    tests,
)
from dse.analysis._frames import choice_that_ran

if TYPE_CHECKING:
    import pandas as pd

#: Layers a partner cannot be made for by swapping one choice: another runtime brings or drops
#: TVM's algorithm and tuning layers, so it is not "all else equal".
_NOT_SWAPPED = ("runtime",)


@dataclass(frozen=True)
class PlannedTrial:
    """A partner trial: ``params`` (Optuna params) for ``question`` at ``level`` of its ``by``."""

    params: dict[str, Any]
    question: Question
    level: str

    def describe(self) -> str:
        layer, a1, a2, by = self.question
        return f"{layer} {a1} vs {a2} by {by}={self.level}"


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str)


def _layer_params(params: Mapping[str, Any], layer: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k == layer or k.startswith(f"{layer}.")}


def _same_code(question: Question) -> bool:
    """Whether the question swaps a fallback for the algorithm it fell back to, or for another
    fallback to it (``im2col_gemm (asked sparse_gemm(format=csr))`` vs ``im2col_gemm(layout=nchw)``):
    both sides run that algorithm's kernels, so any difference a test could find is noise."""
    (ran1, fallback1), (ran2, fallback2) = choice_that_ran(question[1]), choice_that_ran(question[2])
    return (fallback1 or fallback2) and ran1 == ran2


def _spread(values_by_level: list[float]) -> float:
    return max(values_by_level) - min(values_by_level) if len(values_by_level) > 1 else 0.0


def _main_effect_residuals(points: pd.DataFrame) -> pd.Series:
    """Each point's log latency less what the layers' choices explain one by one (a ridge fit
    of their one-hot labels): what is left is where a choice's effect depends on another's.
    Unpaired means compare rows that differ in every other layer too; a guided study measures
    the fast choices together, so those means mostly show the other layers' effects."""
    import numpy as np
    import pandas as pd

    from dse.core.layers import LAYERS

    columns = [f"{layer}_label" for layer in LAYERS if f"{layer}_label" in points]
    x = pd.get_dummies(points[columns].astype(str)).to_numpy(dtype=float)
    y = np.log(points["latency_ms"].to_numpy(dtype=float))
    y = y - y.mean()
    weights = np.linalg.solve(x.T @ x + np.eye(x.shape[1]), x.T @ y)  # unit ridge: few points, many labels
    return pd.Series(y - x @ weights, index=points.index)


def _contrasts(question: Question, points: pd.DataFrame, residuals: pd.Series) -> dict[str, float]:
    """Per level of ``by`` where both choices were measured: how much faster ``a1`` runs than
    ``a2`` there beyond their overall difference (mean residual of a1's rows less a2's), shrunk
    toward 0 by the rows behind it (one row each: halved)."""
    layer, a1, a2, by = question
    out: dict[str, float] = {}
    for level, at_level in points.groupby(f"{by}_label"):
        sides = [residuals[at_level.index[at_level[f"{layer}_label"] == label]] for label in (a1, a2)]
        if all(len(side) for side in sides):
            n = 1 / (1 / len(sides[0]) + 1 / len(sides[1]))
            out[str(level)] = float(sides[0].mean() - sides[1].mean()) * n / (n + 1)
    return out


def _priority(
    question: Question, levels: dict[str, list[Pair]], contrasts: dict[str, float], claimed: Collection[Question]
) -> tuple[bool, float]:
    """Claims first (to confirm them); then how much the swap's effect seems to vary with ``by``:
    the spread of its median paired log ratio over levels or, before two levels have pairs, of
    its :func:`_contrasts`."""
    paired = [median(p.log_ratio for p in lp) for lp in levels.values() if lp]
    if len(paired) > 1:
        return (question in claimed, _spread(paired))
    return (question in claimed, _spread(list(contrasts.values())))


def _all_questions(points: pd.DataFrame, pairs: list[Pair]) -> dict[Question, dict[str, list[Pair]]]:
    """The questions the pairs bear on, and every other swap of two measured choices by any layer."""
    from dse.core.layers import LAYERS

    found: dict[Question, dict[str, list[Pair]]] = {q: levels for q, levels, _ in questions(pairs)}
    for layer in LAYERS:
        labels = sorted(str(v) for v in points[f"{layer}_label"].dropna().unique())
        for i, a1 in enumerate(labels):
            for a2 in labels[i + 1 :]:
                for by in LAYERS:
                    if by != layer:
                        found.setdefault((layer, a1, a2, by), {})
    return found


#: A question's pairs per level of its ``by`` and its contrasts (see :func:`_contrasts`).
_Asked = tuple[dict[str, list[Pair]], dict[str, float]]


@dataclass(frozen=True)
class _Measured:
    """What a plan builds on: the study's rows with their params, the configurations measured or
    already planned (``known``, grown as trials are planned), and what fits the space."""

    rows: list[pd.Series]
    params_of: Mapping[int, Mapping[str, Any]]
    known: set[str]
    valid: Callable[[dict[str, Any]], bool]
    min_pairs: int


#: Blocks a question is first asked in (four configurations each, see :func:`_blocks`).
BLOCKS_PER_QUESTION = 4
#: A question asked again gets this many blocks more than its test has.
MORE_BLOCKS = 2
#: A test of an asked question with a p-value above this does not lean toward an interaction:
#: the question is settled (rejected), not asked again.
KEEP_P = 0.05


def verification_round(
    points: pd.DataFrame,
    pairs: list[Pair],
    params_of: Mapping[int, Mapping[str, Any]],
    asked: Collection[Question],
    room: int,
    valid: Callable[[dict[str, Any]], bool],
    thresholds: Thresholds | None = None,
) -> list[PlannedTrial]:
    """The next round of a sequential verification (see the module docstring): the trials, at
    most ``room``, of the one question most worth asking now, given the study's trials so far
    (``points``, ``pairs``, ``params_of`` as :func:`plan_verification` takes them) and the
    questions ``asked`` in earlier rounds. Empty when no open question can be made testable."""
    thresholds = thresholds or Thresholds()
    found = {(test.layer, test.a1, test.a2, test.by): test for test in tests(pairs, thresholds)}
    claimed = {question for question, test in found.items() if is_claimed(test, thresholds)}
    settled: set[Question] = set()
    blocks_of: dict[Question, int] = {}
    for question in asked:
        test = found.get(question)
        if test is None or test.p_value > KEEP_P or question in claimed:
            settled.add(question)
        else:
            blocks_of[question] = (test.blocks or BLOCKS_PER_QUESTION) + MORE_BLOCKS
    return plan_verification(
        points,
        pairs,
        params_of,
        room,
        valid,
        thresholds,
        settled=settled,
        blocks_of=blocks_of,
        max_questions=1,
        claimed=claimed,
    )


def plan_verification(
    points: pd.DataFrame,
    pairs: list[Pair],
    params_of: Mapping[int, Mapping[str, Any]],
    budget: int,
    valid: Callable[[dict[str, Any]], bool],
    thresholds: Thresholds | None = None,
    pairs_per_level: int = 3,
    blocks_per_question: int = BLOCKS_PER_QUESTION,
    settled: Collection[Question] = (),
    blocks_of: Mapping[Question, int] | None = None,
    max_questions: int | None = None,
    claimed: Collection[Question] | None = None,
) -> list[PlannedTrial]:
    """At most ``budget`` partner trials that make the most telling open questions testable.

    ``points``: one target's feasible rows of one study (its ``trial`` numbers key
    ``params_of``); ``valid``: whether a configuration fits the study's space. Each question
    gets ``blocks_per_question`` blocks (``blocks_of`` a question's own number), else
    ``pairs_per_level`` pairs at two levels (at least ``min_pairs``): with only two, the F-test
    has two degrees of freedom and the correction over all tests rejects even a clear reversal.
    ``settled`` questions are not asked; at most ``max_questions`` are. ``claimed``: the
    questions the pairs' analysis claims, where the caller has it (else it is made here).
    """
    thresholds = thresholds or Thresholds()
    if claimed is None:
        claimed = {(i.layer, i.a1, i.a2, i.by) for i in interactions(pairs, thresholds)}
    known = {_key(params) for params in params_of.values()}
    rows = [row for _, row in points.iterrows() if int(row["trial"]) in params_of]
    study = _Measured(rows, params_of, known, valid, thresholds.min_pairs)
    residuals = _main_effect_residuals(points)
    open_questions = []
    for question, levels in _all_questions(points, pairs).items():
        layer, _, _, by = question
        if layer in _NOT_SWAPPED or by == "target":  # a trial cannot be added on another target
            continue
        if _same_code(question) or question in settled:
            continue
        contrasts = _contrasts(question, points, residuals)
        open_questions.append((_priority(question, levels, contrasts, claimed), question, levels, contrasts))
    open_questions.sort(key=lambda entry: entry[0], reverse=True)

    planned: list[PlannedTrial] = []
    served: set[Question] = set()
    # Blocks first (the same contexts at both levels: the blocked test reads the interaction
    # free of what the contexts do), then pairs level by level where no blocks can be made;
    # a small space may not hold that many contexts: then fewer, second.
    plans = [
        *((_blocks, wanted) for wanted in dict.fromkeys((blocks_per_question, MIN_BLOCKED_DOF + 1))),
        *(
            (_partners, wanted)
            for wanted in dict.fromkeys((max(pairs_per_level, thresholds.min_pairs), thresholds.min_pairs))
        ),
    ]
    for plan, default in plans:
        for _, question, levels, contrasts in open_questions:
            if len(planned) >= budget or (max_questions is not None and len(served) >= max_questions):
                return planned
            if question in served:
                continue
            wanted = (blocks_of or {}).get(question, default) if plan is _blocks else default
            found = plan(question, (levels, contrasts), study, wanted, budget - len(planned))
            for trial in found:
                known.add(_key(trial.params))
            if found:
                served.add(question)
            planned += found
    return planned


def _level_order(
    levels: dict[str, list[Pair]], contrasts: dict[str, float], present: set[str], min_pairs: int
) -> list[str]:
    """The levels of ``by`` to ask at, best first: the two a test already compares (the most
    pairs: a question asked again grows its blocks there), else the two whose contrasts differ
    most (where an interaction would show); then those closest to testable (most pairs already)."""
    tested = sorted((level for level in levels if len(levels[level]) >= min_pairs), key=lambda lv: -len(levels[lv]))
    ranked = sorted(contrasts, key=contrasts.__getitem__)
    if len(tested) > 1:
        extremes = tested[:2]
    elif len(ranked) > 1:
        extremes = [ranked[-1], ranked[0]]
    else:
        extremes = []
    return [
        *(level for level in extremes if level in present),
        *sorted(
            (level for level in present if level not in extremes),
            key=lambda level: (-len(levels.get(level, [])), level),
        ),
    ]


def _blocks(question: Question, asked: _Asked, study: _Measured, wanted: int, room: int) -> list[PlannedTrial]:
    """Trials that complete ``wanted`` blocks at the two chosen levels of ``by`` within ``room``
    (or none): a block is one context of the other layers with ``a1`` and ``a2`` each at both
    levels (four configurations, those already measured free), so the blocked test compares
    the swap's effect between the levels context by context. Cheapest blocks first."""
    layer, a1, a2, by = question
    levels, contrasts = asked
    rows, params_of, known, valid = study.rows, study.params_of, study.known, study.valid
    layer_templates: dict[str, dict[str, Any]] = {}
    by_templates: dict[str, dict[str, Any]] = {}
    for row in rows:
        params = params_of[int(row["trial"])]
        if row[f"{layer}_label"] in (a1, a2):
            layer_templates.setdefault(str(row[f"{layer}_label"]), _layer_params(params, layer))
        by_templates.setdefault(str(row[f"{by}_label"]), _layer_params(params, by))
    chosen_levels = _level_order(levels, contrasts, set(by_templates), study.min_pairs)[:2]
    if len(layer_templates) < 2 or len(chosen_levels) < 2:
        return []

    candidates: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in rows:
        own = params_of[int(row["trial"])]
        swapped = {**_layer_params(own, layer), **_layer_params(own, by)}
        rest = {k: v for k, v in own.items() if k not in swapped}
        if _key(rest) in candidates:
            continue
        cells = [
            (level, {**rest, **layer_templates[label], **by_templates[level]})
            for level in chosen_levels
            for label in (a1, a2)
        ]
        new = [(level, params) for level, params in cells if _key(params) not in known]
        if all(valid(params) for _, params in new):
            candidates[_key(rest)] = new
    chosen: list[tuple[str, dict[str, Any]]] = []
    made = 0
    for new in sorted(candidates.values(), key=len):
        if made >= wanted:
            break
        if len(chosen) + len(new) <= room:
            chosen += new
            made += 1
    if made < wanted:
        return []
    return [PlannedTrial(params, question, level) for level, params in chosen]


def _partners(question: Question, asked: _Asked, study: _Measured, wanted: int, room: int) -> list[PlannedTrial]:
    """Trials that bring two levels of ``by`` to ``wanted`` pairs within ``room`` (or none).

    A measured trial with ``a1`` or ``a2`` gets its partner (one trial, one pair); one with
    another choice of ``layer`` at that level gets both (two trials, one pair)."""
    layer, a1, a2, by = question
    levels, contrasts = asked
    rows, params_of, known, valid = study.rows, study.params_of, study.known, study.valid
    column = f"{layer}_label"
    templates: dict[str, dict[str, Any]] = {}
    by_level: dict[str, list[pd.Series]] = {}
    for row in rows:
        if row[column] in (a1, a2):
            templates.setdefault(str(row[column]), _layer_params(params_of[int(row["trial"])], layer))
        by_level.setdefault(str(row[f"{by}_label"]), []).append(row)
    if len(templates) < 2:
        return []

    def swapped(row: pd.Series, label: str) -> dict[str, Any] | None:
        own = params_of[int(row["trial"])]
        partner = {k: v for k, v in own.items() if k not in _layer_params(own, layer)}
        partner.update(templates[label])
        return None if _key(partner) in known or not valid(partner) else partner

    def pairs_at(level: str, need: int) -> list[PlannedTrial]:
        found: list[PlannedTrial] = []
        ranked = sorted(by_level[level], key=lambda row: row[column] not in (a1, a2))  # one-trial pairs first
        for row in ranked:
            if need <= 0:
                break
            labels = [a2 if row[column] == a1 else a1] if row[column] in (a1, a2) else [a1, a2]
            made = [swapped(row, label) for label in labels]
            if any(m is None for m in made):
                continue
            for partner in made:
                assert partner is not None
                known.add(_key(partner))
                found.append(PlannedTrial(partner, question, level))
            need -= 1
        if need > 0:  # this level cannot be made testable: give its trials back
            for trial in found:
                known.discard(_key(trial.params))
            return []
        return found

    order = _level_order(levels, contrasts, set(by_level), study.min_pairs)
    chosen: list[PlannedTrial] = []
    ready = 0
    for level in order:
        found = pairs_at(level, wanted - len(levels.get(level, [])))
        if wanted > len(levels.get(level, [])) and not found:
            continue
        if len(chosen) + len(found) > room:
            for trial in found:
                known.discard(_key(trial.params))
            continue
        chosen += found
        ready += 1
        if ready >= 2:
            return chosen
    for trial in chosen:
        known.discard(_key(trial.params))
    return []


def verdicts(asked: list[Question], pairs: list[Pair], thresholds: Thresholds | None = None) -> dict[Question, str]:
    """Each asked question after verification: ``confirmed``, ``rejected`` or ``untested``."""
    thresholds = thresholds or Thresholds()
    claimed = {(i.layer, i.a1, i.a2, i.by) for i in interactions(pairs, thresholds)}
    tested = {question for question, levels, _ in questions(pairs) if is_tested(levels, thresholds)}
    return {q: "confirmed" if q in claimed else "rejected" if q in tested else "untested" for q in asked}


def describe_question(question: Question) -> str:
    layer, a1, a2, by = question
    return f"does {layer} {a1} vs {a2} depend on {by}?"


__all__ = ["PlannedTrial", "describe_question", "plan_verification", "verdicts", "verification_round"]
