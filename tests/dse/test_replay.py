"""Replaying samplers against a table: hypervolume shares, reach counts, and the table's file."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest

from dse.analysis import Cell, Interaction
from dse.analysis._synthetic import add_trials, new_study
from dse.core.errors import UsageError
from dse.optimize import config_from_args, parse_args
from dse.replay import (
    ReplayTable,
    about,
    claims,
    median_reach,
    planted_null,
    quartiles,
    replay,
    samplers,
    score,
    trials_to_reach,
)
from dse.table import load_table
from search_spaces import SearchSpace, distinct_configurations

FLAGS = ["--models", "tiny_cnn", "--pruning", "none", "--precision", "fp32,int8", "--tuning", "untuned"]
FLAGS += ["--algorithms", "direct,im2col_gemm,winograd"]


def _config():  # type: ignore[no-untyped-def]
    return config_from_args(parse_args(FLAGS))


def _frame(skip: int = 0) -> pd.DataFrame:
    """A table of the space's compatible configurations with distinct made-up objectives
    (accuracy falls as latency falls, so several points are on the front); ``skip`` leaves the
    last ones out, as a partial run would."""
    config = _config()
    space = SearchSpace(config.space, config.dataset, config.target)
    rows = []
    compatible = [
        p
        for p in distinct_configurations(space)
        if not space.incompatibility(space.suggest(optuna.trial.FixedTrial(p)))
    ]
    for i, params in enumerate(compatible[: len(compatible) - skip]):
        rows.append(
            {"state": "COMPLETE", "params": json.dumps(params), "accuracy": 0.5 + 0.04 * i, "latency_ms": 1.0 + i}
        )
    return pd.DataFrame(rows)


def test_a_run_over_the_whole_table_reaches_its_whole_hypervolume() -> None:
    table = ReplayTable.of(_config(), _frame())
    assert table.size == len(table.measured) and table.coverage == 1.0
    shares = replay(table, optuna.samplers.RandomSampler(seed=0), 200).shares
    assert shares == sorted(shares)  # what a run has found never shrinks
    assert shares[-1] == pytest.approx(1.0)
    assert trials_to_reach(shares, 0.95) is not None


def test_every_sampler_runs_and_a_missing_measurement_fails_its_trial() -> None:
    config = _config()
    table = ReplayTable.of(config, _frame(skip=2))
    assert table.coverage < 1.0
    for name, factory in samplers(config, table.space, budget=6).items():
        shares = replay(table, factory(0), 6).shares
        assert len(shares) == 6 and all(0.0 <= s <= 1.0 + 1e-9 for s in shares), name


def test_reach_statistics() -> None:
    assert trials_to_reach([0.1, 0.5, 0.95, 1.0], 0.95) == 3
    assert trials_to_reach([0.1, 0.5], 0.9) is None
    assert median_reach([3, 5, None]) == 5.0
    assert median_reach([3, None, None]) is None  # the median seed never got there
    assert median_reach([2, 4]) == 3.0
    assert quartiles([1, 2, None, None]) == (2.0, None)


def test_a_missing_or_foreign_table_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match="is not a dse table"):
        load_table(tmp_path / "other.csv")


def _synthetic_table(latency) -> ReplayTable:  # type: ignore[no-untyped-def]
    """A table with full records of a synthetic grid (dse.analysis._synthetic), for claims."""
    from tests.dse.test_analyze import SPACE, accuracy

    study = new_study("truth")
    add_trials(study, SPACE, latency, accuracy, cv=0.02, seed=1)
    measured, records = {}, {}
    for trial in study.get_trials():
        key = json.dumps(trial.params, sort_keys=True)
        measured[key] = (trial.values[0], trial.values[1])
        records[key] = (trial.params, trial.user_attrs)
    return ReplayTable(None, dict(SPACE), measured, records, set(), len(measured), None, 1.0)  # type: ignore[arg-type]


def test_a_planted_null_removes_every_claim_about_its_layer_and_only_shuffles_outcomes() -> None:
    from tests.dse.test_analyze import reversal_latency

    table = _synthetic_table(reversal_latency)
    reference = claims(table, list(table.records))
    assert ("algorithm", "precision", "reversal") in {(c.layer, c.by, c.kind) for c in reference}
    for layer in ("algorithm", "precision"):
        for seed in range(3):
            outcome_of = planted_null(table, layer, seed)
            assert sorted(outcome_of.values()) == sorted(table.records)  # a permutation
            moved = [key for key, source in outcome_of.items() if key != source]
            assert moved  # something was shuffled
            for key in moved:  # only among configurations that differ in this layer alone
                mine, theirs = table.records[key][0], table.records[outcome_of[key]][0]
                assert {n for n in mine if mine[n] != theirs[n]} <= {n for n in mine if n.split(".")[0] == layer}
            assert about(claims(table, list(table.records), outcome_of), layer) == [], (layer, seed)


def _claim(
    kind: str, verdicts: dict[str, str | None], a1: str = "fp16", by: str = "algorithm", ci: tuple = (0.9, 1.1)
) -> Interaction:
    cells = tuple(Cell(level, verdict, 3, 1.0, (), ci) for level, verdict in verdicts.items())
    return Interaction(kind, "precision", a1, "int8", by, cells)


def test_a_claim_is_true_when_the_whole_table_gives_its_verdict_at_every_level_it_names() -> None:
    truth = _claim("reversal", {"direct": "a1", "gemm": "none", "default": "a2", "pack": "mixed"})
    # a run that saw only where int8 wins and where it makes no difference: right, though "on/off"
    assert score([_claim("on_off", {"default": "a2", "gemm": "none"})], [truth]) == (1, 0, 0)
    assert score([_claim("reversal", {"direct": "a1", "default": "a2", "x": None})], [truth]) == (1, 0, 0)
    # a wrong verdict at one level, a level the table does not establish, another question: false
    for wrong in (
        _claim("on_off", {"default": "a2", "direct": "none"}),
        _claim("on_off", {"default": "a2", "pack": "a1"}),
        _claim("reversal", {"direct": "a1", "default": "a2"}, a1="fp32"),
        _claim("reversal", {"direct": "a1", "default": "a2"}, by="model"),
    ):
        assert score([wrong], [truth]) == (0, 1, 1), wrong
    assert score([], [truth]) == (0, 0, 1)
    # where the table's pairs are mixed, the side of its median ratio (95% interval) decides
    assert score([_claim("on_off", {"default": "a2", "pack": "none"})], [truth]) == (1, 0, 0)
    for ci, holds in (((0.7, 0.9), "a1"), ((1.1, 1.3), "a2"), ((0.9, 1.1), "none")):
        mixed = _claim("reversal", {"direct": "a1", "default": "a2", "pack": "mixed"}, ci=ci)
        for verdict in ("a1", "a2", "none"):
            claim = _claim("on_off", {"direct": "a1", "pack": verdict}, ci=ci)
            assert score([claim], [mixed]).true == (verdict == holds), (ci, verdict)


def test_the_shipped_table_replays_against_its_study_file() -> None:
    """studies/tables/ holds the table of studies/dlas.toml: it must still parse as that space
    (its untuned half, measured in full), with its provenance, and be replayable."""
    from bench.search_efficiency import STUDY, TABLE, _measured_choices, _restricted

    frame = load_table(TABLE)
    restriction = _measured_choices(frame, parse_args(["--config", str(STUDY)]), [])
    assert restriction == ["--tuning", "untuned"]  # what the bench replays unless told --whole-space
    assert _measured_choices(frame, parse_args(["--config", str(STUDY), "--tuning", "untuned"]), restriction) == []
    config = config_from_args(_restricted(parse_args(["--config", str(STUDY), *restriction]), restriction))
    table = ReplayTable.of(config, frame)
    assert table.coverage == 1.0 and table.size > 300
    measured = frame[frame["state"] == "COMPLETE"]
    assert all(json.loads(cpu)["cpu"]["name"] for cpu in measured["cpu"])  # the CPU of every measurement
    assert all("apache-tvm" in json.loads(versions) for versions in measured["versions"])
    shares = replay(table, optuna.samplers.RandomSampler(seed=0), 20).shares
    assert 0.0 < shares[-1] <= 1.0 + 1e-9
