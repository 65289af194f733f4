"""MetaSchedule's moving parts for dse: builder, runner, tuning of pending kernels, applying.

Kept apart from the registered choice so that the choice file shows the policy (what is tuned,
when, with which budget) and this file the mechanics (how TVM is driven).
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.errors import InvalidCombination, first_line
from search_spaces.algorithms.schedules import apply_default_schedules, kernels_version
from search_spaces.tuning._model_inputs import ModelInputs, alloc_arguments, alloc_arguments_over_rpc
from search_spaces.tuning._ms_database import TuningDatabase, best_run_s, mean_run_s, merge_best, workload_hash

if TYPE_CHECKING:
    import numpy as np

    from dse.core.config import DeviceOptions
    from search_spaces._context import BuildContext

#: A candidate run slower than this is abandoned (the runner reports it as failed).
RUN_TIMEOUT_S = 60.0


@dataclass
class TuneReport:
    """What one tuning call did (lands in the trial's ``info``)."""

    tuned_now: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Reused kernels whose default schedule was timed again: the algorithm layer changed since.
    retimed_defaults: list[str] = field(default_factory=list)
    trials: int = 0
    wall_s: float = 0.0
    #: The most cores other processes kept busy while one kernel was tuned (host CPU only):
    #: candidate timings get no foreign-load check, and the database keeps what they decided.
    foreign_load: float | None = None


def _fast_build(mod: Any, target: Any) -> Any:
    """MetaSchedule's default build minus ``import tvm.s_tir.tensor_intrin``.

    That import costs about 19 s in every fresh builder process, so candidate builds time out
    (tvm-notes: a 56-trial run went from 524 s to 182 s without it).
    """
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target=target)


def _export(rt_mod: Any, cross_cc: str | None, candidates_folder: str) -> str:
    """Write a built candidate where the runner can load it, in a fresh folder under
    ``candidates_folder``: a tar locally, an aarch64 .so for a board."""
    import os

    from tvm.support import cc, tar

    folder = tempfile.mkdtemp(prefix="candidate-", dir=candidates_folder)
    if cross_cc is None:
        path = os.path.join(folder, "candidate." + tar.tar.output_format)
        rt_mod.export_library(path, fcompile=tar.tar)
    else:  # the board needs no compiler of its own
        path = os.path.join(folder, "candidate.so")
        rt_mod.export_library(path, fcompile=cc.cross_compiler(cross_cc))
    return path


def in_process_builder(cross_cc: str | None, candidates_folder: str) -> Any:
    """A MetaSchedule builder that compiles candidates in this process, into ``candidates_folder``.

    LocalBuilder starts a fresh process pool for every batch, and each worker spends seconds
    importing TVM (tvm-notes: most of a tuning run's time). Building a kernel with LLVM takes
    a fraction of a second and this whole process is already a sacrificial trial worker, so
    candidates are built here; a failed build comes back as a result carrying the error.
    The caller removes ``candidates_folder`` when tuning ends: a candidate's folder per build,
    left in the system's temporary folder, piled up to thousands a day.
    """
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder

    @derived_object
    class InProcessBuilder(PyBuilder):
        def build(self, build_inputs: list[Any]) -> list[Any]:
            results = []
            for item in build_inputs:
                try:
                    path = _export(_fast_build(item.mod, item.target), cross_cc, candidates_folder)
                    results.append(BuilderResult(path, None))
                except Exception as exc:  # noqa: BLE001 (a candidate that does not build is data, not a crash)
                    results.append(BuilderResult(None, f"{type(exc).__name__}: {exc}"))
            return results

    return InProcessBuilder()


