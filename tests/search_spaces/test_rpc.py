"""Layer 6 runners: TVM RPC errors are one line with exit 2; the emulated Arm board runs a whole study.

The end-to-end test starts ``dse.emulate`` (a TVM RPC server under qemu-user on
loopback), runs a one-trial ``--target arm --rpc`` study of tiny_cnn on it, and checks that
the accuracy equals the x86 run's and that its latency is flagged emulated. It needs
``qemu-user-static`` and, the first time, ``mmdebstrap`` and PyPI (the arm64 root is cached).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.core.config import DeviceOptions
from dse.core.errors import InvalidCombination
from dse.optimize import main
from tests._studyrun import board_flags, completed_trial
from tests.conftest import FAST_TRIAL_FLAGS
from tests.conftest import free_port as _free_port


def _study_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        *FAST_TRIAL_FLAGS,
        "--algorithms",
        "tvm_default",
        "--n-trials",
        "1",
        "--work-dir",
        str(tmp_path / "work"),
        "--storage",
        f"sqlite:///{tmp_path / 'study.db'}",
        *extra,
    ]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


class _Session:
    """Stands for an RPC session whose marker lookup raises ``error`` (None: the emulated board)."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def get_function(self, name: str) -> object:
        if self.error is not None:
            raise self.error
        return lambda: True


def test_only_a_missing_marker_means_a_real_board() -> None:
    from dse.core.errors import DeviceUnavailable
    from search_spaces.targets.devices.rpc import _session_is_emulated

    options = DeviceOptions(rpc_server="127.0.0.1:9090")
    assert _session_is_emulated(_Session(None), options) is True
    assert _session_is_emulated(_Session(AttributeError("Module has no function 'x'")), options) is False
    # A session the board ended (a hung one, at its timeout) must not pass for a real board.
    with pytest.raises(DeviceUnavailable, match="RPCSessionTimeoutError"):
        _session_is_emulated(_Session(RuntimeError("RPCSessionTimeoutError: Your 600.0s session has expired")), options)


def test_unreachable_tracker_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _free_port()
    args = _study_args(tmp_path, "--target", "arm", "--rpc-tracker", f"127.0.0.1:{port}", "--rpc-key", "rpi4")
    assert main(args) == 2
    err = _one_line_error(capsys)
    assert f"127.0.0.1:{port}" in err and "tvm.exec.rpc_tracker" in err
    assert not (tmp_path / "study.db").exists()  # stopped before opening the storage


def test_unreachable_rpc_server_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_study_args(tmp_path, "--target", "arm", "--rpc", f"127.0.0.1:{_free_port()}")) == 2
    assert "tvm.exec.rpc_server" in _one_line_error(capsys)


def test_tracker_without_the_key_names_the_server_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tvm.rpc.tracker import Tracker

    tracker = Tracker(host="127.0.0.1", port=_free_port(), port_end=65000, silent=True)
    try:
        address = f"127.0.0.1:{tracker.port}"
        assert main(_study_args(tmp_path, "--target", "arm", "--rpc-tracker", address, "--rpc-key", "nokey")) == 2
        err = _one_line_error(capsys)
        assert "'nokey'" in err and f"--tracker {address} --key nokey" in err
    finally:
        tracker.terminate()


@pytest.mark.e2e
def test_arm_study_on_the_emulated_board_matches_x86_accuracy(
    board: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    accuracy = {}
    for target, extra in (("arm", board_flags(board.address)), ("x86", ["--target", "x86"])):  # type: ignore[attr-defined]
        assert main(_study_args(tmp_path, "--study-name", target, *extra)) == 0
        trial = completed_trial(storage, target)
        accuracy[target] = trial.values[0]
        assert trial.user_attrs["latency"]["emulated"] is (target == "arm")
    assert accuracy["arm"] == accuracy["x86"]
    assert "emulated" in capsys.readouterr().out


@pytest.mark.e2e
def test_metaschedule_on_the_emulated_board_is_an_invalid_combination(board: object, tmp_path: Path) -> None:
    from search_spaces.tuning._ms_tune import builder_and_runner

    options = DeviceOptions(rpc_server=board.address)  # type: ignore[attr-defined]
    ctx = type("Ctx", (), {"device_options": options, "tvm_target": None})()
    with pytest.raises(InvalidCombination, match="emulated"):
        builder_and_runner(ctx, str(tmp_path))  # type: ignore[arg-type]
