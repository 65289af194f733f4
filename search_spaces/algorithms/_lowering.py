"""The shared lowering driver: per-conv legalization with recorded fallbacks, then fusion.

Every algorithm goes through :func:`lower_module`, so they all return the same kind of module
(the contract with the tuning layer): all operators legalized to TIR, conv kernels fused with
their elementwise epilogues (``FuseOps``/``FuseTIR``), nothing scheduled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dse.core.errors import FailureKind, InvalidCombination, TrialFailure, first_line
from search_spaces.algorithms._conv import NotApplicable, UnsupportedDtype, spec_from_call
from search_spaces.algorithms._dense import legalize_matmul

if TYPE_CHECKING:
    from search_spaces._base import Params
    from search_spaces._context import BuildContext
    from search_spaces.algorithms._conv import ConvSpec


class Lowerable(Protocol):
    """What the driver needs of an algorithm (``ConvAlgorithm`` is one; the driver sits below it)."""

    @property
    def name(self) -> str: ...

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any: ...

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any: ...

    @property
    def delegates(self) -> bool: ...

    def delegate(
        self, spec: ConvSpec, params: Params, ctx: BuildContext
    ) -> tuple[str, Params, dict[str, Any]] | None: ...

    def fallback(self, params: Params) -> str | None: ...


#: Finds the registered algorithm of a fallback name.
Resolve = Callable[[str], Lowerable]

#: Name recorded for layers lowered by TVM's own conv2d legalization.
TVM_DEFAULT = "tvm_default"


def default_legalize(bb: Any, call: Any) -> Any:
    """TVM's registered legalization of ``call`` (a conv: TOPI direct conv, no schedule)."""
    import tvm

    return tvm.ir.Op.get(str(call.op.name)).get_attr("FLegalize")(bb, call)


def legalize_round_for_llvm(bb: Any, call: Any) -> Any:
    """``round`` as ``tirx.round``, not TOPI's ``nearbyint``: both become LLVM's ``nearbyint``
    (round half to even, as PyTorch quantizes), but TVM's vectorizer scalarizes ``nearbyint``,
    so every int8 quantize outside a conv epilogue ran one lane at a time (ResNet-18 int8: 0.65 ms
    of 12). CPU only: on CUDA ``tirx.round`` is ``roundf``, half away from zero."""
    from tvm import te, tirx

    def compute(x: Any) -> Any:
        return te.compute(x.shape, lambda *i: tirx.round(x(*i)), name="T_round")

    return bb.call_te(compute, call.args[0], primfunc_name_hint="round")


def legalize_sigmoid_for_llvm(bb: Any, call: Any) -> Any:
    """A float32 ``sigmoid`` (and ``silu``, ``x * sigmoid(x)``) as ``1 / (1 + fast_exp(-x))``:
    TOPI's ``fast_exp`` is a range-reduced polynomial, vectorized, where LLVM calls ``expf`` lane
    by lane for ``exp``. EfficientNet-B0's SiLU convs took 1.2 ms for a 1x1 conv at 112x112
    that ReLU6 runs in 0.12 (the model 8.3 -> 3.1 ms on Zen 5, its outputs within 1.3e-6
    relative). Other dtypes keep TVM's legalization."""
    from tvm import te, topi

    op = str(call.op.name)
    if str(call.args[0].ty.dtype) != "float32":
        return default_legalize(bb, call)

    def compute(x: Any) -> Any:
        exp = topi.fast_exp(te.compute(x.shape, lambda *i: -x(*i), name="T_negative"))
        if op == "relax.nn.silu":
            return te.compute(x.shape, lambda *i: x(*i) / (1.0 + exp(*i)), name="T_silu")
        return te.compute(x.shape, lambda *i: 1.0 / (1.0 + exp(*i)), name="T_sigmoid")

    return bb.call_te(compute, call.args[0], primfunc_name_hint=op.rsplit(".", 1)[-1])