def time_candidate(
    rt_mod: Any, device: Any, evaluator_config: Any, repeated_args: list[Any], *, warmup_runs: int
) -> list[float]:
    """MetaSchedule's ``f_run_evaluator``: time a candidate with dse's own protocol.

    The sample size and count come from the study's ``MeasureConfig`` (through
    ``evaluator_config``: ``min_repeat_ms`` and ``repeat = candidate_repeat``), so candidates
    and trials are timed by the same loop (``dse.core.measure.take_samples``).
    """
    from dse.core.measure import take_samples
    from search_spaces.targets.devices.local import beside_bound_workers

    costs: list[float] = []
    for args in repeated_args:

        def timer(number: int, repeat: int, args: Any = args) -> list[float]:
            device.sync()
            evaluator = rt_mod.time_evaluator(rt_mod.entry_name, device, number=number, repeat=repeat)
            with beside_bound_workers():  # as a trial is timed (over RPC the remote runs it: no effect)
                return list(evaluator(*args).results)

        seconds, _ = take_samples(timer, evaluator_config.repeat, evaluator_config.min_repeat_ms, warmup_runs)
        costs.extend(seconds)
    return costs


def time_candidate_over_rpc(
    session: Any, rt_mod: Any, device: Any, evaluator_config: Any, repeated_args: list[Any], *, warmup_runs: int
) -> list[float]:
    """:func:`time_candidate` with the RPC runner's signature (it passes the session first)."""
    return time_candidate(rt_mod, device, evaluator_config, repeated_args, warmup_runs=warmup_runs)


def builder_and_runner(
    ctx: BuildContext, candidates_folder: str, model_inputs: dict[int, np.ndarray] | None = None
) -> tuple[Any, Any]:
    """The builder and the runner that measure candidates where the trial will be measured; the
    builder writes candidates under ``candidates_folder``, which the caller removes.

    Candidates are timed with the study's protocol (``ctx.measure``, see :func:`time_candidate`),
    on random inputs except ``model_inputs`` (parameter position -> the model's value: a sparse
    kernel's index arrays, see ``_model_inputs``).

    Raises:
        InvalidCombination: when candidates cannot be measured for real on this device
            (an emulated board, or a single RPC server without a tracker).
    """
    from tvm.s_tir import meta_schedule as ms

    options = ctx.device_options
    if options.remote:
        _check_remote_tunable(options)
    measure = ctx.measure
    evaluator = ms.runner.EvaluatorConfig(
        number=1, repeat=measure.candidate_repeat, min_repeat_ms=measure.min_repeat_ms, enable_cpu_cache_flush=False
    )
    builder = in_process_builder(ctx.target.cross_compiler(), candidates_folder)
    if not options.remote:
        run = functools.partial(time_candidate, warmup_runs=measure.warmup_runs)
        alloc = functools.partial(alloc_arguments, values=model_inputs) if model_inputs else None
        return builder, ms.runner.LocalRunner(
            timeout_sec=RUN_TIMEOUT_S, evaluator_config=evaluator, f_alloc_argument=alloc, f_run_evaluator=run
        )

    from dse.core.config import parse_host_port

    assert options.rpc_tracker is not None and options.rpc_key is not None  # _check_remote_tunable
    host, port = parse_host_port(options.rpc_tracker, "--rpc-tracker")
    config = ms.runner.RPCConfig(
        tracker_host=host,
        tracker_port=port,
        tracker_key=options.rpc_key,
        session_timeout_sec=options.session_timeout_s,
    )
    run_remote = functools.partial(time_candidate_over_rpc, warmup_runs=measure.warmup_runs)
    alloc_remote = functools.partial(alloc_arguments_over_rpc, values=model_inputs) if model_inputs else None
    runner = ms.runner.RPCRunner(
        rpc_config=config,
        evaluator_config=evaluator,
        max_workers=1,
        f_alloc_argument=alloc_remote,
        f_run_evaluator=run_remote,
    )
    return builder, runner


def _check_remote_tunable(options: DeviceOptions) -> None:
    """InvalidCombination unless candidates can be timed for real on the remote device."""
    from search_spaces.targets.devices.rpc import release_all, remote_is_emulated

    release_all()  # this worker must not hold the board while the runner asks the tracker for it
    if remote_is_emulated(options):
        raise InvalidCombination(
            "MetaSchedule tuning needs real timings and the RPC device is emulated (qemu): use tuning=untuned"
        )
    if options.rpc_tracker is None or options.rpc_key is None:
        raise InvalidCombination(
            "MetaSchedule over RPC needs a tracker: start one (python -m tvm.exec.rpc_tracker) and pass "
            "--rpc-tracker HOST:PORT --rpc-key KEY instead of --rpc"
        )


