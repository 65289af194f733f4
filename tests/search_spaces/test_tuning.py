"""Layer 5: MetaSchedule records are written, reused without new trials, and applied.

The case is a tiny conv + linear network lowered by the real algorithm layer, tuned with two
trials per kernel (the mechanics, not the speed-up, are under test). The reuse check runs
in a fresh process, as another trial worker or a later study would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TVM_NUM_THREADS", "2")

from search_spaces import BuildContext
from search_spaces.tuning import TUNING
from search_spaces.tuning.metaschedule import BUDGETS, attempts_by_task

TRIALS = 2


def test_metaschedule_params_are_owned_by_the_layer() -> None:
    choice = TUNING.get("metaschedule")
    assert list(choice.grid()) == ["tuning.metaschedule.trials"]
    assert list(choice.grid()["tuning.metaschedule.trials"]) == list(BUDGETS)


def _case(algorithm: str = "tvm_default") -> tuple[Any, Any, np.ndarray]:
    """A torch model, its lowered all-TIR module (layer 4's output) and an input."""
    import torch
    from torch import nn

    from objectives.compile import import_to_relax
    from search_spaces.algorithms import ALGORITHMS

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).eval()
    x = torch.randn(1, 3, 6, 6)
    ctx = BuildContext.on_host(Path("."), threads=1)
    ctx.data = type("Data", (), {"eval_x": x})()
    mod = ALGORITHMS.get(algorithm).lower(import_to_relax(model, ctx), {}, ctx)
    return model, mod, x.numpy()


def run_case(work_dir: str, trials: int, algorithm: str = "tvm_default") -> dict[str, Any]:
    """Schedule the case with MetaSchedule, compile, check the output; return the trial info."""
    import torch
    import tvm
    from tvm import relax

    model, mod, x = _case(algorithm)
    ctx = BuildContext.on_host(Path(work_dir), threads=1)
    scheduled = TUNING.get("metaschedule").schedule(mod, {"trials": trials}, ctx)
    vm = relax.VirtualMachine(tvm.compile(scheduled, ctx.tvm_target), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x))
    out = (out if hasattr(out, "numpy") else out[0]).numpy()
    np.testing.assert_allclose(out, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    return dict(ctx.info)


def _run_in_fresh_process(work_dir: Path, trials: int) -> dict[str, Any]:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); from test_tuning import run_case; "
        "print('INFO=' + json.dumps(run_case(sys.argv[2], int(sys.argv[3]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(work_dir), str(trials)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("INFO=")][-1]
    return json.loads(line[len("INFO=") :])


def test_records_are_written_reused_in_a_fresh_process_and_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tvm")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    first = run_case(str(tmp_path), TRIALS)
    # The candidates' folders go with the tuning (they piled up, thousands a day)
    assert not list(temporary.glob("dse-ms-*")), list(temporary.iterdir())
    assert first["total_kernels"] >= 2
    assert first["tuning_trials"] > 0
    assert first["tuned_kernels"] == first["total_kernels"], first
    assert first["partly_tuned"] is False
    folder = Path(first["tuning_db"])
    assert folder.parent == tmp_path / "tuning" / "x86"
    records = (folder / f"budget-{TRIALS}" / "database_tuning_record.json").read_text().splitlines()
    assert len(records) == first["total_kernels"]  # only the best record of each kernel is kept
    attempts = json.loads((folder / f"budget-{TRIALS}" / "attempts.json").read_text())
    assert len(attempts) == first["total_kernels"] and all(a["ok"] for a in attempts.values())
    assert all(a["default_s"] > 0 and a["tuned_s"] > 0 for a in attempts.values())  # both timed, same runner
    sides = [a["side_by_side"] for a in attempts.values()]  # and timed again, in turn, to decide
    assert all(side["default_s"] > 0 and side["tuned_s"] > 0 for side in sides), sides
    assert all(r["side_by_side"] in sides for r in first["tuning_records"].values())
    assert all(a["foreign_load_cores"] >= 0 for a in attempts.values())  # what else ran meanwhile
    assert first["tuning_foreign_load_cores"] == max(a["foreign_load_cores"] for a in attempts.values())
    assert all(r["budget"] == TRIALS for r in first["tuning_records"].values())
    # What bench.kernels prints beside each kernel, found in a root where per_layer keeps its
    # decisions as files beside the target databases (it once took such a file for a database)
    (folder.parent / "per-layer-znver4-0000.json").write_text("{}")
    by_task = attempts_by_task(folder.parent, TRIALS)
    assert sorted(by_task) == sorted(a["task"] for a in attempts.values())
    assert {a["workload"] for a in by_task.values()} == set(attempts)

    again = _run_in_fresh_process(tmp_path, TRIALS)
    assert again["tuning_trials"] == 0
    assert again["tuning_reused_kernels"] == first["total_kernels"]
    assert again["tuned_kernels"] == first["total_kernels"]
    assert again["tuning_foreign_load_cores"] is None  # nothing tuned, nothing timed
    assert (folder / f"budget-{TRIALS}" / "database_tuning_record.json").read_text().splitlines() == records


