"""Re-measuring noisy latencies: the least dispersed attempt is kept, the others' samples too."""

from __future__ import annotations

import numpy as np
import pytest

from dse.core.config import MeasureConfig
from dse.core.measure import LatencySamples
from objectives.latency import measure_stable


class NoisyModule:
    """A loaded module whose successive measurements are given (seconds per sample)."""

    def __init__(self, attempts: list[tuple[float, ...]]) -> None:
        self._attempts = list(attempts)

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        return LatencySamples(self._attempts.pop(0), 1, 2, False)


class _Data:
    class _X:
        def __getitem__(self, key: object) -> _Data._X:
            return self

        def numpy(self) -> np.ndarray:
            return np.zeros((1, 1))

    eval_x = _X()


def test_a_steady_measurement_is_taken_once() -> None:
    info: dict[str, object] = {}
    stats = measure_stable(NoisyModule([(1e-3, 1e-3, 1e-3)]), _Data(), MeasureConfig(max_cv=0.05), info)  # type: ignore[arg-type]
    assert stats.median_ms == 1.0 and info["latency_attempts"] == 1 and "latency_rejected" not in info


def test_a_noisy_measurement_is_retaken_and_every_sample_kept() -> None:
    noisy, steady = (1e-3, 3e-3, 1e-3), (2e-3, 2e-3, 2e-3)
    info: dict[str, object] = {}
    module = NoisyModule([noisy, steady])
    stats = measure_stable(module, _Data(), MeasureConfig(max_cv=0.05, max_remeasure=2), info)  # type: ignore[arg-type]
    assert stats.median_ms == 2.0 and info["latency_attempts"] == 2 and info["latency_noisy"] is False
    (rejected,) = info["latency_rejected"]  # type: ignore[misc]
    assert rejected["samples_ms"] == [1.0, 3.0, 1.0]


def test_remeasuring_stops_at_max_remeasure() -> None:
    noisy = (1e-3, 3e-3, 1e-3)
    info: dict[str, object] = {}
    measure_stable(NoisyModule([noisy] * 5), _Data(), MeasureConfig(max_cv=0.05, max_remeasure=1), info)  # type: ignore[arg-type]
    assert info["latency_attempts"] == 2 and info["latency_noisy"] is True


class LoadedHost(NoisyModule):
    """Steady samples, but the first measurement ran beside another process's steady load."""

    def __init__(self, attempts: list[tuple[tuple[float, ...], float]]) -> None:
        self._loaded = list(attempts)

    def time(self, x: np.ndarray, measure: MeasureConfig) -> LatencySamples:
        seconds, load = self._loaded.pop(0)
        return LatencySamples(seconds, 1, 2, False, foreign_load=load)


def test_a_steady_but_disturbed_measurement_is_retaken() -> None:
    """A background load slows every sample alike (low cv): the foreign load catches it."""
    slowed, clean = (1.5e-3, 1.5e-3, 1.5e-3), (1e-3, 1e-3, 1e-3)
    info: dict[str, object] = {}
    module = LoadedHost([(slowed, 0.9), (clean, 0.01)])
    stats = measure_stable(module, _Data(), MeasureConfig(max_cv=0.05), info)  # type: ignore[arg-type]
    assert stats.median_ms == 1.0 and info["latency_attempts"] == 2 and info["latency_disturbed"] is False
    (rejected,) = info["latency_rejected"]  # type: ignore[misc]
    assert rejected["foreign_load"] == 0.9


def test_the_host_probe_sees_another_process_and_not_its_own_work() -> None:
    import subprocess
    import sys
    import time

    from search_spaces.targets.devices.local import cpu_usage, foreign_load

    before = cpu_usage()
    if before is None:
        import pytest

        pytest.skip("no /proc/stat on this system: the probe reports nothing and the check is off")
    start = time.monotonic()
    while time.monotonic() - start < 0.5:  # own work: not foreign
        pass
    after = cpu_usage()
    assert after is not None and foreign_load(before, after) < 0.3
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        before = cpu_usage()
        time.sleep(1.0)
        after = cpu_usage()
    finally:
        spinner.kill()
        spinner.wait()
    assert before is not None and after is not None and foreign_load(before, after) > 0.6


def test_the_timing_thread_leaves_the_cores_bound_workers_hold_and_gets_its_cores_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TVM binds each runtime worker to one core; the thread that times must not share one."""
    import os
    import threading

    from search_spaces.targets.devices import local
    from search_spaces.targets.devices.local import beside_bound_workers, runtime_call

    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and two usable cores")
    # A process whose runtime has not started yet (earlier tests of this process ran TVM's pool)
    monkeypatch.setattr(local, "_RUNTIME_WORKERS", set())
    mine = os.sched_getaffinity(0)
    done = threading.Event()

    def bound_to(core: int) -> threading.Thread:  # a thread bound as TVM binds its pool's workers
        ready = threading.Event()

        def work() -> None:
            os.sched_setaffinity(0, {core})
            ready.set()
            done.wait()

        thread = threading.Thread(target=work)
        thread.start()
        ready.wait()
        return thread

    threads = []
    try:
        with beside_bound_workers():  # nothing bound yet: left alone
            assert os.sched_getaffinity(0) == mine
        with runtime_call():  # the runtime starts its pool in its first run (an accuracy run)
            threads.append(bound_to(max(mine)))
        threads.append(bound_to(min(mine)))  # another library's pinned thread: not the runtime's
        with beside_bound_workers():
            assert os.sched_getaffinity(0) == mine - {max(mine)}
        assert os.sched_getaffinity(0) == mine  # restored for threads started later
    finally:
        done.set()
        for thread in threads:
            thread.join()