def tunable_tasks(mod: Any, tvm_target: Any) -> list[Any]:
    """MetaSchedule's tasks of ``mod``: one per distinct unscheduled PrimFunc it calls."""
    from tvm.s_tir import meta_schedule as ms

    tasks = ms.relax_integration.extract_tasks(mod, tvm_target)
    return [t for t in tasks if not t.dispatched[0].attrs.get("tirx.is_scheduled", False)]


def tune_pending(
    tasks: list[Any], budget: int, db: TuningDatabase, ctx: BuildContext, model_inputs: ModelInputs | None = None
) -> TuneReport:
    """Tune every task not yet tuned at ``budget``; commit each task's best record as it finishes.

    A task named in ``model_inputs`` is timed on those values (its candidates and its default
    schedule), every other on random inputs.

    Holds the database's exclusive lock throughout (concurrent workers wait instead of
    corrupting the files, and one that waited finds the kernels tuned and skips them) and the
    device's measurement lock (nothing else of dse runs there while candidates are timed).
    A task is committed the moment it is tuned, so a timeout keeps the finished ones.
    """
    from search_spaces.targets import measurement_lock
    from search_spaces.targets.devices.local import cpu_usage, foreign_load

    report = TuneReport()
    kernels = kernels_version()
    with db.locked(exclusive=True):
        attempted = db.attempts(budget)
        pending = []
        reused: dict[str, Any] = {}  # workload hash -> its task, for the kernels tuned at this budget
        for task in tasks:
            workload = workload_hash(task.dispatched[0])
            if workload in attempted:
                report.reused.append(task.task_name)
                reused[workload] = task
            else:
                pending.append(task)
        stale = db.stale_defaults(budget, list(reused), kernels)
        if not pending and not stale:
            return report
        inputs = model_inputs or {}
        measurers: dict[str, tuple[Any, Any]] = {}  # task name, or "" for random inputs -> builder, runner

        def measurer(task: Any) -> tuple[Any, Any]:
            key = task.task_name if task.task_name in inputs else ""
            if key not in measurers:
                measurers[key] = builder_and_runner(ctx, candidates_folder, inputs.get(key))
            return measurers[key]

        start = time.perf_counter()
        with (
            tempfile.TemporaryDirectory(prefix="dse-ms-") as candidates_folder,  # removed once the runners stop
            measurement_lock(ctx.target.name, ctx.device_options, ctx.target.measured_on_host_cpu),
            _closing(measurers),
        ):
            for workload, each in stale.items():
                # Records that beat an older default kernel: time today's, so applying compares with it
                entry = dict(db.attempts(each)[workload])
                task = reused[workload]
                side = time_side_by_side(task.dispatched[0], db.open(each), *measurer(task), ctx)
                entry["side_by_side"] = side
                # The default was just timed in turn with the record; alone only where that failed
                default_s = (
                    side["default_s"] if side else time_default_schedule(task.dispatched[0], *measurer(task), ctx)
                )
                entry["default_s"] = default_s
                entry["default_kernels"] = kernels
                db.record_attempt(each, workload, entry)
                report.retimed_defaults.append(task.task_name)
            for task in pending:
                mod = task.dispatched[0]
                builder, runner = measurer(task)
                before = cpu_usage() if ctx.target.measured_on_host_cpu else None
                # The default schedule, timed by the same runner as the candidates: it seeds the
                # search, and applying keeps the faster of it and the best record
                default_s = time_default_schedule(mod, builder, runner, ctx)
                try:
                    scratch, trials = _run_tuner(task, mod, budget, builder, runner, ctx, db, default_s)
                except SEARCH_ERRORS as exc:  # this kernel keeps its default schedule; the others go on
                    if _lost_device(exc):
                        raise
                    report.failed.append(task.task_name)
                    error = f"{type(exc).__name__}: {first_line(exc)}"
                    db.record_attempt(budget, workload_hash(mod), {"task": task.task_name, "ok": False, "error": error})
                    continue
                report.trials += trials
                merge_best(scratch, db.open(budget), [mod])
                tuned_s = best_run_s(scratch, mod)
                ok = tuned_s is not None
                (report.tuned_now if ok else report.failed).append(task.task_name)
                entry = {"task": task.task_name, "ok": ok, "trials": trials, "tuned_s": tuned_s}
                entry["default_s"] = default_s if ok else None
                # The best record and the default timed again, alternately: what applying decides by
                entry["side_by_side"] = time_side_by_side(mod, scratch, builder, runner, ctx) if ok else None
                entry["default_kernels"] = kernels
                after = cpu_usage() if before is not None else None
                if before is not None and after is not None:
                    load = round(foreign_load(before, after), 3)
                    entry["foreign_load_cores"] = load
                    report.foreign_load = max(report.foreign_load or 0.0, load)
                db.record_attempt(budget, workload_hash(mod), entry)
        report.wall_s = time.perf_counter() - start
    return report


