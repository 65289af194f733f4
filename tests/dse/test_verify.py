"""Verification by experiment, on synthetic studies whose truth is known: a sparse "guided"
study plus the partner trials :func:`plan` asks for, answered from the full grid."""

from __future__ import annotations

import random

import optuna

from dse.analysis import analyze, plan_verification, verdicts, verification_round
from dse.analysis._synthetic import add_trials, new_study
from tests.dse.test_analyze import SPACE, accuracy, additive_latency, reversal_latency


def _sparse_and_truth(latency, keep_share: float, seed: int):  # type: ignore[no-untyped-def]
    """The full grid (truth) and a study holding a random ``keep_share`` of its trials."""
    truth = new_study("truth")
    add_trials(truth, SPACE, latency, accuracy, cv=0.02, seed=seed)
    rng = random.Random(seed)
    sparse = new_study("guided")
    for trial in truth.get_trials():
        if rng.random() < keep_share:
            sparse.add_trial(trial)
    return truth, sparse


def _verify(truth: optuna.Study, sparse: optuna.Study, budget: int):  # type: ignore[no-untyped-def]
    """Plan partner trials, "run" them (copy the truth's trial of those params), re-analyze."""
    target = analyze([sparse], evaluator=None).targets["x86"]
    params_of = {t.number: t.params for t in sparse.get_trials()}
    by_params = {tuple(sorted(t.params.items())): t for t in truth.get_trials()}
    planned = plan_verification(
        target.points, target.pairs, params_of, budget, valid=lambda p: tuple(sorted(p.items())) in by_params
    )
    for trial in planned:
        sparse.add_trial(by_params[tuple(sorted(trial.params.items()))])
    after = analyze([sparse], evaluator=None).targets["x86"]
    asked = list(dict.fromkeys(trial.question for trial in planned))
    return planned, verdicts(asked, after.pairs), after


def test_a_planted_reversal_the_sparse_study_missed_is_confirmed_by_the_extra_trials() -> None:
    truth, sparse = _sparse_and_truth(reversal_latency, keep_share=0.3, seed=7)
    before = analyze([sparse], evaluator=None).targets["x86"]
    assert before.interactions == []  # 16 of 36 configurations: too few matched pairs to say
    planned, status, after = _verify(truth, sparse, budget=16)
    assert 0 < len(planned) <= 16
    assert status[("algorithm", "direct", "im2col_gemm", "precision")] == "confirmed"
    assert {(i.layer, i.by, i.kind) for i in after.interactions} == {("algorithm", "precision", "reversal")}


def test_verification_of_an_additive_space_confirms_nothing() -> None:
    """No interaction is planted: whatever the plan asks, no claim may come out of it."""
    asked = 0
    for seed in range(4):
        truth, sparse = _sparse_and_truth(additive_latency, keep_share=0.35, seed=seed)
        _, status, after = _verify(truth, sparse, budget=16)
        asked += len(status)
        assert after.interactions == []
        assert set(status.values()) <= {"rejected", "untested"}
    assert asked >= 4  # the plans did ask questions


def test_the_plan_never_asks_for_a_measured_or_invalid_configuration() -> None:
    _, sparse = _sparse_and_truth(reversal_latency, keep_share=0.3, seed=5)
    target = analyze([sparse], evaluator=None).targets["x86"]
    params_of = {t.number: t.params for t in sparse.get_trials()}
    measured = {tuple(sorted(p.items())) for p in params_of.values()}
    planned = plan_verification(target.points, target.pairs, params_of, 8, valid=lambda p: p.get("tuning") == "untuned")
    assert len(planned) <= 8
    keys = [tuple(sorted(t.params.items())) for t in planned]
    assert len(set(keys)) == len(keys) and not set(keys) & measured
    assert all(t.params["tuning"] == "untuned" for t in planned)


def test_a_fallback_is_not_asked_against_the_algorithm_it_runs() -> None:
    """Both sides of such a swap run the same kernels: a test of it can only find noise."""
    from dse.analysis._verify import _same_code

    fallback = "im2col_gemm (asked sparse_gemm(format=csr,threshold=0.5))"
    assert _same_code(("algorithm", fallback, "im2col_gemm(layout=nchw)", "precision"))
    assert _same_code(("algorithm", fallback, "im2col_gemm (asked sparse_gemm(block=4,format=bsr))", "model"))
    assert not _same_code(("algorithm", fallback, "direct(layout=nhwc)", "precision"))
    assert not _same_code(("algorithm", "im2col_gemm(layout=nchw)", "im2col_gemm(layout=nhwc)", "model"))