def _emit_with_fallback(
    algorithm: Lowerable, resolve: Resolve, bb: Any, call: Any, params: Params, ctx: BuildContext
) -> tuple[Any, dict[str, Any]]:
    """Try ``algorithm``, then its fallback chain, then TVM's default; say who did it and why."""
    record: dict[str, Any] = {"requested": algorithm.name}
    try:
        spec = spec_from_call(call)
    except NotApplicable as exc:
        record.update(algorithm=TVM_DEFAULT, reason=str(exc))
        return default_legalize(bb, call), record
    record.update(shape=spec.describe(), sparsity=round(spec.sparsity(), 4), flops=spec.flops)
    if spec.blocked:  # spatial pack's layout flow: the packed layouts it takes and gives
        record["layout"] = f"{spec.data_layout}->" + (f"NCHW{spec.out_block}c" if spec.out_block else "NCHW")
    reasons: list[str] = []
    current: Lowerable | None = algorithm
    current_params: Params = params
    try:
        chosen = algorithm.delegate(spec, params, ctx)
    except NotApplicable as exc:  # it cannot choose for this layer: its fallback computes it
        reasons.append(f"{algorithm.name}: {exc}")
        fallback = algorithm.fallback(params)
        chosen = (fallback, {}, {}) if fallback else None
    if chosen is not None:  # per_layer: the layer goes to the algorithm it picked
        picked, current_params, note = chosen
        current = resolve(picked)
        record.update(note)
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        try:
            expr = current.emit(bb, call, spec, current_params, ctx)
        except NotApplicable as exc:
            reasons.append(f"{current.name}: {exc}")
            if isinstance(exc, UnsupportedDtype):
                record["dtype_unsupported"] = True
            name = current.fallback(current_params)
            current = resolve(name) if name else None
            current_params = {}
            continue
        record["algorithm"] = current.name
        if reasons:
            record["reason"] = "; ".join(reasons)
        return expr, record
    record.update(algorithm=TVM_DEFAULT, reason="; ".join(reasons))
    return default_legalize(bb, call), record


def flop_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """Share of the convolution FLOPs each algorithm computed (layers of unknown shape count as 0)."""
    total = sum(int(r.get("flops", 0)) for r in records)
    if total == 0:
        return {}
    flops: Counter[str] = Counter()
    for record in records:
        flops[record["algorithm"]] += int(record.get("flops", 0))
    return {name: round(n / total, 4) for name, n in flops.most_common()}


#: A trial counts as its requested algorithm when that one computed at least this share of the FLOPs.
EFFECTIVE_SHARE = 0.5


def effective_algorithm(shares: dict[str, float], requested: str) -> str:
    """The algorithm a trial really ran: the requested one if it did most of the work, else the
    one that did the most (Winograd on MobileNetV2 is almost all fallback; a sparse algorithm
    on an unpruned model is its dense counterpart)."""
    if not shares:
        return requested
    if shares.get(requested, 0.0) >= EFFECTIVE_SHARE:
        return requested
    return max(shares, key=lambda name: shares[name])


def lower_module(mod: Any, algorithm: Lowerable, resolve: Resolve, params: Params, ctx: BuildContext) -> Any:
    """Lower ``mod``'s convolutions with ``algorithm``, legalize the rest, fuse; record per layer.

    ``resolve`` turns a fallback's name into its algorithm (the registry's ``get``).

    Raises:
        InvalidCombination: no convolution could use the algorithm because of its dtype
            (e.g. Winograd on an int8 model): that trial would just repeat another one.
        TrialFailure: TVM rejected the lowering (a compile error of this configuration).
    """
    from tvm import relax

    from search_spaces._folding import fold_constants

    records: list[dict[str, Any]] = []

    def legalize(bb: Any, call: Any) -> Any:
        expr, record = _emit_with_fallback(algorithm, resolve, bb, call, params, ctx)
        record["layer"] = f"conv{len(records)}"
        records.append(record)
        return expr

    try:
        mod = fold_constants(algorithm.prepare(mod, params, ctx))
        custom = {"relax.nn.conv2d": legalize}
        if ctx.tvm_target is not None and str(ctx.tvm_target.kind.name) == "llvm":
            custom["relax.round"] = legalize_round_for_llvm
            custom["relax.sigmoid"] = custom["relax.nn.silu"] = legalize_sigmoid_for_llvm
            custom["relax.matmul"] = lambda bb, call: legalize_matmul(bb, call, ctx.tvm_target)
        mod = relax.transform.LegalizeOps(customize_legalize_map=custom)(mod)
        mod = relax.transform.AnnotateTIROpPattern()(mod)
        mod = fold_constants(mod)
        mod = relax.transform.FuseOps()(mod)
        mod = relax.transform.FuseTIR()(mod)
        mod = relax.transform.DeadCodeElimination()(mod)
    except TrialFailure:
        raise
    except Exception as exc:  # TVMError from a pass: this configuration does not lower
        raise TrialFailure(
            FailureKind.COMPILE, f"algorithm {algorithm.name}: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    ctx.info["algorithm_layers"] = records
    ctx.info["algorithm_summary"] = dict(Counter(r["algorithm"] for r in records))
    shares = flop_shares(records)
    ctx.info["algorithm_flop_share"] = shares
    ctx.info["effective_algorithm"] = (
        algorithm.name if algorithm.delegates else effective_algorithm(shares, algorithm.name)
    )
    used = sum(1 for r in records if r["algorithm"] == algorithm.name)
    if records and used == 0 and all(r.get("dtype_unsupported") for r in records):
        raise InvalidCombination(
            f"algorithm {algorithm.name} supports none of the {len(records)} convolutions "
            f"(dtype {records[0].get('shape', '?').split()[-1]}); choose another algorithm or precision"
        )
    return mod
