"""bench.peers: every system is built first, then timed in turn, pass after pass."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("tvm")


def test_every_build_is_timed_in_turn_and_a_tuned_one_is_set_beside_its_untuned_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.peers import PASSES, main

    rows_file, db = tmp_path / "rows.json", tmp_path / "tuning"
    args = ["--models", "mini_mobilenet", "--size", "8", "--channels", "1", "--threads", "1", "--systems", "dse"]
    args += ["--precisions", "fp32,int8", "--algorithms", "spatial_pack,direct", "--tuned-algorithms", "spatial_pack"]
    args += ["--tuned-precisions", "fp32"]
    args += ["--repeat", "2", "--min-repeat-ms", "5", "--tuning-trials", "2", "--tuning-db", str(db), "--pairs", "3"]
    assert main([*args, "--json", str(rows_file)]) == 0
    rows = json.loads(rows_file.read_text())
    configs = ["spatial_pack untuned", "spatial_pack metaschedule(2)", "direct untuned"]
    assert [r["config"] for r in rows if r["precision"] == "fp32"] == configs  # direct is not tuned
    assert [r["config"] for r in rows if r["precision"] == "int8"] == [configs[0], configs[2]]  # nor is int8
    for row in rows:
        assert len(row["passes_ms"]) == PASSES and all(ms > 0 for ms in row["passes_ms"])
        assert row["ms"] == statistics.median(row["passes_ms"]) and row["best_ms"] == min(row["passes_ms"])
    out = capsys.readouterr().out
    assert out.index("built mini_mobilenet dse fp32 direct untuned") < out.index(f"pass 1 of {PASSES} timed")
    assert "spatial_pack metaschedule(2)" in out.split("MetaSchedule vs untuned")[1]
    assert list(db.glob("*/budget-2/attempts.json")), "the records were not kept in --tuning-db"
    (tuned,) = [r for r in rows if "head_to_head" in r]  # no peer in this run: only tuned against untuned
    assert tuned["config"] == "spatial_pack metaschedule(2)" and tuned["precision"] == "fp32"
    (found,) = tuned["head_to_head"]
    assert found["against"] == "mini_mobilenet fp32 dse spatial_pack untuned" and found["pairs"] == 3
    assert found["ci95"][0] <= found["median_ratio"] <= found["ci95"][1] and 0 <= found["a_faster"] <= 3
    assert "Head to head" in out


def test_pairs_are_timed_back_to_back_first_in_turn_comparisons_taking_turns_and_read_with_an_interval() -> None:
    from bench._common import head_to_head, median_interval

    calls: list[str] = []

    def timing(name: str, ms: float) -> Callable[[], float]:
        def timed() -> float:
            calls.append(name)
            return ms

        return timed

    found, other = head_to_head([(timing("a", 1.0), timing("b", 2.0)), (timing("c", 3.0), timing("d", 1.0))], 4)
    assert calls == ["a", "b", "c", "d", "b", "a", "d", "c"] * 2  # back to back, alternating, taking turns
    assert found.median_ratio == 0.5 and found.ci95 == (0.5, 0.5) and found.a_faster == 4 and found.pairs == 4
    assert other.median_ratio == 3.0 and other.a_faster == 0
    assert median_interval([float(x) for x in range(1, 41)]) == (14.0, 27.0)  # the binomial's 95% ranks for 40
    assert median_interval([float(x) for x in range(1, 10)]) == (2.0, 8.0)
    assert median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few pairs for 95%: the whole range


def test_dses_best_is_compared_with_openvino_and_eager_and_a_tuned_build_with_its_untuned_one() -> None:
    from bench.peers import _comparisons

    def row(system: str, ms: float, config: str | None = None, precision: str = "fp32") -> dict[str, object]:
        found = {"model": "m", "precision": precision, "system": system, "ms": ms}
        return found if config is None else {**found, "config": config}

    rows = [
        row("torch_eager", 30.0),
        row("openvino", 17.0),
        row("dse", 18.0, "spatial_pack untuned"),
        row("dse", 12.0, "per_layer untuned"),
        row("dse", 12.5, "per_layer metaschedule(64)"),
        row("openvino", 5.0, precision="int8"),
        row("dse", 5.2, "spatial_pack untuned", "int8"),
    ]
    assert sorted(_comparisons(rows)) == [(3, 0), (3, 1), (4, 3), (6, 5)]


def test_the_float32_peak_is_measured_by_fma_chains_that_compute_what_they_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A VM reports its nominal clock (a Zen 5 EPYC: 2.60 GHz, and ResNet-18 read 130% of the peak
    reckoned from it): the float32 peak is measured. The probe must compute every step of every
    chain on every thread (not fold them away), on the CPU's FMA instruction where it has one;
    where the probe cannot run, the peak is reckoned from the reported clock as before."""
    import numpy as np
    import tvm

    import bench._common as common
    from search_spaces.algorithms.testing import host_target
    from search_spaces.targets import PROBE_CHAINS, fma_kernels

    threads, lanes, steps = 2, 8, 3
    executable = fma_kernels(threads, [lanes], host_target())
    out = tvm.runtime.tensor(np.zeros((threads, PROBE_CHAINS, lanes), "float32"))
    executable[f"fma{lanes}"](out, steps)
    start = np.add.outer(np.arange(threads), np.arange(PROBE_CHAINS)).astype("float32")
    expected = start
    for _ in range(steps):
        expected = expected * np.float32(0.5) + np.float32(1.0)  # exact in float32: halves and ones
    np.testing.assert_array_equal(out.numpy(), np.repeat(expected[:, :, None], lanes, axis=2))
    if tvm.target.codegen.llvm_cpu_has_features("fma", host_target()):  # a capability probe of this host
        assert "vfmadd" in executable.mod.inspect_source("asm")

    monkeypatch.setattr(common, "cpu_mhz", lambda: 2600.0)
    monkeypatch.setattr(common, "measured_fp32_gflops", lambda threads, lanes: 500.0)
    rates, how = common.peak_gflops(2, 2) or ({}, "")
    assert rates["fp32"] == 500.0 and how.startswith("measured: 12 independent")
    monkeypatch.setattr(common, "measured_fp32_gflops", lambda threads, lanes: None)
    rates, how = common.peak_gflops(2, 2) or ({}, "")
    assert "2.60 GHz (reported)" in how and rates["fp32"] in {2 * 2.6 * n * 2 * 2 for n in (4, 8, 16)}
