"""Faults per trial: each becomes a failed trial with a classified reason; retryable ones re-run once.

Real faults, no mocks: a worker killed by SIGKILL, a worker raising MemoryError, a segfault,
a timeout, an RPC server killed in the middle of a session, a damaged cache entry, a worker
whose heartbeat stopped on another machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dse.core.errors import FailureKind, TrialFailure
from dse.worker import IsolatedRunner
from tests._studyrun import FAST, ROOT, env, load, optimize, untrained_weights, wait_for


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _exhaust_memory() -> None:
    raise MemoryError


def _segfault() -> None:
    import ctypes

    ctypes.string_at(0)


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@pytest.mark.parametrize(
    ("fn", "kind"),
    [(_sigkill_self, FailureKind.CRASH), (_exhaust_memory, FailureKind.OOM), (_segfault, FailureKind.CRASH)],
)
def test_dead_worker_is_a_classified_failure_and_the_runner_recovers(fn: object, kind: FailureKind) -> None:
    runner = IsolatedRunner(env={})
    try:
        with pytest.raises(TrialFailure) as caught:
            runner.call(fn, timeout_s=60)  # type: ignore[arg-type]
        assert caught.value.kind is kind and caught.value.kind.retryable
        assert runner.call(_sleep, 0.0, timeout_s=60) == "done"  # a fresh worker took over
    finally:
        runner.close()


def _count_an_oom_kill_then_die(counter: str) -> None:
    Path(counter).write_text("oom_kill 1\n")  # what the kernel's counter shows after an OOM kill
    os.kill(os.getpid(), signal.SIGKILL)


def test_sigkill_is_out_of_memory_only_when_the_kernel_counted_an_oom_kill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dse.worker

    counter = tmp_path / "vmstat"
    counter.write_text("oom_kill 0\n")
    monkeypatch.setattr(dse.worker, "_OOM_COUNTERS", ((str(counter), "oom_kill"),))
    runner = IsolatedRunner(env={})
    try:
        with pytest.raises(TrialFailure) as caught:
            runner.call(_sigkill_self, timeout_s=60)
        assert caught.value.kind is FailureKind.CRASH and "killed from outside" in caught.value.message
        with pytest.raises(TrialFailure) as caught:
            runner.call(_count_an_oom_kill_then_die, str(counter), timeout_s=60)
        assert caught.value.kind is FailureKind.OOM and "out-of-memory killer" in caught.value.message
    finally:
        runner.close()


def test_timeout_kills_the_worker() -> None:
    runner = IsolatedRunner(env={})
    try:
        start = time.monotonic()
        with pytest.raises(TrialFailure) as caught:
            runner.call(_sleep, 60.0, timeout_s=2)
        assert caught.value.kind is FailureKind.TIMEOUT and time.monotonic() - start < 20
    finally:
        runner.close()


def test_stale_trials_are_reaped_and_requeued(tmp_path: Path) -> None:
    """Dead workers: silent heartbeat on another host, or a gone pid on this one; live ones stay."""
    import optuna

    from dse.lifecycle import Budget

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
    budget = Budget(study, 10, tmp_path, "test", heartbeat_interval_s=5, max_retries=1)
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    workers = {
        "silent_elsewhere": ({"host": "elsewhere", "pid": 1, "started": 0.0}, time.time() - 100),
        "alive_elsewhere": ({"host": "elsewhere", "pid": 1, "started": 0.0}, time.time()),
        "gone_here": ({"host": socket.gethostname(), "pid": int(dead_pid), "started": 1.0}, time.time()),
        "alive_here": (budget.worker.as_dict(), time.time() - 100),
    }
    numbers = {}
    for name, (worker, beat) in workers.items():
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("heartbeat_at", beat)
        numbers[name] = trial.number

    reaped = budget.reap_stale()

    assert sorted(reaped) == sorted([numbers["silent_elsewhere"], numbers["gone_here"]])
    trials = study.trials
    for name in ("silent_elsewhere", "gone_here"):
        lost = trials[numbers[name]]
        assert lost.state is optuna.trial.TrialState.FAIL and lost.user_attrs["error_kind"] == "worker_lost"
        queued = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
        assert len(queued) == 1 and queued[0].state is optuna.trial.TrialState.WAITING
        assert queued[0].system_attrs["fixed_params"] == lost.params
    assert budget.reap_stale() == []  # reaping twice re-queues nothing more
    assert budget.used() == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
def test_trial_timeout_is_recorded_retried_and_the_study_finishes(tmp_path: Path) -> None:
    import optuna

    work = tmp_path / "work"
    args = [
        *FAST,
        "--algorithms",
        "tvm_default",
        "--n-trials",
        "1",
        "--work-dir",
        str(work),
        "--trial-timeout",
        "0.5",
        "--weights",
        str(untrained_weights(tmp_path / "tiny_cnn.pt")),
    ]
    done = optimize(args)
    assert done.returncode == 0, done.stderr
    trials = load(f"sqlite:///{work / 'dse.db'}").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2
    assert [t.user_attrs["error_kind"] for t in trials] == ["timeout", "timeout"]
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == trials[0].params
    assert "exceeded --trial-timeout" in done.stderr


@pytest.mark.slow
@pytest.mark.e2e
def test_rpc_server_killed_mid_session(tmp_path: Path) -> None:
    """The x86 host over plain TVM RPC on loopback; the server dies while a trial uses it."""
    import optuna

    port = _free_port()
    server_log = tmp_path / "rpc.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tvm.exec.rpc_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--port-end",
            str(port + 1),
        ],
        cwd=ROOT,
        env=env(),
        stdout=server_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    work = tmp_path / "work"
    try:
        wait_for(lambda: f"bind to 127.0.0.1:{port}" in server_log.read_text(), 120, "the RPC server")
        args = [
            *FAST,
            "--algorithms",
            "tvm_default",
            "--n-trials",
            "1",
            "--work-dir",
            str(work),
            "--rpc",
            f"127.0.0.1:{port}",
            "--weights",
            str(untrained_weights(tmp_path / "tiny_cnn.pt")),
            # Seconds of timing while the session is open, so the kill below lands mid-trial
            # (a tiny trial otherwise finishes before the server is killed).
            "--min-repeat-ms",
            "1500",
        ]
        study = subprocess.Popen(
            [sys.executable, "-m", "dse.optimize", *args],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: "connected from" in server_log.read_text(), 240, "the study's RPC session")
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the server and its session processes
        server.wait()
    _, err = study.communicate(timeout=300)
    assert study.returncode == 0, err
    trials = load(f"sqlite:///{work / 'dse.db'}").trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.FAIL] * 2, err
    assert [t.user_attrs["error_kind"] for t in trials] == ["device_unavailable"] * 2, err
    assert all(t.user_attrs["retryable"] for t in trials)
    assert trials[1].user_attrs["retry_of"] == 0
    assert f"127.0.0.1:{port}" in trials[0].user_attrs["error_message"]
