"""bench.kernels: every kernel of a build, timed in place, adds up to the model."""

from __future__ import annotations

import pytest

pytest.importorskip("tvm")


def test_the_kernel_profile_lists_the_conv_kernels_and_the_models_latency(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.kernels import kind_of, main

    args = ["--model", "mini_mobilenet", "--size", "8", "--channels", "1", "--classes", "10", "--rounds", "3"]
    assert main([*args, "--precision", "int8"]) == 0
    out = capsys.readouterr().out
    assert "time_evaluator median" in out and "by kind: " in out
    kernels = [line.split()[-1] for line in out.splitlines() if line[:8].strip().replace(".", "").isdigit()]
    assert any(name.startswith("fused_dse_spatial_pack") for name in kernels), out
    assert kind_of("fused_dse_spatial_pack_dot13_cast27_multiply13_add16") == "dse_spatial_pack_dot"
    assert kind_of("fused_matmul_dequantize_add24") == "matmul_dequantize"


def test_a_tuned_build_is_listed_kernel_by_kernel_beside_the_untuned_one(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tuning-trials: both builds timed alternately, each kernel with what the tuner timed of
    it alone and whether the default was kept; a second run reuses the records (no tuning)."""
    from pathlib import Path

    from bench.kernels import main

    db = Path(str(tmp_path)) / "tuning"
    args = ["--model", "mini_mobilenet", "--size", "8", "--channels", "1", "--classes", "10", "--rounds", "2"]
    tuned = ["--precision", "fp32", "--tuning-trials", "2", "--tuning-db", str(db), "--passes", "2"]
    assert main([*args, *tuned]) == 0
    out = capsys.readouterr().out
    assert "measured alternately, untuned then tuned, 2 times (4 inferences each)" in out
    assert "time_evaluator median of the passes: untuned" in out
    rows = [line for line in out.splitlines() if "fused_dse_spatial_pack" in line]
    assert rows and all(line.endswith(("(tuned)", "(default kept)")) or "nan" in line for line in rows), out
    assert any(line.endswith(("(tuned)", "(default kept)")) for line in rows)
    assert list(db.glob("*/budget-2/attempts.json")), "the records were not kept in --tuning-db"
    assert main([*args, *tuned]) == 0
    assert "tuning 0.0 s" in capsys.readouterr().out  # reused
    with pytest.raises(SystemExit) as usage:
        main([*args, "--tuning-trials", "2"])
    assert usage.value.code == 2
