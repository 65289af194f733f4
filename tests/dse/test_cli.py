from __future__ import annotations

import subprocess
import sys

import pytest

from dse.optimize import main


def test_listing_commands_do_not_import_torch_or_tvm() -> None:
    code = (
        "import sys\n"
        "from dse.optimize import main\n"
        "for flag in ('--list-targets', '--list-models', '--list-choices'):\n"
        "    assert main([flag]) == 0\n"
        "print('heavy:', sorted(m for m in ('torch', 'tvm', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "heavy: []" in out
    assert "x86" in out and "resnet18" in out and "pruning:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "x68"], "Unknown target 'x68'. Available:"),
        (["--models", "resnet81"], "Unknown model 'resnet81'"),
        (["--n-trials", "0"], "--n-trials must be > 0, got n_trials=0"),
        (["--dataset", "cifar10"], "needs --data-dir"),
        (["--storage", "not a url"], "is not a storage URL"),
        (["--sampler", "bayes"], "invalid choice: 'bayes'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, tmp_path, capsys) -> None:
    code = main([*argv, "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "w" / "dse.db").exists()