def test_tuning_starts_from_the_default_schedule_so_its_best_is_never_slower(tmp_path: Path) -> None:
    """The default schedule's trace, timed, is the search's first record: a kernel's best record
    is at most its default's time, even at 2 trials, where TVM's own sketches alone rarely
    reach a hand-written schedule; and the default space's variants are what gets measured."""
    pytest.importorskip("tvm")
    info = run_case(str(tmp_path), 2, algorithm="spatial_pack")  # run_case checks the output
    attempts = json.loads((Path(info["tuning_db"]) / "budget-2" / "attempts.json").read_text())
    conv = [a for a in attempts.values() if "dse_spatial_pack" in a["task"]]
    assert conv and all(a["ok"] for a in attempts.values())
    assert all(a["tuned_s"] <= a["default_s"] for a in attempts.values()), attempts
    assert info["tuning_trials"] == sum(a["trials"] for a in attempts.values())  # the seeds not counted
    assert all(a["trials"] <= 2 for a in attempts.values())


def test_tuning_records_the_load_other_processes_put_on_the_cpu(tmp_path: Path) -> None:
    """Candidate timings have no foreign-load check: the trial and the database say what ran beside them."""
    pytest.importorskip("tvm")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a second core for the other process")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        info = run_case(str(tmp_path), TRIALS)
    finally:
        spinner.kill()
        spinner.wait()
    assert info["tuning_foreign_load_cores"] > 0.5, info


@pytest.mark.slow
def test_a_budget_applies_only_records_of_budgets_up_to_it(tmp_path: Path) -> None:
    """16, then 64, then 16 again: the third trial gets the first one's records, not the 64's."""
    pytest.importorskip("tvm")
    small = run_case(str(tmp_path), 16)
    large = run_case(str(tmp_path), 64)
    assert large["tuning_trials"] > 0 and large["tuning_reused_kernels"] == 0  # 16's records are not "reused"
    again = run_case(str(tmp_path), 16)
    assert again["tuning_trials"] == 0
    assert again["tuning_records"] == small["tuning_records"]
    assert {r["budget"] for r in again["tuning_records"].values()} == {16}
    assert {r["budget"] for r in large["tuning_records"].values()} <= {16, 64}  # the best of both


