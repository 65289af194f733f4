"""Hand-written CPU schedule rules for the ``dse_*`` conv blocks (used by ``schedules``).

Each rule takes the freshly created block (its loops are the compute's axes, spatial then
reduction, in the order the compute declares them) and returns the parallel loop under which
the conv's elementwise epilogue may be computed (or None). The common shape: parallelize the
outer loops, keep a small output tile in registers (``cache_write`` to ``local``), vectorize
the innermost unit-stride axis, unroll the register-tile axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search_spaces.algorithms._conv import largest_divisor


@dataclass
class Env:
    """The schedule being built and the target facts the rules need."""

    sch: Any
    lanes: int
    threads: int
    #: Vector registers (``vector_registers``): a register tile keeps half as many accumulators.
    registers: int
    #: MetaSchedule's design space (``schedules.default_space``): register-tile sizes are sampled,
    #: decided as the default schedule decides them, so the tuner's mutators move them from there.
    tunable: bool = False

    def split_tile(self, loop: Any, inner: int, limit: int = 16) -> tuple[Any, Any]:
        """``loop`` split into (outer, inner) loops of ``inner`` (a divisor of its extent) iterations
        inside; when tunable, a perfect-tile sample decided as ``inner``, up to ``limit``."""
        if not self.tunable:
            outer, inside = self.sch.split(loop, [None, inner])
            return outer, inside
        extent = loop_extent(self.sch, loop)
        factors = self.sch.sample_perfect_tile(
            loop, n=2, max_innermost_factor=max(limit, inner), decision=[extent // inner, inner]
        )
        outer, inside = self.sch.split(loop, factors)
        return outer, inside


def loop_extent(sch: Any, loop: Any) -> int:
    return int(sch.get(loop).extent)


def vector_factor(extent: int, lanes: int) -> int:
    """A split factor for the vectorized axis that divides it (no tail: a non-divisible split
    plus a register tile writes back a bounding box, which is wrong): up to ``lanes``."""
    return tile_factor(extent, lanes)


def tile_factor(extent: int, wanted: int) -> int:
    """The largest divisor of ``extent`` not above ``wanted`` (register-tile size)."""
    for f in range(min(wanted, extent), 0, -1):
        if extent % f == 0:
            return f
    return 1


#: Accumulator vectors of columns a matmul keeps in registers: independent FMA chains, so the
#: reduction is not one dependency chain (1000 classes: 5 vectors of 8).
TILE_VECTORS = 8


def column_lanes(columns: int, lanes: int) -> int:
    """The vector width a matmul's columns are split by: the widest of ``lanes``, its half and
    quarter (then 4, 2) that divides ``columns`` (no tail)."""
    return largest_divisor(columns, [lanes, lanes // 2, lanes // 4, 4, 2])


def column_tile(columns: int, lanes: int) -> int:
    """Columns per register tile: up to ``TILE_VECTORS`` vectors of :func:`column_lanes`, dividing ``columns``."""
    vector = column_lanes(columns, lanes)
    return vector * tile_factor(columns // vector, TILE_VECTORS)


def _register_tile(env: Env, block: Any, at: Any, reduce_loop: Any, unroll: list[Any], vec: Any) -> None:
    """Accumulate in a local tile written back under ``at``; init before ``reduce_loop``."""
    sch = env.sch
    local = sch.cache_write(block, 0, "local")
    # Unit loops kept (here and at every compute_at of these schedules): the loops get_loops
    # finds then do not depend on the tile sizes, so MetaSchedule can replay the schedule under
    # other tile decisions (a tile of 1 dropped its loop and the replay failed); the machine
    # code is the same (LLVM IR compared, names aside).
    sch.reverse_compute_at(local, at, preserve_unit_loops=True)
    for loop in unroll:
        sch.unroll(loop)
    sch.vectorize(vec)  # before decompose_reduction: the update block alone is not a reduction
    sch.decompose_reduction(block, reduce_loop)
    inner = sch.get_loops(local)[-1]
    try:
        sch.vectorize(inner)
    except Exception:  # noqa: BLE001  (the write-back tail may not be vectorizable: fine)
        pass


def _parallel(env: Env, loops: list[Any]) -> Any:
    fused = env.sch.fuse(*loops) if len(loops) > 1 else loops[0]
    env.sch.parallel(fused)
    return fused


def direct_nchw(env: Env, block: Any) -> Any:
    """n, oc, y, x | ic, kh, kw: parallel (n, oc/4, y), 4 x row-segment tile, vectorize x."""
    sch = env.sch
    n, oc, y, x, ric, rkh, rkw = sch.get_loops(block)
    xo, xi = sch.split(x, [None, vector_factor(loop_extent(sch, x), env.lanes)])
    oco, oci = env.split_tile(oc, tile_factor(loop_extent(sch, oc), 4))
    sch.reorder(n, oco, y, xo, ric, rkh, rkw, oci, xi)
    fused = _parallel(env, [n, oco, y])
    _register_tile(env, block, xo, ric, [oci], xi)
    return fused


def direct_nhwc(env: Env, block: Any) -> Any:
    """n, y, x, oc | kh, kw, ic: parallel (n, y), 4-pixel x oc-vector tile, vectorize oc."""
    sch = env.sch
    n, y, x, oc, rkh, rkw, ric = sch.get_loops(block)
    oco, oci = sch.split(oc, [None, vector_factor(loop_extent(sch, oc), env.lanes)])
    xo, xi = env.split_tile(x, tile_factor(loop_extent(sch, x), 4))
    sch.reorder(n, y, xo, oco, rkh, rkw, ric, xi, oci)
    fused = _parallel(env, [n, y])
    _register_tile(env, block, oco, rkh, [xi], oci)
    return fused


def gemm_nchw(env: Env, block: Any) -> Any:
    """n, oc, p | k: pixels vectorized, 8 output channels per register tile."""
    sch = env.sch
    n, oc, p, rk = sch.get_loops(block)
    po, pi = sch.split(p, [None, vector_factor(loop_extent(sch, p), env.lanes)])
    oco, oci = env.split_tile(oc, tile_factor(loop_extent(sch, oc), 8))
    sch.reorder(n, oco, po, rk, oci, pi)
    fused = _parallel(env, [n, oco])
    _register_tile(env, block, po, rk, [oci], pi)
    return fused


def gemm_nhwc(env: Env, block: Any) -> Any:
    """n, p, oc | k: output channels vectorized, 4 pixels per register tile."""
    sch = env.sch
    n, p, oc, rk = sch.get_loops(block)
    po, pi = env.split_tile(p, tile_factor(loop_extent(sch, p), 4))
    oco, oci = sch.split(oc, [None, vector_factor(loop_extent(sch, oc), env.lanes)])
    sch.reorder(n, po, oco, rk, pi, oci)
    _parallel(env, [n, po])
    _register_tile(env, block, oco, rk, [pi], oci)
    return None  # a pixel tile is not a rectangle of the NHWC epilogue: no attach


#: A conv whose weights take at most this many bytes splits its output between the threads by
#: rows, not by output channels (:func:`spatial_pack`).
ROWS_FIRST_WEIGHT_BYTES = 256 * 1024


def spatial_pack(env: Env, block: Any) -> Any:
    """n, ocb, y, x, oci | ic, kh, kw: parallel (n, ocb, y), or (n, ocb, band of rows) for a
    depthwise conv, a row segment x one or two oc-blocks in registers.

    Where the weights are small (``ROWS_FIRST_WEIGHT_BYTES``: they stay in each core's L2 while
    it computes all of its rows) the threads split the output by rows instead, (n, y, ocb): a
    thread then reads the rows it wrote in the layer before, where split by channels each 1x1
    conv read half of its input from the other core (MobileNetV2 fp32, 2 threads: x0.95-0.97
    over 16-20 passes in turn; ResNet-18, whose weights are larger, unchanged)."""
    sch = env.sch
    n, ocb, y, x, oci, ric, rkh, rkw = sch.get_loops(block)
    depthwise = loop_extent(sch, ric) == 1
    rows_first = _rows_first(env, y, [ocb, oci, ric, rkh, rkw], 4)
    blocks, tile_rows, pixels = _dense_tile(
        env, loop_extent(sch, ocb), loop_extent(sch, y), loop_extent(sch, x), depthwise
    )
    xo, xi = env.split_tile(x, pixels)
    oco, obi = env.split_tile(ocb, blocks, limit=4)
    tile = [obi, xi]
    if tile_rows > 1:  # a patch of rows x pixels (its epilogue still a rectangle of whole row pairs)
        y, yi = env.split_tile(y, tile_rows, limit=4)
        tile = [obi, yi, xi]
    reduce_loop, input_block = _input_block_unrolled(env, ric, rkh, rkw, depthwise)
    sch.reorder(n, oco, y, xo, reduce_loop, rkh, rkw, *input_block, *tile, oci)
    if depthwise:
        rows, tasks = loop_extent(sch, y), loop_extent(sch, n) * loop_extent(sch, oco)
        # Bands of one row pad each input row 3 times: 7 rows (prime) over 2 threads would be
        # that: MobileNetV2's 960-channel 7x7 layer took 19.0 us so, 8.9 split by channels.
        rows_first = rows_first and _band_rows(env, rows, tasks, env.threads) > 1
        size = _band_rows(env, rows, tasks, env.threads if rows_first else 1)
        band, _ = env.split_tile(y, size, limit=rows)
        fused = _split_between_threads(env, n, oco, band, rows_first)
        _pad_rows_in_cache(env, block, fused)
    else:
        fused = _split_between_threads(env, n, oco, y, rows_first)
    _register_tile(env, block, xo, reduce_loop, [*input_block, *tile], oci)
    return fused


def _input_block_unrolled(env: Env, ric: Any, rkh: Any, rkw: Any, depthwise: bool) -> tuple[Any, list[Any]]:
    """A 1x1 conv's reduction over input channels split by a vector of them, the inner part
    unrolled above the register tile: (the outer loop, [the unrolled one]), or (``ric``, [])
    where it stays whole. Whole, each step read ``input[ric // b, y, x, ric % b]`` and computed
    that address anew; unrolled, a block's channels are constant offsets from one address.
    On AVX2 (16 registers; a Zen 3 EPYC, 2 threads): MobileNetV2's 96->24 layer at 56x56
    230 -> 115 us, 144->24 300 -> 192, 24->144 248 -> 178 (each kernel alone); whole models in
    turn MobileNetV2 fp32 x0.93, ShuffleNetV2 x0.92, MNASNet x0.86, EfficientNet-B0 x0.84,
    ResNet-18 x0.98, outputs bit-identical (the same order of additions). 3x3 convs unrolled so
    ran ResNet-18 x1.17: they keep the whole loop. Not measured on 32 registers (AVX-512: no such
    CPU at hand when this was written), whose code keeps it too."""
    extent = loop_extent(env.sch, ric)
    one_by_one = loop_extent(env.sch, rkh) == 1 and loop_extent(env.sch, rkw) == 1
    if depthwise or not one_by_one or env.registers >= 32 or extent % env.lanes != 0:
        return ric, []
    outer, inner = env.sch.split(ric, [None, env.lanes])
    return outer, [inner]


def _dense_tile(env: Env, channel_blocks: int, height: int, row: int, depthwise: bool) -> tuple[int, int, int]:
    """(output-channel blocks, rows, pixels of a row) of a float spatial-pack conv's register tile.

    Two blocks let each input value broadcast feed two FMAs. AVX-512's 32 registers hold two
    blocks x 8 pixels (ResNet-18 fp32 5% faster than one block). An odd block count that 3
    divides (MobileNetV2's 144 channels, 9 blocks of 16) takes three blocks x 4 pixels where the
    row divides by 4, 7 loads per 12 FMAs where one block x 8 broadcast once per FMA: its
    24->144 layers 66 -> 52 us, the model x0.97-0.99 (Zen 5, in turn); three x 8 gave x1.06,
    three x 4 for every block count 3 divides x1.10, and three x 2 on 14-pixel rows
    (ShuffleNetV2's 232 channels in 15 blocks) x1.10. AVX2's 16 hold two blocks x 4
    pixels (8 accumulators, 2 weight vectors, 4 broadcasts) where the row divides by 4 and the
    blocks by 2; two blocks x 2 rows x 2 pixels where rows and height are even (14x14); else one
    block x 8 pixels. AVX2 code (``alderlake``) on an AMD EPYC (Zen 5), two threads, timed in
    turn, against one block x 8 everywhere: MobileNetV2 fp32 x0.92-0.94 with 2 x 4 and x0.96 more
    with 2 x 2 x 2; ResNet-18 x0.97 and x0.95. Two blocks x 7 on 7- and 14-pixel rows spill
    (MobileNetV2 x1.13), three x 4 on 24-channel layers gained nothing, and two x 4 taken
    everywhere gave 7-pixel rows 1-pixel tiles (ResNet-18 1.6x slower)."""
    if depthwise:
        return 1, 1, tile_factor(row, 8)
    if env.registers >= 32:
        if _in_threes(env, channel_blocks, row):
            return 3, 1, 4
        return tile_factor(channel_blocks, 2), 1, tile_factor(row, 8)
    if channel_blocks % 2 == 0 and row % 4 == 0:
        return 2, 1, 4
    if channel_blocks % 2 == 0 and row % 2 == 0 and height % 2 == 0:
        return 2, 2, 2
    return 1, 1, tile_factor(row, 8)


def _in_threes(env: Env, channel_blocks: int, row: int) -> bool:
    """Whether a conv's register tile takes three output-channel blocks x 4 pixels: on 32
    registers, where the blocks are odd and 3 divides them and the row divides by 4 (see
    :func:`_dense_tile`; the int8 dot-product kernel alike: MobileNetV2 int8 x0.963-0.965, three
    x 8 x0.980, on Zen 5)."""
    return env.registers >= 32 and channel_blocks % 2 == 1 and channel_blocks % 3 == 0 and row % 4 == 0


def _rows_first(env: Env, rows: Any, weight_loops: list[Any], weight_bytes: int) -> bool:
    """Whether the threads split a conv's output by rows (:func:`spatial_pack`): its weights, the
    product of ``weight_loops``' extents times ``weight_bytes`` each, fit
    ``ROWS_FIRST_WEIGHT_BYTES``, and there are rows for every thread."""
    import math

    weights = weight_bytes * math.prod(loop_extent(env.sch, loop) for loop in weight_loops)
    return weights <= ROWS_FIRST_WEIGHT_BYTES and loop_extent(env.sch, rows) >= env.threads


def _split_between_threads(env: Env, n: Any, channels: Any, rows: Any, rows_first: bool) -> Any:
    """The parallel loop of a conv whose loops run (n, ``channels``, ``rows``, ...): the threads
    split its output by rows, (n, rows, channels), where ``rows_first`` (:func:`_rows_first`),
    else by output channels. Returns the fused parallel loop."""
    if rows_first:
        env.sch.reorder(rows, channels)
        return _parallel(env, [n, rows, channels])
    return _parallel(env, [n, channels, rows])


def _band_rows(env: Env, rows: int, tasks: int, at_least: int) -> int:
    """Rows per band of a depthwise conv's ``rows``: as few bands as keep every thread 4 tasks
    (of ``tasks`` per band) and at least ``at_least`` bands, of equal size (a divisor of ``rows``).
    A band packs and pads its NCHW input rows once (``_pad_rows_in_cache``); a band per row padded
    every input row 3 times (one thread: MobileNetV2's 384-channel 14x14 layer 40 -> 22 us, its
    32-channel 112x112 one 177 -> 128 us, timed alone). A packed input is read in place
    (``read_zero_padded``), and bands still pay there: a task reads one channel block's plane,
    contiguous, where split by rows every row read all of the blocks (MobileNetV2 fp32 x1.03 so)."""
    import math

    bands = min(rows, max(at_least, math.ceil(4 * env.threads / tasks)))
    return tile_factor(rows, rows // bands)


def _pad_rows_in_cache(env: Env, block: Any, band: Any) -> None:
    """Pack and pad a depthwise conv's input rows where the conv reads them, under its parallel
    band loop (an NCHW input; a packed one has no such producer)."""
    sch = env.sch
    for producer in sch.get_producers(block):
        if sch.get(producer).name_hint == "dse_pack":
            sch.compute_at(producer, band, preserve_unit_loops=True)
            sch.vectorize(sch.get_loops(producer)[-1])


def spatial_pack_dot(env: Env, block: Any) -> Any:
    """n, ocb, y, x, oci | icb, kh, kw, ici: as ``spatial_pack`` with a 2 x 8 tile of
    (output-channel block, pixel) (2 x 4 with 16 vector registers), and (oci, ici) tensorized
    into one dot-product instruction per tile element (``_dot_product``)."""
    from search_spaces.algorithms._dot_product import DOT_ANNOTATION, dot_product_named, register

    sch = env.sch
    n, ocb, y, x, oci, rco, rkh, rkw, rci = sch.get_loops(block)
    dot = dot_product_named(str(sch.get(block).annotations[DOT_ANNOTATION]))  # the kernel's own instruction
    intrinsic = register(dot)
    rows_first = _rows_first(env, y, [ocb, oci, rco, rkh, rkw, rci], 1)  # int8 weights
    # Two output-channel blocks x 8 pixels on 32 registers: 16 independent accumulators hide the
    # instruction's latency (one block: 8, measured 15% slower over ResNet-18's 3x3 layers); half
    # that where there are 16 registers. Rows of fewer pixels take more blocks (a classifier, one
    # pixel: up to 16 blocks, not one chain). Odd block counts in threes take three x 4 (``_in_threes``).
    accumulators = env.registers // 2
    channel_blocks, row = loop_extent(sch, ocb), loop_extent(sch, x)
    if _in_threes(env, channel_blocks, row):
        pixels, blocks = 4, 3
    else:
        pixels = tile_factor(row, accumulators // 2)
        blocks = tile_factor(channel_blocks, max(2, accumulators // pixels))
    xo, xi = env.split_tile(x, pixels)
    oco, obi = env.split_tile(ocb, blocks)
    sch.reorder(n, oco, y, xo, rco, rkh, rkw, obi, xi, oci, rci)
    fused = _split_between_threads(env, n, oco, y, rows_first)
    local = sch.cache_write(block, 0, "local")
    sch.reverse_compute_at(local, xo, preserve_unit_loops=True)
    sch.decompose_reduction(block, rco)
    sch.unroll(obi)
    sch.unroll(xi)
    sch.tensorize(oci, intrinsic)
    sch.vectorize(sch.get_loops(local)[-1])
    return fused


def matmul(env: Env, block: Any) -> Any:
    """TVM's legalized ``matmul`` (the classifier; ``[.., M, K] x [K, N]`` with the weight
    pre-transposed by FoldConstant): columns vectorized, the reduction outside them, so each
    weight row is read once with unit stride. The generic rule ran the reduction innermost
    and scalar: MobileNetV2's 1280x1000 classifier took 0.7 ms, a tenth of the model."""
    sch = env.sch
    *spatial, j, k = sch.get_loops(block)
    iters = sch.get(block).iter_vars
    if len(iters) != len(spatial) + 2 or int(iters[-1].iter_type) != 2:
        raise ValueError("matmul rule expects spatial loops then one reduction")
    extent = loop_extent(sch, j)
    lanes = column_lanes(extent, env.lanes)
    jo, ji = sch.split(j, [None, lanes])
    # A register tile of columns (int8 MobileNetV2's classifier: 0.22 -> 0.16 ms)
    jo_o, jo_i = env.split_tile(jo, column_tile(extent, env.lanes) // lanes)
    sch.reorder(*spatial, jo_o, k, jo_i, ji)
    fused = _parallel(env, [*spatial, jo_o])
    _register_tile(env, block, fused, k, [jo_i], ji)
    return fused


def dense_pack(env: Env, block: Any) -> Any:
    """``dse_dense_pack`` (the classifier on its packed weight ``[N / B, K, B]``): parallel over
    (rows, column blocks), the reduction outside a register tile of the block's B columns, so
    each task streams its block's weights once, contiguously."""
    sch = env.sch
    *spatial, n, k = sch.get_loops(block)
    packed = [region.source for region in sch.get(block).reads if len(region.source.shape) == 3]
    if len(packed) != 1:
        raise ValueError("dense_pack rule expects one packed [N / B, K, B] weight")
    columns = int(packed[0].shape[2])  # the block's: legalize_matmul packed by column_tile
    lanes = column_lanes(columns, env.lanes)
    no, ni = sch.split(n, [None, columns])
    nv, lane = sch.split(ni, [None, lanes])
    sch.reorder(*spatial, no, k, nv, lane)
    fused = _parallel(env, [*spatial, no])
    _register_tile(env, block, fused, k, [nv], lane)
    return fused


def _winograd_transform(env: Env, outer: list[Any], vector: Any, lanes: int, positions: list[Any]) -> None:
    """A Winograd transform block: parallel over ``outer`` and the vector axis's outer part, the
    two ``positions`` loops of the transformed tile unrolled, the vector axis innermost."""
    sch = env.sch
    vo, vi = sch.split(vector, [None, lanes])
    sch.reorder(*outer, vo, *positions, vi)
    _parallel(env, [*outer, vo])
    for loop in positions:
        sch.unroll(loop)
    sch.vectorize(vi)


def winograd_data(env: Env, block: Any) -> None:
    """eps, nu, c, p: parallel (c, tile vectors); eps and nu unrolled, so TVM folds each term's
    coefficient (a select over eps or nu) to a constant and drops the zero ones (with eps and nu
    as loops it evaluated the selects per element: 1.4x slower)."""
    e, f, c, p = env.sch.get_loops(block)
    lanes = vector_factor(loop_extent(env.sch, p), env.lanes)
    _winograd_transform(env, [c], p, lanes, [e, f])


def winograd_data_packed(env: Env, block: Any) -> None:
    """eps, nu, p, c: as ``winograd_data``, on a packed input: vectorize input channels
    (contiguous in NCHW[x]c), parallel (tiles, channel vectors)."""
    e, f, p, c = env.sch.get_loops(block)
    _winograd_transform(env, [p], c, column_lanes(loop_extent(env.sch, c), env.lanes), [e, f])


#: Tiles x output-channel vectors of the Winograd GEMM's register tile (8 x 2 = 16 accumulators).
WINOGRAD_TILES, WINOGRAD_VECTORS = 8, 2


def winograd_gemm(env: Env, block: Any) -> None:
    """eps, nu, p, oc | c: the batched GEMM as an outer product per input channel: a register
    tile of tiles (their V broadcast) x output-channel vectors (one contiguous load of U each)."""
    sch = env.sch
    e, f, p, oc, rc = sch.get_loops(block)
    lanes = column_lanes(loop_extent(sch, oc), env.lanes)
    oco, oci = sch.split(oc, [None, lanes])
    ocb, ocv = env.split_tile(oco, tile_factor(loop_extent(sch, oco), WINOGRAD_VECTORS), limit=4)
    po, pi = env.split_tile(p, tile_factor(loop_extent(sch, p), WINOGRAD_TILES))
    sch.reorder(e, f, ocb, po, rc, pi, ocv, oci)
    _parallel(env, [e, f, ocb])
    _register_tile(env, block, po, rc, [pi, ocv], oci)


def winograd_inverse(env: Env, block: Any) -> None:
    """p, i, j, oc: parallel (tiles, channel vectors), vectorize output channels, i and j
    unrolled (folded as in ``winograd_data``)."""
    p, i, j, oc = env.sch.get_loops(block)
    _winograd_transform(env, [p], oc, column_lanes(loop_extent(env.sch, oc), env.lanes), [i, j])


def sparse_rows(env: Env, block: Any) -> Any:
    """n, oc, p | j (CSR) or with ``bsrRx1`` blocks: parallel (n, oc block), vectorize pixels."""
    sch = env.sch
    name = sch.get(block).name_hint
    rows = int(name.rsplit("_bsr", 1)[1].split("x")[0]) if "_bsr" in name else 1
    n, oc, p, j = sch.get_loops(block)
    po, pi = sch.split(p, [None, vector_factor(loop_extent(sch, p), env.lanes)])
    oco, oci = sch.split(oc, [None, rows])
    sch.reorder(n, oco, po, j, oci, pi)
    fused = _parallel(env, [n, oco])
    _register_tile(env, block, po, j, [oci], pi)
    return fused


def sparse_spatial_pack(env: Env, block: Any) -> Any:
    """n, ocb, y, x, oci | j: as ``spatial_pack``, the stored blocks replacing (ic, kh, kw)."""
    sch = env.sch
    n, ocb, y, x, oci, j = sch.get_loops(block)
    xo, xi = env.split_tile(x, tile_factor(loop_extent(sch, x), 8))
    sch.reorder(n, ocb, y, xo, j, xi, oci)
    fused = _parallel(env, [n, ocb, y])
    _register_tile(env, block, xo, j, [xi], oci)
    return fused


#: Block-name prefix -> rule (a name matches its prefix exactly or followed by ``_``).
RULES: dict[str, Callable[[Env, Any], Any]] = {
    "dse_direct": direct_nchw,
    "dse_direct_nhwc": direct_nhwc,
    "dse_gemm": gemm_nchw,
    "dse_gemm_nhwc": gemm_nhwc,
    "dse_spatial_pack": spatial_pack,
    "dse_spatial_pack_dot": spatial_pack_dot,
    "dse_winograd_data": winograd_data,
    "dse_winograd_data_packed": winograd_data_packed,
    "dse_winograd_gemm": winograd_gemm,
    "dse_winograd_inverse": winograd_inverse,
    "dse_sparse_direct": sparse_rows,
    "dse_sparse_gemm": sparse_rows,
    "dse_sparse_spatial_pack": sparse_spatial_pack,
    "matmul": matmul,
    "dse_dense_pack": dense_pack,
}
