"""The float32 multiply-add rate this host's vector units deliver, measured (a capability probe).

A CPU's feature flags say which vector widths it has, not how fast it runs them: Zen 4 splits
every 512-bit FMA into two 256-bit halves (the same lanes per cycle as AVX2), Zen 5 and Intel's
server cores run them at full rate. Code that trades lanes for width (``spatial_pack``'s whole
vectors) is faster on the second kind only, so it asks this probe, not a list of CPUs.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import Any

#: Independent accumulator vectors per thread: enough to cover the FMA latency of any x86 core.
PROBE_CHAINS = 12


def _fma_func(threads: int, lanes: int) -> Any:
    """The PrimFunc of :func:`fma_kernels` for one width."""
    from tvm.script import tirx as T

    chains = PROBE_CHAINS

    @T.prim_func
    def fma(out: T.Buffer((threads, chains, lanes), "float32"), steps: T.int64) -> None:  # type: ignore[valid-type]
        T.func_attr({"tir.noalias": True})
        for t in T.parallel(threads):
            acc = T.alloc_buffer((chains, lanes), "float32", scope="local")
            for c in T.unroll(chains):
                for v in T.vectorized(lanes):
                    acc[c, v] = T.Cast("float32", c + t)
            for _ in range(steps):
                for c in T.unroll(chains):
                    for v in T.vectorized(lanes):
                        acc[c, v] = acc[c, v] * T.float32(0.5) + T.float32(1.0)
            for c in T.unroll(chains):
                for v in T.vectorized(lanes):
                    out[t, c, v] = acc[c, v]  # stored, so the chains are not optimized away

    return fma


def fma_kernels(threads: int, widths: Sequence[int], target: Any) -> Any:
    """``fma<lanes>(out, steps)`` for each of ``widths``, compiled for ``target`` in one module:
    each of ``threads`` threads runs ``steps`` times ``acc = acc * 0.5 + 1`` on
    :data:`PROBE_CHAINS` independent vectors of ``lanes`` float32 lanes (one FMA each; 2 is the
    fixed point, so no value overflows or goes denormal), then stores them in
    ``out[thread, chain, lane]``."""
    import tvm

    funcs = {f"fma{lanes}": _fma_func(threads, lanes).with_attr("global_symbol", f"fma{lanes}") for lanes in widths}
    return tvm.compile(tvm.IRModule(funcs), target)


def fma_gflops(threads: int, lanes: int, target: Any, steps: int) -> float | None:
    """GFLOP/s of :func:`fma_kernels` at ``lanes`` on ``threads`` threads, the fastest of 5 runs
    of ``steps`` steps; None where it cannot be built or run here."""
    try:
        return _fastest(fma_kernels(threads, [lanes], target)[f"fma{lanes}"], threads, lanes, steps)
    except Exception:  # noqa: BLE001 (no LLVM, or code this CPU cannot run)
        return None


def _fastest(run: Any, threads: int, lanes: int, steps: int) -> float:
    """GFLOP/s of the probe ``run``, the fastest of 5 runs of ``steps`` steps."""
    import numpy as np
    import tvm

    out = tvm.runtime.tensor(np.zeros((threads, PROBE_CHAINS, lanes), "float32"))
    run(out, 1000)  # the thread pool started, the code paged in
    fastest = math.inf
    for _ in range(5):
        started = time.perf_counter()
        run(out, steps)
        fastest = min(fastest, time.perf_counter() - started)
    return threads * steps * PROBE_CHAINS * lanes * 2 / fastest / 1e9


#: Steps of the width probe: 24M FMAs a width, a few milliseconds on any AVX-512 core.
WIDTH_PROBE_STEPS = 2_000_000


@functools.cache
def full_rate_512(mcpu: str) -> bool:
    """Whether this host, when it is ``mcpu`` (LLVM's name), runs 512-bit FMAs at 1.6x or more
    the float32 lanes per second of 256-bit ones, on one thread. False for another CPU's code
    (it cannot be probed here) and where the probe fails."""
    import tvm
    from tvm.target import codegen

    if mcpu != codegen.llvm_get_system_cpu():
        return False
    try:
        kernels = fma_kernels(1, [16, 8], tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": 1}))
        wide, half = (_fastest(kernels[f"fma{lanes}"], 1, lanes, WIDTH_PROBE_STEPS) for lanes in (16, 8))
    except Exception:  # noqa: BLE001 (no LLVM, or code this CPU cannot run)
        return False
    return wide >= 1.6 * half
