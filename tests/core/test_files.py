"""The host-wide reader/writer lock, across real processes: compiles share, a measurement excludes."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from dse.core.files import SharedExclusiveLock

CTX = mp.get_context("fork")


def _hold(path: str, exclusive: bool, seconds: float, entered: object, log: str, name: str) -> None:
    lock = SharedExclusiveLock(Path(path))
    with lock.hold(exclusive=exclusive):
        with open(log, "a") as file:
            file.write(f"{name} in {time.monotonic():.4f}\n")
        entered.set()  # type: ignore[attr-defined]
        time.sleep(seconds)
        with open(log, "a") as file:
            file.write(f"{name} out {time.monotonic():.4f}\n")


def _start(path: Path, log: Path, name: str, exclusive: bool, seconds: float) -> tuple[mp.Process, object]:
    entered = CTX.Event()
    process = CTX.Process(target=_hold, args=(str(path), exclusive, seconds, entered, str(log), name))
    process.start()
    return process, entered


def _events(log: Path) -> list[tuple[str, str, float]]:
    rows = [line.split() for line in log.read_text().splitlines()]
    return sorted(((n, e, float(t)) for n, e, t in rows), key=lambda r: r[2])


def test_shared_holders_overlap_and_exclusive_waits_for_them(tmp_path: Path) -> None:
    lock, log = tmp_path / "cpu.lock", tmp_path / "log"
    a, a_in = _start(lock, log, "a", exclusive=False, seconds=0.6)
    b, b_in = _start(lock, log, "b", exclusive=False, seconds=0.6)
    assert a_in.wait(5) and b_in.wait(5)  # type: ignore[attr-defined]
    w, _ = _start(lock, log, "w", exclusive=True, seconds=0.1)
    for p in (a, b, w):
        p.join(10)
    order = [(n, e) for n, e, _ in _events(log)]
    assert order.index(("w", "in")) > max(order.index(("a", "out")), order.index(("b", "out")))
    assert order.index(("b", "in")) < order.index(("a", "out"))  # the two shared holds overlapped


def test_a_waiting_measurement_goes_before_new_compiles(tmp_path: Path) -> None:
    lock, log = tmp_path / "cpu.lock", tmp_path / "log"
    a, a_in = _start(lock, log, "a", exclusive=False, seconds=0.8)
    assert a_in.wait(5)  # type: ignore[attr-defined]
    w, _ = _start(lock, log, "w", exclusive=True, seconds=0.3)
    time.sleep(0.3)  # w now waits for a
    r, _ = _start(lock, log, "r", exclusive=False, seconds=0.1)
    for p in (a, w, r):
        p.join(10)
    order = [(n, e) for n, e, _ in _events(log)]
    assert order.index(("w", "out")) < order.index(("r", "in")), order  # writer preference: no starvation


def test_exclusive_inside_shared_converts_and_returns_to_shared(tmp_path: Path) -> None:
    path, log = tmp_path / "cpu.lock", tmp_path / "log"
    lock = SharedExclusiveLock(path)
    with lock.hold(exclusive=False):
        other, other_in = _start(path, log, "other", exclusive=False, seconds=0.0)
        assert other_in.wait(5)  # type: ignore[attr-defined]  # shared beside shared
        other.join(5)
        with lock.hold(exclusive=True):
            assert lock.mode == "exclusive"
            blocked, blocked_in = _start(path, log, "blocked", exclusive=False, seconds=0.0)
            assert not blocked_in.wait(0.5)  # type: ignore[attr-defined]  # nobody runs beside a measurement
        assert lock.mode == "shared"
        assert blocked_in.wait(5)  # type: ignore[attr-defined]  # released to shared: the compile goes on
        blocked.join(5)
        with lock.hold(exclusive=False):  # nested shared: no new wait
            assert lock.mode == "shared"
    assert lock.mode is None