@contextmanager
def _closing(measurers: dict[str, tuple[Any, Any]]) -> Iterator[None]:
    """Shut the runners' worker pools down when tuning ends, as TVM's pools ask: left to the
    garbage collector, each runner's worker process outlived the tuning (five idle processes
    after a sparse model's five sparse kernels) while the trial went on to time its builds."""
    try:
        yield
    finally:
        for _, runner in measurers.values():
            pool = getattr(runner, "pool", None)
            if pool is not None:
                pool.shutdown(wait=True)


def _default_scheduled(mod: Any, ctx: BuildContext) -> Any:
    """A task's module under the algorithm layer's default schedule (``mod`` is left as it is)."""
    import tvm

    copy = tvm.IRModule(dict(mod.functions.items()))  # scheduling replaces functions in place
    return apply_default_schedules(copy, ctx.tvm_target)


def _time_in_turn(
    scheduled: list[Any], builder: Any, runner: Any, ctx: BuildContext, rounds: int
) -> list[list[float]] | None:
    """Seconds per run of each scheduled module, built once each and timed ``rounds`` times in
    turn (a, b, a, b, ...) exactly as MetaSchedule's candidates are; None when any does not build or run."""
    from tvm.s_tir import meta_schedule as ms

    built = builder.build([ms.builder.BuilderInput(each, ctx.tvm_target) for each in scheduled])
    if any(each.error_msg is not None for each in built):
        return None
    device = "cuda" if ctx.tvm_target.kind.name == "cuda" else "cpu"  # the runner names devices
    args_info = ms.arg_info.ArgInfo.from_prim_func(next(iter(scheduled[0].functions.values())))
    requests = [ms.runner.RunnerInput(each.artifact_path, device_type=device, args_info=args_info) for each in built]
    times: list[list[float]] = [[] for _ in requests]
    for _ in range(rounds):
        for index, request in enumerate(requests):
            (future,) = runner.run([request])
            result = future.result()
            seconds = None if result.error_msg is not None else mean_run_s(result.run_secs)
            if seconds is None:
                return None
            times[index].append(seconds)
    return times


def time_default_schedule(mod: Any, builder: Any, runner: Any, ctx: BuildContext) -> float | None:
    """Seconds per run of the algorithm layer's default schedule of a task's kernel, built and
    timed exactly as MetaSchedule's candidates are (None when it does not build or run)."""
    times = _time_in_turn([_default_scheduled(mod, ctx)], builder, runner, ctx, rounds=1)
    return None if times is None else times[0][0]


#: Times each of a kernel's best record and its default schedule is run, alternately, to decide between them.
SIDE_BY_SIDE_ROUNDS = 3


