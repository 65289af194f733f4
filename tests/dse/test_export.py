"""dse.export: a study's chosen build as a bundle whose standalone runner classifies as the trial did.

The end-to-end tests run a one-trial study, export its front point, and run the bundle's
``run.py`` in a fresh process (on the host, or under qemu inside the emulated board's root
for ``--target arm``) on the evaluation images: its accuracy must be the trial's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from dse.export.__main__ import main as export_main
from dse.optimize import main as optimize_main
from tests._studyrun import board_flags, completed_trial
from tests.conftest import FAST_TRIAL_FLAGS

EVAL_LIMIT = "60"  # FAST_TRIAL_FLAGS' --eval-limit


def _study_flags(tmp_path: Path, work_dir: Path, *extra: str) -> list[str]:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    return [*FAST_TRIAL_FLAGS, "--algorithms", "tvm_default", "--work-dir", str(work_dir), "--storage", storage, *extra]


def _eval_npz(path: Path) -> Path:
    """The study's evaluation images (same seeded, stratified subset), preprocessed, with labels."""
    from search_spaces.datasets import load_dataset

    data = load_dataset("digits", None, int(EVAL_LIMIT))
    np.savez(path, x=data.eval_x.numpy(), y=data.eval_y.numpy())
    return path


def _run_bundle(python: list[str], bundle: Path, npz: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [*python, str(bundle / "run.py"), "--npz", str(npz), "--json", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=bundle.parent,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.e2e
def test_exported_front_point_classifies_the_evaluation_images_as_the_trial(tmp_path: Path, work_dir: Path) -> None:
    flags = _study_flags(tmp_path, work_dir)
    assert optimize_main([*flags, "--n-trials", "1", "--no-report"]) == 0
    trial = completed_trial(f"sqlite:///{tmp_path / 'study.db'}", "dse-x86-digits")
    bundle = tmp_path / "bundle"
    assert export_main([*flags, "--out", str(bundle)]) == 0
    manifest = json.loads((bundle / "dse-bundle.json").read_text())
    assert manifest["trial"] == trial.number and manifest["config"] == trial.user_attrs["config"]
    assert manifest["input"]["shape"] == [1, 1, 8, 8] and manifest["output"]["shape"] == [1, 10]
    assert manifest["measured"]["accuracy_95ci"] == trial.user_attrs["accuracy_ci"]
    assert manifest["check"]["accuracy"] == trial.values[0]
    assert len(trial.user_attrs["info"]["predictions_digest"]) == 16  # the check compared every image
    assert manifest["versions"]["apache-tvm"] and manifest["preprocessing"]["crop"] == 8

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the runner needs nothing of dse
    result = _run_bundle([sys.executable], bundle, _eval_npz(tmp_path / "eval.npz"), env)
    assert result["images"] == int(EVAL_LIMIT)
    assert result["accuracy"] == pytest.approx(trial.values[0], abs=1e-12)


@pytest.mark.e2e
def test_export_refuses_bad_choices_with_one_line_and_leaves_out_alone(
    tmp_path: Path, work_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = _study_flags(tmp_path, work_dir)
    assert optimize_main([*flags, "--n-trials", "1", "--no-report"]) == 0
    capsys.readouterr()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    cases = {
        "holds other files": [*flags, "--out", str(taken)],
        "has no trial 99": [*flags, "--out", str(tmp_path / "b1"), "--trial", "99"],
        "reaches accuracy 1.5": [*flags, "--out", str(tmp_path / "b2"), "--min-accuracy", "1.5"],
        "--threads": [*flags, "--threads", "1", "--out", str(tmp_path / "b3")],
    }
    for expected, argv in cases.items():
        assert export_main(argv) == 2, expected
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err, err
    assert (taken / "notes.txt").read_text() == "mine" and sorted(p.name for p in taken.iterdir()) == ["notes.txt"]
    assert not any((tmp_path / name).exists() for name in ("b1", "b2", "b3"))


def test_the_runner_preprocesses_an_image_file_as_the_digits_loader_does(tmp_path: Path) -> None:
    from PIL import Image

    from dse.export.runner import preprocess
    from search_spaces.datasets import DATASETS, load_dataset

    first = load_dataset("digits", None).eval_x[0, 0].numpy()  # -1..1
    pixels = np.round((first + 1) / 2 * 255).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "digit.png")
    spec = DATASETS.get("digits").preprocessing.__dict__
    assert np.allclose(preprocess(tmp_path / "digit.png", spec)[0, 0], first, atol=1 / 255 * 2 + 1e-6)


@pytest.mark.e2e
@pytest.mark.slow
def test_arm_bundle_is_an_aarch64_library_that_runs_on_the_emulated_board(
    board: object, tmp_path: Path, work_dir: Path
) -> None:
    from search_spaces.targets.devices.emulated import ensure_root, qemu_binary, server_command

    rpc = board_flags(board.address)  # type: ignore[attr-defined]
    flags = _study_flags(tmp_path, work_dir, *rpc)
    assert optimize_main([*flags, "--n-trials", "1", "--no-report"]) == 0
    trial = completed_trial(f"sqlite:///{tmp_path / 'study.db'}", "dse-arm-digits")
    bundle = tmp_path / "arm-bundle"
    assert export_main([*flags, "--out", str(bundle)]) == 0
    header = (bundle / "model.so").read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64
    manifest = json.loads((bundle / "dse-bundle.json").read_text())
    assert "emulated board" in manifest["check"]["device"]

    assert qemu_binary() is not None
    command, env = server_command(ensure_root(), 0, None, "")
    result = _run_bundle([command[0]], bundle, _eval_npz(tmp_path / "eval.npz"), env)  # the root's Python, under qemu
    assert result["accuracy"] == pytest.approx(trial.values[0], abs=1e-12)


def _trial(number: int, accuracy: float, latency_ms: float, eval_size: int = 200) -> optuna.trial.FrozenTrial:
    from dse.core.record import TrialRecord

    record = TrialRecord(config={"model": f"m{number}"}, target="x86", accuracy=accuracy, latency_ms=latency_ms)
    attrs = {**record.attrs(), "eval_size": eval_size}
    return optuna.trial.create_trial(values=[accuracy, latency_ms], user_attrs=attrs)


@pytest.mark.parametrize(("eval_size", "default"), [(2000, 2), (200, 3)])
def test_the_rule_picks_the_trial_a_user_means(eval_size: int, default: int) -> None:
    from dse.export import choose_trial

    study = optuna.create_study(directions=["maximize", "minimize"])
    for number, (accuracy, latency) in enumerate([(0.90, 1.0), (0.96, 3.0), (0.99, 9.0), (0.97, 2.0)]):
        study.add_trial(_trial(number, accuracy, latency, eval_size))
    assert choose_trial(study, 1, None).number == 1  # a named trial, even off the front
    assert choose_trial(study, None, 0.95).number == 3  # the fastest at >= 0.95
    assert choose_trial(study, None, 0.98).number == 2
    # The front's most accurate point; over 200 images 0.99 and 0.97 are a tie, and the faster wins.
    assert choose_trial(study, None, None).number == default


def test_the_check_compares_each_image_not_just_the_count() -> None:
    from dse.core.record import EvaluationResult, TrialRecord
    from dse.export import _same_classification

    def record(digest: str | None) -> TrialRecord:
        info = {"predictions_digest": digest} if digest else {}
        return TrialRecord(config={}, target="x86", accuracy=0.5, latency_ms=1.0, eval_size=4, info=info)

    rebuilt = EvaluationResult(config={}, accuracy=0.5, eval_size=4, info={"predictions_digest": "aaaa"})
    assert _same_classification(record("aaaa"), rebuilt)
    assert not _same_classification(record("bbbb"), rebuilt)  # as many right, on other images
    assert _same_classification(record(None), rebuilt)  # an older record: only its count is known
    assert not _same_classification(record("aaaa"), EvaluationResult(config={}, accuracy=0.5, eval_size=6))


def test_the_runner_keeps_its_calling_thread_off_the_cores_the_runtimes_workers_hold() -> None:
    """The bundle's runner places its calling thread as dse's timing does (local.beside_bound_workers)."""
    import threading

    from dse.export.runner import keep_off_worker_cores

    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and two usable cores")
    mine = os.sched_getaffinity(0)
    ready, done, worker = threading.Event(), threading.Event(), []

    def bound_worker() -> None:  # bound to one core, as TVM binds its pool's workers
        os.sched_setaffinity(0, {max(mine)})
        worker.append(threading.get_native_id())
        ready.set()
        done.wait()

    thread = threading.Thread(target=bound_worker)
    thread.start()
    try:
        ready.wait()
        keep_off_worker_cores(set())  # no pool (one thread): left alone
        assert os.sched_getaffinity(0) == mine
        keep_off_worker_cores(set(worker))
        assert os.sched_getaffinity(0) == mine - {max(mine)}
    finally:
        os.sched_setaffinity(0, mine)
        done.set()
        thread.join()
