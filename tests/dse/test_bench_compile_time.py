"""bench.compile_time: a build's seconds per stage, and its distinct kernels per kernel call."""

from __future__ import annotations

import pytest

pytest.importorskip("tvm")


def test_each_build_prints_its_stage_seconds_and_kernels_per_call(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.compile_time import STAGES, main

    configs = "fp32:spatial_pack,fp32:per_layer"
    assert main(["--model", "mini_mobilenet", "--size", "8", "--configs", configs, "--passes", "2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line.split() for line in out.splitlines() if line.startswith("fp32:")}
    assert set(rows) == {"fp32:spatial_pack", "fp32:per_layer (first)", "fp32:per_layer (decided)"}, out
    for cells in rows.values():
        seconds = [float(cell) for cell in cells[-len(STAGES) - 2 : -1]]
        assert seconds[STAGES.index("import")] > 0 and seconds[STAGES.index("tvm.compile")] > 0
        assert seconds[-1] >= sum(seconds[:-1]) * 0.9  # the build's wall time holds its stages
        kernels, calls = (int(n) for n in cells[-1].split("/"))
        assert 0 < kernels <= calls
    # The first per-layer build times each layer's candidates; the second reuses its decisions.
    first, decided = rows["fp32:per_layer (first)"], rows["fp32:per_layer (decided)"]
    algorithm = -len(STAGES) - 2 + STAGES.index("algorithm")
    assert float(decided[algorithm]) < float(first[algorithm])


def test_a_malformed_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.compile_time import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--configs", "spatial_pack"])
    assert exit_info.value.code == 2
    assert "precision:algorithm" in capsys.readouterr().err


def test_the_slowest_passes_add_up_each_pass_self_time_over_the_report() -> None:
    from bench.compile_time import _slowest_passes

    report = "\n".join(
        [
            "Total: 9000us",
            "  A: 5000us [1000us]",
            "    B: 4000us [4000us]",
            "  B: 2500us [2500us]",
            "  C: 500us [500us]",
        ]
    )
    assert _slowest_passes(report, 2) == [("B", 0.0065), ("A", 0.001)]
