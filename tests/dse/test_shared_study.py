"""Several workers, one study: the budget adds up, no trial is lost, no configuration measured twice.

``test_two_workers_postgres`` runs two real ``python -m dse.optimize`` processes against a
PostgreSQL server (``DSE_TEST_POSTGRES_URL``; CI starts one). The other tests check the same
bookkeeping with cheap objectives on SQLite and journal storages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tests._capabilities import in_ci, require
from tests._studyrun import FAST, ROOT, env, load, start, untrained_weights

POSTGRES_URL = os.environ.get("DSE_TEST_POSTGRES_URL", "postgresql://dse:dse@127.0.0.1:5432/dse")


def _postgres_reachable() -> str | None:
    """None if a server answers at DSE_TEST_POSTGRES_URL, else why not."""
    try:
        import sqlalchemy

        from dse.study import with_installed_driver

        engine = sqlalchemy.create_engine(with_installed_driver(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect():
            return None
    except Exception as exc:  # noqa: BLE001 (no driver, no server, refused: all mean skip)
        return f"no PostgreSQL server at DSE_TEST_POSTGRES_URL ({type(exc).__name__})"


def _counted(trials: list) -> int:
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    return len(trials) - len(retried)


@pytest.mark.postgres
@pytest.mark.e2e
def test_two_workers_postgres(tmp_path: Path) -> None:
    import optuna

    from dse.study import with_installed_driver

    require("postgresql")  # the server binaries: CI installs them (skip elsewhere)
    reason = _postgres_reachable()
    if reason and in_ci():
        pytest.fail(f"CI starts a PostgreSQL server (scripts/test.sh) but {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)
    name = f"test-two-workers-{uuid.uuid4().hex[:8]}"
    weights = untrained_weights(tmp_path / "tiny_cnn.pt")
    args = [
        *FAST,
        "--algorithms",
        "tvm_default,im2col_gemm",
        "--n-trials",
        "5",
        "--work-dir",
        str(tmp_path / "work"),
        "--weights",
        str(weights),
        "--sampler",
        "random",
        "--storage",
        POSTGRES_URL,
        "--study-name",
        name,
    ]
    workers = [start(args, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        codes = [w.wait(timeout=420) for w in workers]
        logs = "\n".join((tmp_path / f"worker{i}.log").read_text() for i in range(2))
        assert codes == [0, 0], logs
        assert "dse:dse@" not in logs, "the storage password was printed"
        trials = load(with_installed_driver(POSTGRES_URL), name).trials
        states = Counter(t.state for t in trials)
        assert _counted(trials) == 5 and states[optuna.trial.TrialState.COMPLETE] == 5, states
        assert not states[optuna.trial.TrialState.RUNNING] and not states[optuna.trial.TrialState.WAITING]
        measured = Counter(
            json.dumps(t.user_attrs["config"], sort_keys=True) for t in trials if t.user_attrs.get("cache_hit") is False
        )
        assert measured and max(measured.values()) == 1, measured
        assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2, "one worker did all the work"
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        optuna.delete_study(study_name=name, storage=with_installed_driver(POSTGRES_URL))


_LOOP = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import optuna
    from dse.lifecycle import Budget, run_trial
    from dse.core.errors import FailureKind, TrialFailure
    from dse.study import open_storage
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url, work_dir, n_trials = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    study = optuna.create_study(study_name="s", storage=open_storage(url), load_if_exists=True)
    budget = Budget(study, n_trials, work_dir, "test", heartbeat_interval_s=1.0, max_retries=1)

    def objective(trial):
        x = trial.suggest_int("x", 0, 1000)
        time.sleep(0.05)
        if x % 4 == 0 and "retry_of" not in trial.user_attrs:
            raise TrialFailure(FailureKind.TIMEOUT, "flaky")
        return float(x)

    while (trial := budget.next_trial()) is not None:
        run_trial(budget, trial, objective, 1.0)
""")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_workers_share_budget_and_retries(tmp_path: Path, kind: str) -> None:
    """Three processes on one budget: exactly N counted trials, each retryable failure re-run once."""
    import optuna

    storage = f"sqlite:///{tmp_path / 's.db'}" if kind == "sqlite" else f"journal:{tmp_path / 's.log'}"
    script = tmp_path / "loop.py"
    script.write_text(_LOOP)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), storage, str(tmp_path), "24"],
            cwd=ROOT,
            env=env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    from dse.study import open_storage

    trials = optuna.load_study(study_name="s", storage=open_storage(storage)).trials
    assert _counted(trials) == 24
    failed = [t for t in trials if t.state is optuna.trial.TrialState.FAIL]
    assert all(t.user_attrs["error_kind"] == "timeout" and t.user_attrs["retryable"] for t in failed)
    for t in failed:  # each re-run once, with the same parameters, and it completed
        reruns = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
        assert len(reruns) == 1 and reruns[0].params == t.params
        assert reruns[0].state is optuna.trial.TrialState.COMPLETE
    assert {t.state for t in trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL}
