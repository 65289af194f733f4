"""Helpers for tests that run real studies through the CLI in subprocesses (tiny and fast)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def trial_flags(
    *, eval_limit: int, repeat: int, min_repeat_ms: int, threads: int | None = None, **more: str
) -> list[str]:
    """Command-line flags of the quickest real trials: tiny_cnn, uncompressed, untuned.

    The evaluation size and latency protocol are given; ``more`` adds options (``n_trials="1"``
    becomes ``--n-trials 1``).
    """
    flags = ["--models", "tiny_cnn", "--pruning", "none", "--precision", "fp32", "--tuning", "untuned"]
    flags += ["--eval-limit", str(eval_limit), "--repeat", str(repeat), "--min-repeat-ms", str(min_repeat_ms)]
    if threads is not None:
        flags += ["--threads", str(threads)]
    for key, value in more.items():
        flags += [f"--{key.replace('_', '-')}", value]
    return flags


#: The fastest real trial: one small model, the baseline configuration (one compile), few samples.
FAST = trial_flags(eval_limit=20, repeat=3, min_repeat_ms=5, threads=1, max_remeasure="0")


def board_flags(address: str) -> list[str]:
    """Flags of a study on the emulated board at ``address``."""
    return ["--target", "arm", "--rpc", address]


def completed_trial(storage: str, study_name: str) -> Any:
    """The study's one completed trial (an optuna FrozenTrial). Beside it may stand only trials
    that a device dropped: those are retryable and re-queued by design, and the re-run completed."""
    import optuna

    trials = optuna.load_study(study_name=study_name, storage=storage).get_trials()
    complete = [t for t in trials if t.state is optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 1, [(t.state, t.user_attrs) for t in trials]
    dropped = [t.user_attrs.get("error_kind") for t in trials if t not in complete]
    assert set(dropped) <= {"device_unavailable"}, [(t.state, t.user_attrs) for t in trials]
    return complete[0]


def untrained_weights(path: Path) -> Path:
    """A tiny_cnn checkpoint for the digits data (untrained: these tests check bookkeeping, not accuracy)."""
    import torch

    from search_spaces.models import build_model

    torch.manual_seed(0)
    torch.save(build_model("tiny_cnn", 10, (1, 8, 8)).state_dict(), path)
    return path


def env() -> dict[str, str]:
    return {
        **os.environ,
        "DSE_NO_PROGRESS": "1",
        "TVM_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
    }


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m dse.optimize ARGS`` in its own process group, output to ``log``."""
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "dse.optimize", *args],
        cwd=ROOT,
        env=env(),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def optimize(args: list[str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m dse.optimize ARGS`` to its end, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dse.optimize", *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _schema_ready(path: Path) -> bool:
    """Whether the SQLite file at ``path`` has Optuna's schema version recorded (read only)."""
    import sqlite3

    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return db.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    except sqlite3.Error:  # no such table yet, or locked while it is written
        return False


def load(storage: str, name: str = "dse-x86-digits") -> Any:
    import optuna
    import sqlalchemy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage.startswith("sqlite:///") and not _schema_ready(Path(storage[len("sqlite:///") :])):
        # The study process has not created it yet, or is creating its tables: loading it now
        # would write the schema beside that process (both inserted alembic_version: a UNIQUE
        # constraint failed in one of them, seen in CI).
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except (KeyError, sqlalchemy.exc.OperationalError):  # no such study yet, or the file is being created
        return None