def test_a_question_is_asked_in_blocks_that_its_blocked_test_reads() -> None:
    """The plan completes contexts at both levels (direct and im2col_gemm, at fp32 and at int8),
    so the question's test compares the swap context by context."""
    from dse.analysis._effects import Thresholds, blocked_design, questions

    truth, sparse = _sparse_and_truth(reversal_latency, keep_share=0.3, seed=7)
    planned, status, after = _verify(truth, sparse, budget=16)
    asked = planned[0].question
    assert {t.level for t in planned if t.question == asked} == {"fp32", "int8"}
    levels = next(levels for question, levels, _ in questions(after.pairs) if question == asked)
    design = blocked_design(levels, asked[3], Thresholds())
    assert design is not None and len(set(design.blocks)) >= 3
    assert status[asked] == "confirmed"


def _in_rounds(truth: optuna.Study, sparse: optuna.Study, budget: int):  # type: ignore[no-untyped-def]
    """``--verify``'s loop: plan a round, "run" it (copy the truth's trials), read, plan the next."""
    by_params = {tuple(sorted(t.params.items())): t for t in truth.get_trials()}
    asked: list = []
    rounds = []
    while budget > 0:
        target = analyze([sparse], evaluator=None).targets["x86"]
        params_of = {t.number: t.params for t in sparse.get_trials()}
        planned = verification_round(
            target.points, target.pairs, params_of, asked, budget, lambda p: tuple(sorted(p.items())) in by_params
        )
        if not planned:
            break
        for trial in planned:
            sparse.add_trial(by_params[tuple(sorted(trial.params.items()))])
        asked += [t.question for t in planned if t.question not in asked]
        budget -= len(planned)
        rounds.append(planned)
    return rounds, verdicts(asked, analyze([sparse], evaluator=None).targets["x86"].pairs)


def test_verification_asks_one_question_a_round_and_leaves_a_confirmed_one() -> None:
    truth, sparse = _sparse_and_truth(reversal_latency, keep_share=0.3, seed=7)
    rounds, status = _in_rounds(truth, sparse, budget=40)
    assert all(len({t.question for t in planned}) == 1 for planned in rounds)
    first = rounds[0][0].question
    assert first == ("algorithm", "direct", "im2col_gemm", "precision") and status[first] == "confirmed"
    assert all(t.question != first for planned in rounds[1:] for t in planned)  # confirmed: settled
    for seed in range(3):  # and rounds on an additive space claim nothing either
        truth, sparse = _sparse_and_truth(additive_latency, keep_share=0.35, seed=seed)
        _, status = _in_rounds(truth, sparse, budget=24)
        assert set(status.values()) <= {"rejected", "untested"}


def test_a_question_whose_test_leans_but_is_not_claimed_is_asked_again_in_more_blocks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Between rounds the test decides: p under KEEP_P but no claim: MORE_BLOCKS more blocks of
    the same question, at the same two levels; p above it: settled, never asked again."""
    import dse.analysis._verify as verify
    from dse.analysis import Interaction

    truth, sparse = _sparse_and_truth(reversal_latency, keep_share=0.3, seed=7)
    by_params = {tuple(sorted(t.params.items())): t for t in truth.get_trials()}

    def valid(p: dict) -> bool:
        return tuple(sorted(p.items())) in by_params

    def next_round(asked: list) -> list:
        target = analyze([sparse], evaluator=None).targets["x86"]
        params_of = {t.number: t.params for t in sparse.get_trials()}
        return verification_round(target.points, target.pairs, params_of, asked, 40, valid)

    first = next_round([])
    question = first[0].question
    for trial in first:
        sparse.add_trial(by_params[tuple(sorted(trial.params.items()))])
    layer, a1, a2, by = question

    def leaning(p_value: float) -> Interaction:
        return Interaction("", layer, a1, a2, by, (), p_value=p_value, p_adjusted=1.0, blocks=4)

    monkeypatch.setattr(verify, "tests", lambda pairs, thresholds: [leaning(verify.KEEP_P / 2)])
    again = next_round([question])
    assert {t.question for t in again} == {question}
    assert {t.level for t in again} == {t.level for t in first}

    def context(trial: verify.PlannedTrial) -> str:
        return verify._key({k: v for k, v in trial.params.items() if k.split(".")[0] not in (layer, by)})

    assert len({context(t) for t in again} - {context(t) for t in first}) == verify.MORE_BLOCKS
    monkeypatch.setattr(verify, "tests", lambda pairs, thresholds: [leaning(verify.KEEP_P * 2)])
    assert question not in {t.question for t in next_round([question])}
