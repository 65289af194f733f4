"""Per-layer algorithm choice: every convolution workload gets the algorithm that is fastest on it.

The best algorithm differs from layer to layer (``bench/algorithms.py``: spatial pack on 3x3 and
7x7, GEMM or direct on 1x1, Winograd on wide 3x3), so one algorithm per trial leaves time on the
table. For each distinct workload of the model (shape, stride, padding, dilation, groups,
dtypes) every dense candidate is lowered on that layer alone, given its default schedule,
compiled for the trial's target and timed on it under the measurement lock (nothing else of
dse runs on the CPU meanwhile); the fastest is used. The candidates are built first and then
timed in turn, ``ROUNDS`` times, each keeping the median of its rounds: a virtual CPU has slow
spells of seconds, and one candidate timed alone in one would lose a layer it wins (ResNet-18's
512-channel 3x3 went to Winograd in one build and to spatial pack, 1.08 against 1.24 ms, in
the next). Each run is timed with the CPU's caches evicted first (``evict_caches``): in a
model, a layer's weights come back from memory after the other layers' have passed through
the caches, and run after run on one layer they stay cached. Winograd's transformed weights
are 1.8x (F(2)) and 4x (F(4)) a 3x3 conv's: warm, F(4) won ResNet-18's 256-channel layers
(0.48 against 0.51 ms), cold F(2) did (0.77 against 0.96), and the model with F(2) there ran
x0.974 of the one with F(4), over 12 passes in turn. Decisions are kept per exact target and
thread count in ``<tuning db>/per-layer-<target key>.json``, shared by trials, studies and
workers like tuning records, so a workload is timed once per version of the kernels
(``kernels_version``). Each layer's record says what was chosen, from which timings
(``per_layer`` in ``info["algorithm_layers"]``).

The model keeps spatial pack's packed layout flow (NCHW[x]c between the layers it packs), and
each layer is timed in the layouts it has in the model: a packed layer's candidates are those
that take the packed layout (spatial pack and Winograd), a layer left in NCHW has them all. So
a layer is never chosen for a speed it has only with its input converted, and layers mix with
layout conversions at the graph's edges only. Timing needs the device at hand: only a target
that is this host's own CPU (a board would need an RPC session per workload, an emulated one
gives no timings).
"""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.files import atomic_write, file_lock, stable_hash
from search_spaces._base import Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable
from search_spaces.algorithms._lowering import lower_module
from search_spaces.algorithms.schedules import kernels_version
from search_spaces.algorithms.spatial_pack import flow_packed_layout

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

#: (algorithm, its parameters): the dense NCHW candidates timed on each workload.
CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("direct", {"layout": "nchw"}),
    ("im2col_gemm", {"layout": "nchw"}),
    ("spatial_pack", {}),
    ("winograd", {"tile": 2}),
    ("winograd", {"tile": 4}),
)
#: Timing protocol: every candidate is timed once per round, the rounds one after another, and
#: each round takes the median of ``REPEAT`` runs, each after ``evict_caches``. Part of the
#: decisions' key: decisions timed otherwise are redone.
ROUNDS, REPEAT = 3, 5
PROTOCOL = f"in-turn-{ROUNDS}x{REPEAT}-cold"
#: The global function TVM's timer calls before each run (``f_preproc``).
EVICT_CACHES = "dse.evict_caches"


def workload_key(spec: ConvSpec) -> str:
    """Everything of a conv that decides its speed (the weight's values do not, for dense code)."""
    fields = (
        spec.batch, spec.in_channels, spec.height, spec.width, spec.out_channels, spec.kernel_h, spec.kernel_w,
        spec.stride_h, spec.stride_w, spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right,
        spec.dilation_h, spec.dilation_w, spec.groups, spec.data_layout, spec.in_dtype, spec.weight_dtype,
        spec.out_dtype, spec.in_block, spec.out_block,
    )  # fmt: skip
    return "x".join(str(f) for f in fields)


def _label(name: str, params: dict[str, Any]) -> str:
    return name + "".join(f"/{key}={value}" for key, value in sorted(params.items()))


