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
