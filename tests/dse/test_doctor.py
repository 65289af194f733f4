"""``python -m dse.doctor`` says what works here, and a capability CI installs fails there instead of skipping.

The tool-hiding tests run the doctor (and a tiny pytest file using ``tests/_capabilities.py``)
with ``PATH`` pointing at a folder of links to everything on the real ``PATH`` except the
hidden tools, so the rest of the machine (and the TVM/PyTorch probes) behaves as usual.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dse import doctor
from tests._capabilities import in_ci

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = ("aarch64-linux-gnu-gcc", "chromium", "chromium-browser", "google-chrome")


def _env(path: str | None = None, ci: str | None = None) -> dict[str, str]:
    """The current environment with the repository importable, and PATH and CI as asked."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH"))))
    if path is not None:
        env["PATH"] = path
    if ci is not None:
        env["CI"] = ci
    return env


def _doctor(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dse.doctor", *args],
        cwd=ROOT,
        env=_env(path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _lines_by_name(stdout: str) -> dict[str, list[str]]:
    """Capability lines (``OK``/``MISSING``, name, detail), grouped by the capability they name."""
    found: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("OK", "MISSING"):
            found.setdefault(words[1], []).append(line)
    return found


@pytest.fixture(scope="module")
def hidden_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with links to every program on the real PATH except the cross compiler and Chromium."""
    folder = tmp_path_factory.mktemp("path-without-tools")
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name in HIDDEN or link.is_symlink() or not entry.is_file():
                continue  # first one on PATH wins, as for the shell
            link.symlink_to(entry.path)
    return str(folder)


def test_doctor_prints_one_line_per_capability() -> None:
    result = _doctor()
    assert result.returncode in (0, 1), result.stderr
    found = _lines_by_name(result.stdout)
    assert sorted(found) == sorted(doctor.CAPABILITIES), result.stdout
    assert all(len(lines) == 1 for lines in found.values()), result.stdout
    missing_required = [
        name for name, c in doctor.CAPABILITIES.items() if c.required and found[name][0].startswith("MISSING")
    ]
    assert result.returncode == (1 if missing_required else 0), result.stdout
    final = result.stdout.strip().splitlines()[-1]
    assert final.startswith("doctor:") and all(name in final for name in missing_required), final
    for line in (lines[0] for lines in found.values() if lines[0].startswith("MISSING")):
        assert ". Fix: " in line


def test_hidden_tools_are_missing_with_their_fix(hidden_path: str) -> None:
    result = _doctor("--require", "aarch64-cross,chromium", path=hidden_path)
    found = {name: lines[0] for name, lines in _lines_by_name(result.stdout).items()}
    assert found["aarch64-cross"].startswith("MISSING"), result.stdout
    assert "libc6-dev-arm64-cross" in found["aarch64-cross"]
    assert found["chromium"].startswith("MISSING") and "apt-get install chromium" in found["chromium"]
    for name in ("tvm", "llvm-cpu", "torch"):  # hiding tools leaves the Python side working
        assert found[name].startswith("OK"), result.stdout
    assert result.returncode == 1
    final = result.stdout.strip().splitlines()[-1]
    assert "aarch64-cross" in final and "chromium" in final, final


_NEEDS_CROSS = textwrap.dedent("""
    from _capabilities import require


    def test_needs_the_cross_compiler():
        require("aarch64-cross")
""")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), (None, "1 skipped")])
def test_missing_capability_fails_under_ci_and_skips_elsewhere(
    hidden_path: str, tmp_path: Path, ci: str | None, outcome: str
) -> None:
    (tmp_path / "test_needs_cross.py").write_text(_NEEDS_CROSS)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", "test_needs_cross.py"],
        cwd=tmp_path,
        env=_env(hidden_path, ci),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in result.stdout, result.stdout + result.stderr
    assert "libc6-dev-arm64-cross" in result.stdout, result.stdout
    if ci:
        assert "CI installs aarch64-cross but it is missing" in result.stdout


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("yes", True), ("", False), ("0", False), ("false", False), ("False", False)],
)
def test_ci_variable(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_unknown_required_name_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main(["--require", "tvm,no-such-thing"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert "'no-such-thing'" in err and all(name in err for name in doctor.CAPABILITIES)


def test_bad_flag_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main(["--require-all", "--require", "tvm"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.fixture
def fake_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three capabilities with known answers, so the command-line logic is checked without probing."""

    def broken() -> tuple[bool, str]:
        raise RuntimeError("probe blew up\nsecond line")

    table = (
        doctor.Capability("base", "always there", lambda: (True, "fine"), "nothing", required=True),
        doctor.Capability(
            "extra", "never there", lambda: (False, "absent"), "apt-get install extra", debian=("extra",)
        ),
        doctor.Capability("flaky", "raises", broken, "pip install flaky"),
    )
    monkeypatch.setattr(doctor, "_TABLE", table)
    monkeypatch.setattr(doctor, "CAPABILITIES", {c.name: c for c in table})
    doctor.check.cache_clear()
    yield
    doctor.check.cache_clear()


@pytest.mark.usefixtures("fake_table")
def test_exit_status_follows_required_and_requested(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main([]) == 0
    out = capsys.readouterr().out
    assert "MISSING  extra" in out and "Fix: apt-get install extra" in out
    assert "MISSING  flaky" in out and "RuntimeError: probe blew up" in out and "second line" not in out
    assert out.strip().splitlines()[-1] == "doctor: all needed capabilities work (base)"
    assert doctor.main(["--require", "extra"]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("doctor: missing needed capabilities: extra")
    assert doctor.main(["--require-all"]) == 1
    assert "extra, flaky" in capsys.readouterr().out.strip().splitlines()[-1]


@pytest.mark.usefixtures("fake_table")
def test_json_lists_every_capability(capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main(["--json", "--require", "base"]) == 0
    out, err = capsys.readouterr()
    records = json.loads(out)
    assert [r["name"] for r in records] == ["base", "extra", "flaky"]
    assert set(records[0]) == {"name", "ok", "detail", "fix"}
    assert records[1] == {"name": "extra", "ok": False, "detail": "absent", "fix": "apt-get install extra"}
    assert "all needed capabilities work" in err


def test_a_cross_compiler_that_cannot_link_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installed but unusable (no libc6-dev-arm64-cross) counts as missing, with the linker's message."""
    fake = tmp_path / "aarch64-linux-gnu-gcc"
    fake.write_text(
        "#!/bin/sh\necho 'aarch64-linux-gnu-ld: cannot find crti.o: No such file or directory' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    doctor.check.cache_clear()
    try:
        ok, detail = doctor.check("aarch64-cross")
    finally:
        doctor.check.cache_clear()
    assert not ok and "cannot find crti.o" in detail and "\n" not in detail


def test_the_doctor_probes_the_hardware_the_targets_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The doctor repeats three facts of layer 6 so that it runs on a broken install (it imports
    nothing of dse); this keeps the copies equal to their one home in ``search_spaces/targets``."""
    from search_spaces.targets import arm
    from search_spaces.targets.devices import emulated

    monkeypatch.setenv("DSE_CACHE", str(tmp_path))
    assert doctor.CROSS_CC == arm.CROSS_CC
    assert doctor._cache_dir() == emulated.cache_dir()
    assert doctor._qemu_binary() == emulated.qemu_binary()
    assert doctor.ARM64_ROOT == emulated.ROOT_NAME
