"""MetaSchedule auto-scheduling with a per-kernel trial budget and a persistent database.

The module it receives is the one it tunes and the one it applies to (the algorithm layer's
all-TIR output): tuning and applying see identical PrimFuncs, so workload hashes match and
records apply (tvm-notes: re-running passes in between silently applies nothing). Every
kernel is tuned at most once per target and budget: the database under
``<tuning db>/<target>-<exact target key>/budget-<N>/`` is shared by trials, studies and
workers, and a trial at budget N applies only records of budgets <= N (see ``_ms_database``).
Kernels without a record fall back to the algorithm layer's default schedules, and so do
kernels whose default schedule was timed faster than their best record (``default_kept_kernels``):
per kernel the faster of tuned and default is built. The trial records how many kernels were
decided by tuning (``tuned_kernels`` of ``total_kernels``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.errors import FailureKind, TrialFailure, first_line
from search_spaces._base import Param, Params
from search_spaces.tuning._base import TUNING, TuningMode

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

#: Trials per kernel. Fixed list: Optuna rejects a categorical whose choices change.
BUDGETS = (16, 32, 64, 128)
DEFAULT_BUDGET = 32


def database_folder(ctx: BuildContext) -> Path:
    """``<ctx.tuning_db>/<target name>-<exact target key>``: one database per exact target.

    ``ctx.tuning_db`` is ``--tuning-db`` or ``<study folder>/tuning/<target name>``.
    """
    from search_spaces.tuning._ms_database import target_key

    return Path(ctx.tuning_db) / f"{ctx.target.name}-{target_key(ctx.tvm_target)}"


def default_schedules(mod: Any, ctx: BuildContext) -> Any:
    """The algorithm layer's default schedules for every PrimFunc still unscheduled.

    GPU targets are left alone: TVM's CUDA pipeline gives what is unscheduled DLight's rules.
    """
    from search_spaces.targets.cuda import is_gpu_target

    if is_gpu_target(ctx.tvm_target):
        return mod
    try:
        from search_spaces.algorithms.schedules import apply_default_schedules
    except ImportError:  # the algorithm layer's schedules are not there yet: TVM defaults
        return mod
    return apply_default_schedules(mod, ctx.tvm_target)


def records_unchanged(info: dict[str, Any]) -> bool:
    """Whether the tuning records a trial applied (its ``info``) are those a new build would apply.

    A trial that tuned nothing is always current; one whose kernels have since got records at
    budgets it may use (another worker tuned them) would build differently now.
    """
    from search_spaces.tuning._ms_tune import current_records

    state = info.get("tuning_state")
    if not state:
        return True
    return current_records(Path(info["tuning_db"]), int(info["tuning_budget"]), list(state)) == state


def attempts_by_task(tuning_db: Path, budget: int) -> dict[str, dict[str, Any]]:
    """Per kernel (task) name, what tuning at ``budget`` measured of it alone, in every target
    database under ``tuning_db``: its attempt (``tuned_s``, ``default_s``, ``side_by_side``...)
    and its workload hash (``workload``). Kernels identical to another are one task, one name."""
    from search_spaces.tuning._ms_database import TuningDatabase

    found: dict[str, dict[str, Any]] = {}
    # only folders: per_layer keeps its decisions as files beside the target databases
    for folder in sorted(each for each in Path(tuning_db).glob("*") if each.is_dir()):
        db = TuningDatabase(folder)
        with db.locked(exclusive=False):
            for workload, entry in db.attempts(budget).items():
                found[entry.get("task", "?")] = {**entry, "workload": workload}
    return found


@TUNING.register("metaschedule")
class MetaSchedule(TuningMode):
    description = "MetaSchedule auto-scheduling, N trials per kernel, records reused across trials and studies"
    opt_in = True  # minutes of tuning per new model: searched only when asked for
    costly = True

    params = (Param("trials", BUDGETS),)

    def schedule(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        """Tune what is not tuned to the budget yet, apply the database, schedule the rest."""
        from search_spaces.tuning._model_inputs import mark_model_inputs
        from search_spaces.tuning._ms_database import TuningDatabase
        from search_spaces.tuning._ms_tune import apply_records, tunable_tasks, tune_pending

        budget = int(params.get("trials", DEFAULT_BUDGET))
        if budget <= 0:
            raise TrialFailure(FailureKind.INVALID, f"tuning.metaschedule.trials must be > 0, got {budget}")
        db = TuningDatabase(database_folder(ctx))
        try:
            mod, model_inputs = mark_model_inputs(mod)  # sparse kernels are timed on their own index arrays
            tasks = tunable_tasks(mod, ctx.tvm_target)
            report = tune_pending(tasks, budget, db, ctx, model_inputs) if tasks else None
            mod, applied, kept_default = apply_records(mod, tasks, budget, db, ctx)
        except TrialFailure:
            raise
        except Exception as exc:  # TVMError, builder/runner pool errors: this trial did not build
            raise TrialFailure(FailureKind.COMPILE, f"MetaSchedule: {type(exc).__name__}: {first_line(exc)}") from exc
        if report is not None and report.tuned_now == [] and report.failed and not applied and not kept_default:
            # Every candidate failed: say so instead of quietly keeping naive code (tvm-notes).
            raise TrialFailure(
                FailureKind.COMPILE,
                f"MetaSchedule: no candidate of {len(report.failed)} kernel(s) built and ran "
                f"({', '.join(report.failed[:3])}); see the logs in {db.folder / 'logs'}",
            )
        ctx.info.update(
            # a kernel whose default schedule beat its tuned one counts as tuned: it was decided
            tuned_kernels=len(applied) + len(kept_default),
            default_kept_kernels=kept_default,
            total_kernels=len(tasks),
            tuning_budget=budget,
            tuning_trials=report.trials if report else 0,
            tuning_s=round(report.wall_s, 2) if report else 0.0,
            tuning_reused_kernels=len(report.reused) if report else 0,
            tuning_retimed_defaults=list(report.retimed_defaults) if report else [],
            tuning_failed_kernels=list(report.failed) if report else [],
            tuning_db=str(db.folder),
            # other processes' load while this trial tuned (None: nothing tuned, or not the host)
            tuning_foreign_load_cores=report.foreign_load if report else None,
            partly_tuned=len(applied) + len(kept_default) < len(tasks),
        )
        return default_schedules(mod, ctx)
