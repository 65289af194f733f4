"""Measurements by effective build: a configuration whose compiled module equals one already
measured reuses that measurement instead of compiling and measuring again.

Many configurations of the space build the same code: a sparse algorithm on weights that are
not sparse enough runs its dense counterpart on every layer, an algorithm that applies to no
layer falls back to the same kernels as another. The key is the structural hash of the
scheduled module (weights included) with everything else a measurement depends on, so a
reuse is exact. Entries live under ``<work-dir>/builds/``, written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.files import atomic_write, stable_hash
from dse.core.measure import LatencyStats
from dse.core.provenance import tool_versions

if TYPE_CHECKING:
    from objectives.request import EvaluationRequest

FOLDER = "builds"


def build_key(request: EvaluationRequest, module_digest: str, tvm_target: dict[str, Any]) -> str:
    """The measurement identity of a compiled module under ``request``'s protocol and device."""
    from search_spaces.targets import TARGETS, device_identity

    target = request.config.target
    return stable_hash(
        {
            "module": module_digest,
            "tvm_target": tvm_target,
            "device": device_identity(target, request.device, TARGETS.get(target).measured_on_host_cpu),
            "measure": asdict(request.measure),
            "threads": request.threads,
            "dataset": request.config.dataset,
            "data_dir": str(request.data_dir) if request.data_dir else None,
            "eval_limit": request.eval_limit,
            "versions": tool_versions(),
        },
        32,
    )


def _path(work_dir: Path, key: str) -> Path:
    return work_dir / FOLDER / f"{key}.json"


def load(work_dir: Path, key: str) -> dict[str, Any] | None:
    """The stored measurement of build ``key`` (None: never measured, or unreadable)."""
    try:
        stored = json.loads(_path(work_dir, key).read_text())
        stored["latency"] = LatencyStats(**{**stored["latency"], "samples_ms": tuple(stored["latency"]["samples_ms"])})
        return stored
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(
    work_dir: Path,
    key: str,
    config: dict[str, Any],
    accuracy: float,
    eval_size: int,
    latency: LatencyStats,
    size: int,
    info: dict[str, Any] | None = None,
) -> None:
    """Store a measurement; ``info``: what a reuse must report as well (which build was kept)."""
    entry = {
        "config": config,
        "accuracy": accuracy,
        "eval_size": eval_size,
        "latency": asdict(latency),
        "artifact_bytes": size,
        "info": info or {},
    }
    with atomic_write(_path(work_dir, key)) as scratch:
        scratch.write_text(json.dumps(entry, sort_keys=True))
