"""What produced a measurement: tool versions and a digest of dse's own code.

Both are part of every cache key and of every trial's record, so a fixed kernel or a new TVM
never serves a stale result (the package version alone stays 0.1.0 across edits).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

#: Packages whose versions change compiled code or measurements.
PACKAGES = ("apache-tvm", "apache-tvm-ffi", "torch", "torchvision", "numpy", "onnxruntime", "openvino", "dse")
#: The packages of dse whose source decides a trial's result.
SOURCE_PACKAGES = ("dse", "search_spaces", "objectives")


@functools.cache
def source_digest(packages: tuple[str, ...] = SOURCE_PACKAGES) -> str:
    """SHA-256 (16 hex digits) of every Python file of dse's ``packages`` (folders relative to
    the repository root), by relative path and content."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def tool_versions() -> dict[str, str]:
    """Versions that change compiled code or measurements, and ``dse-source``: the code's digest."""
    return dict(_tool_versions())


@functools.lru_cache(maxsize=1)
def _tool_versions() -> dict[str, str]:
    import importlib.metadata as md

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "absent"
    versions["dse-source"] = source_digest()
    return versions