def time_side_by_side(mod: Any, records: Any, builder: Any, runner: Any, ctx: BuildContext) -> dict[str, Any] | None:
    """A kernel's default schedule and its best record in ``records``, each built once and timed
    ``SIDE_BY_SIDE_ROUNDS`` times alternately by the same runner: ``{"default_s", "tuned_s"}``,
    the medians (None when either does not build or run, or the record does not replay).

    The search times each candidate once, minutes apart from the default; on a shared machine
    whose speed halves for seconds at a time, one such timing decided tuned against default by
    the spell it fell in (a MobileNetV2 kernel's default: 354 us alone, 261 us in the model).
    Timed in turn, both meet the same spells.
    """
    import statistics

    try:
        tuned = records.query_schedule(mod, ctx.tvm_target, "main")
    except Exception:  # noqa: BLE001  (a record that does not replay: nothing to compare)
        return None
    if tuned is None:
        return None
    times = _time_in_turn([_default_scheduled(mod, ctx), tuned.mod], builder, runner, ctx, SIDE_BY_SIDE_ROUNDS)
    if times is None:
        return None
    return {"default_s": statistics.median(times[0]), "tuned_s": statistics.median(times[1])}


def _run_tuner(
    task: Any,
    mod: Any,
    budget: int,
    builder: Any,
    runner: Any,
    ctx: BuildContext,
    db: TuningDatabase,
    default_s: float | None,
) -> tuple[Any, int]:
    """Run MetaSchedule on one task into a fresh scratch database (a budget-N run starts from
    nothing, so its records cost N trials per kernel and no more).

    On a CPU the search starts from what dse knows: its design spaces are TVM's own
    (``post-order-apply``) and dse's default schedule with sampled register tiles
    (:func:`default_space`), and the default schedule's trace, timed (``default_s``), is the
    scratch database's first record, so the evolutionary search mutates it from its first round.
    Where TVM's own rules fail on the kernel (on a Winograd F(4) kernel with a residual add they
    raised out of the search, which ended the trial), it searches dse's space alone.
    Returns the scratch database and the candidates measured (the seed not counted).
    """
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.utils import fork_seed

    from search_spaces.targets.cuda import is_gpu_target

    preload_tensor_intrinsics()
    (logger,) = _ms_loggers(str(db.folder), [task.task_name])
    _quiet_console()
    on_cpu = not is_gpu_target(ctx.tvm_target)  # dse's default schedules are CPU schedules
    for tvm_rules in (True, False) if on_cpu else (True,):
        scratch = ms.database.MemoryDatabase()
        space, seeded = _design_space(scratch, mod, ctx.tvm_target, default_s, tvm_rules, dse_space=on_cpu)
        (seed,) = fork_seed(0, n=1)
        context = ms.TuneContext(
            mod=mod,
            target=ctx.tvm_target,
            space_generator=space,
            search_strategy=_search_strategy(budget),
            task_name=task.task_name,
            logger=logger,
            rand_state=seed,
            num_threads="physical",
        ).clone()
        try:
            ms.tune.tune_tasks(
                tasks=[context],
                task_weights=[1.0],
                work_dir=str(db.folder),
                max_trials_global=budget,
                max_trials_per_task=budget,
                num_trials_per_iter=min(TRIALS_PER_ROUND, budget),
                builder=builder,
                runner=runner,
                database=scratch,
                cost_model="xgb",
            )
        except SEARCH_ERRORS as exc:
            if not (on_cpu and tvm_rules) or _lost_device(exc):
                raise
            logger.warning("TVM's design space failed (%s: %s): searching dse's alone", type(exc).__name__, exc)
            continue
        return scratch, len(scratch) - seeded
    raise AssertionError("unreachable: the last search returns or raises")


def _design_space(
    scratch: Any, mod: Any, target: Any, default_s: float | None, tvm_rules: bool, dse_space: bool
) -> tuple[Any, int]:
    """The space generator of TVM's ``post-order-apply`` (``tvm_rules``) and dse's default space
    (``dse_space``), and whether the default's trace, timed at ``default_s``, seeded ``scratch`` (1) or not (0)."""
    from tvm.s_tir import meta_schedule as ms

    spaces: list[Any] = [ms.space_generator.PostOrderApply()] if tvm_rules else []
    if not dse_space:
        return spaces[0], 0
    spaces.append(ms.space_generator.ScheduleFn(_default_space_of(target)))
    seeded = _seed_with_default(scratch, mod, target, default_s)
    return (spaces[0] if len(spaces) == 1 else ms.space_generator.SpaceGeneratorUnion(spaces)), seeded


