"""Helpers shared by the benchmarks: the machine line every benchmark prints, the random
images and trial configurations the build benchmarks time."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")

#: Images int8 calibration sees (random: latency does not depend on pixel values).
CALIBRATION_IMAGES = 32


def in_turn(calls: list[Callable[[], T]], passes: int, settle_s: float = 0.0) -> list[list[T]]:
    """Each call's results, the calls made in turn (a, b, a, b, ...) ``passes`` times, with
    ``settle_s`` seconds before each: a slow spell of this shared machine (seconds to minutes
    at half speed) then falls on every call alike, not on whichever ran later."""
    results: list[list[T]] = [[] for _ in calls]
    for number in range(passes):
        for index, call in enumerate(calls):
            time.sleep(settle_s)
            results[index].append(call())
        print(f"  pass {number + 1} of {passes} timed", flush=True)
    return results


class HeadToHead(NamedTuple):
    """How ``a`` compared with ``b`` over pairs of timings taken back to back (:func:`head_to_head`)."""

    pairs: int
    #: The median over pairs of a's time / b's time, and its distribution-free 95% interval.
    median_ratio: float
    ci95: tuple[float, float]
    #: Pairs in which a was faster than b.
    a_faster: int


def head_to_head(
    comparisons: list[tuple[Callable[[], float], Callable[[], float]]], pairs: int, settle_s: float = 0.0
) -> list[HeadToHead]:
    """Each comparison (a, b) of calls returning milliseconds, timed ``pairs`` times as a pair back
    to back (which goes first alternating), the comparisons taking turns pair by pair.

    Two timings seconds apart (a pass of :func:`in_turn` over many systems) fall in different
    spells of this shared machine often enough that a 9-pass median of their ratios moved by
    5-10% from run to run (ResNet-18, MetaSchedule against untuned: x0.971, then x1.025); back to
    back and short, a pair meets one spell. And the machine's state drifts over a minute: the same
    two builds, 40 pairs in a row each time, read x1.031 [0.975, 1.065] and then x0.969 [0.924,
    0.998]; taking turns, every comparison's pairs spread over the whole run."""
    ratios: list[list[float]] = [[] for _ in comparisons]
    for number in range(pairs):
        for (a, b), found in zip(comparisons, ratios, strict=True):
            time.sleep(settle_s)
            if number % 2 == 0:
                a_ms = a()
                time.sleep(settle_s)
                b_ms = b()
            else:
                b_ms = b()
                time.sleep(settle_s)
                a_ms = a()
            found.append(a_ms / b_ms)
    return [
        HeadToHead(pairs, statistics.median(each), median_interval(each), sum(r < 1 for r in each)) for each in ratios
    ]


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval of the median of ``values``: the order statistics whose ranks
    the binomial distribution (n, 1/2) puts at ``confidence`` (for 40 values, the 14th and 27th)."""
    ordered, n = sorted(values), len(values)
    outside, below = 0.0, 0  # P(fewer than `below` values fall under the median) <= (1 - confidence) / 2
    while below < n:
        term = math.comb(n, below) / 2**n
        if outside + term > (1 - confidence) / 2:
            break
        outside += term
        below += 1
    if below == 0:
        return ordered[0], ordered[-1]
    return ordered[below - 1], ordered[n - below]


def machine_line(threads: int) -> str:
    """CPU name, its vector features and the thread count: which machine a number is from."""
    from search_spaces.targets import host_cpu

    cpu = host_cpu()
    return (
        f"CPU: {cpu['name']} ({cpu['arch']}, {cpu['cores']} cores); vector features: "
        f"{' '.join(cpu['features']) or 'none reported'}; threads: {threads}"
    )


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (a VM's nominal clock; turbo is not seen), or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip().lower() == "cpu mhz":
                    return float(value)
    except (OSError, ValueError):
        pass
    return None


#: Steps of the FMA probe per timing: 0.02-0.1 s on the CPUs we met.
PROBE_STEPS = 20_000_000


def measured_fp32_gflops(threads: int, lanes: int) -> float | None:
    """The float32 multiply-add rate of the FMA probe (``search_spaces.targets._fma``) on
    ``threads`` threads: what this CPU's vector units deliver at the clock they run at with that
    many cores busy. None where the probe cannot be built or run (no TVM, no LLVM)."""
    from search_spaces.targets import TARGETS, fma_gflops

    try:
        import tvm
    except ImportError:
        return None
    target = tvm.target.Target(TARGETS.get("x86").tvm_target(threads))  # this host, its mcpu detected
    return fma_gflops(threads, lanes, target, PROBE_STEPS)


def peak_gflops(threads: int, fma_units: int) -> tuple[dict[str, float], str] | None:
    """The CPU's peak multiply-add rate on ``threads`` cores, per precision, and how it was found.

    float32: measured (:func:`measured_fp32_gflops`). A VM's /proc/cpuinfo reports its nominal
    clock, not the one its cores run at: a Zen 5 EPYC reported 2.60 GHz while the probe ran at
    the rate of 4.4 GHz x 2 FMA units, and ResNet-18 read 130% of the peak reckoned from 2.60.
    Where the probe cannot run: vector width from the CPU's features x 2 flops per FMA x
    ``fma_units`` per core x the reported clock. int8 counts 4 multiply-adds per 32-bit lane with
    a dot-product instruction (VNNI, AVX-VNNI), 2 with AVX2's ``vpmaddubsw`` pair, each at the
    FMA's rate, and with AMX-int8 its tile unit's 1024 multiply-adds per cycle per core at the
    reported clock (OpenVINO's int8 ran at 1.6x the VNNI peak on such a CPU). None when neither
    the probe nor the clock gives a number."""
    from search_spaces.targets import PROBE_CHAINS, host_cpu

    mhz = cpu_mhz()
    features = set(host_cpu()["features"])
    bits = 512 if "avx512f" in features else 256 if "avx2" in features or "avx" in features else 128
    measured = measured_fp32_gflops(threads, bits // 32)
    reckoned = threads * (mhz or 0.0) / 1000 * (bits // 32) * 2 * fma_units  # read only where mhz is known
    if measured is not None:
        fp32 = measured
        how = f"measured: {PROBE_CHAINS} independent {bits}-bit FMA chains on each of {threads} threads"
        if mhz is not None:
            how += f" (the reported {mhz / 1000:.2f} GHz x {fma_units} FMA units would say {reckoned:.0f} GFLOP/s)"
    elif mhz is not None:
        fp32 = reckoned
        how = (
            f"{threads} cores x {mhz / 1000:.2f} GHz (reported) x {bits}-bit vectors x {fma_units} FMA units "
            "(assumed: not probeable) x 2"
        )
    else:
        return None
    int8_lanes = 4 if features & {"avx512_vnni", "avx_vnni", "asimddp"} else 2
    int8 = fp32 * int8_lanes
    how += f"; int8 x{int8_lanes} per lane"
    if "amx_int8" in features and mhz is not None:
        int8 = threads * mhz / 1000 * 1024 * 2
        how += "; int8 on AMX tiles: 1024 multiply-adds per cycle per core"
    return {"fp32": fp32, "int8": int8}, how


def random_images(size: int, classes: int, channels: int) -> Any:
    """Random images in the shape of the run (calibration and the timed input); latency does not
    depend on the pixel values, and int8 calibration sees the same images in every system."""
    import torch

    from search_spaces.datasets import DataSplits

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(CALIBRATION_IMAGES + 1, channels, size, size, generator=generator)
    y = torch.zeros(len(x), dtype=torch.int64)
    return DataSplits(x[1:], y[1:], x[:1], y[:1], classes, "random images")


def host_context(folder: Any, threads: int, data: Any, mcpu: str | None = None) -> Any:
    """A build context for this host, or for LLVM CPU ``mcpu`` instead of its own: code for
    another CPU this one can run (``haswell`` on an AVX-512 machine times the AVX2 code)."""
    import tvm

    from search_spaces import BuildContext

    ctx = BuildContext.on_host(folder, threads, data)
    if mcpu:
        ctx.tvm_target = tvm.target.Target({**dict(ctx.tvm_target.export()), "mcpu": mcpu})
    return ctx


def trial_config(model: str, precision: str, runtime: str, algorithm: str, tuning_trials: int | None = None) -> Any:
    """A trial's configuration for ``model`` on the host: baseline choices but these (x86 target)."""
    from dse.core.layers import NOT_APPLICABLE
    from search_spaces import BASELINE, LayerChoice, TrialConfig

    layers = {**BASELINE, "precision": LayerChoice(precision), "runtime": LayerChoice(runtime)}
    layers["algorithm"] = LayerChoice(algorithm if runtime == "tvm" else NOT_APPLICABLE)
    if runtime != "tvm":
        layers["tuning"] = LayerChoice(NOT_APPLICABLE)
    elif tuning_trials:
        layers["tuning"] = LayerChoice("metaschedule", (("trials", tuning_trials),))
    return TrialConfig("bench", model, target="x86", **layers)
