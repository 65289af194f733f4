"""``--sampler layered`` on replayed tables: never a repeat or an impossible configuration, and
the front of a layered space in fewer trials than sampling at random."""

from __future__ import annotations

import json
import statistics

import numpy as np
import optuna
import pandas as pd
import pytest

from dse.analysis import losses_hypervolume
from dse.layered_sampler import LayeredSampler, front_hypervolume
from dse.optimize import config_from_args, parse_args
from dse.replay import ReplayTable, replay, trials_to_reach
from search_spaces import SearchSpace, distinct_configurations

SMALL = ["--models", "tiny_cnn", "--pruning", "none", "--precision", "fp32,int8", "--tuning", "untuned"]
SMALL += ["--algorithms", "direct,im2col_gemm,winograd"]
LAYERED = ["--models", "tiny_cnn,mini_resnet,mini_mobilenet", "--pruning", "none,magnitude,channel"]
LAYERED += ["--param", "pruning.magnitude.sparsity=0.5,0.8", "--param", "pruning.magnitude.scope=global"]
LAYERED += ["--param", "pruning.magnitude.finetune_epochs=1", "--param", "pruning.channel.ratio=0.5"]
LAYERED += ["--param", "pruning.channel.finetune_epochs=1", "--precision", "fp32,fp16,int8", "--tuning", "untuned"]
LAYERED += [
    "--algorithms",
    "direct,im2col_gemm,spatial_pack,winograd,sparse_gemm",
    "--param",
    "algorithm.winograd.tile=2",
]
LAYERED += ["--param", "algorithm.winograd.fallback=spatial_pack", "--param", "algorithm.sparse_gemm.threshold=0.5"]
LAYERED += ["--param", "algorithm.sparse_gemm.format=bsr", "--param", "algorithm.sparse_gemm.block=4"]


def _table(flags: list[str], outcome) -> ReplayTable:  # type: ignore[no-untyped-def]
    config = config_from_args(parse_args(flags))
    space = SearchSpace(config.space, config.dataset, config.target)
    rows = []
    for params in distinct_configurations(space):
        if space.incompatibility(space.suggest(optuna.trial.FixedTrial(params))) is None:
            accuracy, latency_ms = outcome(params)
            rows.append(
                {"state": "COMPLETE", "params": json.dumps(params), "accuracy": accuracy, "latency_ms": latency_ms}
            )
    return ReplayTable.of(config, pd.DataFrame(rows))


def _layered_outcome(params: dict) -> tuple[float, float]:
    """Accuracy from model, pruning and precision only; latency a product of per-layer factors
    with an algorithm x precision reversal (im2col_gemm slowest at fp32, fastest at int8)."""
    model = {"tiny_cnn": (0.95, 0.05), "mini_resnet": (0.985, 0.09), "mini_mobilenet": (0.975, 0.07)}[params["model"]]
    sparsity = params.get("pruning.magnitude.sparsity", 0.0)
    pruning = {"none": (0.0, 1.0), "magnitude": (0.02 * sparsity, 1.0), "channel": (0.2, 0.6)}[params["pruning"]]
    precision = {"fp32": (0.0, 1.0), "fp16": (0.001, 1.3), "int8": (0.004, 0.7)}[params["precision"]]
    speed = {"direct": 1.0, "im2col_gemm": 1.2, "spatial_pack": 0.8, "winograd": 0.9, "sparse_gemm": 1.4}
    algorithm = speed[params["algorithm"]]
    if params["precision"] == "int8" and params["algorithm"] == "im2col_gemm":
        algorithm = 0.5
    if params["algorithm"] == "sparse_gemm" and params["pruning"] == "magnitude":
        algorithm = 1.4 * (1 - sparsity)
    accuracy = model[0] - pruning[0] - precision[0]
    return accuracy, model[1] * pruning[1] * precision[1] * algorithm


def test_front_hypervolume_is_the_analyzers() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        losses = rng.random((rng.integers(1, 12), 2))
        reference = np.array([1.1, 1.1])
        assert front_hypervolume(losses, reference) == pytest.approx(losses_hypervolume(losses, reference))


def test_it_proposes_every_compatible_configuration_once_and_nothing_else() -> None:
    table = _table(SMALL, lambda p: (0.9 + 0.01 * len(p["algorithm"]), 1.0 + len(json.dumps(p)) % 7))
    run = replay(table, LayeredSampler(table.space, seed=3), table.size)
    keys = [key for _, key in run.measured]
    assert len(keys) == len(set(keys)) == table.size  # every trial measured a new, compatible one
    assert run.shares[-1] == pytest.approx(1.0)


def test_it_reaches_the_front_of_a_layered_space_in_fewer_trials_than_random() -> None:
    table = _table(LAYERED, _layered_outcome)
    budget = table.size // 4

    def median_to_95(make) -> float:  # type: ignore[no-untyped-def]
        reaches = [trials_to_reach(replay(table, make(seed), budget).shares, 0.95) or budget + 1 for seed in range(5)]
        return statistics.median(reaches)

    layered = median_to_95(lambda seed: LayeredSampler(table.space, seed=seed))
    random = median_to_95(lambda seed: optuna.samplers.RandomSampler(seed=seed))
    assert layered <= 0.10 * table.size, (layered, table.size)
    assert layered < random / 2, (layered, random)


def test_a_study_with_it_measures_distinct_configurations_and_resumes(work_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dse.optimize import main
    from tests._studyrun import FAST

    storage = f"sqlite:///{tmp_path / 'layered.db'}"
    flags = [*FAST, "--algorithms", "tvm_default,direct", "--sampler", "layered", "--storage", storage]
    flags += ["--work-dir", str(work_dir), "--no-report", "--study-name", "layered"]
    assert main([*flags, "--n-trials", "2"]) == 0
    assert main([*flags, "--n-trials", "3"]) == 0  # resumed: the third is the one not yet measured
    trials = optuna.load_study(study_name="layered", storage=storage).get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 3  # tvm_default, direct nchw, nhwc
