"""Shared fixtures: one trained tiny model per test session, in a throwaway work folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests compare TVM and PyTorch at a fixed thread count and keep progress bars out of logs.
os.environ.setdefault("TVM_NUM_THREADS", "2")
os.environ.setdefault("DSE_NO_PROGRESS", "1")

#: Flags for quick but real trials: tiny model, short evaluation, short latency protocol.
FAST_TRIAL_FLAGS = [
    "--models",
    "tiny_cnn",
    "--pruning",
    "none",
    "--precision",
    "fp32",
    "--tuning",
    "untuned",
    "--eval-limit",
    "60",
    "--repeat",
    "3",
    "--min-repeat-ms",
    "10",
    "--threads",
    "2",
]


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study folder shared by the session: tiny_cnn is trained once, into its weights cache."""
    return tmp_path_factory.mktemp("dse-work")