def test_killed_tuning_keeps_the_tasks_it_finished(tmp_path: Path) -> None:
    """A timeout mid-tuning keeps every task already tuned; the next trial tunes only the rest."""
    import time

    from search_spaces.tuning._ms_database import TuningDatabase

    pytest.importorskip("tvm")
    code = "import sys; sys.path.insert(0, sys.argv[1]); from test_tuning import run_case; run_case(sys.argv[2], 24)"
    worker = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path)])
    try:
        deadline = time.monotonic() + 300
        attempts: dict[str, Any] = {}
        while time.monotonic() < deadline and worker.poll() is None:
            folders = list((tmp_path / "tuning" / "x86").glob("*"))
            attempts = TuningDatabase(folders[0]).attempts(24) if folders else {}
            if attempts:
                break
            time.sleep(0.2)
        assert worker.poll() is None and attempts, "no task was committed before tuning ended"
        worker.kill()
    finally:
        worker.kill()
        worker.wait()
    (folder,) = list((tmp_path / "tuning" / "x86").glob("*"))
    kept = len(TuningDatabase(folder).attempts(24))  # what was committed by the time of the kill
    resumed = run_case(str(tmp_path), 24)
    assert 1 <= kept < resumed["total_kernels"], "the kill came after every task had finished"
    assert resumed["tuning_reused_kernels"] == kept  # the tasks finished before the kill
    assert resumed["tuned_kernels"] == resumed["total_kernels"]


def _timed_in_turn(attempt: dict[str, Any], default_s: float) -> dict[str, Any]:
    """``attempt`` as if its default had timed ``default_s`` beside its best record's time."""
    return {**attempt, "side_by_side": {"default_s": default_s, "tuned_s": attempt["side_by_side"]["tuned_s"]}}


def test_a_kernel_keeps_its_default_schedule_where_that_measured_faster(tmp_path: Path) -> None:
    """Per kernel the faster of tuned and default is built, as they were timed in turn: with the
    defaults made faster than every record there, nothing tuned is applied and the module still
    computes right; with them slower, every record is, whatever the search's single timings said."""
    pytest.importorskip("tvm")
    first = run_case(str(tmp_path), TRIALS)
    path = Path(first["tuning_db"]) / f"budget-{TRIALS}" / "attempts.json"
    attempts = json.loads(path.read_text())
    slowest = max(a["side_by_side"]["tuned_s"] for a in attempts.values())
    fast = {w: _timed_in_turn({**a, "default_s": 1.0}, a["side_by_side"]["tuned_s"] / 2) for w, a in attempts.items()}
    path.write_text(json.dumps(fast))
    kept = run_case(str(tmp_path), TRIALS)  # run_case checks the output against PyTorch
    assert kept["tuning_trials"] == 0 and kept["tuned_kernels"] == kept["total_kernels"]
    assert len(kept["default_kept_kernels"]) == kept["total_kernels"] and kept["partly_tuned"] is False
    assert all(r["kept_default"] for r in kept["tuning_records"].values())
    slow = {w: _timed_in_turn({**a, "default_s": 1e-12}, slowest * 10) for w, a in attempts.items()}
    path.write_text(json.dumps(slow))
    tuned = run_case(str(tmp_path), TRIALS)
    assert tuned["default_kept_kernels"] == [] and tuned["tuned_kernels"] == tuned["total_kernels"]
    assert all("digest" in r and not r.get("kept_default") for r in tuned["tuning_records"].values())


