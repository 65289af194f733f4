"""Layer 6: every registered target preset builds a TVM target; Arm cross-compiles; errors are one line.

The Arm presets are checked by compiling a small module and reading the ELF header of the
exported library (machine 183 = aarch64); CUDA by generating and compiling GPU code, which
needs no GPU (measuring does, and without one the preset stops with one line).
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from dse.core.config import DeviceOptions
from dse.core.errors import UsageError
from dse.optimize import main
from search_spaces.targets import TARGETS
from search_spaces.targets.devices.identity import host_cpu, last_level_cache_bytes
from tests._capabilities import require
from tests._studyrun import completed_trial
from tests.conftest import FAST_TRIAL_FLAGS

ARM = [name for name in TARGETS.names() if name == "arm" or name.startswith("arm-")]
ELF_MACHINE_AARCH64 = 183
on_x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="checks the x86-host behaviour")


def test_list_targets_shows_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-targets"]) == 0
    out = capsys.readouterr().out
    for name in ("x86", "arm", "arm-rpi4", "arm-rpi5", "arm-graviton2", "cuda"):
        assert name in out


@pytest.mark.parametrize("name", TARGETS.names())
def test_every_preset_gives_a_valid_tvm_target(name: str) -> None:
    import tvm

    target = tvm.target.Target(TARGETS.get(name).tvm_target(2))
    assert target.kind.name in ("llvm", "cuda")


def _small_module() -> object:
    import torch
    from torch import nn

    from objectives.compile import import_to_relax

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5)).eval()
    ctx = type("Ctx", (), {"example_input": torch.randn(1, 3, 6, 6)})()
    return import_to_relax(model, ctx)  # type: ignore[arg-type]


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


@pytest.mark.parametrize("name", ARM)
def test_arm_presets_cross_compile_an_aarch64_library(name: str, tmp_path: Path) -> None:
    import tvm

    if platform.machine() != "aarch64":
        require("aarch64-cross")
    preset = TARGETS.get(name)
    executable = tvm.compile(_small_module(), tvm.target.Target(preset.tvm_target(4)))
    library = tmp_path / "model.so"
    preset.export_library(executable, str(library))
    assert _elf_machine(library) == ELF_MACHINE_AARCH64


@on_x86
def test_arm_without_a_board_on_x86_stops_with_how_to_attach_one() -> None:
    with pytest.raises(UsageError) as error:
        TARGETS.get("arm").check_reachable(DeviceOptions())
    message = str(error.value)
    assert "\n" not in message
    assert "tvm.exec.rpc_server" in message and "--rpc" in message and "dse.emulate" in message


def test_cuda_compiles_without_a_gpu_and_stops_cleanly_when_none_is_present(tmp_path: Path) -> None:
    import tvm

    preset = TARGETS.get("cuda")
    executable = tvm.compile(_small_module(), tvm.target.Target(preset.tvm_target(1)))
    preset.export_library(executable, str(tmp_path / "model.so"))
    assert (tmp_path / "model.so").stat().st_size > 0
    if tvm.cuda(0).exist:
        preset.check_reachable(DeviceOptions())
    else:
        with pytest.raises(UsageError, match="needs an NVIDIA GPU") as error:
            preset.check_reachable(DeviceOptions())
        assert "\n" not in str(error.value)


def test_the_avx2_target_stops_with_one_line_on_a_cpu_without_avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    import search_spaces.targets.x86 as x86

    monkeypatch.setattr(x86, "host_cpu", lambda: {"name": "Old CPU", "features": ["avx", "sse4_2"]})
    with pytest.raises(UsageError) as error:
        TARGETS.get("x86-avx2").check_reachable(DeviceOptions())
    assert "\n" not in str(error.value) and "Old CPU" in str(error.value) and "--rpc" in str(error.value)
    # Another runtime on this host would run this CPU's own code, not AVX2's.
    assert not TARGETS.get("x86-avx2").is_this_host_cpu()


@pytest.mark.e2e
def test_an_int8_trial_for_avx2_runs_on_vpmaddubsw_with_weights_within_64(tmp_path: Path, work_dir: Path) -> None:
    """The whole trial on ``--target x86-avx2``: quantized to +-64, its convolutions on
    vpmaddubsw, accuracy measured by running the AVX2 build here."""
    if not {"avx2", "fma"} <= set(host_cpu()["features"]):
        pytest.skip("this CPU cannot run AVX2 code")
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    flags = [*FAST_TRIAL_FLAGS, "--precision", "int8", "--algorithms", "spatial_pack", "--work-dir", str(work_dir)]
    assert main([*flags, "--target", "x86-avx2", "--storage", storage, "--n-trials", "1", "--no-report"]) == 0
    trial = completed_trial(storage, "dse-x86-avx2-digits")
    info = trial.user_attrs["info"]
    assert info["int8_weight_levels"] == 64
    assert info["dot_product"] == {"instruction": "avx2_pmaddubsw", "layers": 4}  # 3 convs and the classifier
    assert trial.values[0] > 0.5  # tiny_cnn trained on digits, 60 images


def test_the_last_level_cache_size_is_read_from_the_host(tmp_path: Path) -> None:
    size = last_level_cache_bytes()
    assert 256 << 10 <= size <= 4 << 30  # a real cache size (or the 64 MiB default where none is reported)
    for index, text in enumerate(["48K", "1024K", "32M", "unknown"]):  # L1, L2, L3 as sysfs words them
        (tmp_path / f"index{index}").mkdir()
        (tmp_path / f"index{index}" / "size").write_text(text + "\n")
    assert last_level_cache_bytes(tmp_path) == 32 << 20
    assert last_level_cache_bytes(tmp_path / "none") == 64 << 20  # nothing reported: the default
