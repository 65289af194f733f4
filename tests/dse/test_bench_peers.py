"""bench.peers: every system is built first, then timed in turn, pass after pass."""

from __future__ import annotations

import json
import statistics
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
    args += ["--repeat", "2", "--min-repeat-ms", "5", "--tuning-trials", "2", "--tuning-db", str(db)]
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
