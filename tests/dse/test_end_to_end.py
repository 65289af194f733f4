"""A real study: tiny model trained on the embedded digits, compiled by TVM, measured on this CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from dse.optimize import main
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