#: What a search raises when a schedule rule cannot apply to a kernel (TVM's errors come through
#: its FFI as ValueError or RuntimeError), unless it lost its device (:func:`_lost_device`).
SEARCH_ERRORS: tuple[type[BaseException], ...] = (ValueError, RuntimeError)


def _lost_device(exc: BaseException) -> bool:
    """Whether ``exc`` says the device went away (an RPC session), not that the kernel cannot be
    searched: that is the trial's failure, and the kernel is searched again by the next one."""
    import tvm

    return isinstance(exc, tvm.error.RPCError)


#: Candidates measured per round of the evolutionary search: at 64 trials per kernel, 4 rounds,
#: each mutating the best measured so far (one round of 64 was a random sample of the spaces).
TRIALS_PER_ROUND = 16


def _default_space_of(target: Any) -> Any:
    """``ScheduleFn``'s function: :func:`default_space` for ``target``."""
    from search_spaces.algorithms.schedules import default_space

    def schedule(sch: Any) -> None:
        default_space(sch, target)

    return schedule


def _seed_with_default(scratch: Any, mod: Any, target: Any, default_s: float | None) -> int:
    """Commit the default schedule's trace, timed at ``default_s``, to ``scratch``; 1 if it was."""
    from tvm import s_tir
    from tvm.s_tir import meta_schedule as ms

    if default_s is None:
        return 0
    sch = s_tir.Schedule(mod)
    _default_space_of(target)(sch)
    prim_func = next(iter(mod.functions.values()))
    record = ms.database.TuningRecord(
        sch.trace,
        scratch.commit_workload(mod),
        run_secs=[default_s],
        target=target,
        args_info=ms.arg_info.ArgInfo.from_prim_func(prim_func),
    )
    scratch.commit_tuning_record(record)
    return 1


def _fast_stack(context: int = 1) -> list[Any]:
    """``inspect.stack()`` without ``inspect.getmodule`` (it scans all of ``sys.modules`` per frame)."""
    import inspect
    import linecache
    import sys

    frame: Any = sys._getframe(1)
    stack = []
    while frame is not None:
        code = frame.f_code
        line = linecache.getline(code.co_filename, frame.f_lineno)
        stack.append(
            inspect.FrameInfo(
                frame, code.co_filename, frame.f_lineno, code.co_name, [line] if line else None, 0 if line else None
            )
        )
        frame = frame.f_back
    return stack


def preload_tensor_intrinsics() -> None:
    """Import ``tvm.s_tir.tensor_intrin`` (which every TuneContext imports) quickly.

    It parses about 250 TVMScript functions, and the parser calls ``inspect.stack()`` for each;
    with torch loaded (3000 modules) that took 85 s on 2 cores, 13 s with this stand-in, which
    keeps what the parser reads (frames, their locals and source lines).
    """
    import inspect
    import sys

    if "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    original = inspect.stack
    inspect.stack = _fast_stack
    try:
        import tvm.s_tir.tensor_intrin  # noqa: F401
    finally:
        inspect.stack = original


def _ms_loggers(folder: str, names: list[str]) -> list[Any]:
    """MetaSchedule's per-task loggers. Its logging config names every handler of its logger,
    so a handler someone attached without a name (pytest's log capture does) is set aside
    while the config is applied, then put back."""
    import logging

    from tvm.s_tir.meta_schedule.logging import get_loggers_from_work_dir

    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    unnamed = [handler for handler in logger.handlers if handler.get_name() is None]
    for handler in unnamed:
        logger.removeHandler(handler)
    # Its console handler is made at the logger's level: WARNING keeps "Logging directory" and the
    # progress tables in the log files (the config then sets the logger itself back to DEBUG).
    logger.setLevel(logging.WARNING)
    try:
        return list(get_loggers_from_work_dir(folder, names))
    finally:
        for handler in unnamed:
            logger.addHandler(handler)