def test_a_kernel_whose_tvm_design_space_fails_is_searched_in_dses_alone(tmp_path: Path) -> None:
    """TVM 0.27's own rules raise out of the search on a Winograd F(4) conv with a residual add
    ("TensorRegion pattern match failed", ResNet-18's per_layer build), which ended the trial:
    the kernel is searched in dse's default space alone, and is tuned."""
    import torch
    import tvm
    from torch import nn
    from tvm import relax

    from objectives.compile import import_to_relax
    from search_spaces.algorithms import ALGORITHMS

    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(16, 16, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.conv(x) + x)

    torch.manual_seed(0)
    model, x = Residual().eval(), torch.randn(1, 16, 8, 8)
    ctx = BuildContext.on_host(tmp_path, threads=1)
    ctx.data = type("Data", (), {"eval_x": x})()
    mod = ALGORITHMS.get("winograd").lower(import_to_relax(model, ctx), {"tile": 4}, ctx)
    ctx = BuildContext.on_host(tmp_path, threads=1)
    scheduled = TUNING.get("metaschedule").schedule(mod, {"trials": TRIALS}, ctx)
    assert ctx.info["tuned_kernels"] == ctx.info["total_kernels"] and not ctx.info["tuning_failed_kernels"]
    logs = "".join(p.read_text() for p in (Path(ctx.info["tuning_db"]) / "logs").glob("*.log"))
    assert "searching dse's alone" in logs  # the kernel TVM's rules fail on (pinned TVM 0.27)
    vm = relax.VirtualMachine(tvm.compile(scheduled, ctx.tvm_target), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x.numpy()))
    out = (out if hasattr(out, "numpy") else out[0]).numpy()
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_a_kernel_whose_search_fails_keeps_its_default_and_the_others_are_tuned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One kernel's search raising is that kernel's failure, recorded with its reason, not the
    trial's: it keeps its default schedule, and a later trial does not search it again."""
    from search_spaces.tuning import _ms_tune

    pytest.importorskip("tvm")
    run_tuner = _ms_tune._run_tuner
    searched: list[str] = []

    def first_fails(task: Any, *args: Any) -> Any:
        searched.append(task.task_name)
        if len(searched) == 1:
            raise RuntimeError("a schedule rule cannot apply here")
        return run_tuner(task, *args)

    monkeypatch.setattr(_ms_tune, "_run_tuner", first_fails)
    info = run_case(str(tmp_path), TRIALS)  # checks the output against PyTorch
    assert info["tuning_failed_kernels"] == searched[:1] and len(searched) == info["total_kernels"] >= 2
    assert info["tuned_kernels"] == info["total_kernels"] - 1 and info["partly_tuned"] is True
    attempts = json.loads((Path(info["tuning_db"]) / f"budget-{TRIALS}" / "attempts.json").read_text())
    (failed,) = [a for a in attempts.values() if not a["ok"]]
    assert failed == {"task": searched[0], "ok": False, "error": "RuntimeError: a schedule rule cannot apply here"}
    again = run_case(str(tmp_path), TRIALS)
    assert len(searched) == info["total_kernels"] and again["tuning_trials"] == 0  # nothing searched again


def test_a_default_timed_by_older_kernels_is_timed_again_before_it_decides(tmp_path: Path) -> None:
    """A record is compared with today's default schedule, not with the one timed when it was
    tuned: after the algorithm layer changes, the reused kernels' defaults are timed again (no
    new tuning) and the old times, however fast, decide nothing."""
    pytest.importorskip("tvm")
    from search_spaces.algorithms.schedules import kernels_version

    first = run_case(str(tmp_path), TRIALS)
    assert first["tuning_retimed_defaults"] == []
    path = Path(first["tuning_db"]) / f"budget-{TRIALS}" / "attempts.json"
    attempts = json.loads(path.read_text())
    assert all(a["default_kernels"] == kernels_version() for a in attempts.values())
    older = {w: {**a, "default_s": 1e-12, "default_kernels": "older-kernels"} for w, a in attempts.items()}
    path.write_text(json.dumps(older))

    again = run_case(str(tmp_path), TRIALS)
    assert again["tuning_trials"] == 0 and again["tuning_reused_kernels"] == first["total_kernels"]
    assert sorted(again["tuning_retimed_defaults"]) == sorted(a["task"] for a in attempts.values())
    retimed = json.loads(path.read_text())
    assert all(a["default_kernels"] == kernels_version() and a["default_s"] > 1e-9 for a in retimed.values())
    assert all(a["side_by_side"]["default_s"] > 1e-9 for a in retimed.values())  # timed in turn again too
    assert {w: a["tuned_s"] for w, a in retimed.items()} == {w: a["tuned_s"] for w, a in attempts.items()}
    assert all(r["default_s"] > 1e-9 for r in again["tuning_records"].values())  # decided by today's times
    assert run_case(str(tmp_path), TRIALS)["tuning_retimed_defaults"] == []  # once per kernels version


