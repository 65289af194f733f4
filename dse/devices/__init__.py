"""Measurement devices: where a compiled module runs for accuracy and latency."""

from __future__ import annotations

from dse.devices._base import Device, LatencySamples, LoadedModule

__all__ = ["Device", "LatencySamples", "LoadedModule"]