def _input_shape(spec: ConvSpec) -> tuple[int, ...]:
    """The layer's input as the model holds it: NCHW, or packed ``[N, C / x, H, W, x]``."""
    if spec.in_block:
        return (spec.batch, spec.in_channels // spec.in_block, spec.height, spec.width, spec.in_block)
    return (spec.batch, spec.in_channels, spec.height, spec.width)


def _one_conv(spec: ConvSpec) -> Any:
    """A Relax module ``main(x) = conv2d(x, weight)`` of exactly ``spec``'s layer, in its layouts."""
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(list(_input_shape(spec)), spec.in_dtype))
    with bb.function("main", [x]):
        with bb.dataflow():
            conv = relax.op.nn.conv2d(
                x,
                relax.const(spec.require_constant_weight()),
                strides=(spec.stride_h, spec.stride_w),
                padding=(spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right),
                dilation=(spec.dilation_h, spec.dilation_w),
                groups=spec.groups,
                data_layout=f"NCHW{spec.in_block}c" if spec.in_block else "NCHW",
                out_layout=f"NCHW{spec.out_block}c" if spec.out_block else "NCHW",
                out_dtype=spec.out_dtype,
            )
            out = bb.emit_output(bb.emit(conv))
        bb.emit_func_output(out)
    return bb.get()


def time_candidates(spec: ConvSpec, target: Any, timing_lock: Callable[[], Any]) -> dict[str, float]:
    """Milliseconds of each applicable candidate on ``spec`` alone (default schedules): the median
    of ``ROUNDS`` timings taken in turn with the others', each inside a fresh ``timing_lock()``."""
    from types import SimpleNamespace

    import numpy as np
    import tvm
    from tvm import relax

    from search_spaces.algorithms.schedules import apply_default_schedules

    rng = np.random.default_rng(0)
    shape = _input_shape(spec)
    if spec.is_float:
        x = rng.standard_normal(shape).astype(spec.in_dtype)
    else:
        x = rng.integers(-8, 8, shape).astype(spec.in_dtype)
    timers: dict[str, Any] = {}
    for name, params in CANDIDATES:
        ctx = SimpleNamespace(tvm_target=target, info={})  # all that lowering reads of a BuildContext
        try:
            lowered = lower_module(_one_conv(spec), _AsLaidOut(ALGORITHMS.get(name)), ALGORITHMS.get, params, ctx)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 (a candidate that does not lower is not a candidate)
            continue
        if [layer["algorithm"] for layer in ctx.info["algorithm_layers"]] != [name]:
            continue  # it fell back (Winograd on a 1x1): the fallback is timed as itself
        vm = relax.VirtualMachine(tvm.compile(apply_default_schedules(lowered, target), target), tvm.cpu())
        timers[_label(name, params)] = vm.time_evaluator(
            "main", tvm.cpu(), number=1, repeat=REPEAT, f_preproc=_register_evict_caches()
        )
    data = tvm.runtime.tensor(x)
    rounds: dict[str, list[float]] = {label: [] for label in timers}
    for _ in range(ROUNDS):
        for label, timer in timers.items():
            with timing_lock():
                rounds[label].append(float(timer(data).median * 1e3))
    return {label: statistics.median(ms) for label, ms in rounds.items()}


@functools.cache
def _register_evict_caches() -> str:
    """Register ``EVICT_CACHES``: a write to every cache line of twice the last-level cache,
    which leaves nothing of a timed layer (weights, workspace, input) cached. Returns its name."""
    import numpy as np
    import tvm_ffi

    from search_spaces.targets import last_level_cache_bytes

    lines = np.zeros(2 * last_level_cache_bytes() // 4, dtype=np.float32)

    def evict_caches(*_: Any) -> None:
        lines[::16] += 1.0  # one float per 64-byte line: every line is fetched and dirtied

    tvm_ffi.register_global_func(EVICT_CACHES, evict_caches, override=True)
    return EVICT_CACHES


class _AsLaidOut:
    """A candidate lowering one layer already in the layouts it has in the model: its own
    whole-module rewrite (spatial pack's layout flow) would convert it again."""

    def __init__(self, algorithm: ConvAlgorithm) -> None:
        self._algorithm = algorithm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._algorithm, name)

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        return mod


