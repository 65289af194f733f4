"""Shared fixtures: one trained tiny model per test session, in a throwaway work folder."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._studyrun import trial_flags

# Tests compare TVM and PyTorch at a fixed thread count and keep progress bars out of logs.
os.environ.setdefault("TVM_NUM_THREADS", "2")
os.environ.setdefault("DSE_NO_PROGRESS", "1")

#: Flags for quick but real trials: tiny model, short evaluation, short latency protocol.
FAST_TRIAL_FLAGS = trial_flags(eval_limit=60, repeat=3, min_repeat_ms=10, threads=2)


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study folder shared by the session: tiny_cnn is trained once, into its weights cache."""
    return tmp_path_factory.mktemp("dse-work")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def board() -> Iterator[object]:
    """The emulated Arm board (one per test session: importing TVM under qemu takes ~30 s).

    It needs qemu-user, its arm64 root (or mmdebstrap to build it) and the cross compiler;
    each skips outside CI and fails under CI, which installs them (tests/_capabilities.py).
    """
    from search_spaces.targets.devices.emulated import EmulatedBoard
    from tests._capabilities import require

    for capability in ("qemu-user", "arm64-root", "aarch64-cross"):
        require(capability)
    with EmulatedBoard(port=free_port()) as running:
        yield running
