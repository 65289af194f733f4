"""The persistent MetaSchedule database of one exact target, shared by trials, studies and workers.

Layout of ``<root>/<target key>/``::

    budget-<N>/database_workload.json          records of tuning runs of N trials per kernel
    budget-<N>/database_tuning_record.json     (best record per workload)
    budget-<N>/attempts.json                   {workload hash: {"task", "ok", "trials", "tuned_s",
                                                "default_s", "side_by_side", "default_kernels",
                                                "error" where its search failed}}
    .lock                                      exclusive while tuning and committing, shared while reading

Records are kept per budget, so what ``tuning.metaschedule.trials=N`` measures does not depend
on what ran before: a trial at budget N applies, per workload, the best record of runs whose
budget was at most N (a kernel tuned at 128 is not "reused" for a 16-trial request). Each
task is committed as soon as it is tuned (its best record only; the full run lives in a
scratch database), so a tuning process killed half-way keeps the finished tasks and leaves
the files intact. Beside each task's best record its default schedule (the algorithm layer's)
is timed by the same runner (and timed again when the algorithm layer's kernels change, since
``default_kernels`` names the version timed); once tuned, the best record and the default are
timed again in turn (``side_by_side``), and a trial applies the record only where it is faster: kernel for
kernel, timed alone, a tuned build is never slower than the untuned one (the whole model can
be, since kernels timed alone do not add up to it). Records of one target do not transfer to another (an x86 database is not
valid for Arm; one tuned for 2 cores is not the best for 4), hence one folder per exact target.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dse.core.files import atomic_write, file_lock, stable_hash

ATTEMPTS_FILE = "attempts.json"
#: Run times MetaSchedule stores for candidates that failed to build or run.
FAILED_RUN_S = 1e9


def target_key(target: Any) -> str:
    """A readable, unique folder name for an exact TVM target: ``znver5-2c-1a2b3c4d``."""
    config = dict(target.export()) if hasattr(target, "export") else dict(target)
    cpu = str(config.get("mcpu") or config.get("arch") or config.get("kind") or "generic")
    cores = config.get("num-cores")
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{cpu}-{cores}c" if cores else cpu)
    digest = stable_hash(config, 8)
    return f"{readable}-{digest}"


def workload_hash(mod: Any) -> str:
    """Structural hash of a task's module: the key MetaSchedule's database matches on."""
    import tvm_ffi

    return f"{tvm_ffi.structural_hash(mod) & (2**64 - 1):016x}"


class TuningDatabase:
    """One target's database folder: a record database per budget, attempts, and the lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_path = folder / ".lock"

    def locked(self, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the folder's lock: writers exclude everyone, readers only writers."""
        return file_lock(self._lock_path, shared=not exclusive)

    def budget_folder(self, budget: int) -> Path:
        return self.folder / f"budget-{budget}"

    def budgets(self) -> list[int]:
        """The budgets that have records, smallest first."""
        found = []
        for path in self.folder.glob("budget-*"):
            suffix = path.name.removeprefix("budget-")
            if suffix.isdigit() and path.is_dir():
                found.append(int(suffix))
        return sorted(found)

    def attempts(self, budget: int) -> dict[str, dict[str, Any]]:
        """The workloads tuning at ``budget`` was run for (read under the lock)."""
        path = self.budget_folder(budget) / ATTEMPTS_FILE
        if not path.exists():
            return {}
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def record_attempt(self, budget: int, workload: str, entry: dict[str, Any]) -> None:
        """Note that ``workload`` was tuned at ``budget`` (atomic replace; under the exclusive lock)."""
        attempts = self.attempts(budget)
        attempts[workload] = entry
        with atomic_write(self.budget_folder(budget) / ATTEMPTS_FILE) as scratch:
            scratch.write_text(json.dumps(attempts, indent=1, sort_keys=True))

    def open(self, budget: int) -> Any:
        """The MetaSchedule JSON database of one budget (reads both files; call under a lock)."""
        from tvm.s_tir import meta_schedule as ms

        folder = self.budget_folder(budget)
        folder.mkdir(parents=True, exist_ok=True)
        return ms.database.JSONDatabase(
            path_workload=str(folder / "database_workload.json"),
            path_tuning_record=str(folder / "database_tuning_record.json"),
            allow_missing=True,
        )

    def record_state(self, budget: int, workloads: list[str]) -> dict[str, list[int]]:
        """Per workload, the budgets <= ``budget`` whose tuning left a record (from the attempts files)."""
        state: dict[str, list[int]] = {w: [] for w in workloads}
        for each in (b for b in self.budgets() if b <= budget):
            for workload, entry in self.attempts(each).items():
                if workload in state and entry.get("ok"):
                    state[workload].append(each)
        return state

    def default_times(self, budget: int, kernels: str) -> dict[str, float]:
        """Per workload, the default schedule's seconds per run, timed beside its tuning at a
        budget <= ``budget`` by the algorithm layer of version ``kernels`` (absent where it was
        timed by other kernels, or never: a record that beat an older, slower default kernel
        says nothing about today's)."""
        times: dict[str, float] = {}
        for each in (b for b in self.budgets() if b <= budget):
            for workload, entry in self.attempts(each).items():
                if entry.get("default_s") is not None and entry.get("default_kernels") == kernels:
                    times.setdefault(workload, float(entry["default_s"]))
        return times

    def stale_defaults(self, budget: int, workloads: list[str], kernels: str) -> dict[str, int]:
        """The ``workloads`` that have a record at a budget <= ``budget`` but no default time of
        kernels ``kernels``, each with the largest such budget (where a new default time goes)."""
        current = {
            workload
            for each in self.budgets()
            if each <= budget
            for workload, entry in self.attempts(each).items()
            if entry.get("default_kernels") == kernels  # timed by these kernels, even if it failed to run
        }
        stale: dict[str, int] = {}
        for workload, budgets in self.record_state(budget, workloads).items():
            if budgets and workload not in current:
                stale[workload] = max(budgets)
        return stale

    def applicable(self, budget: int, mods: list[Any], kernels: str) -> tuple[Any, dict[str, Any]]:
        """The records a trial at ``budget`` may apply: per workload, the best of budgets <= ``budget``,
        unless the default schedule of kernels ``kernels`` measured at least as fast (then none:
        the default stays).

        Returns them as an in-memory database, and per workload hash of ``mods`` what it gets
        (``{"budget", "run_s", "digest", "default_s"}``, with ``"kept_default": True`` where the
        default won; None for no record): the trial's provenance.
        """
        from tvm.s_tir import meta_schedule as ms

        sources = [(each, self.open(each)) for each in self.budgets() if each <= budget]
        defaults = self.default_times(budget, kernels)
        attempts = {each: self.attempts(each) for each, _ in sources}
        merged = ms.database.MemoryDatabase()
        chosen: dict[str, Any] = {}
        for mod in mods:
            workload = workload_hash(mod)
            timed = [
                (run_s, each, source) for each, source in sources if (run_s := best_run_s(source, mod)) is not None
            ]
            if not timed:
                chosen[workload] = None
                continue
            run_s, each, source = min(timed, key=lambda item: item[0])
            default_s = defaults.get(workload)
            chosen[workload] = {"budget": each, "run_s": run_s, "default_s": default_s}
            side = _side_by_side(attempts[each].get(workload) or {}, kernels)
            if side is not None:  # timed in turn: decides over the search's single timings
                chosen[workload]["side_by_side"] = side
                default_wins = side["default_s"] <= side["tuned_s"]
            else:
                default_wins = default_s is not None and default_s <= run_s
            if default_wins:
                chosen[workload]["kept_default"] = True
                continue
            merge_best(source, merged, [mod])
            record = source.get_top_k(source.commit_workload(mod), 1)[0]
            chosen[workload]["digest"] = stable_hash(str(record.trace), 16)
        return merged, chosen


def _side_by_side(entry: dict[str, Any], kernels: str) -> dict[str, float] | None:
    """An attempt's default and best record as timed alternately (``_ms_tune.time_side_by_side``),
    where kernels ``kernels`` built that default; else None."""
    side = entry.get("side_by_side")
    return side if side and entry.get("default_kernels") == kernels else None


def best_run_s(database: Any, mod: Any) -> float | None:
    """Mean run time of the best valid record of ``mod`` in ``database``, or None."""
    if not database.has_workload(mod):
        return None
    records = database.get_top_k(database.commit_workload(mod), 1)
    return mean_run_s(records[0].run_secs) if records else None


def mean_run_s(run_secs: Any) -> float | None:
    """Mean of a MetaSchedule run's seconds, or None for no run or a failed one."""
    if not run_secs:
        return None
    seconds = [float(s) for s in run_secs]
    mean = sum(seconds) / len(seconds)
    return mean if mean < FAILED_RUN_S else None


def merge_best(source: Any, destination: Any, mods: list[Any]) -> int:
    """Commit ``source``'s best record of each module into ``destination`` where it is better.

    Returns how many modules got a new (better) record.
    """
    from tvm.s_tir import meta_schedule as ms

    improved = 0
    for mod in mods:
        new = best_run_s(source, mod)
        if new is None:
            continue
        old = best_run_s(destination, mod)
        if old is not None and old <= new:
            continue
        record = source.get_top_k(source.commit_workload(mod), 1)[0]
        workload = destination.commit_workload(mod)
        destination.commit_tuning_record(
            ms.database.TuningRecord(record.trace, workload, record.run_secs, record.target, record.args_info)
        )
        improved += 1
    return improved
