"""A real study: tiny model trained on the embedded digits, compiled by TVM, measured on this CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from dse.optimize import main
from tests._studyrun import FAST
from tests.conftest import FAST_TRIAL_FLAGS

pytestmark = pytest.mark.e2e


def _run_study(work_dir: Path, name: str, n_trials: int) -> optuna.Study:
    storage = f"sqlite:///{work_dir / 'e2e.db'}"
    argv = [
        *FAST_TRIAL_FLAGS,
        "--algorithms",
        "tvm_default,im2col_gemm",
        "--sampler",
        "grid",
        "--n-trials",
        str(n_trials),
        "--storage",
        storage,
        "--study-name",
        name,
        "--work-dir",
        str(work_dir),
    ]
    assert main(argv) == 0
    return optuna.load_study(study_name=name, storage=storage)


def test_study_measures_real_trials_and_rerun_is_served_from_cache(work_dir: Path, capsys) -> None:
    study = _run_study(work_dir, "e2e", n_trials=3)
    printed = capsys.readouterr().out
    assert "Pareto front" in printed and "Stored in sqlite:///" in printed

    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(complete) == 3
    assert study.metric_names == ["accuracy", "latency_ms"]
    for trial in complete:
        accuracy, latency_ms = trial.values
        assert 0 < accuracy <= 1 and latency_ms > 0
        attrs = trial.user_attrs
        assert attrs["config"]["model"] == "tiny_cnn" and attrs["config"]["target"] == "x86"
        assert attrs["eval_size"] == 60
        assert attrs["latency"]["n_samples"] == 3 and len(attrs["latency"]["samples_ms"]) == 3
        assert (
            attrs["speedup_vs_untuned_fp32"] > 0
            and attrs["speedup_vs_torch_eager"] > 0
            and "apache-tvm" in attrs["versions"]
        )
    assert any(trial.user_attrs["timings_s"].get("compile", 0) > 0 for trial in complete)
    assert study.best_trials

    # The same space again, as a new study: every configuration comes from the cache.
    again = _run_study(work_dir, "e2e-again", n_trials=2)
    for trial in again.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        assert trial.user_attrs["cache_hit"] is True
        assert (trial.datetime_complete - trial.datetime_start).total_seconds() < 1.0

    # Re-running the finished study resumes it: no new trials, the same front printed.
    assert len(_run_study(work_dir, "e2e", n_trials=3).trials) == 3
    # An exhaustive study asked for more trials than it has configurations repeats none of them.
    capsys.readouterr()
    assert len(_run_study(work_dir, "e2e", n_trials=10).trials) == 3
    assert "stops there, not at --n-trials 10" in capsys.readouterr().err

    # Optuna's own CLI sees the same Pareto front.
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "optuna"),
            "best-trials",
            "--study-name",
            "e2e",
            "--storage",
            f"sqlite:///{work_dir / 'e2e.db'}",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = {entry["number"] for entry in __import__("json").loads(out)}
    assert listed == {trial.number for trial in study.best_trials}


def test_a_finished_grid_study_is_a_table_that_samplers_replay(work_dir: Path, tmp_path: Path, capsys) -> None:
    """dse.table writes the exhaustive study with full records; a replay over it reaches its front."""
    import json

    from dse.optimize import config_from_args, parse_args
    from dse.replay import ReplayTable, replay, trials_to_reach
    from dse.table import load_table
    from dse.table import main as table_main

    study = _run_study(work_dir, "e2e", n_trials=3)
    out = tmp_path / "e2e.csv.gz"
    assert table_main(["--storage", f"sqlite:///{work_dir / 'e2e.db'}", "--study-name", "e2e", "--out", str(out)]) == 0
    assert "3 trials (COMPLETE 3) written" in capsys.readouterr().out
    frame = load_table(out)
    assert len(frame) == 3 and set(frame["state"]) == {"COMPLETE"}
    record = json.loads(frame["record"][0])
    assert record["latency"]["n_samples"] == 3 and "apache-tvm" in json.loads(frame["versions"][0])
    assert json.loads(frame["cpu"][0])["cpu"]["name"]  # the CPU the table was measured on
    flags = [*FAST_TRIAL_FLAGS, "--algorithms", "tvm_default,im2col_gemm", "--work-dir", str(work_dir)]
    table = ReplayTable.of(config_from_args(parse_args(flags)), frame)
    assert table.size == 3 and table.coverage == 1.0
    shares = replay(table, optuna.samplers.RandomSampler(seed=0), 20).shares
    assert trials_to_reach(shares, 0.999) is not None  # every configuration is in the table
    assert {tuple(t.values) for t in study.best_trials} <= set(table.measured.values())
    assert table_main(["--storage", f"sqlite:///{work_dir / 'e2e.db'}", "--study-name", "nope", "--out", str(out)]) == 2


def test_verify_runs_matched_pair_trials_in_the_study_and_reports_each_question(
    work_dir: Path, tmp_path: Path, capsys
) -> None:
    from dse.verify import verification_question

    storage = f"sqlite:///{tmp_path / 'verify.db'}"
    # 3 pruning x 2 precisions x 4 algorithm variants: three pruning contexts behind every
    # precision-by-algorithm cell, so a question can get its 3 pairs per level (--min-pairs).
    flags = [*FAST, "--precision", "fp32,int8", "--algorithms", "direct,im2col_gemm"]
    flags += ["--pruning", "none,magnitude,channel", "--param", "pruning.magnitude.sparsity=0.5"]
    flags += ["--param", "pruning.magnitude.scope=global", "--param", "pruning.magnitude.finetune_epochs=0"]
    flags += ["--param", "pruning.channel.ratio=0.5", "--param", "pruning.channel.finetune_epochs=0"]
    flags += ["--sampler", "random", "--n-trials", "8", "--storage", storage, "--work-dir", str(work_dir)]
    flags += ["--no-report"]
    assert main([*flags, "--verify", "12"]) == 0
    printed = capsys.readouterr().out
    study = optuna.load_study(study_name="dse-x86-digits", storage=storage)
    extra = [t for t in study.get_trials() if verification_question(t) is not None]
    assert 0 < len(extra) <= 12 and len(study.trials) == 8 + len(extra), printed
    assert f"Verification (--verify 12): {len(extra)} matched-pair trials for" in printed
    assert any(word in printed for word in (" confirmed ", " rejected ", " untested "))
    # Every verification trial completes a matched pair: it differs from a measured trial in one layer.
    measured = [t.params for t in study.get_trials() if verification_question(t) is None]
    for trial in extra:
        assert any(
            sum(trial.params.get(k) != m.get(k) for k in {*trial.params, *m} if "." not in k) == 1 for m in measured
        )
    assert main([*flags, "--verify", "12"]) == 0  # resumed: the verification budget is spent
    assert len(optuna.load_study(study_name="dse-x86-digits", storage=storage).trials) == len(study.trials)
