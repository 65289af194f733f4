"""kill -9 in the middle of a trial, re-run the same command: nothing completed is lost.

The killed trial stays RUNNING in the storage; the re-run sees that its process is gone, fails
it as ``worker_lost``, re-queues its parameters, and finishes the budget.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests._studyrun import FAST, load, optimize, start, untrained_weights, wait_for

pytestmark = pytest.mark.e2e


def test_kill_9_mid_trial_then_resume(tmp_path: Path) -> None:
    import optuna

    work = tmp_path / "work"
    storage = f"sqlite:///{work / 'dse.db'}"
    weights = untrained_weights(tmp_path / "tiny_cnn.pt")
    args = [
        *FAST,
        "--algorithms",
        "tvm_default",
        "--n-trials",
        "3",
        "--work-dir",
        str(work),
        "--weights",
        str(weights),
        "--sampler",
        "random",
    ]
    first = start(args, tmp_path / "first.log")

    def evaluating() -> bool:
        study = load(storage)
        running = study and study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
        return bool(running and "config" in running[0].user_attrs)

    try:
        wait_for(evaluating, 180, "the first trial to start evaluating")
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker: CLI process and its evaluation process
        first.wait()
    killed = load(storage).get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert len(killed) == 1

    second = optimize(args)
    assert second.returncode == 0, second.stdout + second.stderr

    trials = load(storage).trials
    lost = trials[killed[0].number]
    assert lost.state is optuna.trial.TrialState.FAIL
    assert lost.user_attrs["error_kind"] == "worker_lost" and lost.user_attrs["retryable"] is True
    retries = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    assert len(retries) == 1 and retries[0].params == lost.params
    assert [t.state for t in trials].count(optuna.trial.TrialState.COMPLETE) == 3
    assert not [t for t in trials if t.state is optuna.trial.TrialState.RUNNING]
    assert "re-queued" in second.stderr