#: Decisions this process has taken or read, per (decisions file or target, workload).
_SEEN: dict[str, dict[str, float]] = {}


class _Decisions:
    """The per-workload decisions of one exact target, in one JSON file shared by processes
    (``path``), or for this process only (``path`` None: a bare lowering context)."""

    def __init__(self, path: Path | None, scope: str) -> None:
        self.path = path
        self.scope = str(path) if path is not None else scope

    def get(self, key: str) -> dict[str, float] | None:
        seen = _SEEN.get(f"{self.scope}|{key}")
        if seen is not None or self.path is None or not self.path.exists():
            return seen
        try:
            return json.loads(self.path.read_text()).get(key)
        except (OSError, ValueError):  # unreadable: time again (and rewrite it)
            return None

    def put(self, key: str, timings: dict[str, float]) -> None:
        _SEEN[f"{self.scope}|{key}"] = timings
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            try:
                known = json.loads(self.path.read_text()) if self.path.exists() else {}
            except (OSError, ValueError):
                known = {}
            known[key] = timings
            with atomic_write(self.path) as partial:
                partial.write_text(json.dumps(known, indent=1, sort_keys=True))


def _decisions(ctx: BuildContext) -> _Decisions:
    target = ctx.tvm_target
    config = dict(target.export()) if hasattr(target, "export") else dict(target)
    key = f"{config.get('mcpu') or config.get('kind')}-{stable_hash(config, 8)}"
    tuning_db = getattr(ctx, "tuning_db", None)
    if tuning_db is None:  # a bare lowering context (tests, benchmarks): this process only
        return _Decisions(None, key)
    return _Decisions(Path(tuning_db) / f"per-layer-{key}.json", key)


def _timing_lock(ctx: BuildContext) -> Any:
    from dse.core.config import DeviceOptions
    from search_spaces.targets import measurement_lock

    target = getattr(ctx, "target", None)
    if target is None:
        return measurement_lock("x86", DeviceOptions(), True)
    return measurement_lock(target.name, ctx.device_options, target.measured_on_host_cpu)


@ALGORITHMS.register("per_layer")
class PerLayer(ConvAlgorithm):
    description = (
        "per convolution workload the fastest of direct, im2col_gemm, spatial_pack and winograd (those that "
        "take the layer's layout in spatial pack's packed flow), timed on each layer alone and cached per target"
    )
    delegates: ClassVar[bool] = True
    opt_in = True  # seconds of timing per new workload: searched only when named (--algorithms)

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        return flow_packed_layout(mod, ctx.tvm_target)

    def incompatibility(self, config: Any) -> str | None:
        from search_spaces.targets import TARGETS

        if not TARGETS.get(config.target).runs_here():
            return "per-layer choice times each layer on this host's CPU, which cannot run this target's code"
        return None

    def delegate(self, spec: ConvSpec, params: Params, ctx: BuildContext) -> tuple[str, Params, dict[str, Any]]:
        decisions = _decisions(ctx)
        key = (
            f"threads={getattr(ctx, 'threads', None)}|kernels={kernels_version()}|timing={PROTOCOL}|"
            f"{workload_key(spec)}"
        )
        timings = decisions.get(key)
        cached = timings is not None
        if timings is None:
            if spec.weight is None:
                raise NotApplicable("per-layer choice needs a constant weight to time the layer")
            timings = time_candidates(spec, ctx.tvm_target, lambda: _timing_lock(ctx))
            decisions.put(key, timings)
        if not timings:
            raise NotApplicable("no candidate algorithm lowers this layer")
        best = min(timings, key=lambda label: timings[label])
        name, _, rest = best.partition("/")
        chosen = dict(item.split("=", 1) for item in rest.split("/") if item)
        typed: Params = {k: int(v) if v.isdigit() else v for k, v in chosen.items()}
        return name, typed, {"per_layer": {"timings_ms": timings, "cached": cached}}

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        raise NotApplicable("per_layer delegates each layer to the algorithm it chose")

    def fallback(self, params: Params) -> str | None:
        return "spatial_pack"  # the best single algorithm untuned on most CNN layers here
