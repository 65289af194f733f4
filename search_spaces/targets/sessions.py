"""One open device session per (target, device options) per process, reopened after a failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search_spaces.targets._base import TARGETS

if TYPE_CHECKING:
    from dse.core.config import DeviceOptions
    from search_spaces.targets.devices import Device

_sessions: dict[tuple[str, DeviceOptions], Device] = {}


def open_session(target: str, options: DeviceOptions) -> Device:
    """The process's session on the device of ``target`` (opened on first use)."""
    key = (target, options)
    if key not in _sessions:
        _sessions[key] = TARGETS.get(target).open_device(options)
    return _sessions[key]


def forget_session(target: str, options: DeviceOptions) -> None:
    """Drop a session that failed, so the next trial reconnects."""
    device = _sessions.pop((target, options), None)
    if device is not None:
        device.close()