def test_a_sparse_kernel_is_tuned_and_timed_on_its_own_index_arrays(tmp_path: Path) -> None:
    """MetaSchedule fills a kernel's inputs with random values; a sparse kernel's CSR/BSR index
    arrays are inputs, and random ones read out of bounds, so its default schedule went untimed
    and its candidates were timed on another pattern. Both are now timed on the model's arrays:
    each sparse kernel is marked, its default has a time to be compared with, and the tuned
    module computes what PyTorch does."""
    import torch
    import tvm
    from torch import nn
    from tvm import relax

    from objectives.compile import import_to_relax
    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.tuning._model_inputs import MODEL_INPUTS_ATTR, mark_model_inputs
    from search_spaces.tuning._ms_tune import tunable_tasks

    pytest.importorskip("tvm")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)).eval()
    with torch.no_grad():
        for conv in (model[0], model[2]):
            conv.weight.mul_(torch.rand_like(conv.weight) < 0.2)  # 80% zeros: every conv goes sparse
    x = torch.randn(1, 8, 8, 8)
    ctx = BuildContext.on_host(tmp_path, threads=1)
    ctx.data = type("Data", (), {"eval_x": x})()
    params = {"format": "bsr", "block": 4, "threshold": 0.5}
    mod = ALGORITHMS.get("sparse_gemm").lower(import_to_relax(model, ctx), params, ctx)

    marked, inputs = mark_model_inputs(mod)
    tasks = tunable_tasks(marked, ctx.tvm_target)
    assert len(inputs) == len(tasks) == 2  # both sparse kernels: indices and indptr (int32 constants)
    assert all(sorted(map(str, t.dispatched[0]["main"].attrs[MODEL_INPUTS_ATTR])) == ["2", "3"] for t in tasks)

    scheduled = TUNING.get("metaschedule").schedule(mod, {"trials": TRIALS}, ctx)
    attempts = json.loads((Path(ctx.info["tuning_db"]) / f"budget-{TRIALS}" / "attempts.json").read_text())
    assert len(attempts) == 2 and all(a["ok"] for a in attempts.values()), attempts
    assert all(a["default_s"] > 0 for a in attempts.values()), attempts  # was None on random index arrays
    assert all(r["default_s"] > 0 for r in ctx.info["tuning_records"].values())  # so the faster one is built
    vm = relax.VirtualMachine(tvm.compile(scheduled, ctx.tvm_target), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x.numpy()))
    out = (out if hasattr(out, "numpy") else out[0]).numpy()
    np.testing.assert_allclose(out, model(x).detach().numpy(), rtol=1e-4, atol=1e-4)


def test_only_sparse_kernels_are_timed_on_their_integer_constants() -> None:
    """An int8 kernel's int32 constants (its weight sums) decide nothing about what it reads:
    marking it would orphan its tuning records and give it a runner of its own."""
    from tvm import relax, te

    from search_spaces.tuning._model_inputs import integer_constants

    def gather(x: Any, index: Any) -> Any:
        return te.compute((4,), lambda i: x[index[i]], name="gather")

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([8], "int32"))
    index = relax.const(np.array([3, 1, 0, 2], "int32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            sparse = bb.emit_te(gather, x, index, primfunc_name_hint="fused_dse_sparse_gemm_add")
            dense = bb.emit_te(gather, sparse, index, primfunc_name_hint="fused_dse_spatial_pack_dot_add")
            out = bb.emit_output(dense)
        bb.emit_func_output(out)
    found = integer_constants(bb.get())
    assert list(found) == ["fused_dse_sparse_gemm_add"]
    np.testing.assert_array_equal(found["fused_dse_sparse_gemm_add"][1], [3, 1, 0, 2])
