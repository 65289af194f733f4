"""The persistent MetaSchedule database of one exact target, shared by trials, studies and workers.

Layout of ``<root>/<target key>/``::

    database_workload.json          MetaSchedule JSON database (best record per workload)
    database_tuning_record.json
    budgets.json                    {workload hash: {"trials": budget it was tuned to, "task": name}}
    .lock                           fcntl lock: exclusive while tuning and committing, shared while reading

Only the best record of each tuning run is committed (the full run lives in a scratch
database), so a tuning process that is killed half-way leaves the shared files intact, and the
database stays small. Records of one target do not transfer to another (an x86 database is not
valid for Arm; one tuned for 2 cores is not the best for 4), hence one folder per exact target.
"""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from dse.core.files import atomic_write, file_lock, stable_hash

BUDGETS_FILE = "budgets.json"
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
    """One target's database folder, with the lock and the budget sidecar around it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_path = folder / ".lock"

    def locked(self, exclusive: bool) -> AbstractContextManager[None]:
        """Hold the folder's lock: writers exclude everyone, readers only writers."""
        return file_lock(self._lock_path, shared=not exclusive)

    def budgets(self) -> dict[str, dict[str, Any]]:
        """Budget each workload was tuned to (read under the lock)."""
        path = self.folder / BUDGETS_FILE
        if not path.exists():
            return {}
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    def record_budgets(self, tuned: dict[str, dict[str, Any]]) -> None:
        """Merge newly tuned workloads into the sidecar (atomic replace; call under the exclusive lock)."""
        budgets = self.budgets()
        for key, entry in tuned.items():
            if int(entry["trials"]) >= int(budgets.get(key, {}).get("trials", 0)):
                budgets[key] = entry
        with atomic_write(self.folder / BUDGETS_FILE) as scratch:
            scratch.write_text(json.dumps(budgets, indent=1, sort_keys=True))

    def open(self) -> Any:
        """The MetaSchedule JSON database (reads both files; call under a lock)."""
        from tvm.s_tir import meta_schedule as ms

        return ms.database.JSONDatabase(
            path_workload=str(self.folder / "database_workload.json"),
            path_tuning_record=str(self.folder / "database_tuning_record.json"),
            allow_missing=True,
        )


def best_run_s(database: Any, mod: Any) -> float | None:
    """Mean run time of the best valid record of ``mod`` in ``database``, or None."""
    if not database.has_workload(mod):
        return None
    records = database.get_top_k(database.commit_workload(mod), 1)
    if not records or not records[0].run_secs:
        return None
    seconds = [float(s) for s in records[0].run_secs]
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
