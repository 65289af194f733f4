"""Default CPU schedules: what "untuned" means for every algorithm.

``apply_default_schedules(mod, target)`` schedules each PrimFunc that is not marked
scheduled: blocks named ``dse_<rule>`` (see ``_rules``) get their algorithm's hand-written
schedule (parallel outer loop, register tile, vectorized inner loop), injective helpers
(padding of TOPI convs, layout unpacks, constant matrices, elementwise chains) are inlined,
epilogues are moved under the conv's parallel loop when TVM can prove it legal, and every
other block gets a generic rule (fuse and parallelize the outer data-parallel loops,
vectorize the innermost when the block is elementwise). Any rule that TVM rejects falls back
to the generic rule, then to the unscheduled function: a schedule never breaks a build.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from dse.core.errors import first_line
from dse.core.provenance import source_digest
from search_spaces.algorithms._conv import vector_lanes, vector_registers
from search_spaces.algorithms._rules import RULES, Env, loop_extent

_log = logging.getLogger(__name__)

#: Blocks that are always inlined into their consumer when TVM allows it.
INLINE = ("dse_unpack", "dse_unflatten", "dse_im2col_view", "dse_winograd_tile", "dse_winograd_out")
#: Attribute marking a scheduled PrimFunc (TVM 0.27 reads ``tirx.``; ``tir.`` kept for older readers).
SCHEDULED_ATTRS = ("tirx.is_scheduled", "tir.is_scheduled")


@functools.cache
def kernels_version() -> str:
    """The digest of the algorithm layer's source (its kernels and these default schedules).

    A timing of a default-scheduled kernel holds only for the code that built it: the per-layer
    choice and MetaSchedule's tuned-versus-default decision key their timings by this, so after
    any change here they time the new kernels instead of deciding from the old ones' speeds.
    Read once per process: it names the code this process runs, not files edited since.
    """
    return source_digest(("search_spaces/algorithms",))


def is_scheduled(func: Any) -> bool:
    attrs = func.attrs or {}
    return any(key in attrs and bool(attrs[key]) for key in SCHEDULED_ATTRS)


def apply_default_schedules(mod: Any, target: Any, report: dict[str, str] | None = None) -> Any:
    """Schedule every unscheduled PrimFunc of ``mod`` for ``target``; mark them scheduled.

    ``report``, when given, receives for each function which plan worked: ``rules`` (the
    algorithm's rule plus generic), ``generic`` (a rule failed: generic only) or
    ``unscheduled: <error>``. GPU targets are returned unchanged: these are CPU schedules, and
    TVM's GPU pipeline gives unscheduled kernels DLight's thread-bound schedules.
    """
    from tvm import tirx

    from search_spaces.targets.cuda import is_gpu_target

    if is_gpu_target(target):
        return mod
    updates = {}
    for gvar, func in mod.functions.items():
        if isinstance(func, tirx.PrimFunc) and not is_scheduled(func):
            new, how = schedule_function(func, target)
            if report is not None:
                report[gvar.name_hint] = how
            for key in SCHEDULED_ATTRS:
                new = new.with_attr(key, True)
            updates[gvar] = new
    for gvar, func in updates.items():
        mod[gvar] = func
    return mod


def schedule_function(func: Any, target: Any) -> tuple[Any, str]:
    """Scheduled copy of ``func`` and the plan used: the algorithm rules, else generic, else none."""
    error = ""
    for plan in ("rules", "generic"):
        try:
            return _schedule(func, target, plan == "rules"), plan
        except Exception as exc:  # noqa: BLE001  (a ScheduleError or TVMError: try the simpler plan)
            error = error or first_line(exc)
            _log.debug("schedule plan %s failed: %s", plan, exc)
    return func, f"unscheduled: {error}"


def _rule_for(name: str) -> Any:
    for prefix in sorted(RULES, key=len, reverse=True):
        if name == prefix or (name.startswith(prefix + "_") and not name.endswith(("_local", "_global"))):
            return RULES[prefix]
    return None


def _root_blocks(sch: Any) -> list[Any]:
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def _inline_helpers(sch: Any, anchors: set[str]) -> None:
    """Inline non-anchor injective blocks (elementwise chains, unpacks, TOPI's padding)."""
    changed = True
    while changed:
        changed = False
        for block in reversed(_root_blocks(sch)):
            name = sch.get(block).name_hint
            if name in anchors or (name.startswith("dse_") and name not in INLINE):
                continue
            try:
                sch.compute_inline(block)
                changed = True
            except Exception:  # noqa: BLE001  (the output block, or not injective)
                continue


def default_space(sch: Any, target: Any) -> None:
    """MetaSchedule's design space seeded by the default schedule: ``sch`` (a traced schedule of
    one kernel, ``main``) gets the plan :func:`schedule_function` picks for it, with every register
    tile a perfect-tile sample decided as that plan decides it (``Env.tunable``). The trace with
    its decisions is the default schedule itself; the tuner's tile mutations are its neighbours.
    A kernel no plan schedules is left as it is."""
    _, plan = schedule_function(sch.mod["main"], target)
    if plan in ("rules", "generic"):
        _schedule_into(sch, target, plan == "rules", tunable=True)


def _schedule(func: Any, target: Any, use_rules: bool) -> Any:
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    _schedule_into(sch, target, use_rules)
    return sch.mod["main"]


def _schedule_into(sch: Any, target: Any, use_rules: bool, tunable: bool = False) -> None:
    threads = int(target.attrs.get("num-cores", 1)) if target is not None else 1
    registers = vector_registers(target)
    anchors = {sch.get(b).name_hint for b in _root_blocks(sch) if use_rules and _rule_for(sch.get(b).name_hint)}
    _inline_helpers(sch, anchors)
    attach: Any = None
    others = []  # blocks present before the rules run (the rules add init / write-back blocks)
    for block in _root_blocks(sch):
        name = sch.get(block).name_hint
        if name in anchors:
            env = Env(sch, vector_lanes(target, _dtype(sch, block)), threads, registers, tunable)
            attach = _rule_for(name)(env, block) or attach
        else:
            others.append(block)
    for block in others:
        name = sch.get(block).name_hint
        if _nested(sch, block):
            continue  # a rule computed it inside its own loops
        epilogue = not name.startswith("dse_") or name in INLINE
        if attach is not None and epilogue and _attach_epilogue(sch, block, attach, target):
            continue
        generic(Env(sch, vector_lanes(target, _dtype(sch, block)), threads, registers), block)


def _nested(sch: Any, block: Any) -> bool:
    """Whether a rule already computed ``block`` under its parallel loop (``_rules`` computes a
    depthwise conv's padding there): before any generic rule runs, only a rule made it parallel."""
    from tvm import tirx

    loops = sch.get_loops(block)
    return bool(loops) and sch.get(loops[0]).kind == tirx.ForKind.PARALLEL


def _dtype(sch: Any, block: Any) -> str:
    writes = sch.get(block).writes
    return str(writes[0].source.dtype) if writes else "float32"


def _attach_epilogue(sch: Any, block: Any, loop: Any, target: Any) -> bool:
    """Compute an epilogue under the conv's parallel loop; vectorize its innermost loop."""
    if _into_register_write_back(sch, block):
        return True
    try:
        sch.reverse_compute_at(block, loop, preserve_unit_loops=True)
    except Exception:  # noqa: BLE001  (region not provably covered: schedule it on its own)
        return False
    loops = sch.get_loops(block)
    inner = loops[-1]
    lanes = vector_lanes(target, _dtype(sch, block))
    extent = loop_extent(sch, inner)
    try:
        if extent > 4 * lanes and extent % lanes == 0:
            _, inner = sch.split(inner, [None, lanes])
        if extent <= 4 * lanes or extent % lanes == 0:
            sch.vectorize(inner)
    except Exception:  # noqa: BLE001
        pass
    return True


def _into_register_write_back(sch: Any, block: Any) -> bool:
    """Apply an elementwise epilogue to the register tile as it is written back (the rule's
    ``cache_write`` copy), where it reads the conv's output at the same indices: the conv's
    output is then never stored whole and read again."""
    producers = sch.get_producers(block)
    if len(producers) != 1 or not sch.get(producers[0]).name_hint.endswith("_local"):
        return False
    write_back = sch.get(producers[0])
    conv_out = write_back.writes[0].source
    if [int(d) for d in conv_out.shape] != [int(d) for d in sch.get(block).writes[0].source.shape]:
        return False  # an unpack to NCHW: its scattered stores would not vectorize
    try:
        sch.reverse_compute_inline(block)
    except Exception:  # noqa: BLE001  (not a one-to-one elementwise consumer)
        return False
    return True


def generic(env: Env, block: Any) -> None:
    """Fuse and parallelize the outer data-parallel loops; vectorize elementwise innermost loops."""
    sch = env.sch
    loops = sch.get_loops(block)
    iters = sch.get(block).iter_vars
    if len(loops) != len(iters) or not loops:
        return  # already transformed by someone else: leave it
    spatial = 0
    while spatial < len(iters) and int(iters[spatial].iter_type) == 0:
        spatial += 1
    if spatial == 0:
        return
    if spatial < len(iters) and _vector_under_reduction(env, block, loops, spatial):
        return
    elementwise = spatial == len(iters)
    vec = None
    if elementwise:
        inner = loops[spatial - 1]
        extent = loop_extent(sch, inner)
        if extent % env.lanes == 0 and extent > env.lanes:
            loops = list(loops[: spatial - 1]) + list(sch.split(inner, [None, env.lanes]))
            spatial += 1
            vec = loops[spatial - 1]
        elif extent <= 4 * env.lanes and spatial > 1:
            vec = inner
    outer_count = spatial - (1 if vec is not None else 0)
    if elementwise:
        outer_count = _enough_parallel_loops(env, loops[:outer_count])
    if outer_count > 0:
        fused = sch.fuse(*loops[:outer_count]) if outer_count > 1 else loops[0]
        if loop_extent(sch, fused) > 1:
            sch.parallel(fused)
    if vec is not None:
        sch.vectorize(vec)


#: Parallel iterations per thread an elementwise loop nest is cut into; the loops below them
#: stay serial.
CHUNKS_PER_THREAD = 32


def _enough_parallel_loops(env: Env, loops: list[Any]) -> int:
    """How many of the outer ``loops`` to fuse into the parallel loop: the fewest that give every
    thread ``CHUNKS_PER_THREAD`` iterations. Fusing them all made one parallel iteration per
    vector (or per value), each recomputing its indices by division: padding MobileNetV2's
    3-channel input ran 153k iterations of one float."""
    product = 1
    for count, loop in enumerate(loops, start=1):
        product *= loop_extent(env.sch, loop)
        if product >= CHUNKS_PER_THREAD * max(env.threads, 1):
            return count
    return len(loops)


def _vector_under_reduction(env: Env, block: Any, loops: list[Any], spatial: int) -> bool:
    """A reduction whose innermost data-parallel axis is a vector (pooling in the packed layout,
    where that axis is the channel block): move the reduction above it and vectorize it, so each
    window element is one vector max or add; the generic rule ran it scalar (ResNet-18's
    max pool: 1 ms of 37). False, leaving ``block`` as it was, where the axis is no vector."""
    sch = env.sch
    inner = loops[spatial - 1]
    extent = loop_extent(sch, inner)
    if spatial < 2 or (extent % env.lanes != 0 and not 4 <= extent <= env.lanes):
        return False
    outer = list(loops[: spatial - 1])
    vec_loops = [inner]
    if extent > env.lanes:
        vec_loops = list(sch.split(inner, [None, env.lanes]))
        outer.append(vec_loops[0])
    sch.reorder(*outer, *loops[spatial:], vec_loops[-1])
    fused = sch.fuse(*outer) if len(outer) > 1 else outer[0]
    if loop_extent(sch, fused) > 1:
        sch.parallel(fused)
    sch.vectorize(vec_loops[-1])
    init = sch.decompose_reduction(block, loops[spatial])
    sch.vectorize(sch.get_loops(init)[-1])
    return True