def _quiet_console() -> None:
    """Keep MetaSchedule's progress tables in its log files, off the trial's console."""
    import logging

    for handler in logging.getLogger("tvm.s_tir.meta_schedule").handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)


def _search_strategy(budget: int) -> Any:
    """Evolutionary search sized to the budget: the default population (512) costs more
    search time than measuring a small budget does."""
    from tvm.s_tir import meta_schedule as ms

    return ms.search_strategy.EvolutionarySearch(
        population_size=max(64, min(512, 4 * budget)),
        init_min_unmeasured=min(50, max(8, budget)),
        genetic_num_iters=3,
    )


def apply_records(
    mod: Any, tasks: list[Any], budget: int, db: TuningDatabase, ctx: BuildContext
) -> tuple[Any, list[str], list[str]]:
    """Replace each PrimFunc that has a record at a budget <= ``budget`` with its best schedule,
    where that beat the default schedule when both were timed.

    Returns the module, the names of the functions that got a tuned schedule, and the tasks
    whose default schedule measured faster than their best record (they keep it); which record
    each task got goes to ``ctx.info["tuning_records"]`` (workload hash -> budget, run time,
    digest, the default's run time).
    """
    import tvm
    from tvm import tirx

    with db.locked(exclusive=False):
        mods = [t.dispatched[0] for t in tasks]
        database, chosen = db.applicable(budget, mods, kernels_version())
        state = db.record_state(budget, [workload_hash(m) for m in mods])
    ctx.info["tuning_records"] = chosen
    ctx.info["tuning_state"] = state
    applied: list[str] = []
    mismatched: list[str] = []
    mod = tvm.IRModule(dict(mod.functions.items()), attrs=mod.attrs)  # scheduled functions replace these
    with ctx.tvm_target, tvm.transform.PassContext(opt_level=3):
        for gv, func in list(mod.functions.items()):
            if not isinstance(func, tirx.PrimFunc) or "tirx.is_scheduled" in (func.attrs or {}):
                continue
            scheduled = _query_schedule(database, func, ctx.tvm_target, gv.name_hint)
            if scheduled is _MISMATCH:
                mismatched.append(gv.name_hint)
            elif scheduled is not None:
                mod.update_func(gv, scheduled)
                applied.append(gv.name_hint)
    # MetaSchedule matches records structurally, and structural equality ignores block names:
    # a kernel whose blocks are numbered otherwise (FuseTIR names them per module) matches a
    # record whose trace cannot find them. It keeps its default schedule instead of failing.
    ctx.info["tuning_records_mismatched"] = sorted(mismatched)
    kept_default = [
        t.task_name for t in tasks if (chosen.get(workload_hash(t.dispatched[0])) or {}).get("kept_default")
    ]
    return mod, sorted(applied), sorted(kept_default)


#: What :func:`_query_schedule` returns for a record whose trace does not replay on the kernel.
_MISMATCH = object()


def _query_schedule(database: Any, func: Any, target: Any, name: str) -> Any:
    """``func`` scheduled by its record in ``database``, None without one, or ``_MISMATCH``."""
    import tvm
    from tvm import s_tir

    task = tvm.IRModule({"main": func.with_attr("global_symbol", "main")})
    try:
        sch = database.query_schedule(task, target, name)
    except (s_tir.ScheduleError, tvm.error.InternalError):
        return _MISMATCH
    if sch is None:
        return None
    return sch.mod["main"].with_attr("global_symbol", name).with_attr("tirx.is_scheduled", True)


def current_records(folder: Path, budget: int, workloads: list[str]) -> dict[str, list[int]]:
    """Per workload, the budgets <= ``budget`` that hold a record for it now.

    A record of (workload, budget) never changes once written (each is tuned once), so this
    decides which record :func:`apply_records` applies: a cached result whose state differs
    was built from other records and is stale.
    """
    db = TuningDatabase(folder)
    with db.locked(exclusive=False):
        return db.record_state(budget, workloads)
